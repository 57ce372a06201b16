/**
 * The connection cap of `cachet serve`: at most `max` client connections open at once. At the cap
 * a new connection closes the oldest one with no request in flight (an idle keep-alive connection,
 * or one whose request head has not finished arriving), as nginx reuses connections when
 * `worker_connections` run out (ngx_drain_connections: "worker_connections are not enough,
 * reusing connections"). So connections held open without a request (Slowloris) can never keep a
 * visitor out for longer than the visitor's own connection takes to open; only connections with a
 * request in flight are never closed, and when every open one has, the new one is closed at once
 * (what node:http's own `server.maxConnections` does with every connection over its cap).
 *
 * node:http's headersTimeout and requestTimeout close what lingers; this bounds what is open
 * meanwhile, below the process's file-descriptor limit.
 */
import type { IncomingMessage, Server, ServerResponse } from 'node:http'
import type { Socket } from 'node:net'

export interface ConnectionCap {
  /** connections closed to make room for a new one */
  readonly evicted: number
  /** new connections closed because every open one had a request in flight */
  readonly refused: number
}

/** How often (ms) the cap being reached is reported at most. */
const WARN_EVERY_MS = 60_000

export function capConnections(server: Server, max: number, warn?: (message: string) => void): ConnectionCap {
  // connections without a request in flight, in the order they became so: the first is the longest
  // idle (a Set iterates in insertion order); and those with one, with how many (pipelining)
  const idle = new Set<Socket>()
  const busy = new Map<Socket, number>()
  const stats = { evicted: 0, refused: 0 }
  let warned = -Infinity
  const report = () => {
    const now = Date.now()
    if (warn === undefined || now - warned < WARN_EVERY_MS) return
    warned = now
    warn(`${max} connections open (--max-connections): closing the oldest idle ones (${stats.evicted} so far, ${stats.refused} refused)`)
  }

  server.on('connection', (socket: Socket) => {
    if (idle.size + busy.size >= max) {
      const oldest = idle.values().next()
      if (oldest.done) {
        stats.refused++
        report()
        socket.destroy()
        return
      }
      idle.delete(oldest.value)
      oldest.value.destroy()
      stats.evicted++
      report()
    }
    idle.add(socket)
    socket.once('close', () => {
      idle.delete(socket)
      busy.delete(socket)
    })
  })

  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    const socket = req.socket
    // a socket closed to make room, or refused, is no longer counted
    if (!idle.delete(socket) && !busy.has(socket)) return
    busy.set(socket, (busy.get(socket) ?? 0) + 1)
    res.once('close', () => {
      const left = (busy.get(socket) ?? 1) - 1
      if (left > 0) { busy.set(socket, left); return }
      if (!busy.delete(socket) || socket.destroyed) return
      idle.add(socket)
    })
  })

  return stats
}

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

interface Tracked {
  readonly socket: Socket
  /** requests in flight (pipelining allows more than one) */
  busy: number
  /** neighbours in the idle list while busy is 0 */
  prev: Tracked | undefined
  next: Tracked | undefined
}

export function capConnections(server: Server, max: number, warn?: (message: string) => void): ConnectionCap {
  const open = new Map<Socket, Tracked>()
  // connections with no request in flight, longest idle first: a linked list, since taking the
  // first entry of a Set or Map that keeps losing its first entries scans over the holes they
  // leave (V8's ordered hash tables), 14 µs an eviction at 10,000 entries and 80 µs at 100,000
  let head: Tracked | undefined
  let tail: Tracked | undefined
  const unlink = (t: Tracked) => {
    if (t.prev) t.prev.next = t.next
    else if (head === t) head = t.next
    if (t.next) t.next.prev = t.prev
    else if (tail === t) tail = t.prev
    t.prev = t.next = undefined
  }
  const append = (t: Tracked) => {
    t.prev = tail
    t.next = undefined
    if (tail) tail.next = t
    else head = t
    tail = t
  }
  const stats = { evicted: 0, refused: 0 }
  let warned = -Infinity
  const report = () => {
    const now = Date.now()
    if (warn === undefined || now - warned < WARN_EVERY_MS) return
    warned = now
    warn(
      `${max} connections open (--max-connections): closing the oldest idle ones (${stats.evicted} so far, ${stats.refused} refused)`,
    )
  }

  server.on('connection', (socket: Socket) => {
    if (open.size >= max) {
      const oldest = head
      if (oldest === undefined) {
        stats.refused++
        report()
        socket.destroy()
        return
      }
      unlink(oldest)
      open.delete(oldest.socket)
      oldest.socket.destroy()
      stats.evicted++
      report()
    }
    const t: Tracked = { socket, busy: 0, prev: undefined, next: undefined }
    open.set(socket, t)
    append(t)
    socket.once('close', () => {
      if (open.get(socket) !== t) return
      open.delete(socket)
      if (t.busy === 0) unlink(t)
    })
  })

  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    // a connection closed to make room, or refused, is no longer counted
    const t = open.get(req.socket)
    if (t === undefined) return
    if (t.busy++ === 0) unlink(t)
    res.once('close', () => {
      if (--t.busy > 0 || open.get(t.socket) !== t || t.socket.destroyed) return
      append(t)
    })
  })

  return stats
}

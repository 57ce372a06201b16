/**
 * The connection cap of `cachet serve`: at most `max` client connections open at once. At the cap
 * a new connection closes the one longest without a new request among those with no request in
 * flight (an idle keep-alive connection, or one whose request head has not finished arriving:
 * Slowloris' never sent a request at all), as nginx reuses connections when
 * `worker_connections` run out (ngx_drain_connections: "worker_connections are not enough,
 * reusing connections"). So connections held open without a request (Slowloris) can never keep a
 * visitor out for longer than the visitor's own connection takes to open; only connections with a
 * request in flight (or upgraded: a tunnel) are never closed, and when the 64 longest idle all
 * have one, the new one is closed at once (what node:http's own `server.maxConnections` does with
 * every connection over its cap); those passed go to the back of the line, so the next one looks
 * at the next 64.
 *
 * node:http's headersTimeout and requestTimeout close what lingers; this bounds what is open
 * meanwhile, below the process's file-descriptor limit.
 */
import type { IncomingMessage, Server, ServerResponse } from 'node:http'
import type { Socket } from 'node:net'
import type { Duplex } from 'node:stream'

export interface ConnectionCap {
  /** connections closed to make room for a new one */
  readonly evicted: number
  /** new connections closed because every open one had a request in flight */
  readonly refused: number
  /**
   * Tells the cap a request arrived on its connection. `capConnections` calls it from a `request`
   * listener of its own unless told the server's handler calls it (`{ handler: true }`): one
   * listener less on the hot path, since an emitter with two listeners copies its listener array
   * on every emit.
   */
  readonly seen: (req: IncomingMessage, res: ServerResponse) => void
  /** Marks a connection as never idle (an upgraded one: a tunnel is an exchange in flight). */
  readonly hold: (socket: Duplex) => void
}

/** How often (ms) the cap being reached is reported at most. */
const WARN_EVERY_MS = 60_000
/**
 * How many of the longest-idle connections a new one looks at, at the cap, for one with no
 * request in flight (those it passes go to the back of the line), before it is refused: a bound on
 * the work a connection costs when nearly every open one is busy.
 */
const SCAN = 64
/** `Tracked.res` of a connection that is never idle */
const HELD = { writableFinished: false } as const

interface Tracked {
  readonly socket: Socket
  /**
   * the response to the last request on the connection, read at the cap: while it has not
   * finished the connection has a request in flight (with pipelining, responses finish in order,
   * so the last one finished means every one has). undefined: no request yet.
   */
  res: { readonly writableFinished: boolean } | undefined
  /** neighbours in the line, from the connection longest without a new request */
  prev: Tracked | undefined
  next: Tracked | undefined
}

export function capConnections(
  server: Server,
  max: number,
  warn?: (message: string) => void,
  o: { handler?: boolean } = {},
): ConnectionCap {
  const open = new Map<Socket, Tracked>()
  // every connection, the one whose last request (or opening) is oldest first: a linked list,
  // since taking the first entry of a Set or Map that keeps losing its first entries scans over
  // the holes they leave (V8's ordered hash tables), 14 µs an eviction at 10,000 entries and
  // 80 µs at 100,000. A request moves its connection to the back, with no listener of its own
  // (no closure, no 'close' subscription per request): whether a connection is idle is read
  // from its last response when the cap is reached.
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
  /** The longest-idle connection with no request in flight among the first SCAN, or undefined. */
  const idle = (): Tracked | undefined => {
    for (let i = 0; i < SCAN && head !== undefined; i++) {
      const t = head
      if (t.res === undefined || t.res.writableFinished) return t
      // busy: to the back, so that the next look starts past it (and it counts, once it is
      // done, as recently used)
      if (t === tail) return undefined
      unlink(t)
      append(t)
    }
    return undefined
  }
  let evicted = 0
  let refused = 0
  let warned = -Infinity
  const report = () => {
    const now = Date.now()
    if (warn === undefined || now - warned < WARN_EVERY_MS) return
    warned = now
    warn(
      `${max} connections open (--max-connections): closing the oldest idle ones (${evicted} so far, ${refused} refused)`,
    )
  }

  server.on('connection', (socket: Socket) => {
    if (open.size >= max) {
      const oldest = idle()
      if (oldest === undefined) {
        refused++
        report()
        socket.destroy()
        return
      }
      unlink(oldest)
      open.delete(oldest.socket)
      oldest.socket.destroy()
      evicted++
      report()
    }
    const t: Tracked = { socket, res: undefined, prev: undefined, next: undefined }
    open.set(socket, t)
    append(t)
    socket.once('close', () => {
      if (open.get(socket) !== t) return
      open.delete(socket)
      unlink(t)
    })
  })

  // hot path: one Map read and a move to the back of the line
  const seen = (req: IncomingMessage, res: ServerResponse) => {
    // a connection closed to make room, or refused, is no longer counted
    const t = open.get(req.socket)
    if (t === undefined || t.res === HELD) return
    t.res = res
    if (t !== tail) {
      unlink(t)
      append(t)
    }
  }
  const hold = (socket: Duplex) => {
    const t = open.get(socket as Socket)
    if (t !== undefined) t.res = HELD
  }
  if (o.handler !== true) server.on('request', seen)

  return {
    get evicted() {
      return evicted
    },
    get refused() {
      return refused
    },
    seen,
    hold,
  }
}

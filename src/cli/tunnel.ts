/**
 * Protocol upgrades through `cachet serve` (RFC 9110 §7.8). A WebSocket upgrade is tunnelled to
 * the upstream: the request goes up with the same forwarding fields as any proxied request, the
 * upstream's 101 comes back, and from then on bytes flow both ways untouched until either side
 * closes. Nothing of a tunnel is cached.
 *
 * Any other upgrade (`h2c`, the one clients send unasked) is ignored, as §7.8 allows a server to:
 * the request is answered as a plain request through the cache, with `Connection: close`. An
 * h2c upgrade is not tunnelled because it would hand the client a direct HTTP/2 connection to the
 * upstream, past everything cachet checks ("h2c smuggling", T74). node:http has already stopped
 * parsing such a request at its head, so one that carries a body cannot be served: it gets 400.
 */
import { request as httpRequest, type IncomingMessage, ServerResponse } from 'node:http'
import { request as httpsRequest } from 'node:https'
import type { Socket } from 'node:net'
import type { Duplex } from 'node:stream'
import { carriesBody, connectionNames } from '../http/headers.js'
import { endToEnd, forwardingHeaders, framingProblem, type Upstream } from './proxy.js'

export interface Tunnels {
  /** the server's `upgrade` listener */
  onUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void
  /** open tunnels (and upgrades under way) */
  readonly size: number
  /** ends every tunnel at once (the drain deadline of `stop`) */
  destroyAll(): void
}

/**
 * @param plain the request listener (the Koa app): what serves an upgrade that is not tunnelled
 */
export function createTunnels(
  up: Upstream,
  plain: (req: IncomingMessage, res: ServerResponse) => void,
): Tunnels {
  const open = new Set<Duplex>()

  function track(s: Duplex): void {
    open.add(s)
    s.once('close', () => open.delete(s))
  }

  function onUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    socket.on('error', () => socket.destroy())
    const problem = framingProblem(req)
    if (problem !== undefined) {
      refuse(socket, 400, `Bad Request: ${problem}`)
      return
    }
    if (!isWebSocket(req)) {
      if (carriesBody(req.headers))
        refuse(socket, 400, 'Bad Request: an Upgrade other than websocket with a body')
      else servePlain(req, socket, plain)
      return
    }
    track(socket)
    const headers = forwardingHeaders(
      req,
      (req.socket as { encrypted?: boolean }).encrypted ? 'https' : 'http',
      req.headers.host ?? '',
    )
    headers.connection = 'upgrade'
    headers.upgrade = req.headers.upgrade
    const out = (up.secure ? httpsRequest : httpRequest)({
      protocol: up.base.protocol,
      hostname: up.base.hostname,
      port: up.base.port,
      method: req.method,
      path: up.prefix + (req.url ?? '/'),
      headers,
      // a connection of its own: a tunnel lives long and never returns to a pool
      agent: false,
      servername: up.secure ? up.base.hostname : undefined,
      setHost: false,
    })
    if (headers.host === undefined) out.setHeader('host', up.base.host)
    const timer = setTimeout(() => {
      out.destroy()
      refuse(socket, 504, `Gateway Timeout: upstream did not answer within ${up.timeoutMs} ms`)
    }, up.timeoutMs)
    socket.once('close', () => {
      clearTimeout(timer)
      out.destroy()
    })
    out.once('error', () => {
      clearTimeout(timer)
      refuse(socket, 502, 'Bad Gateway: upstream failed')
    })
    out.once('upgrade', (res, upSocket, upHead) => {
      clearTimeout(timer)
      track(upSocket)
      if (socket.destroyed) {
        upSocket.destroy()
        return
      }
      socket.write(head101(res))
      if (upHead.length > 0) socket.write(upHead)
      if (head.length > 0) upSocket.write(head)
      upSocket.on('error', () => upSocket.destroy())
      ;(upSocket as Socket).setNoDelay?.(true)
      ;(socket as Socket).setNoDelay?.(true)
      upSocket.pipe(socket)
      socket.pipe(upSocket)
      // a half-close is passed on by pipe (end); a reset or a destroy ends the other side too
      upSocket.once('close', () => socket.destroy())
      socket.once('close', () => upSocket.destroy())
    })
    out.once('response', (res) => {
      // the upstream did not switch protocols: its answer goes back as it is, then the connection
      // closes (its framing is rewritten as close-delimited, so it need not be re-chunked)
      clearTimeout(timer)
      if (socket.destroyed) {
        res.destroy()
        return
      }
      socket.write(responseHead(res))
      res.pipe(socket)
      res.once('error', () => socket.destroy())
    })
    out.end()
  }

  return {
    onUpgrade,
    get size() {
      return open.size
    },
    destroyAll() {
      for (const s of open) s.destroy()
      open.clear()
    },
  }
}

/** `Upgrade: websocket` with `Connection: upgrade`, on GET (RFC 6455 §4.1). */
function isWebSocket(req: IncomingMessage): boolean {
  if (req.method !== 'GET') return false
  const up = req.headers.upgrade
  if (up === undefined) return false
  const protocols = up
    .toLowerCase()
    .split(',')
    .map((p) => p.trim().split('/')[0])
  return protocols.includes('websocket') && connectionNames(req.headers.connection).includes('upgrade')
}

/**
 * An upgrade that is ignored: the request is answered through the cache as any other, on a
 * response of its own over the same socket, which closes after it (node:http no longer parses
 * that connection, so nothing after this request can be read from it).
 */
function servePlain(
  req: IncomingMessage,
  socket: Duplex,
  plain: (req: IncomingMessage, res: ServerResponse) => void,
): void {
  // the upgrade is not taken: neither it nor what Connection names reaches the cache or upstream
  for (const name of connectionNames(req.headers.connection)) {
    if (name !== 'close' && name !== 'keep-alive') delete req.headers[name]
  }
  delete req.headers.upgrade
  delete req.headers.connection
  const res = new ServerResponse(req)
  res.shouldKeepAlive = false
  res.assignSocket(socket as Socket)
  res.once('finish', () => {
    res.detachSocket(socket as Socket)
    socket.end()
  })
  plain(req, res)
}

/** A close-delimited answer written straight to a socket that has left node:http. */
function refuse(socket: Duplex, status: number, message: string): void {
  if (socket.destroyed) return
  if (!socket.writable) {
    socket.destroy()
    return
  }
  const reason = message.split(':')[0]
  const body = `${message}\n`
  socket.end(
    `HTTP/1.1 ${status} ${reason}\r\nContent-Type: text/plain; charset=utf-8\r\nCache-Control: no-store\r\n` +
      `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  )
}

/** The upstream's 101, hop-by-hop fields but the upgrade's own dropped. */
function head101(res: IncomingMessage): string {
  let head = `HTTP/1.1 101 ${res.statusMessage || 'Switching Protocols'}\r\n`
  const fields = endToEnd(res.headers)
  for (const [k, v] of Object.entries(fields)) head += fieldLines(k, v)
  head += `Connection: Upgrade\r\nUpgrade: ${String(res.headers.upgrade ?? 'websocket')}\r\n\r\n`
  return head
}

/** A final answer's head, end-to-end fields only, close-delimited. */
function responseHead(res: IncomingMessage): string {
  let head = `HTTP/1.1 ${res.statusCode ?? 502} ${res.statusMessage ?? ''}\r\n`
  const fields = endToEnd(res.headers)
  delete fields['content-length']
  for (const [k, v] of Object.entries(fields)) head += fieldLines(k, v)
  return `${head}Connection: close\r\n\r\n`
}

function fieldLines(name: string, value: unknown): string {
  if (value === undefined) return ''
  if (Array.isArray(value)) return value.map((v) => `${name}: ${v}\r\n`).join('')
  return `${name}: ${String(value)}\r\n`
}

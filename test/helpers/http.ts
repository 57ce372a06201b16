/**
 * Real HTTP for the end-to-end tests: a Koa app listening on 127.0.0.1 port 0, and a client that
 * sends the request target byte for byte (no WHATWG URL normalisation, so `/%2e%2e/` and `//x`
 * reach the server as written) on a fresh socket with `Connection: close`, so no keep-alive
 * socket outlives a test file.
 */
import { request as httpRequest, type Server } from 'node:http'
import type { AddressInfo, Socket } from 'node:net'
import type Koa from 'koa'

export interface Listening {
  /** `http://127.0.0.1:PORT` */
  readonly url: string
  readonly port: number
  readonly server: Server
  /** stops accepting, destroys open sockets, resolves when the server is closed; idempotent */
  close(): Promise<void>
}

/** Listens on an ephemeral port of 127.0.0.1. */
export function listen(app: Koa): Promise<Listening> {
  return new Promise((resolve, reject) => {
    const server = app.listen(0, '127.0.0.1')
    const sockets = new Set<Socket>()
    server.on('connection', (s: Socket) => {
      sockets.add(s)
      s.once('close', () => sockets.delete(s))
    })
    server.once('error', reject)
    server.once('listening', () => {
      const { port } = server.address() as AddressInfo
      let closing: Promise<void> | undefined
      resolve({
        url: `http://127.0.0.1:${port}`,
        port,
        server,
        close() {
          closing ??= new Promise<void>((done) => {
            server.close(() => done())
            for (const s of sockets) s.destroy()
          })
          return closing
        },
      })
    })
  })
}

export interface RequestOptions {
  method?: string
  headers?: Record<string, string>
  body?: string | Buffer
  /** resolve (with `complete: false`) instead of rejecting when the response is cut short */
  allowIncomplete?: boolean
}

export interface HttpResponse {
  readonly status: number
  /** lower-case names; repeated fields joined with ", " (Set-Cookie with "\n") */
  readonly headers: Readonly<Record<string, string>>
  /** the body as UTF-8 */
  readonly body: string
  readonly bytes: Buffer
  /** false when the connection ended before the whole body arrived */
  readonly complete: boolean
}

/**
 * `url` is `http://host:port` followed by the raw request target, sent as is.
 * Rejects on a connection error, or on a truncated body unless `allowIncomplete`.
 */
export function request(url: string, opts: RequestOptions = {}): Promise<HttpResponse> {
  const m = /^http:\/\/([^/:]+):(\d+)(.*)$/.exec(url)
  if (!m) throw new TypeError(`request: expected http://host:port/path, got ${url}`)
  const [, host, port, target] = m as unknown as [string, string, string, string]
  const headers: Record<string, string> = { ...opts.headers }
  const has = (name: string) => Object.keys(headers).some((h) => h.toLowerCase() === name)
  if (opts.body !== undefined && !has('content-length') && !has('transfer-encoding')) {
    headers['content-length'] = String(Buffer.byteLength(opts.body))
  }
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      {
        host,
        port: Number(port),
        method: opts.method ?? 'GET',
        path: target === '' ? '/' : target,
        headers,
        agent: false, // one socket per request, closed after it
      },
      (res) => {
        const chunks: Buffer[] = []
        let settled = false
        const finish = (complete: boolean, err?: Error) => {
          if (settled) return
          settled = true
          if (!complete && !opts.allowIncomplete) {
            reject(
              err ??
                new Error(`response to ${opts.method ?? 'GET'} ${target} ended before its body was complete`),
            )
            return
          }
          const out: Record<string, string> = {}
          for (const [k, v] of Object.entries(res.headers)) {
            if (v === undefined) continue
            out[k] = Array.isArray(v) ? v.join(k === 'set-cookie' ? '\n' : ', ') : v
          }
          const bytes = Buffer.concat(chunks)
          resolve({
            status: res.statusCode ?? 0,
            headers: out,
            body: bytes.toString('utf8'),
            bytes,
            complete,
          })
        }
        res.on('data', (c: Buffer) => chunks.push(c))
        res.once('end', () => finish(res.complete))
        res.once('error', (err) => finish(false, err))
        res.once('close', () => finish(res.complete))
      },
    )
    req.once('error', reject)
    req.end(opts.body)
  })
}

/**
 * Polls until `fn` holds, every 10 ms, failing after `ms`: the one `eventually` of the test helpers.
 * It bounds a background event (a store write, a refresh, a reload); it asserts nothing about how
 * long the event took.
 */
export async function eventually(
  fn: () => boolean | Promise<boolean>,
  what: string,
  ms = 5000,
): Promise<void> {
  const until = Date.now() + ms
  for (;;) {
    if (await fn()) return
    if (Date.now() > until) throw new Error(`${what}: did not happen within ${ms} ms`)
    await new Promise<void>((resolve) => setTimeout(resolve, 10))
  }
}

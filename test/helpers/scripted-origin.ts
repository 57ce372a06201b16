/**
 * A scripted origin for the conformance suite, after varnishtest's `server s1 { rxreq; txresp }`
 * and nginx-tests' numbered responses: a plain node:http server on 127.0.0.1:0 whose answers each
 * test scripts (status, headers, body, 103 hints, a gate to hold the answer, a cut body, a hang-up)
 * and which records every request it received and numbers its answers: the answer to the N-th
 * request carries `X-Response: N` and, unless scripted otherwise, the body `response #N`. Tests
 * then assert how many requests reached the origin and which numbered response the client got.
 */
import { createServer, type IncomingHttpHeaders, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo, Socket } from 'node:net'
import { eventually } from './http.js'

export interface Reply {
  /** @default 200 */
  status?: number
  /** header fields; an array value is sent as several field lines */
  headers?: Record<string, string | number | readonly string[]>
  /** @default `response #N` (N: this request's number) */
  body?: string | Buffer
  /** informational 103 Early Hints sent before the final response */
  hints?: Record<string, string | string[]>
  /** the answer waits until this settles (a test releases it: never a timer) */
  gate?: Promise<unknown>
  /** announce the whole body's Content-Length, send only this many bytes, then close the connection */
  cutAfter?: number
  /** no Content-Length: the body goes out chunked */
  chunked?: boolean
  /** close the connection without answering */
  hangUp?: boolean
}

/** One reply, or a function of the request that produces it. */
export type Script = Reply | ((req: Received) => Reply | Promise<Reply>)

export interface Received {
  /** 1 for the first request this origin received */
  readonly n: number
  readonly method: string
  /** the request target as received, with its query */
  readonly url: string
  /** the target without its query */
  readonly path: string
  /** lower-case names, as node:http gives them */
  readonly headers: IncomingHttpHeaders
  /** name, value, name, value… exactly as received */
  readonly rawHeaders: readonly string[]
  readonly body: Buffer
}

export interface ScriptedOrigin {
  /** `http://127.0.0.1:PORT` */
  readonly url: string
  readonly port: number
  /** every request received, in arrival order (recorded once its body has arrived) */
  readonly requests: readonly Received[]
  /** how many requests arrived (including ones still being answered) */
  readonly count: number
  /** connections open now (the proxy's keep-alive pool included) */
  readonly connections: number
  /** requests for this path (query ignored) */
  calls(path: string): Received[]
  /**
   * Scripts the answers for `path` (query ignored), consumed in order; the last one repeats.
   * Calling it again for the same path replaces the script.
   */
  script(path: string, ...replies: Script[]): ScriptedOrigin
  /** the answer for unscripted paths (default: 200, `response #N`, no caching headers) */
  fallback(reply: Script): ScriptedOrigin
  /** resolves once `n` requests have arrived; fails after a bound (not a timing assertion) */
  waitForRequests(n: number, what?: string): Promise<void>
  /** stops the server and destroys every socket, held answers included; idempotent */
  close(): Promise<void>
}

export async function startScriptedOrigin(): Promise<ScriptedOrigin> {
  const requests: Received[] = []
  const scripts = new Map<string, Script[]>()
  let fallbackScript: Script = {}
  let count = 0
  const sockets = new Set<Socket>()

  const server: Server = createServer((req, res) => {
    const n = ++count
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.once('end', () => {
      const url = req.url ?? '/'
      const q = url.indexOf('?')
      const received: Received = {
        n,
        method: req.method ?? 'GET',
        url,
        path: q === -1 ? url : url.slice(0, q),
        headers: req.headers,
        rawHeaders: req.rawHeaders,
        body: Buffer.concat(chunks),
      }
      requests.push(received)
      void answer(received, res).catch(() => res.destroy())
    })
  })
  server.on('connection', (s: Socket) => {
    sockets.add(s)
    s.once('close', () => sockets.delete(s))
  })

  async function answer(req: Received, res: ServerResponse): Promise<void> {
    const list = scripts.get(req.path)
    let script: Script = fallbackScript
    if (list !== undefined && list.length > 0) script = list.length > 1 ? list.shift()! : list[0]!
    const r = typeof script === 'function' ? await script(req) : script
    if (r.gate !== undefined) await r.gate
    if (res.destroyed) return
    if (r.hangUp) {
      res.socket?.destroy()
      return
    }
    if (r.hints !== undefined) res.writeEarlyHints(r.hints)
    const body =
      r.body === undefined
        ? Buffer.from(`response #${req.n}`)
        : Buffer.isBuffer(r.body)
          ? r.body
          : Buffer.from(r.body)
    const headers: Record<string, string | number | readonly string[]> = {
      'content-type': 'text/plain',
      'x-response': String(req.n),
      ...r.headers,
    }
    for (const [k, v] of Object.entries(headers)) res.setHeader(k, v)
    const status = r.status ?? 200
    const noBody = status === 204 || status === 304
    if (!r.chunked && !noBody && !hasHeader(headers, 'content-length'))
      res.setHeader('content-length', body.length)
    res.writeHead(status)
    if (r.cutAfter !== undefined) {
      res.write(body.subarray(0, r.cutAfter), () => res.socket?.destroy())
      return
    }
    res.end(noBody || req.method === 'HEAD' ? undefined : body)
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => resolve())
  })
  const port = (server.address() as AddressInfo).port
  let closing: Promise<void> | undefined

  const origin: ScriptedOrigin = {
    url: `http://127.0.0.1:${port}`,
    port,
    requests,
    get count() {
      return count
    },
    get connections() {
      return sockets.size
    },
    calls: (path) => requests.filter((r) => r.path === path),
    script(path, ...replies) {
      scripts.set(path, replies)
      return origin
    },
    fallback(reply) {
      fallbackScript = reply
      return origin
    },
    waitForRequests: (n, what) =>
      eventually(
        () => count >= n && requests.length >= n,
        what ?? `origin received ${n} request(s), has ${count}`,
      ),
    close() {
      closing ??= new Promise<void>((done) => {
        server.close(() => done())
        for (const s of sockets) s.destroy()
      })
      return closing
    },
  }
  return origin
}

function hasHeader(headers: Record<string, unknown>, name: string): boolean {
  return Object.keys(headers).some((k) => k.toLowerCase() === name)
}

/** A promise a test settles by hand: the origin's gate, never a timer. */
export interface Gate {
  readonly promise: Promise<void>
  open(): void
}

export function gate(): Gate {
  let open!: () => void
  const promise = new Promise<void>((resolve) => {
    open = resolve
  })
  return { promise, open }
}

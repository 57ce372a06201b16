/**
 * `cachet serve --upstream <url> [--port 3000] [--host 127.0.0.1] [--policies dir] [--redis url]`
 * A caching reverse proxy: a Koa app with the cache middleware in front of a streaming proxy.
 * SIGHUP reloads the policies; SIGTERM (and SIGINT) drain in-flight requests, then exit.
 */
import { parseArgs } from 'node:util'
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import type { Server } from 'node:http'
import Koa from 'koa'
import { createCache, type Cache } from '../create-cache.js'
import { createProxy, refuseBadFraming } from './proxy.js'
import { formatOne } from '../errors.js'
import { EXIT_INVALID, EXIT_OK, EXIT_USAGE, type CliIO } from './io.js'

export const SERVE_USAGE = `usage: cachet serve --upstream <url> [--port 3000] [--host 127.0.0.1] [--policies dir] [--redis url] [--name cachet] [--timeout ms]`

/**
 * Without --policies, cachet serve is a plain RFC 9111 shared cache: every path, the origin's
 * own lifetimes only (ttl 0: nothing without explicit freshness is stored), every query
 * parameter keyed. Deliberately stricter than the RFC: requests with Cookie or Authorization
 * bypass, as Varnish's builtin.vcl does.
 */
export const DEFAULT_POLICY = `version: 1
rules:
  - id: default
    match: "/**"
    ttl: 0
    origin: respect
    statuses: [200, 203, 204, 300, 301, 302, 307, 308, 404, 405, 410, 414, 501]
    key:
      query: all
`

export interface Serving {
  server: Server
  cache: Cache
  url: string
  /** stop accepting, finish in-flight requests (up to drainMs), release everything */
  stop(drainMs?: number): Promise<void>
}

export interface ServeOptions {
  upstream: string
  port?: number
  host?: string
  policies?: string
  store?: string
  name?: string
  timeoutMs?: number
  /** injected time (tests): entries age by it, not by the wall clock */
  clock?: { now(): number }
}

/** Starts the proxy (used by the command and by tests). */
export async function startServe(o: ServeOptions): Promise<Serving> {
  let tmp: string | undefined
  let policies = o.policies
  if (policies === undefined) {
    tmp = mkdtempSync(join(tmpdir(), 'cachet-serve-'))
    policies = join(tmp, 'default.yaml')
    writeFileSync(policies, DEFAULT_POLICY)
  }
  const cache = await createCache({ policies, store: o.store ?? 'memory', name: o.name, clock: o.clock })
  const { proxy, close } = createProxy({ upstream: o.upstream, timeoutMs: o.timeoutMs })
  const app = new Koa()
  app.silent = true
  app.use(refuseBadFraming)
  app.use(cache.middleware())
  app.use(proxy)
  const server = app.listen(o.port ?? 3000, o.host ?? '127.0.0.1')
  await new Promise<void>((res, rej) => { server.once('listening', res); server.once('error', rej) })
  const addr = server.address()
  const url = typeof addr === 'object' && addr ? `http://${addr.family === 'IPv6' ? `[${addr.address}]` : addr.address}:${addr.port}` : String(addr)
  let stopping: Promise<void> | undefined
  return {
    server,
    cache,
    url,
    stop(drainMs = 10_000) {
      stopping ??= (async () => {
        const drained = new Promise<void>((res) => server.close(() => res()))
        server.closeIdleConnections()
        const timer = setTimeout(() => server.closeAllConnections(), drainMs)
        await drained
        clearTimeout(timer)
        close()
        await cache.close()
        if (tmp) rmSync(tmp, { recursive: true, force: true })
      })()
      return stopping
    },
  }
}

export async function serveCommand(argv: string[], io: CliIO): Promise<number> {
  let values
  try {
    values = parseArgs({
      args: argv,
      options: {
        upstream: { type: 'string' },
        port: { type: 'string', default: '3000' },
        host: { type: 'string', default: '127.0.0.1' },
        policies: { type: 'string' },
        redis: { type: 'string' },
        name: { type: 'string' },
        timeout: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    }).values
  } catch (err) {
    io.stderr.write(`cachet serve: ${(err as Error).message}\n${SERVE_USAGE}\n`)
    return EXIT_USAGE
  }
  if (values.help) { io.stdout.write(`${SERVE_USAGE}\n`); return EXIT_OK }
  const port = Number(values.port)
  if (!values.upstream || !/^https?:\/\//.test(values.upstream) || !Number.isInteger(port) || port < 0 || port > 65535) {
    io.stderr.write(`cachet serve: --upstream <http(s)://host:port> is required, --port must be 0-65535\n${SERVE_USAGE}\n`)
    return EXIT_USAGE
  }
  let s: Serving
  try {
    s = await startServe({
      upstream: values.upstream, port, host: values.host, name: values.name,
      policies: values.policies === undefined ? undefined : resolve(io.cwd, values.policies),
      store: values.redis, timeoutMs: values.timeout === undefined ? undefined : Number(values.timeout),
    })
  } catch (err) {
    io.stderr.write(`cachet serve: ${(err as Error).message}\n`)
    return EXIT_INVALID
  }
  io.stdout.write(`cachet serve: ${s.url} → ${values.upstream} (${values.policies ? `policies ${values.policies}` : 'plain RFC 9111 shared cache'}, ${s.cache.store.kind} store)\n`)
  const onHup = () => {
    void s.cache.reload().then((r) => {
      if (r.ok) io.stdout.write(`cachet serve: policies reloaded, version ${r.version}\n`)
      else io.stderr.write(`cachet serve: reload failed, keeping version ${r.version}:\n${r.errors.map(formatOne).join('\n')}\n`)
    })
  }
  process.on('SIGHUP', onHup)
  await new Promise<void>((res) => {
    const stop = () => { io.stdout.write('cachet serve: draining\n'); void s.stop().then(res) }
    process.once('SIGTERM', stop)
    process.once('SIGINT', stop)
  })
  process.off('SIGHUP', onHup)
  return EXIT_OK
}

/**
 * `cachet serve --upstream <url> [--port 3000] [--host 127.0.0.1] [--policies dir] [--redis url]`
 * A caching reverse proxy: a Koa app with the cache middleware in front of a streaming proxy.
 * SIGHUP reloads the policies; SIGTERM (and SIGINT) drain in-flight requests, then exit.
 * `--admin-port` adds a second listener (loopback unless `--admin-host` says otherwise) for the
 * admin routes: the status console, stats, Prometheus metrics, explain and purge.
 */

import cluster from 'node:cluster'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import { tmpdir } from 'node:os'
import { join, relative, resolve, sep } from 'node:path'
import { type Duplex, finished } from 'node:stream'
import { parseArgs } from 'node:util'
import Koa from 'koa'
import { DEFAULT_ADMIN_PATH, resolveAdminOptions } from '../admin/options.js'
import { type Cache, createCache, kPolicySources, type PolicySourcesHook } from '../create-cache.js'
import { formatOne } from '../errors.js'
import { defaultLogger, isStructured } from '../log.js'
import { type RequestMessage, requestChannel } from '../metrics/trace.js'
import type { Logger, LogLevel, StoreOption, StructuredLogger } from '../options.js'
import { type CachetMiddleware, kRawHit } from '../request/middleware.js'
import type { RawHit } from '../request/raw.js'
import type { Store } from '../store/types.js'
import { capConnections } from './connection-cap.js'
import { type CliIO, EXIT_INVALID, EXIT_OK, EXIT_USAGE, versionLine } from './io.js'
import { ADMIN_MAX_CONNECTIONS, adminListener, listenOn } from './listen.js'
import { type AccessEntry, accessLine, jsonLogger, LOG_LEVEL_NAMES } from './log-lines.js'
import { createProxy, framingProblem, refuseBadFraming } from './proxy.js'
import { createTunnels } from './tunnel.js'
import { FleetWorker, workerSlot } from './worker.js'

export const SERVE_USAGE = `usage: cachet serve --upstream <url> [options]
  --upstream <url>            the origin, http:// or https:// (required)
  --port <n>                  port to listen on (default 3000; 0: any free port)
  --host <address>            address to listen on (default 127.0.0.1)
  --policies <dir>            policy files (default: a plain RFC 9111 shared cache)
  --redis <url>               a Redis store (default: the in-process memory store)
  --near-bytes <n>            with --redis: bytes of the in-process near cache in front of it,
                              kept coherent by Redis client tracking (default 33554432; 0: off)
  --name <name>               the cache's namespace (default cachet)
  --timeout <ms>              upstream response headers within this, else 504 (default 30000)
  --headers-timeout <ms>      a request head must arrive within this, else 408 and close (default 10000)
  --request-timeout <ms>      a whole request, head and body, within this, else 408; 0: none (default 60000)
  --keep-alive-timeout <ms>   an idle client connection is closed after this (default 5000)
  --max-connections <n>       client connections open at once; at the cap a new one closes the
                              oldest idle one (default: open-file limit - upstream sockets - 64)
  --upstream-sockets <n>      connections to the upstream at most, busy and idle; more requests
                              wait for one (default: (open-file limit - 64) / 4, at most 256)
  --targeted <fields>         the RFC 9213 targeted cache-control fields obeyed before
                              Cache-Control, comma-separated, in order of preference; "none":
                              Cache-Control only (default Cachet-Cache-Control,CDN-Cache-Control;
                              without --policies only: a policy says it with \`targeted\`)
  --admin-port <n>            also serve the admin routes on this port (0: any free port): the
                              status console at /_cachet/, /_cachet/metrics, /stats, /explain, /purge
  --admin-host <address>      address of the admin listener (default 127.0.0.1)
  --admin-token <token>       the admin bearer token, 16 characters or more (default: the
                              CACHET_ADMIN_TOKEN environment variable, which ps does not show)
  --admin-public-metrics      /_cachet/metrics and /_cachet/stats answer without the token
  --workers <n>               processes serving the port (node:cluster; default: the number of
                              cores, at most the cgroup CPU quota (a container's --cpus: cgroup
                              v2 cpu.max, v1 cpu.cfs_quota_us / cpu.cfs_period_us, rounded up),
                              when run as the cachet command; 1 when serveCommand is called in
                              process); each worker has its own memory store (purges reach
                              every one before they answer) or, with --redis, all share Redis;
                              1: one process, no primary
  --log-format <json|text>    json: one JSON object per line on stdout, the cache's events
                              included (default); text: the plain lines (stdout, warnings on stderr)
  --log-level <level>         error, warn, info (default) or debug
  -q, --quiet                 no access log (by default one line per request: JSON, or Common
                              Log Format with --log-format text, plus outcome, rule, duration)
  -h, --help                  this text
  -v, --version               the version

signals:
  SIGHUP                      reload the policies (a bad edit is reported and the last good set stays)
  SIGTERM, SIGINT             stop accepting, drain in-flight requests (10 s at most; open WebSocket
                              tunnels are closed then), exit 0
  (--workers n: send them to the primary, which relays them to every worker)

WebSocket upgrades are tunnelled to the upstream; other upgrades (h2c) are ignored and the request
served as a plain one. Expect: 100-continue is passed to the upstream, whose 100 reaches the client.`

/** File descriptors kept out of every budget: stdio, policy files and their watchers, Redis, node itself. */
const FD_RESERVE = 64

/**
 * The process's open-file limit, from /proc (Linux); node raises the soft limit to the hard one
 * at startup, so this is what the process can use. Elsewhere, a conservative 1024.
 */
export function openFileLimit(): number {
  try {
    const m = /^Max open files\s+(\d+|unlimited)/m.exec(readFileSync('/proc/self/limits', 'utf8'))
    if (m) return m[1] === 'unlimited' ? 1 << 20 : Number(m[1])
  } catch {
    /* not Linux */
  }
  return 1024
}

/**
 * Defaults that keep every socket under the open-file limit: the upstream pool is bounded, and
 * client connections get what is left. Without this, half-open client connections took every
 * descriptor, and visitors' requests failed on the upstream side with EMFILE (502) or had their
 * connections reset on accept (issue 12.11).
 */
export function connectionBudget(
  nofile: number,
  upstreamSockets?: number,
): { maxConnections: number; upstreamSockets: number } {
  const budget = Math.max(nofile - FD_RESERVE, 8)
  const upstream = upstreamSockets ?? Math.max(2, Math.min(256, Math.floor(budget / 4)))
  // an --upstream-sockets beyond the budget leaves clients half of it (startServe then warns)
  return { upstreamSockets: upstream, maxConnections: Math.max(Math.floor(budget / 2), budget - upstream) }
}

/**
 * Without --policies, cachet serve is a plain RFC 9111 shared cache: every path, the origin's
 * own lifetimes (ttl 0), any final status that states one (otherStatuses: explicit, §3), else a
 * heuristic tenth of the time since Last-Modified for the heuristically cacheable statuses
 * (§4.2.2, at most a day), every query parameter keyed. Deliberately stricter than the RFC: requests with Cookie or Authorization
 * bypass, as Varnish's builtin.vcl does. When the upstream cannot be reached, an expired entry is
 * served for up to an hour (RFC 9111 §4.2.4), unless its response forbade serving it stale.
 */
export const DEFAULT_POLICY = `version: 1
rules:
  - id: default
    match: "/**"
    ttl: 0
    origin: respect
    otherStatuses: explicit
    heuristic: 10%
    rangeMiss: fetch
    staleIfUnreachable: 1h
    key:
      query: all
`

/** The plain policy, obeying these targeted fields (RFC 9213) instead of the default pair. */
export function plainPolicy(targeted?: readonly string[]): string {
  if (targeted === undefined) return DEFAULT_POLICY
  return `${DEFAULT_POLICY}    targeted: ${JSON.stringify(targeted)}\n`
}

const TARGETED_FIELD = /^[A-Za-z0-9][A-Za-z0-9-]*-cache-control$/i

/**
 * The default logger, less the lint's warnings about the plain policy cachet wrote itself (at
 * `file`): it keys every query parameter on every path, as an RFC 9111 cache keys the whole URI,
 * so QUERY_UNBOUNDED would fire on every start about a file the user never wrote nor can fix.
 */
export function plainPolicyLogger(file: string, log: Logger = defaultLogger): Logger {
  // diagnostics name a file relative to the working directory when it lies inside it
  const rel = relative(process.cwd(), file).split(sep).join('/')
  const own = (m: unknown) => typeof m === 'string' && (m.startsWith(`${file}:`) || m.startsWith(`${rel}:`))
  if (isStructured(log)) {
    // called as methods (pino's read `this`); a structured event names its file in a field
    const l = log
    const filtered: StructuredLogger = {
      child: (b) => l.child(b),
      error: (o, m) => l.error(o, m),
      warn: (o, m) => {
        const f = (o as { file?: unknown }).file
        if (f === file || f === rel) return
        l.warn(o, m)
      },
      info: (o, m) => l.info(o, m),
      debug: (o, m) => l.debug(o, m),
    }
    return filtered as unknown as Logger
  }
  const p = log as Logger
  return {
    error: (m) => p.error(m),
    warn: (m) => (own(m) ? undefined : p.warn(m)),
    info: (m) => p.info(m),
    debug: (m) => p.debug(m),
  }
}

export interface Serving {
  server: Server
  cache: Cache
  url: string
  /** the admin listener, when `admin` was given */
  adminServer?: Server
  /** `http://host:port` of the admin listener; the console is at `<adminUrl>/_cachet/` */
  adminUrl?: string
  /** stop accepting, finish in-flight requests (up to drainMs), release everything */
  stop(drainMs?: number): Promise<void>
}

export interface ServeOptions {
  upstream: string
  /**
   * the RFC 9213 targeted cache-control fields the plain cache obeys, in order of preference ([]:
   * Cache-Control only); with `policies`, a TypeError (each rule says it with `targeted`).
   * @default ["cachet-cache-control", "cdn-cache-control"]
   */
  targeted?: readonly string[]
  port?: number
  host?: string
  policies?: string
  /** a redis:// URL, or a Store of the caller's (`cachet serve --workers N`: each worker's fleet memory store) */
  store?: string | Store
  /**
   * with a redis:// `store`: the near cache's bound in bytes (README "Near cache"); 0: no near
   * cache. @default 33554432 (32 MiB)
   */
  nearBytes?: number
  name?: string
  /** upstream response headers within this many ms, else 504. @default 30000 */
  timeoutMs?: number
  /**
   * a request head not wholly received within this many ms of the connection opening (or of the
   * previous response, on a kept-alive one) is answered 408 and its connection closed, however
   * the bytes trickle in (node:http's `server.headersTimeout`). @default 10000
   */
  headersTimeoutMs?: number
  /**
   * the whole request, head and body, within this many ms, else 408 and close (node:http's
   * `server.requestTimeout`); 0: no limit on the body. At least `headersTimeoutMs`. @default 60000
   */
  requestTimeoutMs?: number
  /** an idle kept-alive client connection is closed after this many ms. @default 5000 */
  keepAliveTimeoutMs?: number
  /**
   * client connections open at once. At the cap a new connection closes the oldest one with no
   * request in flight (idle, or its request head unfinished); when every one has a request in
   * flight, the new connection is closed. @default the open-file limit − upstreamSockets − 64
   */
  maxConnections?: number
  /**
   * connections to the upstream at most, busy and idle together; further requests wait for one
   * (within `timeoutMs`). @default (the open-file limit − 64) / 4, at most 256
   */
  upstreamSockets?: number
  /** where warnings go (the command: its log), e.g. the connection cap being reached */
  warn?: (message: string) => void
  /** the cache's logger (createCache's `logger`: plain, or pino-compatible). @default stderr, as createCache */
  logger?: Logger
  /**
   * An access log: called once per request, when its response has gone out (or its client left).
   * Off by default, and then nothing is added to the request path.
   */
  accessLog?: (entry: AccessEntry) => void
  /**
   * false: hits go through Koa like every other request, instead of being written straight to
   * node:http (request/raw.ts). Same answers either way; for comparing the two. @default true
   */
  fastHits?: boolean
  /** injected time (tests): entries age by it, not by the wall clock */
  clock?: { now(): number }
  /**
   * @internal `cachet serve --workers` (worker.ts): the first set from the fleet's snapshot, and
   * every set loaded reported (with `policies` only: the plain policy is each process's own file)
   */
  policySources?: PolicySourcesHook
  /**
   * a second listener for the admin routes under `/_cachet` (the console at `/_cachet/`, `/`
   * redirects there): the proxy's own port never serves them, whatever the upstream's paths are.
   */
  admin?: AdminListenOptions
}

export interface AdminListenOptions {
  /** 0: any free port */
  port: number
  /** @default "127.0.0.1" (loopback: reachable from this host only) */
  host?: string
  /** the bearer token, 16 characters or more */
  token: string
  /** metrics and stats readable without the token. @default false */
  publicMetrics?: boolean
}

function checkMs(name: string, v: number | undefined, d: number, zero = false): number {
  if (v === undefined) return d
  if (!Number.isInteger(v) || v < (zero ? 0 : 1))
    throw new TypeError(`${name} must be ${zero ? 'a non-negative' : 'a positive'} integer, got ${String(v)}`)
  return v
}

/** Starts the proxy (used by the command and by tests). */
export async function startServe(o: ServeOptions): Promise<Serving> {
  const headersTimeout = checkMs('headersTimeoutMs', o.headersTimeoutMs, 10_000)
  const requestTimeout = checkMs('requestTimeoutMs', o.requestTimeoutMs, 60_000, true)
  if (requestTimeout > 0 && requestTimeout < headersTimeout) {
    throw new TypeError(
      `requestTimeoutMs (${requestTimeout}) must be 0 or at least headersTimeoutMs (${headersTimeout})`,
    )
  }
  const keepAliveTimeout = checkMs('keepAliveTimeoutMs', o.keepAliveTimeoutMs, 5000)
  const nofile = openFileLimit()
  const budget = connectionBudget(
    nofile,
    o.upstreamSockets === undefined ? undefined : checkMs('upstreamSockets', o.upstreamSockets, 256),
  )
  const maxConnections = checkMs('maxConnections', o.maxConnections, budget.maxConnections)
  if (maxConnections + budget.upstreamSockets + FD_RESERVE > nofile) {
    o.warn?.(
      `--max-connections ${maxConnections} and --upstream-sockets ${budget.upstreamSockets} may exceed the open-file limit (${nofile}): ` +
        'once it is reached, connections are reset and upstream requests fail (raise ulimit -n)',
    )
  }

  if (o.targeted !== undefined) {
    if (o.policies !== undefined)
      throw new TypeError(
        '--targeted applies to the plain cache only: with --policies, set `targeted` in the rules',
      )
    const bad = o.targeted.find((f) => !TARGETED_FIELD.test(f))
    if (bad !== undefined)
      throw new TypeError(
        `--targeted: ${JSON.stringify(bad)} is not a targeted cache-control field name (RFC 9213: <name>-Cache-Control)`,
      )
  }
  // a bad admin option is a usage error, found before anything listens
  if (o.admin) resolveAdminOptions({ token: o.admin.token, publicMetrics: o.admin.publicMetrics })
  let tmp: string | undefined
  let policies = o.policies
  if (policies === undefined) {
    tmp = mkdtempSync(join(tmpdir(), 'cachet-serve-'))
    policies = join(tmp, 'default.yaml')
    writeFileSync(policies, plainPolicy(o.targeted))
  }
  const cache = await createCache({
    policies,
    store: storeSpec(o.store, o.nearBytes),
    name: o.name,
    clock: o.clock,
    ...(o.policySources !== undefined && tmp === undefined ? { [kPolicySources]: o.policySources } : {}),
    ...(tmp !== undefined
      ? { logger: plainPolicyLogger(policies, o.logger) }
      : o.logger !== undefined
        ? { logger: o.logger }
        : {}),
  })
  const { proxy, upstream, close } = createProxy({
    upstream: o.upstream,
    timeoutMs: o.timeoutMs,
    maxSockets: budget.upstreamSockets,
  })
  const app = new Koa()
  app.silent = true
  app.use(refuseBadFraming)
  const mw = cache.middleware() as CachetMiddleware
  app.use(mw)
  app.use(proxy)
  const handler = serveHandler(app.callback(), o.fastHits === false ? undefined : mw[kRawHit])
  const access = o.accessLog === undefined ? undefined : accessLogger(o.accessLog)
  const logged = access === undefined ? handler : access.around(handler)
  const server = createServer({
    headersTimeout,
    requestTimeout,
    keepAliveTimeout,
    // node:http enforces both timeouts only when it sweeps its connections, every 30 s by
    // default: here every quarter of the shorter deadline, 1 s at most, so that a connection
    // outlives its deadline by a quarter of it at most
    connectionsCheckingInterval: Math.max(
      25,
      Math.min(1000, Math.floor(Math.min(headersTimeout, requestTimeout || headersTimeout) / 4)),
    ),
  })
  // the handler tells the cap of each request (no second 'request' listener)
  const cap = capConnections(server, maxConnections, o.warn, { handler: true })
  const onRequest = (req: IncomingMessage, res: ServerResponse) => {
    cap.seen(req, res)
    logged(req, res)
  }
  server.on('request', onRequest)
  // Expect: 100-continue goes to the upstream, whose own 100 (or final answer) reaches the client
  // (proxy.ts relays 1xx); node:http would otherwise say 100 at once, before anyone decided
  // (RFC 9110 §10.1.1). Other expectations get node's 417.
  server.on('checkContinue', onRequest)
  const tunnels = createTunnels(upstream, handler)
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    cap.hold(socket)
    tunnels.onUpgrade(req, socket, head)
  })
  // node:http's maxHeadersCount (2000) stays: a lower one silently drops fields, which the cache
  // and the upstream would then not see alike; maxHeaderSize (16 KB) bounds the head already.
  server.keepAliveTimeout = keepAliveTimeout
  const servers = [server]
  let adminServer: Server | undefined
  let url: string
  let adminUrl: string | undefined
  try {
    url = await listenOn(server, o.port ?? 3000, o.host ?? '127.0.0.1')
    if (o.admin) {
      adminServer = adminListener(
        cache.admin({
          path: DEFAULT_ADMIN_PATH,
          token: o.admin.token,
          publicMetrics: o.admin.publicMetrics === true,
        }),
        headersTimeout,
      )
      servers.push(adminServer)
      capConnections(adminServer, ADMIN_MAX_CONNECTIONS, o.warn)
      adminUrl = await listenOn(adminServer, o.admin.port, o.admin.host ?? '127.0.0.1')
    }
  } catch (err) {
    // a port in use: release what was built, so that the process can exit
    for (const s of servers) s.close()
    close()
    access?.close()
    await cache.close()
    if (tmp) rmSync(tmp, { recursive: true, force: true })
    throw err
  }
  let stopping: Promise<void> | undefined
  return {
    server,
    cache,
    url,
    ...(adminServer !== undefined ? { adminServer, adminUrl } : {}),
    stop(drainMs = 10_000) {
      stopping ??= (async () => {
        const drained = Promise.all(servers.map((s) => new Promise<void>((res) => s.close(() => res()))))
        for (const s of servers) s.closeIdleConnections()
        const timer = setTimeout(() => {
          for (const s of servers) s.closeAllConnections()
          // tunnels have left node:http: its connection list no longer holds them
          tunnels.destroyAll()
        }, drainMs)
        await drained
        clearTimeout(timer)
        close()
        access?.close()
        await cache.close()
        if (tmp) rmSync(tmp, { recursive: true, force: true })
      })()
      return stopping
    },
  }
}

/**
 * The request handler: a fresh hit is answered below Koa (request/raw.ts: no Koa context, the
 * same bytes); anything else, and any request whose framing the proxy refuses, goes to the Koa
 * app (which then continues from what the raw path read).
 */
function serveHandler(
  koa: (req: IncomingMessage, res: ServerResponse) => void,
  raw: RawHit | undefined,
): (req: IncomingMessage, res: ServerResponse) => void {
  if (raw === undefined) return koa
  const fallback = (req: IncomingMessage, res: ServerResponse) => (err: unknown) => {
    // a bug in the raw path must not leave the request hanging: Koa answers it, or it is reset
    if (!res.headersSent) koa(req, res)
    else res.destroy(err as Error)
  }
  return (req, res) => {
    if (framingProblem(req) !== undefined) return koa(req, res)
    const r = raw(req, res)
    if (r === false) koa(req, res)
    else if (r !== true)
      r.then(
        (answered) => {
          if (!answered) koa(req, res)
        },
        fallback(req, res),
      )
  }
}

/**
 * The access log, around the whole handler (so that hits answered below Koa are logged too):
 * times each request and, once its response has ended, passes one entry on. The rule and outcome
 * come from the cache's cachet:request message (metrics/trace.ts), which it subscribes to while
 * it lives.
 */
function accessLogger(sink: (entry: AccessEntry) => void): {
  around(
    handler: (req: IncomingMessage, res: ServerResponse) => void,
  ): (req: IncomingMessage, res: ServerResponse) => void
  close(): void
} {
  const seen = new WeakMap<object, RequestMessage>()
  const onRequest = (m: unknown) => {
    const msg = m as RequestMessage
    seen.set(msg.res, msg)
  }
  requestChannel.subscribe(onRequest)
  return {
    around: (handler) => (req, res) => {
      const start = performance.now()
      const method = req.method ?? ''
      const url = req.url ?? ''
      const q = url.indexOf('?')
      const path = q === -1 ? url : url.slice(0, q)
      finished(res, (err) => {
        const m = seen.get(res)
        const cs = res.getHeader('cache-status')
        const length = res.getHeader('content-length')
        try {
          sink({
            method,
            path,
            httpVersion: req.httpVersion,
            remoteAddress: req.socket.remoteAddress ?? null,
            status: res.statusCode,
            bytes: length === undefined || method === 'HEAD' ? null : Number(length),
            outcome: m?.outcome ?? null,
            reason: m?.reason ?? null,
            rule: m?.rule ?? null,
            cacheStatus: cs === undefined ? null : String(cs),
            durationMs: Math.round((performance.now() - start) * 1000) / 1000,
            completed: err === undefined && res.writableFinished,
          })
        } catch {
          // a failing log sink must not fail the server
        }
      })
      handler(req, res)
    },
    close: () => {
      requestChannel.unsubscribe(onRequest)
    },
  }
}

/** `--redis` gets the near cache unless `--near-bytes 0` turns it off. */
function storeSpec(store: string | Store | undefined, nearBytes: number | undefined): StoreOption {
  if (store === undefined) return 'memory'
  if (typeof store !== 'string') return store
  if (nearBytes === 0 || !/^rediss?:\/\//i.test(store)) return store as StoreOption
  return { redis: store, near: nearBytes === undefined ? {} : { maxBytes: nearBytes } }
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
        'near-bytes': { type: 'string' },
        name: { type: 'string' },
        timeout: { type: 'string' },
        'headers-timeout': { type: 'string' },
        'request-timeout': { type: 'string' },
        'keep-alive-timeout': { type: 'string' },
        'max-connections': { type: 'string' },
        'upstream-sockets': { type: 'string' },
        targeted: { type: 'string' },
        'admin-port': { type: 'string' },
        'admin-host': { type: 'string' },
        'admin-token': { type: 'string' },
        'admin-public-metrics': { type: 'boolean' },
        'log-format': { type: 'string', default: 'json' },
        'log-level': { type: 'string', default: 'info' },
        quiet: { type: 'boolean', short: 'q' },
        workers: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
        version: { type: 'boolean', short: 'v' },
      },
    }).values
  } catch (err) {
    io.stderr.write(`cachet serve: ${(err as Error).message}\n${SERVE_USAGE}\n`)
    return EXIT_USAGE
  }
  if (values.help) {
    io.stdout.write(`${SERVE_USAGE}\n`)
    return EXIT_OK
  }
  if (values.version) {
    io.stdout.write(versionLine())
    return EXIT_OK
  }
  const port = Number(values.port)
  if (
    !values.upstream ||
    !/^https?:\/\//.test(values.upstream) ||
    !Number.isInteger(port) ||
    port < 0 ||
    port > 65535
  ) {
    io.stderr.write(
      `cachet serve: --upstream <http(s)://host:port> is required, --port must be 0-65535\n${SERVE_USAGE}\n`,
    )
    return EXIT_USAGE
  }
  // numeric flags: whole numbers only ("10s" or "1e3" is a usage error, never a silent NaN)
  const numbers: Record<string, number | undefined> = {}
  for (const flag of [
    'timeout',
    'headers-timeout',
    'request-timeout',
    'keep-alive-timeout',
    'max-connections',
    'upstream-sockets',
    'near-bytes',
  ] as const) {
    const v = values[flag]
    if (v === undefined) continue
    const zero = flag === 'request-timeout' || flag === 'near-bytes'
    if (!/^\d+$/.test(v) || (!zero && Number(v) === 0)) {
      io.stderr.write(
        `cachet serve: --${flag} must be a ${zero ? 'non-negative' : 'positive'} integer, got ${JSON.stringify(v)}\n${SERVE_USAGE}\n`,
      )
      return EXIT_USAGE
    }
    numbers[flag] = Number(v)
  }
  const workers = values.workers === undefined ? (io.cores ?? 1) : Number(values.workers)
  if (!/^\d+$/.test(values.workers ?? '1') || workers < 1) {
    io.stderr.write(
      `cachet serve: --workers must be a positive integer, got ${JSON.stringify(values.workers)}\n${SERVE_USAGE}\n`,
    )
    return EXIT_USAGE
  }
  const admin = adminFlags(values, io.env ?? process.env)
  if (typeof admin === 'string') {
    io.stderr.write(`cachet serve: ${admin}\n${SERVE_USAGE}\n`)
    return EXIT_USAGE
  }
  const format = values['log-format']
  const level = values['log-level'] as LogLevel
  if ((format !== 'json' && format !== 'text') || !LOG_LEVEL_NAMES.includes(level)) {
    io.stderr.write(
      `cachet serve: --log-format must be json or text, --log-level error, warn, info or debug\n${SERVE_USAGE}\n`,
    )
    return EXIT_USAGE
  }
  // json: everything, the cache's own events included, one object per line on stdout (12-factor);
  // text: the lines of old, warnings and errors on stderr
  // a worker of `--workers N` (worker.ts): its lines say which, its reloads are the primary's to log
  const slot = workerSlot()
  const fleet = slot === undefined ? undefined : new FleetWorker(slot)
  const json =
    format !== 'json'
      ? undefined
      : fleet === undefined
        ? jsonLogger((line) => io.stdout.write(line), level)
        : jsonLogger(fleet.logWrite(io.stdout), level, { worker: fleet.slot })
  const say = (l: 'info' | 'warn' | 'error', msg: string, event: string, fields: object = {}) => {
    if (l === 'warn' && fleet?.muted === true) return
    if (json !== undefined) json[l]({ event, ...fields }, msg)
    else (l === 'info' ? io.stdout : io.stderr).write(`${msg}\n`)
  }
  const accessLog =
    values.quiet === true
      ? undefined
      : json !== undefined
        ? (e: AccessEntry) => json.info({ event: 'access', ...e }, `${e.method} ${e.path} ${e.status}`)
        : (e: AccessEntry) => io.stdout.write(`${accessLine(e, new Date(), fleet?.slot)}\n`)
  const announce = (url: string, store: string, version: string, fields: object = {}) => {
    const n = (fields as { workers?: number }).workers
    say(
      'info',
      `cachet serve: ${url} → ${values.upstream} (${values.policies ? `policies ${values.policies}` : 'plain RFC 9111 shared cache'}, ${store} store${n === undefined ? '' : `, ${n} workers`})`,
      'listening',
      { url, upstream: values.upstream, policies: values.policies ?? null, store, version, ...fields },
    )
  }
  if (fleet === undefined && workers > 1) {
    if (!cluster.isPrimary) {
      io.stderr.write(
        'cachet serve: --workers above 1 needs a process of its own, not a node:cluster worker\n',
      )
      return EXIT_USAGE
    }
    const { runPrimary } = await import('./workers.js')
    return runPrimary({
      workers,
      argv,
      io,
      json,
      say,
      announce,
      headersTimeoutMs: numbers['headers-timeout'] ?? 10_000,
      ...(admin !== undefined ? { admin } : {}),
    })
  }
  // a worker asks the primary what to start from (a replacement: the fleet's policies)
  await fleet?.begin()
  const logger = json ?? fleet?.textLogger(defaultLogger)
  let s: Serving
  try {
    s = await startServe({
      upstream: values.upstream,
      port,
      host: values.host,
      name: values.name,
      policies: values.policies === undefined ? undefined : resolve(io.cwd, values.policies),
      store: values.redis ?? fleet?.store,
      nearBytes: numbers['near-bytes'],
      timeoutMs: numbers.timeout,
      headersTimeoutMs: numbers['headers-timeout'],
      requestTimeoutMs: numbers['request-timeout'],
      keepAliveTimeoutMs: numbers['keep-alive-timeout'],
      maxConnections: numbers['max-connections'],
      upstreamSockets: numbers['upstream-sockets'],
      targeted:
        values.targeted === undefined
          ? undefined
          : values.targeted === 'none'
            ? []
            : values.targeted.split(',').map((f) => f.trim()),
      // the fleet's admin listener is the primary's
      ...(admin !== undefined && fleet === undefined ? { admin } : {}),
      ...(logger !== undefined ? { logger } : {}),
      ...(fleet !== undefined && values.policies !== undefined
        ? { policySources: fleet.policySources() }
        : {}),
      ...(accessLog !== undefined ? { accessLog } : {}),
      warn: (m) => say('warn', `cachet serve: ${m}`, 'serve-warning'),
    })
  } catch (err) {
    // a TypeError names an option (a contradictory pair of flags); anything else is the policies
    const code = err instanceof TypeError ? EXIT_USAGE : EXIT_INVALID
    if (fleet !== undefined) return fleet.failed(code, (err as Error).message)
    io.stderr.write(`cachet serve: ${(err as Error).message}\n`)
    return code
  }
  if (fleet !== undefined) return fleet.serve(s)
  const onHup = () => {
    void s.cache.reload().then((r) => {
      // json: the cache logs the reload itself (event "reload"), applied or failed
      if (json !== undefined) {
        if (r.ok && !r.changed)
          say('info', `cachet serve: policies unchanged, version ${r.version}`, 'reload', {
            outcome: 'unchanged',
            version: r.version,
          })
      } else if (r.ok) io.stdout.write(`cachet serve: policies reloaded, version ${r.version}\n`)
      else
        io.stderr.write(
          `cachet serve: reload failed, keeping version ${r.version}:\n${r.errors.map(formatOne).join('\n')}\n`,
        )
    })
  }
  // the signals are handled before the lines that say the server is up: whoever reads them may
  // signal at once (a SIGHUP with no listener would end the process)
  process.on('SIGHUP', onHup)
  const stopped = new Promise<void>((res) => {
    const stop = () => {
      say('info', 'cachet serve: draining', 'draining')
      void s.stop().then(res)
    }
    process.once('SIGTERM', stop)
    process.once('SIGINT', stop)
  })
  announce(s.url, s.cache.store.kind, s.cache.version)
  if (s.adminUrl !== undefined)
    say('info', `cachet serve: admin console ${s.adminUrl}${DEFAULT_ADMIN_PATH}/`, 'admin-listening', {
      url: `${s.adminUrl}${DEFAULT_ADMIN_PATH}/`,
    })
  await stopped
  process.off('SIGHUP', onHup)
  return EXIT_OK
}

/**
 * The admin listener's flags, or a usage error. The token comes from --admin-token or else the
 * CACHET_ADMIN_TOKEN environment variable; an admin flag without --admin-port is an error rather
 * than silently nothing.
 */
function adminFlags(
  values: {
    'admin-port'?: string | undefined
    'admin-host'?: string | undefined
    'admin-token'?: string | undefined
    'admin-public-metrics'?: boolean | undefined
  },
  env: Readonly<Record<string, string | undefined>>,
): AdminListenOptions | string | undefined {
  const port = values['admin-port']
  if (port === undefined) {
    const stray = (['admin-host', 'admin-token', 'admin-public-metrics'] as const).find(
      (f) => values[f] !== undefined,
    )
    return stray === undefined ? undefined : `--${stray} needs --admin-port`
  }
  if (!/^\d+$/.test(port) || Number(port) > 65535)
    return `--admin-port must be 0-65535, got ${JSON.stringify(port)}`
  const token = values['admin-token'] ?? env.CACHET_ADMIN_TOKEN
  if (token === undefined || token === '')
    return '--admin-port needs a token: --admin-token <token> or the CACHET_ADMIN_TOKEN environment variable'
  return {
    port: Number(port),
    token,
    ...(values['admin-host'] !== undefined ? { host: values['admin-host'] } : {}),
    ...(values['admin-public-metrics'] === true ? { publicMetrics: true } : {}),
  }
}

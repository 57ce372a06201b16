/**
 * Shared setup of the review regressions (test/regressions/review-*.test.ts, one file per finding):
 * regressions found by a review of the request path (middleware, capture, proxy, purge). Each test
 * states the behaviour the spec promises and fails while the bug is there; the report that came
 * with them names the cause (file:line) and a fix for each.
 */

import Koa, { type Middleware } from 'koa'
import { suite, type Test } from 'uvu'
import { type Serving, startServe } from '../../src/cli/serve.js'
import { type Cache, createCache } from '../../src/create-cache.js'
import type { Logger, StoreOption } from '../../src/options.js'
import { type HttpResponse, type Listening, listen, request } from '../helpers/http.js'
import { createOrigin, type Origin } from '../helpers/origin.js'
import { policyDir, yaml } from '../helpers/policies.js'
import type { ScriptedOrigin } from '../helpers/scripted-origin.js'

const PAGES = policyDir(
  yaml(`
  version: 1
  rules:
    - id: pages
      match: /**
      ttl: 1m
`),
)

const quiet: Logger = { error() {}, warn() {}, info() {}, debug() {} }

const closers: (() => Promise<void>)[] = []

/** The suite of one finding; whatever its tests started is closed after each. */
export function reviewSuite(finding: string): Test {
  const s = suite(`review regressions: ${finding}`)
  s.after.each(async () => {
    for (const c of closers.splice(0).reverse()) await c()
  })
  return s
}

export interface App {
  readonly cache: Cache
  readonly origin: Origin
  readonly srv: Listening
  get(target: string, headers?: Record<string, string>): Promise<HttpResponse>
}

/** cache.middleware() between optional outer middleware and a counting origin, on a real server. */
export async function app(
  o: {
    policies?: string
    store?: StoreOption
    clock?: { now(): number }
    coalesceWaitMs?: number
    outer?: Middleware
  } = {},
): Promise<App> {
  const cache = await createCache({
    policies: o.policies ?? PAGES,
    logger: quiet,
    ...(o.store !== undefined ? { store: o.store } : {}),
    ...(o.clock !== undefined ? { clock: o.clock } : {}),
    ...(o.coalesceWaitMs !== undefined ? { coalesceWaitMs: o.coalesceWaitMs } : {}),
  })
  const origin = createOrigin()
  const k = new Koa()
  k.on('error', () => {})
  if (o.outer) k.use(o.outer)
  k.use(cache.middleware())
  k.use(origin.middleware)
  const srv = await listen(k)
  closers.push(async () => {
    await srv.close()
    await cache.close()
  })
  return { cache, origin, srv, get: (t, headers = {}) => request(srv.url + t, { headers }) }
}

/** `cachet serve` in front of `origin`; both closed after the test. */
export async function serve(origin: ScriptedOrigin): Promise<Serving> {
  const sv = await startServe({ upstream: origin.url, port: 0 })
  closers.push(async () => {
    await sv.stop(100)
    await origin.close()
  })
  return sv
}

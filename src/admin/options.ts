/**
 * `cache.admin(options)`: the one place its options are documented (README "Purge" and
 * "The console" repeat this wording).
 */

import { checkOptionNames } from '../option-names.js'

export interface AdminOptions {
  /**
   * where it answers. `POST <path>` purges (the endpoint's first form); under `<path>/` it serves
   * the status console (`GET <path>/`), `GET <path>/stats` (JSON), `GET <path>/metrics`
   * (Prometheus text), `POST <path>/explain` and `POST <path>/purge`. The default keeps the old
   * default purge URL working: `POST /_cachet/purge` is `<path>/purge`. @default "/_cachet"
   */
  path?: string
  /** the bearer token; at least 16 characters */
  token: string
  /**
   * `GET <path>/stats` and `GET <path>/metrics` answer without the token (e.g. for a Prometheus
   * scraper on a private network). They then show anyone who can reach them rule ids, policy file
   * paths and counts (never request data); explain and purge still need the token. @default false
   */
  publicMetrics?: boolean
  /** largest accepted body, bytes: a larger one is answered 413 and the connection closed. @default 65536 */
  maxBodyBytes?: number
  /**
   * a body not wholly received within this many ms of the request being authorised is answered
   * 408 and the connection closed (a client dribbling its body holds nothing longer). @default 10000
   */
  bodyTimeoutMs?: number
  /**
   * wrong tokens one client address may send before it is locked out: from then on, for
   * `lockoutMs`, it is answered `429 Too Many Requests` with `Retry-After`, whatever it sends (the
   * right token too) to a route that needs the token. The address is Koa's `ctx.ip`: the socket's
   * peer, unless the app sets `app.proxy = true`, when it is taken from `X-Forwarded-For` (then also
   * set `app.maxIpsCount = 1`, so it is the entry your own proxy appended and not one the client
   * wrote). Behind a proxy without `app.proxy`, every client shares the proxy's address, and so
   * its lockouts. Requests with the right token are never counted nor limited. @default 10
   */
  maxFailures?: number
  /** the first lockout of an address, ms; each further one doubles, up to one hour. @default 60000 */
  lockoutMs?: number
  /**
   * client addresses remembered (IPv6 counted by /64), about 100 bytes each; beyond it the least
   * recently failed is forgotten. An address is also forgotten an hour after its last failure or
   * lockout. @default 10000
   */
  maxClients?: number
  /** the clock lockouts are measured by (tests). @default Date */
  clock?: { now(): number }
}

/** The names of AdminOptions, for the run-time check of plain JavaScript callers (the Record makes the
 * compiler insist on every one). */
const ADMIN_OPTIONS_RECORD: Record<keyof AdminOptions, true> = {
  path: true,
  token: true,
  publicMetrics: true,
  maxBodyBytes: true,
  bodyTimeoutMs: true,
  maxFailures: true,
  lockoutMs: true,
  maxClients: true,
  clock: true,
}
const ADMIN_OPTIONS: readonly string[] = Object.keys(ADMIN_OPTIONS_RECORD)

export const DEFAULT_ADMIN_PATH = '/_cachet'

export interface ResolvedAdminOptions {
  /** without a trailing slash */
  readonly path: string
  readonly token: string
  readonly publicMetrics: boolean
  readonly maxBodyBytes: number
  readonly bodyTimeoutMs: number
  readonly maxFailures: number
  readonly lockoutMs: number
  readonly maxClients: number
  readonly clock: { now(): number }
}

function positive(name: string, v: number | undefined, d: number): number {
  if (v === undefined) return d
  if (!Number.isInteger(v) || v < 1)
    throw new TypeError(`admin ${name} option must be a positive integer, got ${String(v)}`)
  return v
}

/** Checks the options (a TypeError names the one at fault) and fills in the defaults. */
export function resolveAdminOptions(opts: AdminOptions): ResolvedAdminOptions {
  if (typeof opts === 'object' && opts !== null) checkOptionNames(opts, ADMIN_OPTIONS, 'admin')
  if (typeof opts?.token !== 'string' || opts.token.length < 16)
    throw new TypeError('admin token option must be a string of at least 16 characters')
  const given = opts.path ?? DEFAULT_ADMIN_PATH
  if (typeof given !== 'string' || !given.startsWith('/'))
    throw new TypeError(`admin path option must start with "/", got ${JSON.stringify(given)}`)
  // "/admin/" and "/admin" are the same mount; "/" cannot hold the console under it
  const path = given.replace(/\/+$/, '')
  if (path === '')
    throw new TypeError('admin path option must not be "/": the console and its routes live under it')
  if (opts.publicMetrics !== undefined && typeof opts.publicMetrics !== 'boolean')
    throw new TypeError(`admin publicMetrics option must be a boolean, got ${String(opts.publicMetrics)}`)
  return {
    path,
    token: opts.token,
    publicMetrics: opts.publicMetrics === true,
    maxBodyBytes: positive('maxBodyBytes', opts.maxBodyBytes, 65536),
    bodyTimeoutMs: positive('bodyTimeoutMs', opts.bodyTimeoutMs, 10_000),
    maxFailures: positive('maxFailures', opts.maxFailures, 10),
    lockoutMs: positive('lockoutMs', opts.lockoutMs, 60_000),
    maxClients: positive('maxClients', opts.maxClients, 10_000),
    clock: opts.clock ?? Date,
  }
}

/**
 * Asking the origin (downstream middleware) once, for the miss path and the background refresh
 * alike: our validators on the request or none of the client's, `next()`, the request restored,
 * and what came back classified as data for the caller to act on (http-cache-semantics' style).
 */
import type { Context, Next } from 'koa'
import { sameRepresentation, setValidators } from '../http/validators.js'
import { presetHeaders } from './capture.js'
import type { Entry } from './entry.js'

export interface OriginAnswer {
  /**
   * - `thrown`: downstream threw (`error`);
   * - `error`: it answered 5xx;
   * - `304-same`: a 304 to our validators, for the representation we hold (RFC 9111 §4.3.4);
   * - `304-other`: a 304 to our validators naming another representation;
   * - `full`: any other answer (a full response, or a 304 nobody asked us to interpret).
   */
  readonly kind: 'thrown' | 'error' | '304-same' | '304-other' | 'full'
  readonly error?: unknown
  /** when the origin was asked (a purge after this may have raced the response) */
  readonly startedAt: number
  /** response headers set before downstream ran (outer middleware's): not the origin's */
  readonly preset: ReadonlyMap<string, unknown> | undefined
}

/**
 * Runs downstream once. With `stale` (its tokens still current), the request carries the stored
 * validators (RFC 9111 §4.3.1), so that the origin may answer 304; without, the client's own
 * validators are withheld: the cache wants a full response to store, and answers them itself.
 */
export async function askOrigin(
  ctx: Context,
  next: Next,
  stale: Entry | undefined,
  now: () => number,
  wholeForRange = false,
): Promise<OriginAnswer> {
  const h = ctx.req.headers
  const inm = h['if-none-match']
  const ims = h['if-modified-since']
  // rangeMiss: fetch: the whole representation is asked for, to be stored; the client's Range
  // (and If-Range) is answered from it afterwards (miss.ts)
  const range = wholeForRange ? h.range : undefined
  const ifRange = range !== undefined ? h['if-range'] : undefined
  if (range !== undefined) {
    delete h.range
    delete h['if-range']
  }
  const validated = stale !== undefined && setValidators(h, stale.headers)
  if (!validated) {
    delete h['if-none-match']
    delete h['if-modified-since']
  }
  const preset = presetHeaders(ctx.res)
  const startedAt = now()
  let thrown = false
  let error: unknown
  try {
    await next()
  } catch (err) {
    thrown = true
    error = err
  } finally {
    if (inm !== undefined) h['if-none-match'] = inm
    else delete h['if-none-match']
    if (ims !== undefined) h['if-modified-since'] = ims
    else delete h['if-modified-since']
    if (range !== undefined) h.range = range
    if (ifRange !== undefined) h['if-range'] = ifRange
  }
  if (thrown) return { kind: 'thrown', error, startedAt, preset }
  if (ctx.status >= 500) return { kind: 'error', startedAt, preset }
  if (validated && ctx.status === 304) {
    const same = sameRepresentation(stale.headers, ctx.res.getHeader('etag'))
    return { kind: same ? '304-same' : '304-other', startedAt, preset }
  }
  return { kind: 'full', startedAt, preset }
}

/** The status an error stands for (Koa's `err.status`), for `fwd-status`. */
export function errorStatus(err: unknown): number {
  const e = err as { status?: unknown; statusCode?: unknown } | null
  const s = e?.status ?? e?.statusCode
  return typeof s === 'number' && s >= 400 && s <= 599 ? s : 500
}

/**
 * Error codes that say the origin could not be reached at all (RFC 9111 §4.2.4 "disconnected"):
 * node's socket and DNS errors, undici's (fetch) connection errors, and `cachet serve`'s own
 * UpstreamError codes (connection failed, or no response head within its deadline).
 */
const UNREACHABLE: ReadonlySet<string> = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'EHOSTDOWN',
  'ENETUNREACH',
  'ENETDOWN',
  'ENOTFOUND',
  'EAI_AGAIN',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_SOCKET',
  'UND_ERR_CLOSED',
  'UPSTREAM_ERROR',
  'UPSTREAM_TIMEOUT',
])

/**
 * Whether a thrown error says the origin was unreachable: its `code`, or that of an error in its
 * `cause` chain (fetch wraps them: `TypeError: fetch failed` with the socket error as cause).
 * An error the application throws itself (`ctx.throw(503)`) is an answer, not a disconnection.
 */
export function unreachable(err: unknown): boolean {
  let e = err as { code?: unknown; cause?: unknown } | null | undefined
  for (let depth = 0; depth < 5 && e !== null && typeof e === 'object'; depth++) {
    if (typeof e.code === 'string' && UNREACHABLE.has(e.code)) return true
    e = e.cause as typeof e
  }
  return false
}

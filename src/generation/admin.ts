/**
 * The optional purge endpoint: `app.use(cache.admin({ path: '/_cachet/purge', token }))`.
 * POST a JSON body `{ "tags": [...], "urls": [...], "rules": [...], "all": true }` with
 * `Authorization: Bearer <token>`. Missing or malformed credentials → 401, a wrong token → 403
 * (compared in constant time), anything but POST → 405. Its answers are never stored
 * (`Cache-Control: no-store`), and it answers before the cache middleware when mounted first.
 */
import { createHash, timingSafeEqual } from 'node:crypto'
import type { Context, Middleware, Next } from 'koa'
import type { PurgeRequest, PurgeResult } from './purge.js'

export interface AdminOptions {
  /** where the endpoint answers (exact path). @default "/_cachet/purge" */
  path?: string
  /** the bearer token; at least 16 characters */
  token: string
  /** largest accepted body, bytes. @default 65536 */
  maxBodyBytes?: number
}

const sha = (s: string) => createHash('sha256').update(s).digest()

export function createAdmin(purge: (what: PurgeRequest) => Promise<PurgeResult>, opts: AdminOptions): Middleware {
  if (typeof opts?.token !== 'string' || opts.token.length < 16) throw new TypeError('admin token option must be a string of at least 16 characters')
  const path = opts.path ?? '/_cachet/purge'
  if (!path.startsWith('/')) throw new TypeError(`admin path option must start with "/", got ${JSON.stringify(path)}`)
  const expected = sha(opts.token)
  const maxBody = opts.maxBodyBytes ?? 65536

  return async function cachetAdmin(ctx: Context, next: Next): Promise<void> {
    if (ctx.path !== path) return next()
    ctx.set('Cache-Control', 'no-store')
    if (ctx.method !== 'POST') {
      ctx.set('Allow', 'POST')
      return answer(ctx, 405, { error: 'use POST' })
    }
    const auth = ctx.get('authorization')
    const m = /^Bearer ([\x21-\x7e]+)$/i.exec(auth)
    if (!m) {
      ctx.set('WWW-Authenticate', 'Bearer realm="cachet"')
      return answer(ctx, 401, { error: 'missing bearer token' })
    }
    // constant time: compare fixed-length digests, so neither length nor prefix leaks
    if (!timingSafeEqual(sha(m[1]!), expected)) return answer(ctx, 403, { error: 'wrong token' })
    let body: PurgeRequest
    try {
      // a body parser mounted earlier may have read the body already: use what it parsed
      const parsed = (ctx.request as unknown as { body?: unknown }).body
      if (parsed !== undefined && typeof parsed === 'object' && parsed !== null && !Buffer.isBuffer(parsed)) body = parsed as PurgeRequest
      else if (ctx.req.readableEnded) throw new Error('the request body was already consumed and not parsed as JSON')
      else body = JSON.parse((await readBody(ctx, maxBody)) || '{}') as PurgeRequest
    } catch (err) {
      return answer(ctx, 400, { error: `body must be JSON { tags?, urls?, rules?, all? }: ${(err as Error).message}` })
    }
    try {
      const result = await purge(body)
      return answer(ctx, 200, { ok: true, ...result })
    } catch (err) {
      if (err instanceof TypeError) return answer(ctx, 400, { error: err.message })
      // the purge could not be recorded: never claim success
      return answer(ctx, 503, { ok: false, error: (err as Error).message })
    }
  }
}

function answer(ctx: Context, status: number, body: object): void {
  ctx.status = status
  ctx.body = body
}

function readBody(ctx: Context, max: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    let size = 0
    ctx.req.on('data', (c: Buffer) => {
      size += c.length
      if (size > max) { reject(new Error(`larger than ${max} bytes`)); ctx.req.destroy() } else chunks.push(c)
    })
    ctx.req.once('end', () => resolve(Buffer.concat(chunks).toString('utf8')))
    ctx.req.once('error', reject)
  })
}

/**
 * The admin routes' HTTP plumbing: answers, refusals that close rather than read a body, and a
 * bounded, timed body read (issue 12.11: no unbounded body, no client holding a request open).
 */
import type { IncomingMessage } from 'node:http'
import type { Context } from 'koa'

export function answer(ctx: Context, status: number, body: object): void {
  ctx.status = status
  ctx.body = body
}

/**
 * A refusal before the body is read. node:http would otherwise read and discard whatever body
 * follows to keep the connection (as long as the client cares to send it): an unauthorised
 * client gets nothing read on its behalf, the connection is closed instead.
 */
export function refuse(ctx: Context, status: number, body: object): void {
  const h = ctx.req.headers
  if (
    !ctx.req.readableEnded &&
    (h['transfer-encoding'] !== undefined ||
      (h['content-length'] !== undefined && h['content-length'] !== '0'))
  ) {
    ctx.set('Connection', 'close')
  }
  answer(ctx, status, body)
}

/** 413, named as RFC 9110 §15.5.14 does; the rest of the body is not read, the connection closes. */
function tooLarge(ctx: Context, max: number): void {
  ctx.set('Connection', 'close')
  answer(ctx, 413, { error: `the body is larger than ${max} bytes` })
  ctx.message = 'Content Too Large'
}

/** What `jsonBody` found: the parsed value, or `answered` when it already answered (413, 408). */
export type BodyRead = { readonly value: unknown } | 'answered'

/**
 * The request body parsed as JSON (an empty body is `{}`), or 'answered' after a 413 or 408.
 * Throws (a SyntaxError, or an Error) when the body is not JSON or was consumed unparsed: the
 * caller answers 400 with what it expected.
 */
export async function jsonBody(ctx: Context, max: number, timeoutMs: number): Promise<BodyRead> {
  // a body parser mounted earlier may have read the body already: use what it parsed
  const parsed = (ctx.request as unknown as { body?: unknown }).body
  if (parsed !== undefined && typeof parsed === 'object' && parsed !== null && !Buffer.isBuffer(parsed))
    return { value: parsed }
  if (ctx.req.readableEnded) throw new Error('the request body was already consumed and not parsed as JSON')
  const length = ctx.req.headers['content-length']
  // refused before a byte is read when the client says up front (RFC 9110 §15.5.14)
  if (length !== undefined && Number(length) > max) {
    tooLarge(ctx, max)
    return 'answered'
  }
  const read = await readBody(ctx.req, max, timeoutMs)
  if (read === 413) {
    tooLarge(ctx, max)
    return 'answered'
  }
  if (read === 408) {
    ctx.set('Connection', 'close')
    answer(ctx, 408, { error: `the body did not arrive within ${timeoutMs} ms` })
    return 'answered'
  }
  return { value: JSON.parse(read || '{}') as unknown }
}

/**
 * The body as text, or 413 once more than `max` bytes arrived (a chunked body has no length to
 * check up front), or 408 when it has not all arrived within `timeoutMs`. On 413 and 408 the
 * request stops being read; the caller answers and closes.
 */
function readBody(req: IncomingMessage, max: number, timeoutMs: number): Promise<string | 408 | 413> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    let size = 0
    const settle = (r: string | 408 | 413 | Error) => {
      clearTimeout(timer)
      req.off('data', onData)
      req.off('end', onEnd)
      req.off('error', settle)
      if (r instanceof Error) reject(r)
      else {
        if (typeof r === 'number') req.pause()
        resolve(r)
      }
    }
    const onData = (c: Buffer) => {
      size += c.length
      if (size > max) settle(413)
      else chunks.push(c)
    }
    const onEnd = () => settle(Buffer.concat(chunks).toString('utf8'))
    const timer = setTimeout(() => settle(408), timeoutMs)
    req.on('data', onData)
    req.once('end', onEnd)
    req.once('error', settle)
  })
}

/**
 * Invalidation after unsafe methods (RFC 9111 §4.4) and the rule's declarative `invalidate.tags`:
 * both bump generation tokens (README "How purge works") before the response is sent.
 */
import type { Context } from 'koa'
import { matchPath } from '../key/sanitize.js'
import { errorText } from '../log.js'
import { type PurgeMessage, purgeChannel } from '../metrics/trace.js'
import { pathSegments } from '../policy/tag-template.js'
import type { Rule } from '../policy/types.js'
import type { PolicySet } from '../policy-set.js'
import type { Runtime } from '../runtime.js'
import { GEN_TTL, locate, tagGen } from './keys.js'

export function isUnsafe(method: string): boolean {
  return method !== 'GET' && method !== 'HEAD' && method !== 'OPTIONS' && method !== 'TRACE'
}

/**
 * RFC 9111 §4.4: a successful unsafe request invalidates its URL, and its Location /
 * Content-Location when same-origin; plus `rule`'s `invalidate.tags` when a rule matched it.
 */
export async function invalidateAfterUnsafe(
  rt: Runtime,
  ctx: Context,
  set: PolicySet,
  rule: Rule | undefined,
): Promise<void> {
  const { name, store, metrics } = rt
  const status = ctx.status
  if (status < 200 || status >= 400) return
  const gens: string[] = []
  const self = locate(set, name, ctx.hostname, ctx.path, ctx.querystring)
  if (self !== undefined) gens.push(self.urlGen)
  for (const h of ['location', 'content-location']) {
    const v = ctx.response.get(h)
    if (!v) continue
    const u = sameOrigin(ctx, v)
    if (u === undefined) continue
    const l = locate(set, name, ctx.hostname, u.pathname, u.search.slice(1))
    if (l !== undefined) gens.push(l.urlGen)
  }
  if (rule !== undefined) {
    const templates = set.invalidate[rule.index] ?? []
    if (templates.length > 0) {
      // the same decoded path the stored entries' tags were resolved from (decide.ts)
      const segments = pathSegments(matchPath(ctx.path) ?? ctx.path)
      const pairs = [...new URLSearchParams(ctx.querystring)] as [string, string][]
      for (const t of templates) gens.push(tagGen(name, t(segments, pairs)))
    }
  }
  if (gens.length === 0) return
  try {
    await store.bump(gens, GEN_TTL)
    metrics.invalidations++
    if (purgeChannel.hasSubscribers) {
      const message: PurgeMessage = {
        cache: name,
        source: 'invalidation',
        rule: rule?.id ?? null,
        method: ctx.method,
        path: ctx.path,
        generations: gens.length,
      }
      purgeChannel.publish(message)
    }
  } catch (err) {
    rt.onStoreError(err)
    rt.log.warn(`invalidation after ${ctx.method} ${ctx.path} could not be recorded: ${errorText(err)}`, {
      event: 'invalidation-failed',
      rule: rule?.id ?? null,
      method: ctx.method,
      path: ctx.path,
      error: errorText(err),
    })
  }
}

function sameOrigin(ctx: Context, value: string): URL | undefined {
  try {
    const base = `${ctx.protocol}://${ctx.host}`
    const u = new URL(value, `${base}${ctx.path}`)
    return u.origin === new URL(base).origin ? u : undefined
  } catch {
    return undefined
  }
}

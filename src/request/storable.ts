/**
 * Whether a response to a looked-up GET may be stored, and for how long: the one decision the
 * miss path (capture.ts) acts on and `explain` / `cachet test` report, so that a policy test can
 * never pass on rules the middleware does not run. Pure: it reads a response view, changes nothing.
 *
 * In order: the verdict (RFC 9111 §3 and cachet's stricter defaults, http/freshness.ts), then the
 * deception guard and the rule's `contentTypes` (http/deception.ts); the lifetime (fresh and
 * kept) of what may be stored comes from the one lifetime rule (freshness.ts `lifetime`). The body's size is checked where the body
 * is known (capture.ts, with `overBodySize`).
 */
import { typeRefused } from '../http/deception.js'
import { type Lifetime, lifetime, type ResponseView, type Verdict, verdict } from '../http/freshness.js'
import type { Rule } from '../policy/types.js'

const DECEPTION: Verdict = Object.freeze({
  ttl: 0,
  initialAge: 0,
  swr: 0,
  sie: 0,
  siu: 0,
  reason: 'content-type',
})

/**
 * The verdict for a response to a GET the rule looked up, deception guard included: `reason` is
 * one of the verdict's (`status`, `set-cookie`, `no-store`, …) or `content-type` (a static-looking
 * path, `/account/x.css`, answered with another type, or a type the rule's contentTypes does not
 * list). `path` is the request path (`ctx.path`).
 */
export function storeVerdict(
  rule: Rule,
  path: string,
  res: ResponseView,
  authorized: boolean,
  now: number,
): Verdict {
  const v = verdict(rule, res, authorized, now)
  if (v.reason !== undefined) return v
  // `/account/x.css` answered as text/html is an application page, not a stylesheet (deception.ts);
  // the rule's contentTypes, when set, narrows what it stores further
  if (typeRefused(path, res.header('content-type'), rule.contentTypes)) return DECEPTION
  return v
}

/** A validator lets an expired entry be revalidated by a 304, so it is kept longer (lifetime). */
export function hasValidator(res: ResponseView): boolean {
  return res.header('etag') !== undefined || res.header('last-modified') !== undefined
}

/** How long a storable response stays fresh and how long the store keeps it. */
export function storedLifetime(v: Verdict, res: ResponseView): Lifetime {
  return lifetime(v, hasValidator(res))
}

/** A body larger than the rule's maxBodySize passes through unstored (reason `too-large`). */
export function overBodySize(rule: Rule, bytes: number): boolean {
  return bytes > rule.maxBodySize
}

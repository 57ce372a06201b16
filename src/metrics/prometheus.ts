/**
 * The Prometheus exposition of `cache.stats()`: metric families built from snapshots (one per
 * cache), written as the text format (version 0.0.4) by `cache.prometheus()`, or handed to an
 * application's prom-client Registry (prom-client.ts). Both read the same families, so a scrape
 * and `stats()` always agree.
 *
 * Conventions (prometheus.io "Metric and label naming"): `cachet_` prefix, base units in names
 * (`_seconds`, `_bytes`), `_total` on counters. Labels: `cache` (the cache's name), `rule` (a rule
 * id), `outcome` and `reason` (fixed lists, metrics/counters.ts): their values are bounded by the
 * rule count, and none comes from a request.
 */
import { BYPASS_REASONS, NOT_STORED_REASONS, OUTCOMES } from './counters.js'
import type { CacheStats } from './stats.js'

export type MetricType = 'counter' | 'gauge' | 'histogram'

export interface Sample {
  /** the family name plus `_bucket`, `_sum` or `_count` for a histogram; undefined: the family's */
  readonly suffix?: '_bucket' | '_sum' | '_count'
  readonly labels: Readonly<Record<string, string>>
  readonly value: number
}

export interface Family {
  readonly name: string
  readonly help: string
  readonly type: MetricType
  readonly samples: Sample[]
}

/** Every family, in a fixed order; `help` and `type` as the README's metric list gives them. */
export const FAMILIES: readonly Omit<Family, 'samples'>[] = Object.freeze([
  {
    name: 'cachet_requests_total',
    type: 'counter',
    help: 'Requests a rule matched, by rule and outcome (hit, stale, miss, revalidated, collapsed, stale-if-error, bypass).',
  },
  {
    name: 'cachet_bypassed_requests_total',
    type: 'counter',
    help: 'Requests a rule matched that were not looked up, by rule and reason (the outcome="bypass" requests).',
  },
  {
    name: 'cachet_unmatched_requests_total',
    type: 'counter',
    help: 'Requests no rule matched: passed to the application untouched.',
  },
  {
    name: 'cachet_responses_stored_total',
    type: 'counter',
    help: 'Origin answers written to the store, by rule.',
  },
  {
    name: 'cachet_responses_not_stored_total',
    type: 'counter',
    help: 'Origin answers to lookups that were not stored, by rule and reason.',
  },
  {
    name: 'cachet_served_bytes_total',
    type: 'counter',
    help: 'Body bytes answered from stored entries, by rule.',
  },
  {
    name: 'cachet_refreshes_total',
    type: 'counter',
    help: 'Background refreshes (stale-while-revalidate) run, by rule.',
  },
  {
    name: 'cachet_store_read_seconds',
    type: 'histogram',
    help: 'Store read latency: the lookup of one request, failed and timed-out reads included.',
  },
  {
    name: 'cachet_store_errors_total',
    type: 'counter',
    help: 'Store failures on the request path (reads, writes, token reads), timeouts excluded.',
  },
  {
    name: 'cachet_store_timeouts_total',
    type: 'counter',
    help: 'Store calls that overran their deadline.',
  },
  {
    name: 'cachet_store_unavailable_total',
    type: 'counter',
    help: 'Lookups that skipped the store because it was not connected.',
  },
  {
    name: 'cachet_store_up',
    type: 'gauge',
    help: '1 while the store answers, 0 while it is not connected or its last read failed.',
  },
  {
    name: 'cachet_store_entries',
    type: 'gauge',
    help: 'Entries and generation tokens held by the memory store.',
  },
  {
    name: 'cachet_store_bytes',
    type: 'gauge',
    help: 'Bytes held by the memory store, as the process pays for them (what its maxBytes bounds).',
  },
  {
    name: 'cachet_near_tracking',
    type: 'gauge',
    help: '1 while the near cache in front of Redis is served (client tracking on), 0 while it is bypassed.',
  },
  {
    name: 'cachet_near_reads_total',
    type: 'counter',
    help: 'Store reads by how the near cache answered: hit (no round trip), miss (sent to Redis), bypassed (tracking off).',
  },
  {
    name: 'cachet_near_invalidations_total',
    type: 'counter',
    help: 'Keys Redis reported changed to the near cache.',
  },
  {
    name: 'cachet_near_flushes_total',
    type: 'counter',
    help: 'Times the near cache was emptied (tracking lost or re-enabled, FLUSHALL, data connection closed).',
  },
  {
    name: 'cachet_near_bytes',
    type: 'gauge',
    help: 'Bytes held by the near cache, as the process pays for them (what its maxBytes bounds).',
  },
  {
    name: 'cachet_reloads_total',
    type: 'counter',
    help: 'Policy reloads by outcome: applied (a new version), unchanged, failed (the last good set stays).',
  },
  {
    name: 'cachet_reload_failing',
    type: 'gauge',
    help: '1 while the last reload failed (the policy set in force is older than the files), else 0.',
  },
  {
    name: 'cachet_policy_info',
    type: 'gauge',
    help: 'Always 1; the version label is the digest of the policy set in force.',
  },
  {
    name: 'cachet_policy_rules',
    type: 'gauge',
    help: 'Rules in the policy set in force.',
  },
  {
    name: 'cachet_purges_total',
    type: 'counter',
    help: 'Purges recorded (cache.purge and the admin endpoint).',
  },
])

/** The families for these caches' snapshots (several caches share one registry: the `cache` label). */
export function families(all: readonly CacheStats[]): Family[] {
  const byName = new Map<string, Sample[]>()
  for (const f of FAMILIES) byName.set(f.name, [])
  const add = (name: string, labels: Record<string, string>, value: number, suffix?: Sample['suffix']) => {
    byName.get(name)!.push(suffix === undefined ? { labels, value } : { suffix, labels, value })
  }
  for (const st of all) {
    const cache = st.name
    for (const r of st.rules) {
      const rule = r.id
      for (const o of OUTCOMES) add('cachet_requests_total', { cache, rule, outcome: o }, r.outcomes[o])
      // reasons appear once counted (0 until then would multiply the series by the reason lists)
      for (const reason of BYPASS_REASONS) {
        const v = r.bypass[reason]
        if (v !== undefined) add('cachet_bypassed_requests_total', { cache, rule, reason }, v)
      }
      add('cachet_responses_stored_total', { cache, rule }, r.stored)
      for (const reason of NOT_STORED_REASONS) {
        const v = r.notStored[reason]
        if (v !== undefined) add('cachet_responses_not_stored_total', { cache, rule, reason }, v)
      }
      add('cachet_served_bytes_total', { cache, rule }, r.bytesServed)
      add('cachet_refreshes_total', { cache, rule }, r.refreshes)
    }
    add('cachet_unmatched_requests_total', { cache }, st.unmatched)
    const s = st.store
    for (const b of s.read.buckets) {
      add(
        'cachet_store_read_seconds',
        { cache, le: b.le === null ? '+Inf' : String(b.le) },
        b.count,
        '_bucket',
      )
    }
    add('cachet_store_read_seconds', { cache }, s.read.sumSeconds, '_sum')
    add('cachet_store_read_seconds', { cache }, s.read.count, '_count')
    add('cachet_store_errors_total', { cache }, s.errors)
    add('cachet_store_timeouts_total', { cache }, s.timeouts)
    add('cachet_store_unavailable_total', { cache }, s.unavailable)
    add('cachet_store_up', { cache, store: s.kind }, s.up ? 1 : 0)
    if (s.entries !== undefined) add('cachet_store_entries', { cache }, s.entries)
    if (s.bytes !== undefined) add('cachet_store_bytes', { cache }, s.bytes)
    if (s.near !== undefined) {
      add('cachet_near_tracking', { cache }, s.near.tracking ? 1 : 0)
      add('cachet_near_reads_total', { cache, outcome: 'hit' }, s.near.hits)
      add('cachet_near_reads_total', { cache, outcome: 'miss' }, s.near.misses)
      add('cachet_near_reads_total', { cache, outcome: 'bypassed' }, s.near.bypassed)
      add('cachet_near_invalidations_total', { cache }, s.near.invalidations)
      add('cachet_near_flushes_total', { cache }, s.near.flushes)
      add('cachet_near_bytes', { cache }, s.near.bytes)
    }
    add('cachet_reloads_total', { cache, outcome: 'applied' }, st.reloads.applied)
    add('cachet_reloads_total', { cache, outcome: 'unchanged' }, st.reloads.unchanged)
    add('cachet_reloads_total', { cache, outcome: 'failed' }, st.reloads.failed)
    add('cachet_reload_failing', { cache }, st.reloads.lastError === null ? 0 : 1)
    add('cachet_policy_info', { cache, version: st.policy.version }, 1)
    add('cachet_policy_rules', { cache }, st.policy.rules)
    add('cachet_purges_total', { cache }, st.purges)
  }
  return FAMILIES.map((f) => ({ ...f, samples: byName.get(f.name)! }))
}

/** The text exposition format, version 0.0.4: HELP and TYPE lines, then one line per sample. */
export function toText(fams: readonly Family[]): string {
  let out = ''
  for (const f of fams) {
    if (f.samples.length === 0) continue
    out += `# HELP ${f.name} ${escapeHelp(f.help)}\n# TYPE ${f.name} ${f.type}\n`
    for (const s of f.samples) {
      out += `${f.name}${s.suffix ?? ''}${formatLabels(s.labels)} ${formatValue(s.value)}\n`
    }
  }
  return out
}

/** The Content-Type of `toText`'s output. */
export const TEXT_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8'

function formatLabels(labels: Readonly<Record<string, string>>): string {
  let out = ''
  for (const k in labels) out += `${out === '' ? '{' : ','}${k}="${escapeLabel(labels[k]!)}"`
  return out === '' ? '' : `${out}}`
}

/** Label values: backslash, double quote and line feed escaped (the text format's only escapes). */
export function escapeLabel(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')
}

/** HELP text: backslash and line feed escaped. */
function escapeHelp(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n')
}

function formatValue(v: number): string {
  if (Number.isNaN(v)) return 'NaN'
  if (v === Number.POSITIVE_INFINITY) return '+Inf'
  if (v === Number.NEGATIVE_INFINITY) return '-Inf'
  return String(v)
}

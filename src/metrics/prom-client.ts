/**
 * `cache.prometheus({ registry })`: cachet's metric families as collectors of an application's
 * prom-client Registry, read at scrape time from the same snapshot as `cache.prometheus()`.
 *
 * Nothing of prom-client is imported: each family is registered through the Registry's public
 * `registerMetric`, as an object with the shape prom-client's own metrics have (`name`, `help`,
 * `type`, `aggregator`, `get()`, `reset()`), so that `registry.metrics()`,
 * `getMetricsAsJSON()`, `Registry.merge` and the cluster AggregatorRegistry all work, with whatever
 * copy and version (14 or 15) of prom-client the application has. One set of collectors per
 * Registry: several caches registered in one Registry share it, told apart by the `cache` label.
 */
import { FAMILIES, type Family, families, type MetricType } from './prometheus.js'
import type { CacheStats } from './stats.js'

/** What cachet needs of a prom-client Registry. */
export interface PromRegistry {
  registerMetric(metric: never): void
  getSingleMetric?(name: string): unknown
}

/** A snapshot source: one cache. */
export type StatsSource = () => CacheStats

/** prom-client's metric value shape (its `MetricValue` / `MetricValueWithName`). */
interface PromValue {
  labels: Record<string, string | number>
  value: number
  metricName?: string
}

interface PromMetric {
  name: string
  readonly help: string
  readonly type: MetricType
  readonly aggregator: Aggregator
  get(): Promise<{ name: string; help: string; type: MetricType; values: PromValue[]; aggregator: string }>
  reset(): void
}

type Aggregator = 'sum' | 'first' | 'min' | 'max'

/** the gauges that do not add up across cluster workers */
const AGGREGATORS: Readonly<Record<string, Aggregator>> = {
  cachet_store_up: 'min',
  cachet_reload_failing: 'max',
  cachet_policy_info: 'first',
  cachet_policy_rules: 'max',
}

const sources = new WeakMap<object, Set<StatsSource>>()

/**
 * Adds `source` to the Registry's cachet collectors (registering them on first use); returns the
 * function that removes it again (cache.close() calls it).
 */
export function register(registry: PromRegistry, source: StatsSource): () => void {
  if (registry === null || typeof registry !== 'object' || typeof registry.registerMetric !== 'function') {
    throw new TypeError(
      'prometheus({ registry }) needs a prom-client Registry (an object with registerMetric)',
    )
  }
  let set = sources.get(registry)
  if (set === undefined) {
    for (const f of FAMILIES) {
      if (registry.getSingleMetric?.(f.name) !== undefined)
        throw new TypeError(`prometheus({ registry }): the registry already has a metric named ${f.name}`)
    }
    const own = new Set<StatsSource>()
    set = own
    // A scrape calls every metric's get() in one synchronous loop: they share one snapshot per
    // cache, dropped at the end of that turn so that the next scrape reads the counts anew.
    let cached: Map<string, Family> | undefined
    const current = (name: string): Family => {
      if (cached === undefined) {
        cached = new Map(families([...own].map((s) => s())).map((f) => [f.name, f]))
        queueMicrotask(() => {
          cached = undefined
        })
      }
      return cached.get(name)!
    }
    for (const f of FAMILIES) registry.registerMetric(collector(f, () => current(f.name)) as never)
    sources.set(registry, own)
  }
  set.add(source)
  return () => {
    set.delete(source)
  }
}

function collector(f: Omit<Family, 'samples'>, read: () => Family): PromMetric {
  return {
    name: f.name,
    help: f.help,
    type: f.type,
    // in prom-client's cluster AggregatorRegistry: the workers' counts add up
    aggregator: AGGREGATORS[f.name] ?? 'sum',
    async get() {
      const fam = read()
      const values: PromValue[] = fam.samples.map((s) =>
        s.suffix === undefined
          ? { labels: { ...s.labels }, value: s.value }
          : { labels: { ...s.labels }, value: s.value, metricName: f.name + s.suffix },
      )
      // this.name: prom-client renames counters for OpenMetrics (drops `_total`, adds it per line)
      return { name: this.name, help: f.help, type: f.type, values, aggregator: this.aggregator }
    },
    reset() {
      // the counts belong to the caches: a registry reset does not erase them
    },
  }
}

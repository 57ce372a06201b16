/**
 * Matcher benchmark: compile time and µs per match of the indexed matcher against the linear
 * loop, on synthetic but policy-shaped rule sets (style §4 "Measured here" repeats this shape):
 * mostly literal-first globs over many first segments, ~10% `/**\/*.ext`, a few host- and
 * method-restricted rules, and a GET/HEAD catch-all at the end.
 *
 *   npx tsx bench/matcher.ts            # sizes 10, 1000, 10000
 *   npx tsx bench/matcher.ts 10 100000  # other sizes
 *
 * Times are CPU µs per match (wall-clock in brackets for the indexed matcher) and CPU ms per
 * compile. Every timed answer is also checked against the linear oracle on the paths both timed.
 */
import { pathToFileURL } from 'node:url'
import { compileMatcher, type Matcher, type MatcherStats } from '../src/matcher/compile.js'
import { linearMatcher } from '../src/matcher/linear.js'
import type { Rule } from '../src/policy/types.js'
import { rng } from '../test/matcher/random.js'
import { makeRule as makeTestRule } from '../test/matcher/rules.js'

export interface MatcherBenchOptions {
  /** rule counts; default [10, 1000, 10000] */
  readonly sizes?: readonly number[]
  /** request paths per size; default 20,000 */
  readonly paths?: number
  /** PRNG seed for rules and paths; default 1 */
  readonly seed?: number
  /** minimum timed duration per matcher and size, in ms; default 600 */
  readonly minMs?: number
  /** aim the requests at this many rules (spread over the set) instead of all of them: real
   *  traffic is skewed, and a working set that fits the CPU caches shows what the index itself
   *  costs; default: all rules (every request a likely cache miss at 100k rules) */
  readonly hot?: number
  /** progress and table output; default console.log */
  readonly log?: (line: string) => void
}

export interface Row {
  readonly rules: number
  /** compileMatcher(rules), median of 3, CPU ms (the globs already compiled, as on a load, where
   *  the policy checks compile them first) */
  readonly compileMs: number
  /** the first compileMatcher(rules) of the run, CPU ms: this size's globs compiled for the first
   *  time as well (glob.ts memoises them by text) */
  readonly firstCompileMs: number
  /** linearMatcher(rules) (compiles every glob too), ms */
  readonly linearCompileMs: number
  /** CPU µs per match (see cpuMs) */
  readonly indexedUs: number
  /** wall-clock µs per match, for comparison on a loaded machine */
  readonly indexedWallUs: number
  readonly linearUs: number
  /** how many matches the linear timing covered (it is time-boxed, not all paths at large sizes) */
  readonly linearMatches: number
  /** share of requests that some rule other than the catch-all matched */
  readonly hitRate: number
  readonly stats: MatcherStats
}

const GET = 1,
  HEAD = 2,
  POST = 4
const WORDS = [
  'products',
  'blog',
  'docs',
  'api',
  'account',
  'search',
  'media',
  'shop',
  'help',
  'news',
  'user',
  'cart',
  'static',
  'img',
  'cdn',
  'tags',
]
const COMMON_EXTS = ['css', 'js', 'png', 'svg', 'woff2', 'jpg', 'ico', 'map']

function makeRule(index: number, match: string, host: string | null, methodList: readonly string[]): Rule {
  return makeTestRule({ match, host, methods: methodList }, index, 'bench.yaml')
}

interface Shape {
  rules: Rule[]
  hit: (() => string)[]
}

/** N rules: N-1 policy-shaped rules, then the catch-all; plus a path maker per rule that hits it. */
export function ruleSet(n: number, rand: () => number): Shape {
  const int = (k: number) => Math.floor(rand() * k)
  const segments = Math.max(4, Math.round(n / 25))
  const segName = (k: number) => `${WORDS[k % WORDS.length]}${k < WORDS.length ? '' : k}`
  const rules: Rule[] = []
  const hit: (() => string)[] = []
  let exts = 0
  for (let i = 0; i < n - 1; i++) {
    const host = rand() < 0.05 ? '*.example.com' : rand() < 0.02 ? 'api.example.com' : null
    const methods = rand() < 0.05 ? ['POST', 'PUT', 'DELETE'] : ['GET', 'HEAD']
    if (i % 10 === 9) {
      const ext = exts < COMMON_EXTS.length ? COMMON_EXTS[exts]! : `x${exts}`
      exts++
      rules.push(makeRule(i, `/**/*.${ext}`, host, methods))
      hit.push(() => `/assets/v${int(9)}/${int(3) === 0 ? 'deep/er/' : ''}file-${int(999)}.${ext}`)
      continue
    }
    const seg = segName(int(segments))
    const name = `item-${i}`
    const kind = int(10)
    const [glob, make] =
      kind < 2
        ? [`/${seg}/${name}`, () => `/${seg}/${name}`]
        : kind < 5
          ? [`/${seg}/${name}/*`, () => `/${seg}/${name}/${int(100000)}`]
          : kind < 7
            ? [`/${seg}/${name}/**`, () => `/${seg}/${name}${'/p'.repeat(int(4))}`]
            : kind < 8
              ? [`/${seg}/{a,b}-${name}/*`, () => `/${seg}/${int(2) ? 'a' : 'b'}-${name}/x`]
              : kind < 9
                ? [`/${seg}/${name}/*.{json,xml}`, () => `/${seg}/${name}/feed.${int(2) ? 'json' : 'xml'}`]
                : [`/${seg}/**/${name}`, () => `/${seg}/${'d/'.repeat(int(3))}${name}`]
    rules.push(makeRule(i, glob, host, methods))
    hit.push(make)
  }
  rules.push(makeRule(n - 1, '/**', null, ['GET', 'HEAD']))
  return { rules, hit }
}

/** ~60% aimed at a rule (at its depth), ~15% at extension rules, ~25% misses; some upper case. */
export function requests(
  shape: Shape,
  count: number,
  rand: () => number,
  hot = Infinity,
): { bit: Int32Array; host: string[]; path: string[] } {
  const int = (k: number) => Math.floor(rand() * k)
  // `hot` rules, spread evenly over the set (so they sit in every part of the index)
  const step = Math.max(1, Math.floor(shape.hit.length / Math.min(hot, shape.hit.length)))
  const aimed = step === 1 ? shape.hit : shape.hit.filter((_, i) => i % step === 0)
  const bit = new Int32Array(count),
    host: string[] = [],
    path: string[] = []
  const extMakers = shape.hit.filter((_, i) => i % 10 === 9)
  const extAimed = step === 1 ? extMakers : extMakers.filter((_, i) => i % step === 0)
  for (let q = 0; q < count; q++) {
    const r = rand()
    let p: string
    if (r < 0.6 && aimed.length > 0) p = aimed[int(aimed.length)]!()
    else if (r < 0.75 && extAimed.length > 0) p = extAimed[int(extAimed.length)]!()
    else
      p =
        rand() < 0.5 ? `/nope-${int(1000)}/x/${int(50)}` : `/${WORDS[int(WORDS.length)]}/unknown/${int(1000)}`
    if (rand() < 0.05) p = p.toUpperCase()
    path.push(p)
    const m = rand()
    bit[q] = m < 0.9 ? GET : m < 0.95 ? HEAD : POST
    host.push(['www.example.com', 'api.example.com', ''][int(3)]!)
  }
  return { bit, host, path }
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b)
  return s[s.length >> 1]!
}

/** CPU time of this process (user + system) in ms: on a shared 2-core machine, wall time also
 *  counts the time other processes hold the cores. GC helper threads count too, as they should. */
function cpuMs(): number {
  const u = process.cpuUsage()
  return (u.user + u.system) / 1000
}

function cpuTimeMs(fn: () => unknown): number {
  const c0 = cpuMs()
  fn()
  return cpuMs() - c0
}

/** Runs whole passes over the requests until minMs of CPU time passed (a slow linear pass is
 *  cut short: the clock is read every 256 matches). */
function timeMatches(
  m: Matcher,
  req: ReturnType<typeof requests>,
  minMs: number,
  out: Int32Array,
): { us: number; wallUs: number; matches: number } {
  const n = req.path.length
  let matches = 0
  const c0 = cpuMs(),
    t0 = performance.now()
  let elapsed = 0
  do {
    for (let q = 0; q < n; q++) {
      out[q] = m.match(req.bit[q]!, req.host[q]!, req.path[q]!)?.index ?? -1
      if ((++matches & 255) === 0 && (elapsed = cpuMs() - c0) >= minMs) break
    }
    elapsed = cpuMs() - c0
  } while (elapsed < minMs)
  return { us: (elapsed * 1000) / matches, wallUs: ((performance.now() - t0) * 1000) / matches, matches }
}

export async function benchMatcher(opts: MatcherBenchOptions = {}): Promise<Row[]> {
  const { sizes = [10, 1000, 10000], paths = 20_000, seed = 1, minMs = 600, log = console.log, hot } = opts
  const rows: Row[] = []
  for (const n of sizes) {
    const rand = rng(seed * 7919 + n)
    const shape = ruleSet(Math.max(2, n), rand)
    const req = requests(shape, paths, rand, hot)
    const compiles: number[] = []
    let indexed!: Matcher
    for (let k = 0; k < 3; k++)
      compiles.push(
        cpuTimeMs(() => {
          indexed = compileMatcher(shape.rules)
        }),
      )
    let linear!: Matcher
    const linearCompileMs = cpuTimeMs(() => {
      linear = linearMatcher(shape.rules)
    })

    const a = new Int32Array(paths),
      b = new Int32Array(paths)
    // warm-up: two passes, so V8 has optimised the hot path and compiled every RegExp it meets
    for (let k = 0; k < 2; k++)
      for (let q = 0; q < paths; q++) indexed.match(req.bit[q]!, req.host[q]!, req.path[q]!)
    const ti = timeMatches(indexed, req, minMs, a)
    const tl = timeMatches(linear, req, minMs, b)
    const checked = Math.min(paths, tl.matches)
    let hits = 0
    for (let q = 0; q < paths; q++) {
      if (q < checked && a[q] !== b[q])
        throw new Error(`matcher disagreement at ${req.path[q]}: indexed r${a[q]}, linear r${b[q]}`)
      if (a[q] !== -1 && a[q] !== n - 1) hits++
    }
    const row: Row = {
      rules: shape.rules.length,
      compileMs: median(compiles),
      firstCompileMs: compiles[0]!,
      linearCompileMs,
      indexedUs: ti.us,
      indexedWallUs: ti.wallUs,
      linearUs: tl.us,
      linearMatches: tl.matches,
      hitRate: hits / paths,
      stats: indexed.stats,
    }
    rows.push(row)
    log(`matcher: ${n} rules done (checked ${checked} answers against the linear loop)`)
  }
  log(formatTable(rows))
  return rows
}

export function formatTable(rows: readonly Row[]): string {
  const head = [
    'rules',
    'compile ms (first)',
    'linear compile ms',
    'indexed µs/match (wall)',
    'linear µs/match',
    'speed-up',
    'hits',
    'exact/segment/ext/residual',
  ]
  const body = rows.map((r) => [
    String(r.rules),
    `${r.compileMs.toFixed(1)} (${r.firstCompileMs.toFixed(0)})`,
    r.linearCompileMs.toFixed(1),
    `${r.indexedUs.toFixed(3)} (${r.indexedWallUs.toFixed(3)})`,
    r.linearUs.toFixed(2) + (r.linearMatches < 20_000 ? ` (${r.linearMatches} req)` : ''),
    `${(r.linearUs / r.indexedUs).toFixed(r.linearUs < 10 * r.indexedUs ? 1 : 0)}x`,
    `${(r.hitRate * 100).toFixed(0)}%`,
    `${r.stats.exact}/${r.stats.segment}/${r.stats.ext}/${r.stats.residual}`,
  ])
  const width = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)))
  const line = (cells: readonly string[]) => `| ${cells.map((c, i) => c.padEnd(width[i]!)).join(' | ')} |`
  const table = [line(head), `|${width.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...body.map(line)]
  // issue 11: the largest set's µs per match against the smallest's (aim: about 1.5x)
  if (rows.length > 1) {
    const a = rows[0]!,
      b = rows[rows.length - 1]!
    table.push(
      `${b.rules} rules cost ${(b.indexedUs / a.indexedUs).toFixed(2)}x the µs per match of ${a.rules}`,
    )
  }
  return table.join('\n')
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const args = process.argv.slice(2)
  const sizes = args.map(Number).filter((x) => Number.isInteger(x) && x > 0)
  const hotArg = args.find((a) => a.startsWith('--hot='))
  const hot = hotArg === undefined ? undefined : Number(hotArg.slice(6))
  console.log(
    `node ${process.version}, ${(await import('node:os')).cpus().length} CPUs${hot === undefined ? '' : `, requests aimed at ${hot} rules`}`,
  )
  await benchMatcher({ ...(sizes.length > 0 ? { sizes } : {}), ...(hot === undefined ? {} : { hot }) })
}

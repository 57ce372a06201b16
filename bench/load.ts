/**
 * Load at scale (issue 12 item 8): how long `createCache` takes to read, validate, lint and compile
 * 1k / 10k / 100k rules, what it costs in memory, and how long a reload holds the event loop.
 *
 *   npx tsx bench/load.ts [sizes…] [--runs=N] [--single=N]   (default 1000 10000 100000, single 10000)
 *
 * Each size runs in a child process of its own, so RSS is that of one load, not of the ones before.
 * The rules are what a generated policy looks like (one route per product, page or asset folder)
 * plus the shapes that used to make the lint quadratic: globs with no literal folder (`/*`-first,
 * extension-only) and a catch-all, 1 in 10 of them. Files hold 1,000 rules each; `--single` also
 * puts that many rules in one file (a file is capped at 1 MiB), the case where one file's reading
 * used to be one long slice. Stages: `load` = loadPolicies (YAML, schema, checks, normalise,
 * lint), of which `lint` is lintRules again on the result, `compile` = compileMatcher;
 * `createCache` = the whole thing through the public API; `stall` = the longest the event loop
 * went without running a timer while a reload ran (the same files, so no compile; then with one
 * rule changed, so the matcher is rebuilt): what a request waiting behind a reload feels. Per rule:
 * the heap, after a full GC, kept by the loaded rules, and by the cache.
 */
import { execFileSync } from 'node:child_process'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

const PER_FILE = 1000

function ruleYaml(i: number): string {
  switch (i % 10) {
    case 0:
      return `  - id: r${i}\n    match: /api/products/${i}/reviews/*\n    ttl: 1m\n`
    case 1:
      return `  - id: r${i}\n    match: /pages/${i}\n    ttl: 5m\n`
    case 2:
      return `  - id: r${i}\n    match: /static/v${i}/**\n    ttl: 1d\n`
    case 3:
      return `  - id: r${i}\n    match: "/{en,de,fr}/shop/${i}/*"\n    ttl: 1m\n    key: { query: [page, sort] }\n`
    case 4:
      return `  - id: r${i}\n    match: /api/v${i % 7}/items/${i}\n    methods: [GET, HEAD, PUT]\n    ttl: 30s\n    tags: ["item:{path.4}"]\n`
    case 5:
      return `  - id: r${i}\n    match: /blog/${i}/**\n    host: "*.example.com"\n    ttl: 10m\n    key: { host: true }\n`
    case 6:
      return `  - id: r${i}\n    match: "/*/edit-${i}"\n    cache: false\n`
    case 7:
      return `  - id: r${i}\n    match: "**/*.x${i}"\n    ttl: 1h\n`
    case 8:
      return `  - id: r${i}\n    match: /search/${i}\n    ttl: 1m\n    key: { query: { exclude: ["utm_*"] } }\n`
    default:
      return `  - id: r${i}\n    match: [/docs/${i}, "/docs/${i}/*.html"]\n    ttl: 1h\n`
  }
}

/** `perFile` rules a file (a file is capped at 1 MiB: 10,000 of these rules are ~0.7 MiB) */
export function writeRules(dir: string, n: number, perFile = PER_FILE): void {
  mkdirSync(dir, { recursive: true })
  for (let f = 0; f * perFile < n; f++) {
    let text = 'version: 1\nrules:\n'
    for (let i = f * perFile; i < Math.min(n, (f + 1) * perFile); i++) text += ruleYaml(i)
    writeFileSync(join(dir, `${String(f).padStart(4, '0')}.yaml`), text)
  }
  // a catch-all at the very end: every rule is a shadowing candidate of nothing, it of everything
  writeFileSync(
    join(dir, '9999-catch-all.yaml'),
    'version: 1\nrules:\n  - id: rest\n    match: /**\n    cache: false\n',
  )
}

interface Row {
  rules: number
  /** policy files besides the catch-all's (1 with --single: the reload stall of a large file) */
  files: number
  loadMs: number
  /** CPU time (user + system, this process, GC threads included) of the same: on a shared
   *  machine wall time also counts the time other processes held the cores */
  loadCpuMs: number
  createCacheCpuMs: number
  lintMs: number
  compileMs: number
  createCacheMs: number
  reloadMs: number
  /** the longest the event loop was held during a reload of the same files (no compile) */
  stallMs: number
  /** the most CPU time (this process, GC threads included) spent in one such slice: on a loaded
   *  machine the wall figure also counts the time other processes held the core */
  stallCpuMs: number
  /** the same for a reload that changes one rule, so the matcher is compiled anew */
  changedStallMs: number
  changedStallCpuMs: number
  rssMiB: number
  heapMiB: number
  /** heap the loaded rules keep alive (loadPolicies' result, after a full GC), per rule */
  loadBytesPerRule: number
  /** heap the cache keeps alive (rules, matcher, policy set), per rule */
  cacheBytesPerRule: number
  warnings: number
}

function cpuMs(): number {
  const u = process.cpuUsage()
  return (u.user + u.system) / 1000
}

function heapAfterGc(): number {
  global.gc?.()
  global.gc?.()
  return process.memoryUsage().heapUsed
}

/**
 * The longest the event loop went without running a timer while `work` ran: a timer re-armed at
 * every turn notes the gap between its runs (what a request queued behind the work waits, plus
 * the ~1 ms of the timer itself).
 */
async function longestStall(work: () => Promise<unknown>): Promise<{ wall: number; cpu: number }> {
  let wall = 0
  let cpu = 0
  let last = performance.now()
  let lastCpu = cpuMs()
  let on = true
  const tick = function stallProbe() {
    const now = performance.now()
    const c = cpuMs()
    wall = Math.max(wall, now - last)
    cpu = Math.max(cpu, c - lastCpu)
    last = now
    lastCpu = c
    if (on) setTimeout(tick, 0)
  }
  setTimeout(tick, 0)
  await work()
  on = false
  // the gap the work's last slice made is noted when the timer next runs
  await new Promise((r) => setTimeout(r, 5))
  return { wall, cpu }
}

async function one(n: number, perFile: number): Promise<Row> {
  const { loadPolicies } = await import('../src/policy/load.js')
  const { lintRules } = await import('../src/policy/lint.js')
  const { compileMatcher } = await import('../src/matcher/compile.js')
  const { createCache } = await import('../src/create-cache.js')
  const dir = mkdtempSync(join(tmpdir(), 'cachet-load-'))
  try {
    writeRules(dir, n, perFile)
    const heap0 = heapAfterGc()
    const rss0 = process.memoryUsage().rss
    let t = performance.now()
    let c = cpuMs()
    let r: Awaited<ReturnType<typeof loadPolicies>> | undefined = await loadPolicies(dir)
    const loadMs = performance.now() - t
    const loadCpuMs = cpuMs() - c
    if (!r.ok) throw new Error(`generated policies must load: ${JSON.stringify(r.errors.slice(0, 3))}`)
    const rules = r.rules.length
    const warnings = r.warnings.length
    const loadBytesPerRule = (heapAfterGc() - heap0) / rules
    t = performance.now()
    lintRules(r.rules)
    const lintMs = performance.now() - t
    t = performance.now()
    compileMatcher(r.rules)
    const compileMs = performance.now() - t
    r = undefined
    t = performance.now()
    c = cpuMs()
    // the generated rules trip lint warnings (QUERY_UNBOUNDED on the `**` ones): counted in the row,
    // not printed, which would time the terminal and break this child's JSON line
    const quiet = () => {}
    const cache = await createCache({
      policies: dir,
      logger: { error: quiet, warn: quiet, info: quiet, debug: quiet },
    })
    const createCacheMs = performance.now() - t
    const createCacheCpuMs = cpuMs() - c
    t = performance.now()
    let reloadMs = 0
    const stall = await longestStall(async () => {
      await cache.reload()
      reloadMs = performance.now() - t
    })
    // one rule changed (the catch-all's id): the set's version moves, so the matcher is rebuilt
    writeFileSync(
      join(dir, '9999-catch-all.yaml'),
      'version: 1\nrules:\n  - id: rest-2\n    match: /**\n    cache: false\n',
    )
    const changed = await longestStall(async () => {
      const res = await cache.reload()
      if (!res.ok || !res.changed) throw new Error('the changed reload must apply')
    })
    const cacheBytesPerRule = (heapAfterGc() - heap0) / rules
    const mem = process.memoryUsage()
    await cache.close()
    return {
      rules,
      files: Math.ceil(n / perFile),
      loadMs,
      loadCpuMs,
      createCacheCpuMs,
      lintMs,
      compileMs,
      createCacheMs,
      reloadMs,
      stallMs: stall.wall,
      stallCpuMs: stall.cpu,
      changedStallMs: changed.wall,
      changedStallCpuMs: changed.cpu,
      rssMiB: (mem.rss - rss0) / 2 ** 20,
      heapMiB: mem.heapUsed / 2 ** 20,
      loadBytesPerRule,
      cacheBytesPerRule,
      warnings,
    }
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

function format(row: Row): string {
  const layout = row.files === 1 ? 'in one file' : `in ${row.files} files of ${PER_FILE}`
  return `${row.rules} rules ${layout}: load ${row.loadMs.toFixed(0)} ms (CPU ${row.loadCpuMs.toFixed(0)}; lint ${row.lintMs.toFixed(0)}), compile ${row.compileMs.toFixed(0)} ms, createCache ${row.createCacheMs.toFixed(0)} ms (CPU ${row.createCacheCpuMs.toFixed(0)}), reload ${row.reloadMs.toFixed(0)} ms (longest stall ${row.stallMs.toFixed(0)} ms, CPU ${row.stallCpuMs.toFixed(0)}; ${row.changedStallMs.toFixed(0)} ms, CPU ${row.changedStallCpuMs.toFixed(0)} when a rule changed), RSS +${row.rssMiB.toFixed(0)} MiB, heap ${row.heapMiB.toFixed(0)} MiB (per rule: ${row.loadBytesPerRule.toFixed(0)} B loaded, ${row.cacheBytesPerRule.toFixed(0)} B in the cache), ${row.warnings} warnings`
}

const self = fileURLToPath(import.meta.url)
if (process.argv[1] === self) {
  if (process.env.CACHET_LOAD_ONE !== undefined) {
    const n = Number(process.env.CACHET_LOAD_ONE)
    const perFile = Number(process.env.CACHET_LOAD_PER_FILE ?? PER_FILE)
    process.stdout.write(`${JSON.stringify(await one(n, perFile))}\n`)
  } else {
    const args = process.argv.slice(2)
    const sizes = args.map(Number).filter((x) => x > 0)
    // --runs=N: each size N times, interleaved (1k, 10k, 100k, 1k, …), then the medians
    const runsArg = args.find((a) => a.startsWith('--runs='))
    const runs = runsArg === undefined ? 1 : Math.max(1, Number(runsArg.slice(7)) | 0)
    // --single=N: also N rules in one file (0: not); 10,000 of these rules fill 0.7 of the 1 MiB a file may hold
    const singleArg = args.find((a) => a.startsWith('--single='))
    const single = singleArg === undefined ? 10_000 : Math.max(0, Number(singleArg.slice(9)) | 0)
    const { loadavg } = await import('node:os')
    console.log(
      `node ${process.version}, load average at start ${loadavg()
        .map((l) => l.toFixed(2))
        .join(' ')}`,
    )
    const byCase = new Map<string, Row[]>()
    const cases = (sizes.length > 0 ? sizes : [1000, 10_000, 100_000]).map((n) => ({ n, perFile: PER_FILE }))
    if (single > 0) cases.push({ n: single, perFile: single })
    for (let k = 0; k < runs; k++) {
      for (const { n, perFile } of cases) {
        const out = execFileSync(process.execPath, ['--import', 'tsx', '--expose-gc', self], {
          env: { ...process.env, CACHET_LOAD_ONE: String(n), CACHET_LOAD_PER_FILE: String(perFile) },
          encoding: 'utf8',
          maxBuffer: 1 << 20,
          timeout: 900_000,
        })
        const row = JSON.parse(out.trim().split('\n').pop()!) as Row
        const name = `${n}/${perFile}`
        byCase.set(name, [...(byCase.get(name) ?? []), row])
        console.log(format(row))
      }
    }
    if (runs > 1) {
      console.log(
        `medians of ${runs} runs (load average now ${loadavg()
          .map((l) => l.toFixed(2))
          .join(' ')}):`,
      )
      for (const rows of byCase.values()) {
        const med = {} as Record<keyof Row, number>
        for (const key of Object.keys(rows[0]!) as (keyof Row)[]) {
          const xs = rows.map((r) => r[key]).sort((a, b) => a - b)
          med[key] = xs[xs.length >> 1]!
        }
        console.log(format(med))
      }
    }
  }
}

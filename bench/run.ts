/**
 * `npm run bench`: the HTTP hit-path bench (bench/http.ts), then the matcher bench (bench/matcher.ts).
 *
 * Environment:
 * - `BENCH_QUICK=1`  smoke run: 1 s rounds, 2 rounds per variant
 * - `BENCH_JSON=FILE` also write every figure as JSON to FILE
 * - `BENCH_ONLY=http|hit|matcher` run one of them (hit: bench/hit-path.ts, no network)
 * - `BENCH_VARIANTS=serve,nginx,…` the HTTP bench's variants (names and groups: bench/README.md);
 *   the node:http floor always runs
 * - `BENCH_RATE=N` ask every HTTP variant for N req/s instead of as many as it answers
 *
 * How to read the figures: bench/README.md.
 */
import { writeFileSync } from 'node:fs'
import { benchHitPath, formatHitPath, type HitPathResult } from './hit-path.js'
import { benchHttp, type HttpBenchResult, parseVariants, type VariantName } from './http.js'
import { benchMatcher, type Row as MatcherRow } from './matcher.js'

const only = process.env.BENCH_ONLY
const quick = process.env.BENCH_QUICK === '1'

async function main(): Promise<number> {
  if (only !== undefined && only !== 'http' && only !== 'hit' && only !== 'matcher') {
    process.stderr.write(`BENCH_ONLY must be "http", "hit" or "matcher", got ${JSON.stringify(only)}\n`)
    return 2
  }
  let variants: VariantName[] | undefined
  const spec = process.env.BENCH_VARIANTS
  if (spec !== undefined && spec !== '') {
    try {
      variants = parseVariants(spec)
    } catch (err) {
      process.stderr.write(`BENCH_VARIANTS: ${(err as Error).message}\n`)
      return 2
    }
  }
  const out: { quick: boolean; http?: HttpBenchResult; hit?: HitPathResult; matcher?: MatcherRow[] } = {
    quick,
  }

  if (only === undefined || only === 'http') {
    out.http = await benchHttp(variants === undefined ? {} : { variants })
  }

  if (only === undefined || only === 'hit') {
    out.hit = await benchHitPath(quick ? { n: 20_000, rounds: 2 } : {})
    process.stdout.write(`\n${formatHitPath(out.hit)}\n`)
  }

  if (only === undefined || only === 'matcher') {
    if (out.http !== undefined) process.stdout.write('\n')
    // a smoke run only needs every size to run and agree with the linear oracle, not steady timings
    out.matcher = await benchMatcher(quick ? { minMs: 100 } : {})
  }

  const json = process.env.BENCH_JSON
  if (json !== undefined && json !== '') {
    writeFileSync(json, `${JSON.stringify(out, null, 2)}\n`)
    process.stdout.write(`\nfigures written to ${json}\n`)
  }
  return 0
}

main().then(
  (code) => {
    process.exitCode = code
    // Everything is closed by now; if a handle still holds the process, say so instead of hanging.
    setTimeout(() => {
      process.stderr.write(
        'bench: still running 5 s after the last figure: a server, socket or timer was left open\n',
      )
      process.exit(1)
    }, 5000).unref()
  },
  (err: unknown) => {
    process.stderr.write(`bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`)
    process.exit(1)
  },
)

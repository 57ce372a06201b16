/**
 * The HTTP hit with each server in a process of its own (no heap, GC or JIT shared with the
 * other variants, as in bench/http.ts): the node:http floor (`floor`), `cachet serve` answering
 * hits below Koa (`serve`) and through Koa (`slow`, `fastHits: false`), bare Koa (`bare`) and
 * Koa + the middleware on the memory store (`mw`). Server CPU per request from /proc, medians of
 * interleaved rounds; autocannon runs as its own process (npx).
 *
 *   npx tsx bench/processes.ts [variants=floor,serve,slow,bare,mw] [rounds=5] [requests=60000]
 */
import { execFileSync, spawn } from 'node:child_process'
import { readFileSync } from 'node:fs'

const variants = (process.argv[2] ?? 'floor,serve,slow,bare,mw').split(',')
const rounds = Number(process.argv[3] ?? 5)
const amount = Number(process.argv[4] ?? 100000)
const extra = process.argv.slice(5)
const tick = 100 // CLK_TCK
function cpu(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ')
  return (Number(f[11]) + Number(f[12])) / tick
}
const kids: Record<string, { pid: number; port: number }> = {}
for (const v of variants) {
  const c = spawn(
    process.execPath,
    [...extra, '--import', 'tsx', new URL('./process-child.ts', import.meta.url).pathname, v],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  )
  const port = await new Promise<number>((res) => c.stdout.once('data', (d) => res(Number(String(d).trim()))))
  kids[v] = { pid: c.pid!, port }
}
const res: Record<string, number[]> = {}
for (let r = 0; r < rounds; r++) {
  for (const v of variants) {
    const k = kids[v]!
    const c0 = cpu(k.pid)
    const out = execFileSync(
      'npx',
      ['autocannon', '-c', '50', '-a', String(amount), '-j', `http://127.0.0.1:${k.port}/products/42`],
      { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] },
    )
    const c1 = cpu(k.pid)
    const j = JSON.parse(out)
    const n = j.requests.total
    const us = ((c1 - c0) / n) * 1e6
    ;(res[v] ??= []).push(us)
    console.log(
      `round ${r} ${v.padEnd(6)} ${Math.round(j.requests.average)} req/s ${us.toFixed(1)} µs/req non2xx=${j.non2xx}`,
    )
  }
}
const med = (a: number[]) => [...a].sort((x, y) => x - y)[a.length >> 1]!
for (const v of variants)
  console.log(
    `${v.padEnd(6)} median ${med(res[v]!).toFixed(1)} µs/req  min ${Math.min(...res[v]!).toFixed(1)}  ratio-to-first ${(med(res[v]!) / med(res[variants[0]!]!)).toFixed(3)}`,
  )
for (const k of Object.values(kids)) process.kill(k.pid)

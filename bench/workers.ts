/**
 * `cachet serve --workers 1` against `--workers 2`: a memory hit (2 KB JSON) under autocannon
 * -c 50, interleaved rounds. Reports req/s and the server's CPU time per request, all its
 * processes together (the primary and its workers, from /proc), and the primary's share (it
 * accepts the connections and hands them out). On a 2-core machine the client shares the cores
 * with the workers: read the req/s as relative, the CPU µs per request as the cost.
 *
 *   node --import tsx bench/workers.ts        (BENCH_ROUNDS=3, BENCH_SECONDS=5)
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { fileURLToPath } from 'node:url'
import autocannon from 'autocannon'

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3)
const SECONDS = Number(process.env.BENCH_SECONDS ?? 5)
const root = fileURLToPath(new URL('..', import.meta.url))
const body = JSON.stringify({
  items: Array.from({ length: 40 }, (_, i) => ({ id: i, name: `item ${i}`.padEnd(32) })),
})

/** CPU ms of a process from /proc/<pid>/stat (utime + stime, clock ticks of 10 ms). */
function cpuMs(pid: number): number {
  const f = `/proc/${pid}/stat`
  if (!existsSync(f)) return 0
  const fields = readFileSync(f, 'utf8').split(') ')[1]!.split(' ')
  return (Number(fields[11]) + Number(fields[12])) * 10
}

function pids(c: ChildProcess): { primary: number; workers: number[] } {
  const f = `/proc/${c.pid}/task/${c.pid}/children`
  const workers = existsSync(f)
    ? readFileSync(f, 'utf8')
        .split(' ')
        .filter((x) => x !== '')
        .map(Number)
    : []
  return { primary: c.pid!, workers }
}

async function start(upstream: string, workers: number): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      'src/cli/bin-cachet.ts',
      'serve',
      '--workers',
      String(workers),
      '--upstream',
      upstream,
      '--port',
      '0',
      '--quiet',
    ],
    { cwd: root, stdio: ['ignore', 'pipe', 'inherit'] },
  )
  let out = ''
  child.stdout!.on('data', (c: Buffer) => (out += c.toString()))
  for (;;) {
    const m = /"event":"listening","url":"([^"]+)"/.exec(out)
    if (m) return { child, url: m[1]! }
    if (child.exitCode !== null) throw new Error(`cachet serve exited: ${out}`)
    await new Promise((r) => setTimeout(r, 50))
  }
}

async function round(upstream: string, workers: number) {
  const { child, url } = await start(upstream, workers)
  await autocannon({ url: `${url}/items`, connections: 50, duration: 1 })
  const p = pids(child)
  const all = [p.primary, ...p.workers]
  const before = all.map(cpuMs)
  const r = await autocannon({ url: `${url}/items`, connections: 50, duration: SECONDS })
  const after = all.map(cpuMs)
  const n = r.requests.total
  const cpu = after.reduce((a, v, i) => a + v - before[i]!, 0)
  const primary = after[0]! - before[0]!
  child.kill('SIGTERM')
  await new Promise((res) => child.once('exit', res))
  return {
    workers,
    reqPerSec: n / SECONDS,
    cpuUsPerReq: (cpu * 1000) / n,
    primaryUsPerReq: workers > 1 ? (primary * 1000) / n : 0,
    non2xx: r.non2xx,
  }
}

const origin = createServer((_req, res) => {
  res.setHeader('content-type', 'application/json')
  res.setHeader('cache-control', 'max-age=3600')
  res.end(body)
})
await new Promise<void>((r) => origin.listen(0, '127.0.0.1', r))
const upstream = `http://127.0.0.1:${(origin.address() as AddressInfo).port}`
const rows: Awaited<ReturnType<typeof round>>[] = []
for (let i = 0; i < ROUNDS; i++) for (const w of [1, 2]) rows.push(await round(upstream, w))
origin.close()
const median = (xs: number[]) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)]!
process.stdout.write(`load average: ${readFileSync('/proc/loadavg', 'utf8')}`)
for (const w of [1, 2]) {
  const mine = rows.filter((r) => r.workers === w)
  process.stdout.write(
    `--workers ${w}: ${median(mine.map((r) => r.reqPerSec)).toFixed(0)} req/s, ` +
      `${median(mine.map((r) => r.cpuUsPerReq)).toFixed(1)} µs CPU/req (primary ${median(mine.map((r) => r.primaryUsPerReq)).toFixed(1)}), ` +
      `non-2xx ${mine.reduce((a, r) => a + r.non2xx, 0)}; rounds: ${mine.map((r) => r.reqPerSec.toFixed(0)).join(' ')}\n`,
  )
}

/**
 * The command shapes for `getWithTokens` on one Redis server, compared on a throw-away local
 * redis-server (4 KiB entry, 1 and 3 tokens, 1 and 32 concurrent callers, median of 7 runs):
 * pipeline, parallel GET+MGET, a read-only Lua script, one MGET (what RedisStore sends, with
 * auto-pipelining). Latency favoured the script when idle; under load the script cost
 * redis-server 6-8x the CPU of MGET, so the store uses MGET. Not a test; run by hand:
 *   node --import tsx bench/store-reads.ts
 */
import { Redis } from 'ioredis'
import { failOpenRedisOptions, RedisStore } from '../src/store/redis.js'
import { startRedis } from '../test/helpers/redis-server.js'

type Read = (
  key: string,
  gens: string[],
) => Promise<[Buffer | null | undefined, (string | null | undefined)[]]>

const p = await startRedis()
const r = new Redis({ ...failOpenRedisOptions(2000), host: '127.0.0.1', port: p.port })
r.on('error', () => {})
const store = new RedisStore(r, { readDeadlineMs: 2000 })
await store.waitReady(5000)
r.defineCommand('benchGetAll', {
  lua: `local r = {} for i = 1, #KEYS do r[i] = redis.call('GET', KEYS[i]) end return r`,
})
const scripted = r as unknown as {
  benchGetAllBuffer(n: number, ...keys: string[]): Promise<(Buffer | null)[]>
}

await r.set('entry', Buffer.alloc(4096, 7))
const allGens = ['cachet:g:t:product:42', 'cachet:g:t:catalog', 'cachet:g:u:abcdef']
for (const g of allGens) await r.set(g, 'AAAAAAAAAAAAAAAAAAAAAA')

const variants: Record<string, Read> = {
  'pipeline GET+MGET': async (key, gens) => {
    const res = await r
      .pipeline()
      .getBuffer(key)
      .mget(...gens)
      .exec()
    return [res![0]![1] as Buffer | null, res![1]![1] as (string | null)[]]
  },
  'GET, MGET in parallel': async (key, gens) => Promise.all([r.getBuffer(key), r.mget(...gens)]),
  'Lua script': async (key, gens) => {
    const res = await scripted.benchGetAllBuffer(1 + gens.length, key, ...gens)
    const tokens: (string | null)[] = []
    for (let i = 1; i < res.length; i++) tokens.push(res[i]?.toString() ?? null)
    return [res[0] ?? null, tokens]
  },
  'one MGET': async (key, gens) => {
    const res = await r.mgetBuffer(key, ...gens)
    return [res[0] ?? null, res.slice(1).map((t) => t?.toString() ?? null)]
  },
  'RedisStore (MGET + deadline)': (key, gens) => store.getWithTokens(key, gens),
}

async function run(read: Read, gens: string[], n: number, concurrency: number): Promise<number> {
  let i = 0
  const t0 = performance.now()
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (i++ < n) {
        const [v, t] = await read('entry', gens)
        if (!v || t.length !== gens.length) throw new Error('wrong answer')
      }
    }),
  )
  return ((performance.now() - t0) * 1000) / n
}

for (const count of [1, 3]) {
  const gens = allGens.slice(0, count)
  for (const concurrency of [1, 32]) {
    const n = concurrency === 1 ? 5000 : 20000
    for (const read of Object.values(variants)) await run(read, gens, 2000, concurrency) // warm-up
    const us: Record<string, number[]> = {}
    for (let rep = 0; rep < 7; rep++) {
      for (const [name, read] of Object.entries(variants))
        (us[name] ??= []).push(await run(read, gens, n, concurrency))
    }
    for (const [name, xs] of Object.entries(us)) {
      xs.sort((a, b) => a - b)
      console.log(
        `${count} token(s), ${String(concurrency).padStart(2)} concurrent  ${name.padEnd(28)} ` +
          `median ${xs[3]!.toFixed(1)} µs/op (best ${xs[0]!.toFixed(1)})`,
      )
    }
  }
}
await store.close()
r.disconnect()
await p.stop()

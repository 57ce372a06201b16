/**
 * A real Redis Sentinel deployment for one test file: a master and one replica (`startRedis`
 * processes) and three `redis-server --sentinel` processes monitoring them with quorum 2, so
 * that failure detection, leader election and promotion are Sentinel's own (a failover needs a
 * majority of the three to authorise it, redis.io "Sentinel", "Quorum").
 * Timings are the shortest that are still meaningful: the master is subjectively down after
 * 1 s without a valid PING reply (`down-after-milliseconds`).
 * Sentinels rewrite their config file (state, ids, the other sentinels), so each gets its own
 * writable file in a throw-away directory.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { delay, freePort, ping, type RedisProc, redisCli, startRedis } from './redis-server.js'

export interface Address {
  host: string
  port: number
}

export interface RedisSentinelProc {
  /** the monitored master group's name, `mymaster` */
  readonly name: string
  /** the three sentinels, for ioredis' `sentinels` option */
  readonly sentinels: Address[]
  /** the master at start (after a failover it is the old master) */
  readonly master: RedisProc
  /** the replica at start (after a failover it is the promoted master) */
  readonly replica: RedisProc
  /** each sentinel's answer to `SENTINEL get-master-addr-by-name`, undefined where it did not answer */
  masterAddrs(): Promise<(Address | undefined)[]>
  /**
   * Polls until every sentinel names a master on `port`; rejects after `ms` with what they said.
   * A bound for Sentinel's own failover, not a timing assertion.
   */
  waitMaster(port: number, ms?: number): Promise<void>
  /** `redis-cli -p <sentinel i> ...args`, resolves its stdout (trailing newline removed) */
  sentinelCli(i: number, ...args: string[]): Promise<string>
  /** stops the sentinels, then the replica and the master; removes the temp dirs; idempotent */
  stop(): Promise<void>
}

export interface StartSentinelOptions {
  /** extra redis-server arguments for the master and the replica */
  args?: string[]
  /** how long to wait for replication and sentinel discovery. @default 20000 */
  readyMs?: number
}

const NAME = 'mymaster'

const live = new Set<ChildProcess>()
// A test file that crashes must not leave sentinels behind (redis-server.ts does the same for its own).
process.once('exit', () => {
  for (const child of live) {
    try {
      child.kill('SIGKILL')
    } catch {
      /* already gone */
    }
  }
})

const cli = (port: number, args: string[]): Promise<string> => redisCli(port, args, 5000)

function exited(child: ChildProcess): boolean {
  return child.exitCode !== null || child.signalCode !== null
}

/** SIGTERM (after SIGCONT), SIGKILL after `ms`, resolves on exit. */
function terminate(child: ChildProcess, ms = 5000): Promise<void> {
  if (exited(child)) return Promise.resolve()
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      try {
        child.kill('SIGKILL')
      } catch {
        /* gone */
      }
    }, ms)
    child.once('exit', () => {
      clearTimeout(timer)
      resolve()
    })
    child.kill('SIGCONT')
    child.kill('SIGTERM')
  })
}

interface Sentinel {
  port: number
  child: ChildProcess
  output: () => string
}

/** One sentinel on a free port; retried when another process took the port first. */
async function spawnSentinel(dir: string, index: number, masterPort: number): Promise<Sentinel> {
  for (let attempt = 0; ; attempt++) {
    const port = await freePort()
    const conf = join(dir, `sentinel-${index}.conf`)
    // `sentinel monitor` must come before the other lines about the same master
    writeFileSync(
      conf,
      [
        `port ${port}`,
        'bind 127.0.0.1',
        `dir ${dir}`,
        `sentinel monitor ${NAME} 127.0.0.1 ${masterPort} 2`,
        `sentinel down-after-milliseconds ${NAME} 1000`,
        `sentinel failover-timeout ${NAME} 5000`,
        `sentinel parallel-syncs ${NAME} 1`,
        '',
      ].join('\n'),
    )
    const child = spawn('redis-server', [conf, '--sentinel'], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    // Drain both pipes (a full pipe would block the server) and keep the tail for error messages.
    const keep = (d: Buffer) => {
      out = (out + d.toString()).slice(-4000)
    }
    child.stdout?.on('data', keep)
    child.stderr?.on('data', keep)
    live.add(child)
    child.once('exit', () => live.delete(child))
    const s: Sentinel = { port, child, output: () => out }
    const until = Date.now() + 10_000
    let up = false
    while (Date.now() < until && !exited(child)) {
      if (await ping(port)) {
        up = true
        break
      }
      await delay(20)
    }
    if (up) return s
    await terminate(child, 1000)
    if (attempt >= 4 || !/in use|bind/i.test(out)) {
      throw new Error(`sentinel ${index} on port ${port} did not answer PING:\n${out}`)
    }
  }
}

/** `INFO`-style or flat `key\nvalue` reply → map. */
function pairs(text: string): Map<string, string> {
  const lines = text.split('\n')
  const m = new Map<string, string>()
  for (let i = 0; i + 1 < lines.length; i += 2) m.set(lines[i]!, lines[i + 1]!)
  return m
}

async function until(what: string, ms: number, check: () => Promise<string | true>): Promise<void> {
  const end = Date.now() + ms
  let last = ''
  for (;;) {
    try {
      const r = await check()
      if (r === true) return
      last = r
    } catch (err) {
      last = (err as Error).message
    }
    if (Date.now() > end) throw new Error(`${what}: not within ${ms} ms; last: ${last}`)
    await delay(50)
  }
}

/**
 * Starts master, replica and three sentinels, and resolves once the replica is in sync and every
 * sentinel knows the master, the replica and the two other sentinels (without which no failover
 * could be authorised). On failure everything started is stopped before the rejection.
 */
export async function startSentinel(opts: StartSentinelOptions = {}): Promise<RedisSentinelProc> {
  const readyMs = opts.readyMs ?? 20_000
  const dir = mkdtempSync(join(tmpdir(), 'cachet-sentinel-'))
  const sentinels: Sentinel[] = []
  const redis: RedisProc[] = []
  let stopping: Promise<void> | undefined
  const stop = () => {
    stopping ??= (async () => {
      // sentinels first, so that none reconfigures the servers while they go down
      await Promise.all(sentinels.map((s) => terminate(s.child)))
      await Promise.all(redis.map((r) => r.stop()))
      rmSync(dir, { recursive: true, force: true })
    })()
    return stopping
  }

  try {
    // A full sync waits `repl-diskless-sync-delay` (5 s) for more replicas to join: there are none.
    const common = ['--repl-diskless-sync-delay', '0', ...(opts.args ?? [])]
    const master = await startRedis({ args: common })
    redis.push(master)
    const replica = await startRedis({ args: [...common, '--replicaof', '127.0.0.1', String(master.port)] })
    redis.push(replica)

    // the replica is online once the master lists it so (INFO replication, `slaveN:...state=online`)
    await until('replica in sync', readyMs, async () => {
      const info = await master.cli('INFO', 'replication')
      return new RegExp(`slave\\d+:ip=127\\.0\\.0\\.1,port=${replica.port},state=online`).test(info) || info
    })

    for (let i = 0; i < 3; i++) sentinels.push(await spawnSentinel(dir, i, master.port))

    // Sentinels learn the replica from the master's INFO and each other from hello messages
    // published every 2 s on __sentinel__:hello.
    for (const s of sentinels) {
      await until(`sentinel ${s.port} ready`, readyMs, async () => {
        const m = pairs(await cli(s.port, ['SENTINEL', 'master', NAME]))
        const ok =
          m.get('port') === String(master.port) &&
          m.get('flags') === 'master' &&
          m.get('num-slaves') === '1' &&
          m.get('num-other-sentinels') === '2'
        return ok || `${[...m].map(([k, v]) => `${k}=${v}`).join(' ')}\n${s.output()}`
      })
    }

    const masterAddrs = () =>
      Promise.all(
        sentinels.map(async (s) => {
          try {
            const [host, port] = (await cli(s.port, ['SENTINEL', 'get-master-addr-by-name', NAME])).split(
              '\n',
            )
            return host && port ? { host, port: Number(port) } : undefined
          } catch {
            return undefined
          }
        }),
      )
    for (const a of await masterAddrs()) {
      if (a?.port !== master.port)
        throw new Error(`a sentinel names ${JSON.stringify(a)} as master, not port ${master.port}`)
    }

    return {
      name: NAME,
      sentinels: sentinels.map((s) => ({ host: '127.0.0.1', port: s.port })),
      master,
      replica,
      masterAddrs,
      async waitMaster(port, ms = 30_000) {
        await until(`every sentinel names port ${port} as master`, ms, async () => {
          const addrs = await masterAddrs()
          return addrs.every((a) => a?.port === port) || JSON.stringify(addrs)
        })
      },
      sentinelCli(i, ...args) {
        const s = sentinels[i]
        if (!s) throw new RangeError(`no sentinel ${i}`)
        return cli(s.port, args)
      },
      stop,
    }
  } catch (err) {
    await stop()
    throw err
  }
}

/**
 * The HTTP bench's load generator: autocannon in a child process of its own, kept for the whole
 * run and driven over IPC, one round at a time. In a process apart, the client's CPU is not in
 * the bench process's /proc counters, so those count every thread of the servers (the event loop,
 * V8's GC and compiler threads, libuv's pool) the way nginx's and varnishd's are counted: whole
 * processes. It still shares the machine's cores with the servers.
 */
import { type ChildProcess, fork } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import autocannon from 'autocannon'

export interface CannonRound {
  url: string
  seconds: number
  connections: number
  /** requests per second over all connections; undefined: as fast as the server answers */
  rate?: number
}

export interface CannonResult {
  /** completed responses */
  requests: number
  /** seconds the run lasted */
  duration: number
  p50Ms: number
  p99Ms: number
  errors: number
  timeouts: number
  non2xx: number
}

export interface Cannon {
  run(round: CannonRound): Promise<CannonResult>
  close(): Promise<void>
}

type Reply = { ok: true; result: CannonResult } | { ok: false; error: string }

const self = fileURLToPath(import.meta.url)

/** Forks the load generator and waits until it is ready. */
export async function startCannon(): Promise<Cannon> {
  const child: ChildProcess = fork(self, ['--cannon-child'], {
    execArgv: ['--import', 'tsx'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  })
  // a bench that crashes must not leave the client running
  const kill = () => child.kill('SIGKILL')
  process.once('exit', kill)
  await new Promise<void>((resolve, reject) => {
    child.once('message', () => resolve())
    child.once('exit', (code) =>
      reject(new Error(`the autocannon process exited (${code}) before it was ready`)),
    )
  })
  let pending: { resolve(r: CannonResult): void; reject(e: Error): void } | undefined
  child.on('message', (m: Reply) => {
    const p = pending
    pending = undefined
    if (p === undefined) return
    if (m.ok) p.resolve(m.result)
    else p.reject(new Error(`autocannon: ${m.error}`))
  })
  child.on('exit', (code, signal) => {
    pending?.reject(new Error(`the autocannon process exited (${signal ?? code}) during a round`))
    pending = undefined
  })
  return {
    run(round) {
      if (pending !== undefined) return Promise.reject(new Error('one round at a time'))
      return new Promise((resolve, reject) => {
        pending = { resolve, reject }
        child.send(round)
      })
    },
    async close() {
      process.removeListener('exit', kill)
      if (child.exitCode !== null || child.signalCode !== null) return
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
      child.disconnect()
      await exited
    },
  }
}

function childMain(): void {
  process.on('message', (round: CannonRound) => {
    const opts = {
      url: round.url,
      connections: round.connections,
      pipelining: 1,
      duration: round.seconds,
      ...(round.rate !== undefined ? { overallRate: round.rate } : {}),
    } as autocannon.Options
    autocannon(opts, (err, r) => {
      const reply: Reply = err
        ? { ok: false, error: err instanceof Error ? err.message : String(err) }
        : {
            ok: true,
            result: {
              requests: r.requests.total,
              duration: r.duration,
              p50Ms: r.latency.p50,
              p99Ms: r.latency.p99,
              errors: r.errors,
              timeouts: r.timeouts,
              non2xx: r.non2xx,
            },
          }
      process.send?.(reply)
    })
  })
  // the parent disconnecting is the signal to go
  process.on('disconnect', () => process.exit(0))
  process.send?.('ready')
}

if (process.argv[1] === self && process.argv[2] === '--cannon-child') childMain()

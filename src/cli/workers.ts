/**
 * `cachet serve --workers N` (N > 1): this process becomes the primary of a node:cluster fleet of
 * N workers (worker.ts), each the same `cachet serve` sharing the proxy's port (the primary
 * accepts connections and hands them out round robin, node:cluster's default on Linux).
 *
 * The primary serves no request itself. It:
 * - forks the workers with the same arguments (the bin, not whatever script started this
 *   process: tests run the command in process), and restarts one that dies unexpectedly, after
 *   100 ms doubling up to 10 s while it keeps dying (back to 100 ms once one lived 10 s);
 * - relays each purge a worker records (fleet memory stores) to every other worker and confirms
 *   it to the first only once each one acknowledged, within BUMP_DEADLINE_MS, else the purge
 *   fails; with --redis, purges are fleet-wide in Redis already and nothing is relayed;
 * - relays SIGHUP to every worker and writes one reload line for all of them (one per worker
 *   only when they disagree); SIGTERM and SIGINT: every worker drains (10 s at most, as one
 *   process does), and the command returns 0 once all have exited;
 * - runs the admin listener itself, asking the workers over IPC: purge and explain go to one
 *   worker, /stats and /metrics are the sum over every worker (metrics/sum.ts), or 503 when a
 *   worker did not answer: never one worker's counters as if they were the whole server's.
 *
 * - keeps the fleet's policy set, as the files one worker loaded it from (worker 1 at start, the
 *   first listening one at each reload that succeeds), and gives it to a worker that replaces
 *   one, which loads it instead of the files: those may hold an edit the fleet refused (the
 *   replacement would not start), or one not reloaded yet (it would run other policies);
 * - keeps the last counters it read of each worker, and adds those of the workers that died to
 *   /stats and /metrics, so that the fleet's counters never go backwards (Prometheus counters are
 *   monotonic; a reset reads as a restart).
 *
 * Log lines: the primary's and the workers' share stdout, one JSON object per line; a worker's
 * carry `worker: <slot>` (1…N, kept by its replacement), the primary's that are about one worker
 * too. `listening` is written once, by the primary, with `workers: N`; the startup warnings (policy
 * lint) once, by worker 1, and a reload's by the worker that reports its files.
 */
import cluster, { type Worker } from 'node:cluster'
import type { Server } from 'node:http'
import type { Readable } from 'node:stream'
import { fileURLToPath } from 'node:url'
import type { Middleware } from 'koa'
import { type AdminDeps, createAdmin } from '../admin/admin.js'
import { DEFAULT_ADMIN_PATH, resolveAdminOptions } from '../admin/options.js'
import type { PurgeResult } from '../generation/purge.js'
import { escapeLabel, families, toText } from '../metrics/prometheus.js'
import type { CacheStats } from '../metrics/stats.js'
import { retire, withRetired } from '../metrics/sum.js'
import type { Explanation } from '../request/explain.js'
import { capConnections } from './connection-cap.js'
import {
  answerRequest,
  BUMP_DEADLINE_MS,
  Calls,
  type FleetPolicies,
  type FleetRequest,
  isCachetMessage,
  type PrimaryMessage,
  WORKER_ENV,
  type WorkerMessage,
  type WorkerReload,
  type WorkerStart,
} from './fleet-ipc.js'
import { type CliIO, EXIT_INVALID, EXIT_OK, EXIT_USAGE } from './io.js'
import { ADMIN_MAX_CONNECTIONS, adminListener, listenOn } from './listen.js'
import type { JsonLogger } from './log-lines.js'

type Level = 'info' | 'warn' | 'error'

export interface PrimaryOptions {
  readonly workers: number
  /** the serve command's arguments, as given: each worker runs `cachet serve` with them */
  readonly argv: readonly string[]
  readonly io: CliIO
  /** the JSON log (undefined: --log-format text) */
  readonly json: JsonLogger | undefined
  readonly say: (l: Level, msg: string, event: string, fields?: object) => void
  /** writes the `listening` line, as one process would, with `fields` added */
  readonly announce: (url: string, store: string, version: string, fields: object) => void
  readonly admin?: {
    readonly port: number
    readonly host?: string
    readonly token: string
    readonly publicMetrics?: boolean
  }
  readonly headersTimeoutMs: number
  /** how long a worker may drain before it is killed, ms (the worker's own bound plus a margin) */
  readonly drainMs?: number
}

const RESTART_MIN_MS = 100
const RESTART_MAX_MS = 10_000
/** a worker that lived this long after listening restarts its backoff from RESTART_MIN_MS */
const STABLE_MS = 10_000
const STATS_DEADLINE_MS = 2000
const RELOAD_DEADLINE_MS = 60_000

interface Slot {
  readonly n: number
  worker: Worker | undefined
  calls: Calls
  /** its store and IPC handler exist: purges are relayed to it */
  hello: boolean
  listening: boolean
  listeningSince: number
  /** the worker's stats as last read (/stats, /metrics): what it leaves to the sum when it dies */
  lastStats: CacheStats | undefined
  /** unexpected exits in a row (the backoff's exponent) */
  fails: number
  restart: NodeJS.Timeout | undefined
}

/** The bin that runs `cachet serve`: the .ts one under tsx (tests, the repository), else dist's .js. */
function binPath(): string {
  const ext = import.meta.url.endsWith('.ts') ? '.ts' : '.js'
  return fileURLToPath(new URL(`./bin-cachet${ext}`, import.meta.url))
}

/** Copies a worker's output to `out` whole lines at a time (a line of one worker is never cut by another's). */
function relayLines(from: Readable | null, out: { write(s: string): unknown }): void {
  if (from === null) return
  let rest = ''
  from.setEncoding('utf8')
  from.on('data', (c: string) => {
    const s = rest + c
    const end = s.lastIndexOf('\n') + 1
    rest = s.slice(end)
    if (end > 0) out.write(s.slice(0, end))
  })
  from.on('end', () => {
    if (rest !== '') out.write(rest)
  })
}

function post(w: Worker, m: PrimaryMessage | FleetRequest): boolean {
  return w.isConnected() && w.send(m, () => {})
}

/** Runs the fleet until SIGTERM or SIGINT; answers the command's exit code. */
export async function runPrimary(o: PrimaryOptions): Promise<number> {
  const { io, say } = o
  if (o.admin !== undefined) {
    try {
      resolveAdminOptions({ path: DEFAULT_ADMIN_PATH, token: o.admin.token })
    } catch (err) {
      io.stderr.write(`cachet serve: ${(err as Error).message}\n`)
      return EXIT_USAGE
    }
  }
  // the worker's own stdio when the command writes to this process's (the bin): each worker
  // writes its lines itself, a line at a time; otherwise (in process, tests) through this one
  const inherit = io.stdout === process.stdout && io.stderr === process.stderr
  cluster.setupPrimary({ exec: binPath(), args: ['serve', ...o.argv], cwd: io.cwd, silent: !inherit })
  const slots: Slot[] = []
  for (let n = 1; n <= o.workers; n++)
    slots.push({
      n,
      worker: undefined,
      calls: new Calls(),
      hello: false,
      listening: false,
      listeningSince: 0,
      lastStats: undefined,
      fails: 0,
      restart: undefined,
    })
  let booting = true
  let stopping = false
  let failure: { code: number; message: string } | undefined
  let firstListening: Extract<WorkerMessage, { cachet: 'listening' }> | undefined
  /** the fleet's policy set, for a replacement to start from (undefined: the plain policy, or not reported) */
  let policies: FleetPolicies | undefined
  /** the counters of the workers that died, added to every sum: the fleet's never go backwards */
  let retired: CacheStats | undefined
  let adminServer: Server | undefined
  let adminUrl: string | undefined
  let settleBoot: () => void = () => {}
  const booted = new Promise<void>((res) => {
    settleBoot = res
  })
  let settleStop: () => void = () => {}
  const allExited = new Promise<void>((res) => {
    settleStop = res
  })
  const alive = () => slots.filter((s) => s.worker !== undefined)
  const checkExited = () => {
    if (stopping && alive().length === 0) settleStop()
  }

  const call = (s: Slot, make: (id: number) => FleetRequest, timeoutMs: number, late: string) => {
    const w = s.worker
    if (w === undefined) return Promise.reject(new Error(`worker ${s.n} is not running`))
    return s.calls.call((m) => post(w, m), make, timeoutMs, late)
  }

  /** A purge one worker recorded, relayed to every other that has a store; resolves once all acknowledged. */
  const relayBump = async (from: Slot, gens: readonly string[], ttlMs: number): Promise<null> => {
    const targets = slots.filter((s) => s !== from && s.worker !== undefined && s.hello)
    await Promise.all(
      targets.map((s) => {
        const w = s.worker!
        return call(
          s,
          (id) => ({ cachet: 'bump', id, gens, ttlMs }),
          BUMP_DEADLINE_MS,
          `worker ${s.n} (pid ${w.process.pid}) did not acknowledge the purge`,
        ).catch((err: unknown) => {
          // a worker that exited meanwhile holds nothing any more: its replacement starts empty
          if (w.isDead() || s.worker !== w) return null
          throw err
        })
      }),
    )
    return null
  }

  const onMessage = (s: Slot, w: Worker, m: unknown) => {
    if (!isCachetMessage(m) || s.worker !== w) return
    const msg = m as WorkerMessage
    switch (msg.cachet) {
      case 'hello':
        s.hello = true
        return
      case 'start': {
        // at start every worker reads the files, and worker 1 reports them and warns for the fleet
        const start: WorkerStart = booting
          ? { policies: null, report: s.n === 1, warn: s.n === 1 }
          : { policies: policies ?? null, report: false, warn: false }
        void answerRequest(msg.id, () => start).then((r) => post(w, r))
        return
      }
      case 'reply':
        s.calls.settle(msg)
        return
      case 'bump':
        void answerRequest(msg.id, () => relayBump(s, msg.gens, msg.ttlMs)).then((r) => post(w, r))
        return
      case 'failed':
        failure ??= { code: msg.code, message: msg.message }
        if (!booting && !stopping)
          say('error', `cachet serve: worker ${s.n} could not start: ${msg.message}`, 'worker-failed', {
            worker: s.n,
            pid: w.process.pid,
            error: msg.message,
          })
        return
      case 'listening':
        if (msg.sources !== undefined) policies = msg.sources
        s.listening = true
        s.listeningSince = Date.now()
        if (booting) {
          firstListening ??= msg
          if (slots.every((x) => x.listening)) settleBoot()
        } else
          say('info', `cachet serve: worker ${s.n} (pid ${w.process.pid}) listening`, 'worker-listening', {
            worker: s.n,
            pid: w.process.pid,
          })
        return
      default:
        return
    }
  }
  const onExit = (s: Slot, w: Worker, code: number | null, signal: string | null) => {
    s.calls.endAll(new Error(`worker ${s.n} exited`))
    if (s.worker !== w) return
    if (s.lastStats !== undefined) retired = retire(retired, s.lastStats)
    s.lastStats = undefined
    const wasListening = s.listening
    s.worker = undefined
    s.hello = false
    s.listening = false
    if (stopping) return checkExited()
    if (booting) {
      failure ??= {
        code: EXIT_INVALID,
        message: `worker ${s.n} exited (${signal ?? `code ${code}`}) before listening`,
      }
      settleBoot()
      return
    }
    if (wasListening && Date.now() - s.listeningSince >= STABLE_MS) s.fails = 0
    const delay = Math.min(RESTART_MIN_MS * 2 ** s.fails, RESTART_MAX_MS)
    s.fails++
    say(
      'error',
      `cachet serve: worker ${s.n} (pid ${w.process.pid}) exited (${signal ?? `code ${code}`}); restarting it in ${delay} ms`,
      'worker-exit',
      { worker: s.n, pid: w.process.pid, code, signal, restartInMs: delay },
    )
    s.restart = setTimeout(() => {
      s.restart = undefined
      if (!stopping) fork(s)
    }, delay)
  }

  const fork = (s: Slot) => {
    s.calls = new Calls()
    const w = cluster.fork({ ...(io.env ?? {}), [WORKER_ENV]: String(s.n) })
    s.worker = w
    if (!inherit) {
      relayLines(w.process.stdout, io.stdout)
      relayLines(w.process.stderr, io.stderr)
    }
    w.on('message', (m: unknown) => onMessage(s, w, m))
    w.on('exit', (code: number | null, signal: string | null) => onExit(s, w, code, signal))
    // a failed send (the worker is going) is its exit's business, not an uncaught error
    w.on('error', () => {})
  }

  const stop = () => {
    if (stopping) return
    stopping = true
    for (const s of slots) {
      if (s.restart !== undefined) clearTimeout(s.restart)
      s.restart = undefined
      if (s.worker !== undefined) post(s.worker, { cachet: 'stop' })
    }
    adminServer?.close()
    adminServer?.closeIdleConnections()
    // a worker bounds its own drain; one that outlives it by far is killed
    const kill = setTimeout(() => {
      for (const s of alive()) s.worker?.process.kill('SIGKILL')
      adminServer?.closeAllConnections()
    }, o.drainMs ?? 15_000)
    kill.unref()
    checkExited()
  }

  for (const s of slots) fork(s)
  await booted
  booting = false
  if (failure === undefined && o.admin !== undefined) {
    try {
      adminServer = adminListener(
        createAdmin(fleetAdmin(), {
          path: DEFAULT_ADMIN_PATH,
          token: o.admin.token,
          publicMetrics: o.admin.publicMetrics === true,
        }) as Middleware,
        o.headersTimeoutMs,
      )
      capConnections(adminServer, ADMIN_MAX_CONNECTIONS, (m) =>
        say('warn', `cachet serve: ${m}`, 'serve-warning'),
      )
      adminUrl = await listenOn(adminServer, o.admin.port, o.admin.host ?? '127.0.0.1')
    } catch (err) {
      adminServer?.close()
      adminServer = undefined
      failure = { code: EXIT_INVALID, message: (err as Error).message }
    }
  }
  if (failure !== undefined || firstListening === undefined) {
    // reported once for the fleet, as one process reports it
    io.stderr.write(`cachet serve: ${failure?.message ?? 'no worker started'}\n`)
    stop()
    await allExited
    return failure?.code ?? EXIT_INVALID
  }
  // the signals are handled before the lines that say the fleet is up: whoever reads them may
  // signal at once (a SIGHUP with no listener would end the process)
  const onHup = () => void reloadAll()
  process.on('SIGHUP', onHup)
  const onStop = () => {
    say('info', 'cachet serve: draining', 'draining')
    stop()
  }
  process.once('SIGTERM', onStop)
  process.once('SIGINT', onStop)
  o.announce(firstListening.url, firstListening.store, firstListening.version, { workers: o.workers })
  if (adminUrl !== undefined)
    say('info', `cachet serve: admin console ${adminUrl}${DEFAULT_ADMIN_PATH}/`, 'admin-listening', {
      url: `${adminUrl}${DEFAULT_ADMIN_PATH}/`,
    })

  await allExited
  process.off('SIGHUP', onHup)
  process.off('SIGTERM', onStop)
  process.off('SIGINT', onStop)
  return EXIT_OK

  /** SIGHUP: every listening worker reloads; one line for all when they agree. */
  async function reloadAll(): Promise<void> {
    const targets = slots.filter((s) => s.listening)
    const results = await Promise.allSettled(
      targets.map(
        (s) =>
          call(
            s,
            // the first reports the files it loaded, and writes the reload's warnings
            (id) => ({ cachet: 'reload', id, ...(s === targets[0] ? { sources: true } : {}) }),
            RELOAD_DEADLINE_MS,
            `worker ${s.n} did not reload`,
          ) as Promise<WorkerReload>,
      ),
    )
    const done = results.flatMap((r, i) => (r.status === 'fulfilled' ? [{ s: targets[i]!, r: r.value }] : []))
    const lead = done.find((d) => d.s === targets[0])?.r
    if (lead?.sources !== undefined) policies = lead.sources
    const key = (r: WorkerReload) => `${r.ok} ${r.changed} ${r.version}`
    const agree = done.length === targets.length && done.every((d) => key(d.r) === key(done[0]!.r))
    results.forEach((r, i) => {
      if (r.status === 'rejected')
        say('error', `cachet serve: ${(r.reason as Error).message}`, 'reload-timeout', {
          worker: targets[i]!.n,
        })
    })
    if (done.length === 0) return
    if (agree) return reloaded(done[0]!.r, { workers: done.length })
    say('warn', 'cachet serve: the workers disagree on the policies after the reload', 'reload-diverged', {
      workers: done.map((d) => ({ worker: d.s.n, ok: d.r.ok, version: d.r.version })),
    })
    for (const d of done) reloaded(d.r, { worker: d.s.n })
  }

  /** The reload line as one process writes it: the cache's own (json), or the command's (text). */
  function reloaded(r: WorkerReload, fields: { workers?: number; worker?: number }): void {
    if (o.json !== undefined) {
      if (r.line !== undefined) {
        const { worker: _w, msg, ...rest } = JSON.parse(r.line) as Record<string, unknown>
        io.stdout.write(`${JSON.stringify({ ...rest, ...fields, msg })}\n`)
      } else if (r.ok && !r.changed)
        say('info', `cachet serve: policies unchanged, version ${r.version}`, 'reload', {
          outcome: 'unchanged',
          version: r.version,
          ...fields,
        })
      return
    }
    const who = fields.worker === undefined ? '' : ` (worker ${fields.worker})`
    if (r.ok) io.stdout.write(`cachet serve: policies reloaded, version ${r.version}${who}\n`)
    else
      io.stderr.write(
        `cachet serve: reload failed, keeping version ${r.version}${who}:\n${r.errors.join('\n')}\n`,
      )
  }

  /** The admin routes' dependencies, asked of the workers. */
  function fleetAdmin(): AdminDeps {
    let next = 0
    const one = (): Slot => {
      const ready = slots.filter((s) => s.listening)
      const s = ready[next++ % Math.max(1, ready.length)]
      if (s === undefined) throw new Error('no worker is listening')
      return s
    }
    const stats = async (): Promise<{ stats: CacheStats; workers: number }> => {
      const ready = slots.filter((s) => s.listening)
      if (ready.length === 0) throw new Error('no worker is listening')
      const all = await Promise.all(
        ready.map(async (s) => {
          const w = s.worker
          const st = (await call(
            s,
            (id) => ({ cachet: 'stats', id }),
            STATS_DEADLINE_MS,
            `worker ${s.n} did not report its stats`,
          )) as CacheStats
          if (s.worker === w) s.lastStats = st
          return st
        }),
      )
      return { stats: withRetired(all, retired), workers: all.length }
    }
    return {
      purge: async (what) => {
        const s = one()
        return (await call(
          s,
          (id) => ({ cachet: 'purge', id, what }),
          BUMP_DEADLINE_MS + 2000,
          `worker ${s.n} did not confirm the purge`,
        )) as PurgeResult
      },
      explain: async (req) => {
        const s = one()
        return (await call(
          s,
          (id) => ({ cachet: 'explain', id, req }),
          STATS_DEADLINE_MS,
          `worker ${s.n} did not explain`,
        )) as Explanation
      },
      stats: async () => (await stats()).stats,
      prometheus: async () => {
        const { stats: st, workers } = await stats()
        return (
          toText(families([st])) +
          '# HELP cachet_workers Worker processes whose counters this exposition sums (cachet serve --workers).\n' +
          '# TYPE cachet_workers gauge\n' +
          `cachet_workers{cache="${escapeLabel(st.name)}"} ${workers}\n`
        )
      },
    }
  }
}

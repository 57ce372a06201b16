/**
 * CPU time from Linux /proc (proc(5)), for the HTTP bench: one thread, one process, or a process
 * and all its descendants (nginx's master and workers, varnishd's manager and child). Each
 * function returns null where /proc is missing (macOS, Windows): the bench then prints "-".
 *
 * A thread's time comes from /proc/<pid>/task/<tid>/schedstat (its first field: nanoseconds on a
 * CPU), which has no 10 ms tick: a 3 s round of 20,000 requests would otherwise read to ±0.5 µs
 * per request. A process's is the sum over its live threads; a thread that ended between two
 * readings takes its time with it (the servers here keep their threads). Where schedstat is
 * missing, the utime + stime ticks of the stat file stand in.
 */
import { execFileSync } from 'node:child_process'
import { readdirSync, readFileSync } from 'node:fs'

/** Clock ticks per second of the utime/stime fields (usually 100: 10 ms resolution). */
const CLK_TCK = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100
  } catch {
    return 100
  }
})()

/** The fields after "pid (comm) " of a stat file: state is [0], ppid [1], utime [11], stime [12]. */
function statFields(path: string): string[] | null {
  try {
    const stat = readFileSync(path, 'utf8')
    // comm may hold spaces and parentheses: the last ")" ends it
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  } catch {
    return null
  }
}

function ticksToMs(f: string[]): number {
  return ((Number(f[11]) + Number(f[12])) * 1000) / CLK_TCK
}

/** Nanoseconds on a CPU of one thread, as ms; null when schedstat cannot be read. */
function schedstatMs(pid: number, tid: number): number | null {
  try {
    const f = readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8')
    return Number(f.slice(0, f.indexOf(' '))) / 1e6
  } catch {
    return null
  }
}

/** CPU time of one thread, in ms. */
export function threadCpuMs(pid: number, tid: number): number | null {
  const ms = schedstatMs(pid, tid)
  if (ms !== null) return ms
  const f = statFields(`/proc/${pid}/task/${tid}/stat`)
  return f === null ? null : ticksToMs(f)
}

/** CPU time of one process, every thread, in ms. */
export function processCpuMs(pid: number): number | null {
  let tids: string[]
  try {
    tids = readdirSync(`/proc/${pid}/task`)
  } catch {
    return null
  }
  let ms = 0
  for (const t of tids) {
    const x = schedstatMs(pid, Number(t))
    if (x === null) {
      // no schedstat (or a thread that just ended): the whole process from its stat file
      const f = statFields(`/proc/${pid}/stat`)
      return f === null ? null : ticksToMs(f)
    }
    ms += x
  }
  return ms
}

/** CPU ms per live process of the tree rooted at `root` (root included), keyed by pid. */
export function treeCpuMs(root: number): Map<number, number> | null {
  let pids: string[]
  try {
    pids = readdirSync('/proc').filter((d) => /^\d+$/.test(d))
  } catch {
    return null
  }
  const parent = new Map<number, number>()
  for (const d of pids) {
    const f = statFields(`/proc/${d}/stat`)
    if (f !== null) parent.set(Number(d), Number(f[1])) // null: exited while we listed
  }
  if (!parent.has(root)) return null
  const out = new Map<number, number>()
  for (const pid of parent.keys()) {
    // walk up to init: the trees here are a few levels deep
    for (let p: number | undefined = pid; p !== undefined && p > 0; p = parent.get(p)) {
      if (p !== root) continue
      const ms = processCpuMs(pid)
      if (ms !== null) out.set(pid, ms)
      break
    }
  }
  return out
}

/**
 * CPU ms the tree spent between two snapshots. A process that started in between counts from 0;
 * one that exited in between is lost (its time went to its parent's cutime, which we do not
 * read): nginx and varnishd start no processes while they serve hits.
 */
export function treeCpuDeltaMs(before: Map<number, number>, after: Map<number, number>): number {
  let ms = 0
  for (const [pid, t] of after) ms += t - (before.get(pid) ?? 0)
  return ms
}

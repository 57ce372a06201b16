/**
 * The default of `cachet serve --workers`: one worker per core the process may use. In a
 * container that is the cgroup's CPU quota, not the machine's cores: `docker run --cpus 2` on a
 * 64-core host gives `os.availableParallelism()` 64 (it counts the CPUs the process may run on,
 * which a quota does not restrict), and 64 workers would share 2 CPUs' worth of time, each with
 * its own memory store.
 *
 * Read, under `root` (a test's temp dir; `/` otherwise):
 * - cgroup v2: `cpu.max`, "<quota> <period>" in µs or "max <period>" (no limit), of the process's
 *   own cgroup (its `0::<path>` line in /proc/self/cgroup) and of the mount's root, which a
 *   container with its own cgroup namespace sees as its own;
 * - cgroup v1: `cpu.cfs_quota_us` (-1: no limit) and `cpu.cfs_period_us` in the cpu controller's
 *   folder (`cpu`, or `cpu,cpuacct` where the two are mounted together).
 * The lowest limit found counts: a quota anywhere up the tree bounds the process.
 */
import { readFileSync } from 'node:fs'
import { join } from 'node:path'

function read(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8').trim()
  } catch {
    return undefined
  }
}

/** CPUs' worth of time a quota over a period allows, rounded up (1.5 CPUs: 2 workers). */
function cpus(quota: number, period: number): number | undefined {
  if (!Number.isFinite(quota) || !Number.isFinite(period) || quota <= 0 || period <= 0) return undefined
  return Math.max(1, Math.ceil(quota / period))
}

/** One cgroup v2 `cpu.max`: its limit in CPUs, or undefined ("max", absent, unreadable). */
function v2(path: string): number | undefined {
  const m = /^(\d+)\s+(\d+)$/.exec(read(path) ?? '')
  return m ? cpus(Number(m[1]), Number(m[2])) : undefined
}

/** The process's cgroup v2 path, from its `0::<path>` line. */
function ownCgroup(root: string): string | undefined {
  const line = (read(join(root, 'proc/self/cgroup')) ?? '').split('\n').find((l) => l.startsWith('0::'))
  const path = line?.slice(3)
  return path === undefined || path === '' || path === '/' ? undefined : path
}

/** The CPU limit of the process's cgroup quota, in whole CPUs; undefined when none is set. */
export function cgroupCpuLimit(root = '/'): number | undefined {
  const fs = join(root, 'sys/fs/cgroup')
  const found: number[] = []
  const own = ownCgroup(root)
  for (const dir of own === undefined ? [fs] : [join(fs, own), fs]) {
    const n = v2(join(dir, 'cpu.max'))
    if (n !== undefined) found.push(n)
  }
  for (const ctl of ['cpu', 'cpu,cpuacct', 'cpuacct,cpu']) {
    const quota = read(join(fs, ctl, 'cpu.cfs_quota_us'))
    const period = read(join(fs, ctl, 'cpu.cfs_period_us'))
    if (quota === undefined || period === undefined) continue
    const n = /^\d+$/.test(quota) && /^\d+$/.test(period) ? cpus(Number(quota), Number(period)) : undefined
    if (n !== undefined) found.push(n)
    break
  }
  return found.length === 0 ? undefined : Math.min(...found)
}

/** `--workers`' default: the cores (`os.availableParallelism()`), at most the cgroup's quota, at least 1. */
export function defaultWorkers(cores: number, root = '/'): number {
  const limit = cgroupCpuLimit(root)
  return Math.max(1, Math.min(cores, limit ?? cores))
}

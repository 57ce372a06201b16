/**
 * `cachet serve --workers`' default within a container's CPU quota (cli/cpu-quota.ts): the cgroup
 * files are fake ones in a temp dir given as the root.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { cgroupCpuLimit, defaultWorkers } from '../../src/cli/cpu-quota.js'

const roots: string[] = []
test.after(() => {
  for (const r of roots.splice(0)) rmSync(r, { recursive: true, force: true })
})

/** A root holding `files` (path under it → content). */
function root(files: Record<string, string>): string {
  const r = mkdtempSync(join(tmpdir(), 'cachet-cgroup-'))
  roots.push(r)
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(r, path)), { recursive: true })
    writeFileSync(join(r, path), `${text}\n`)
  }
  return r
}

test('cgroup v2 cpu.max: a quota bounds the cores, rounded up; "max" is none', () => {
  const two = root({ 'sys/fs/cgroup/cpu.max': '200000 100000' })
  assert.is(cgroupCpuLimit(two), 2)
  assert.is(defaultWorkers(64, two), 2)
  assert.is(defaultWorkers(1, two), 1, 'never more than the cores')
  const half = root({ 'sys/fs/cgroup/cpu.max': '150000 100000' })
  assert.is(defaultWorkers(8, half), 2, '1.5 CPUs: 2 workers')
  const tiny = root({ 'sys/fs/cgroup/cpu.max': '10000 100000' })
  assert.is(defaultWorkers(8, tiny), 1, 'at least 1')
  const none = root({ 'sys/fs/cgroup/cpu.max': 'max 100000' })
  assert.is(cgroupCpuLimit(none), undefined)
  assert.is(defaultWorkers(8, none), 8)
})

test("cgroup v2: the process's own cgroup (/proc/self/cgroup) counts, and the lowest limit wins", () => {
  const r = root({
    'proc/self/cgroup': '0::/system.slice/app.service',
    'sys/fs/cgroup/system.slice/app.service/cpu.max': '300000 100000',
    'sys/fs/cgroup/cpu.max': 'max 100000',
  })
  assert.is(defaultWorkers(16, r), 3)
  const lower = root({
    'proc/self/cgroup': '0::/a',
    'sys/fs/cgroup/a/cpu.max': '400000 100000',
    'sys/fs/cgroup/cpu.max': '100000 100000',
  })
  assert.is(defaultWorkers(16, lower), 1)
})

test('cgroup v1: cpu.cfs_quota_us / cpu.cfs_period_us; -1 is no quota', () => {
  const r = root({
    'sys/fs/cgroup/cpu,cpuacct/cpu.cfs_quota_us': '250000',
    'sys/fs/cgroup/cpu,cpuacct/cpu.cfs_period_us': '100000',
  })
  assert.is(defaultWorkers(32, r), 3)
  const cpu = root({
    'sys/fs/cgroup/cpu/cpu.cfs_quota_us': '100000',
    'sys/fs/cgroup/cpu/cpu.cfs_period_us': '100000',
  })
  assert.is(defaultWorkers(32, cpu), 1)
  const none = root({
    'sys/fs/cgroup/cpu/cpu.cfs_quota_us': '-1',
    'sys/fs/cgroup/cpu/cpu.cfs_period_us': '100000',
  })
  assert.is(defaultWorkers(32, none), 32)
})

test('no cgroup files (not Linux, no cgroup mounted), or garbage in them: the cores', () => {
  assert.is(defaultWorkers(6, root({})), 6)
  assert.is(defaultWorkers(6, root({ 'sys/fs/cgroup/cpu.max': 'two cpus' })), 6)
  assert.is(defaultWorkers(6, root({ 'sys/fs/cgroup/cpu.max': '0 100000' })), 6)
})

test('this machine: a number from 1 to the cores', () => {
  const n = defaultWorkers(4)
  assert.ok(Number.isInteger(n) && n >= 1 && n <= 4, String(n))
})

test.run()

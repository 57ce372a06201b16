/**
 * Issue 12, item 7: `watch` missed Kubernetes ConfigMap updates and folder swaps. A ConfigMap
 * update only renames `..data` (the policy files are symlinks through it, and never change
 * themselves), and the watcher's file-name filter dropped every event whose name was not
 * `*.yaml`; a folder replaced by rename left fs.watch on the old inode, so nothing after the swap
 * was seen. T65 (docs/threats.md): watch the folder, since editors and ConfigMaps swap
 * via rename and symlink.
 *
 * What must hold, with real files, a real watching cache and real HTTP: after each kind of swap
 * requests follow the new policy, later edits are still seen, and a bad set swapped in never
 * takes effect (the last good one stays, and the failure is reported).
 */
import { rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import type { PolicyError } from '../../src/errors.js'
import { eventually } from '../helpers/http.js'
import { cs, type Site, siteTracker } from '../helpers/origin.js'
import {
  configMapDir,
  configMapUpdate,
  policyDir,
  swapFolder,
  writePolicy,
  yaml,
} from '../helpers/policies.js'

/** Set `n`: every path cached, except `/off/<n>`, which bypasses: one request tells the sets apart. */
const policy = (n: number) =>
  yaml(`
  version: 1
  rules:
    - id: off
      match: /off/${n}
      cache: false
    - id: pages
      match: /**
      ttl: 1m
`)
const SYNTAX = yaml(`
  version: 1
  rules:
    - id: pages
      match: /**
      ttl: [1m
`)
const BYPASS = 'cachet; fwd=bypass; detail=rule'

const s = suite('regression: watch follows ConfigMap and folder swaps (issue 12.7)')
const sites = siteTracker()
s.after.each(() => sites.closeAll())

async function start(policies: string): Promise<{ site: Site; errors: PolicyError[] }> {
  const site = await sites.start({ policies, watch: true, watchDebounceMs: 20 })
  const errors: PolicyError[] = []
  site.cache.on('error', (e: PolicyError) => {
    errors.push(e)
  })
  return { site, errors }
}

/** Waits until requests follow set `n`, `/off/<n>` bypassing (a bound, not a timing assertion). */
async function follows(site: Site, n: number, what: string): Promise<void> {
  const now = async () => cs(await site.get(`/off/${n}`)) === BYPASS
  await eventually(now, `${what}: requests follow set ${n}`)
  assert.is.not(cs(await site.get(`/off/${n + 1}`)), BYPASS)
}

/** Waits for the watched reload of a bad set to fail, then checks that set `n` is still in force. */
async function keeps(site: Site, errors: PolicyError[], n: number, code: string, what: string) {
  const before = errors.length
  const version = site.cache.version
  const reported = () => errors.slice(before).some((e) => e.diagnostics.some((d) => d.code === code))
  await eventually(reported, `${what}: the bad set is reported`)
  assert.is(site.cache.version, version, `${what}: the version in force is unchanged`)
  assert.is(cs(await site.get(`/off/${n}`)), BYPASS, `${what}: set ${n} still applies`)
}

s('ConfigMap volume, folder target: each ..data swap applies; a bad one never takes effect', async () => {
  const dir = configMapDir(policy(1))
  const { site, errors } = await start(dir)
  assert.is(cs(await site.get('/off/1')), BYPASS)
  configMapUpdate(dir, policy(2))
  await follows(site, 2, 'first ConfigMap update')
  configMapUpdate(dir, SYNTAX)
  await keeps(site, errors, 2, 'YAML_SYNTAX', 'a ConfigMap update with a syntax error')
  configMapUpdate(dir, policy(3))
  await follows(site, 3, 'the update after the bad one')
  // a key added and removed by an update, as ConfigMaps do
  configMapUpdate(dir, { 'policy.yaml': policy(4), 'extra.yaml': 'version: 1\nrules: []\n' })
  await follows(site, 4, 'an update adding a file')
  configMapUpdate(dir, policy(5))
  await follows(site, 5, 'an update removing a file')
})

s('ConfigMap volume, file target (dir/policy.yaml through ..data): swaps apply', async () => {
  const dir = configMapDir(policy(1))
  const { site, errors } = await start(join(dir, 'policy.yaml'))
  configMapUpdate(dir, policy(2))
  await follows(site, 2, 'ConfigMap update of a watched file')
  configMapUpdate(dir, SYNTAX)
  await keeps(site, errors, 2, 'YAML_SYNTAX', 'a bad ConfigMap update of a watched file')
  configMapUpdate(dir, policy(3))
  await follows(site, 3, 'the update after the bad one')
})

s('the watched folder replaced by rename (mv dir dir.old; mv dir.new dir), again and again', async () => {
  const dir = policyDir(policy(1))
  const { site, errors } = await start(dir)
  swapFolder(dir, policy(2))
  await follows(site, 2, 'first folder swap')
  // an edit inside the new folder: the watcher follows the path, not the old inode
  writePolicy(dir, policy(3))
  await follows(site, 3, 'an edit in the swapped-in folder')
  swapFolder(dir, SYNTAX)
  await keeps(site, errors, 3, 'YAML_SYNTAX', 'a bad folder swapped in')
  swapFolder(dir, policy(4))
  await follows(site, 4, 'second good folder swap')
  writePolicy(dir, policy(5))
  await follows(site, 5, 'an edit after the second swap')
})

s('a file target whose folder is replaced by rename', async () => {
  const dir = policyDir(policy(1))
  const { site } = await start(join(dir, 'policy.yaml'))
  swapFolder(dir, policy(2))
  await follows(site, 2, 'folder swap under a watched file')
  writePolicy(dir, policy(3))
  await follows(site, 3, 'an edit after it')
})

s("editors' rename-and-replace, and in-place writes", async () => {
  const dir = policyDir(policy(1))
  const { site, errors } = await start(dir)
  writePolicy(dir, policy(2))
  await follows(site, 2, 'rename-and-replace')
  writePolicy(dir, SYNTAX)
  await keeps(site, errors, 2, 'YAML_SYNTAX', 'a bad save')
  writeFileSync(join(dir, 'policy.yaml'), policy(3))
  await follows(site, 3, 'an in-place write')
})

s('a file deleted then recreated: the last good set stays meanwhile, the new file applies', async () => {
  const dir = policyDir(policy(1))
  const { site, errors } = await start(dir)
  rmSync(join(dir, 'policy.yaml'))
  await keeps(site, errors, 1, 'POLICY_EMPTY', 'the only policy file deleted')
  writeFileSync(join(dir, 'policy.yaml'), policy(2))
  await follows(site, 2, 'the file recreated')
  // a watched file, deleted then recreated
  const file = join(dir, 'policy.yaml')
  const other = await start(file)
  rmSync(file)
  await keeps(other.site, other.errors, 2, 'POLICY_READ', 'a watched file deleted')
  writeFileSync(file, policy(3))
  await follows(other.site, 3, 'the watched file recreated')
  await follows(site, 3, 'and the folder watcher saw it too')
})

s.run()

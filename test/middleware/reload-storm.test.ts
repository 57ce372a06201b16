/**
 * A reload storm under traffic (issue 12 "What it must show"; docs/threats.md T63–T66,
 * T70): a watched policy folder gets many edits of every bad kind (YAML syntax error, schema
 * error, unknown field, duplicate id, bad glob, half-written file, deleted file), interleaved
 * with good edits (editors' saves and whole-folder swaps), then a burst of edits faster than
 * the debounce, while real HTTP requests keep coming.
 *
 * What must hold: no request fails; after each bad edit the last good set is in force (the
 * version, and a request that only that set answers the way it does); the final good edit takes
 * effect; fs.watch handles, inotify watches and file descriptors are what they were before.
 */
import { rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import type { PolicyError } from '../../src/errors.js'
import { loadPolicies } from '../../src/policy/load.js'
import { fsWatchers, inotifyWatches, openFds } from '../helpers/handles.js'
import { eventually } from '../helpers/http.js'
import { cs, type Site, siteTracker } from '../helpers/origin.js'
import { policyDir, swapFolder, writePolicy } from '../helpers/policies.js'

/** Set `n`: `/off/<n>` bypasses, every other path is cached: one request tells the sets apart. */
const good = (n: number) =>
  [
    'version: 1',
    'rules:',
    '  - id: off',
    `    match: /off/${n}`,
    '    cache: false',
    '  - id: pages',
    '    match: /**',
    '    ttl: 1m',
    '',
  ].join('\n')

interface BadEdit {
  kind: string
  code: string
  apply(dir: string): void
}
const FILE = 'policy.yaml'
const put = (text: string) => (dir: string) => {
  writePolicy(dir, text)
}
/** Each kind's code differs from every other's: an error with it can only come from reading that edit. */
const BAD: BadEdit[] = [
  { kind: 'YAML syntax error', code: 'YAML_SYNTAX', apply: put(good(0).replace('ttl: 1m', 'ttl: [1m')) },
  { kind: 'schema error', code: 'DURATION_FORMAT', apply: put(good(0).replace('ttl: 1m', 'ttl: 5 minutes')) },
  { kind: 'unknown field', code: 'UNKNOWN_FIELD', apply: put(good(0).replace('ttl: 1m', 'tll: 1m')) },
  { kind: 'duplicate id', code: 'DUPLICATE_ID', apply: put(good(0).replace('id: pages', 'id: off')) },
  { kind: 'bad glob', code: 'GLOB_INVALID', apply: put(good(0).replace('match: /**', 'match: "/a/[b"')) },
  {
    kind: 'half-written file (in place, cut mid-value)',
    code: 'POLICY_SCHEMA',
    apply: (dir) => {
      writeFileSync(join(dir, FILE), good(0).slice(0, good(0).indexOf('cache: f') + 8))
    },
  },
  {
    kind: 'deleted file',
    code: 'POLICY_EMPTY',
    apply: (dir) => {
      rmSync(join(dir, FILE))
    },
  },
]
const BYPASS = 'cachet; fwd=bypass; detail=rule'

const s = suite('reload storm')
const sites = siteTracker()
s.after.each(() => sites.closeAll())

/** Requests on `concurrency` loops until stopped; every answer must be a complete 200 from the origin. */
function traffic(site: Site, concurrency: number) {
  let stop = false
  let sent = 0
  const failures: string[] = []
  const loop = async (k: number) => {
    for (let i = 0; !stop; i++) {
      const path = i % 3 === 0 ? `/off/${i % 7}` : `/page/${k}/${i % 11}`
      sent++
      try {
        const r = await site.get(path)
        const ok = r.status === 200 && r.complete && r.body.startsWith('#')
        if (!ok) failures.push(`${path}: ${r.status} ${r.body.slice(0, 60)}`)
      } catch (err) {
        failures.push(`${path}: ${err instanceof Error ? err.message : String(err)}`)
      }
    }
  }
  const loops = Array.from({ length: concurrency }, (_, k) => loop(k))
  return {
    failures,
    get sent() {
      return sent
    },
    async stop() {
      stop = true
      await Promise.all(loops)
    },
  }
}

s('bad edits of every kind never take effect, good ones do, under traffic; handles stay flat', async () => {
  const dir = policyDir(good(1))
  const site = await sites.start({ policies: dir, watch: true, watchDebounceMs: 20 })
  const cache = site.cache
  const errors: PolicyError[] = []
  cache.on('error', (e: PolicyError) => {
    errors.push(e)
  })
  await eventually(() => fsWatchers() > 0, 'the watches are armed')
  const base = { watchers: fsWatchers(), inotify: inotifyWatches(), fds: openFds() }

  const load = traffic(site, 4)
  let lastGood = 1
  let verified = 0

  const applyGood = async (n: number, how: 'save' | 'swap') => {
    if (how === 'save') writePolicy(dir, good(n))
    else swapFolder(dir, good(n))
    const expected = await loadPolicies(dir)
    assert.ok(expected.ok)
    await eventually(() => cache.version === expected.version, `good edit ${n} (${how}) applied`)
    assert.is(cs(await site.get(`/off/${n}`)), BYPASS, `set ${n} in force`)
    assert.is.not(cs(await site.get(`/off/${lastGood}`)), BYPASS, `set ${lastGood} no longer in force`)
    lastGood = n
  }

  const applyBad = async (bad: BadEdit) => {
    const version = cache.version
    const before = errors.length
    bad.apply(dir)
    await eventually(
      () => errors.slice(before).some((e) => e.diagnostics.some((d) => d.code === bad.code)),
      `${bad.kind}: its reload failed with ${bad.code}`,
    )
    assert.is(cache.version, version, `${bad.kind}: the version in force is unchanged`)
    assert.is(cs(await site.get(`/off/${lastGood}`)), BYPASS, `${bad.kind}: set ${lastGood} still in force`)
    verified++
  }

  // rounds: a good edit (an editor's save, or the whole folder swapped), then every bad kind, in a
  // different order each round
  const ROUNDS = 6
  for (let r = 0; r < ROUNDS; r++) {
    await applyGood(2 + r, r % 2 === 0 ? 'save' : 'swap')
    for (let k = 0; k < BAD.length; k++) await applyBad(BAD[(k + r) % BAD.length]!)
  }

  // a burst faster than the debounce: bad and good edits a few ms apart, ending with a good one
  const FINAL = 100
  for (let i = 0; i < 40; i++) {
    if (i % 5 === 4) writePolicy(dir, good(50 + i))
    else BAD[i % BAD.length]!.apply(dir)
    // mostly closer together than the debounce, with a pause now and then that lets a reload run mid-burst
    await new Promise((res) => setTimeout(res, i % 7 === 6 ? 40 : i % 3))
  }
  await applyGood(FINAL, 'save')
  const off = await site.get(`/off/${FINAL}`)
  assert.is(cs(off), BYPASS, 'the final good edit is in force')

  await load.stop()
  assert.equal(load.failures, [], 'no request failed')
  assert.ok(load.sent >= 100, `a steady stream of requests (${load.sent})`)
  assert.is(verified, ROUNDS * BAD.length)
  const { reloadFailures } = cache.metrics()
  assert.ok(reloadFailures >= verified, `every bad edit counted (${reloadFailures})`)
  assert.ok(cache.metrics().reloads >= ROUNDS + 1)

  // flat: the folder swaps re-armed the watch each time, closing the old one; sockets are gone
  await eventually(() => fsWatchers() === base.watchers, `fs.watch handles back to ${base.watchers}`)
  await eventually(() => inotifyWatches() === base.inotify, `inotify watches back to ${base.inotify}`)
  await eventually(() => openFds() <= base.fds, `file descriptors back to ${base.fds} (${openFds()})`)
})

s.run()

/**
 * Plain JavaScript gets no compiler: an unknown option is a TypeError at createCache that names
 * it and the option it is close to, never silently ignored (issue 10 item 4). Before, a misspelt
 * `polices` loaded the default folder and a misspelt `maxByte` kept the default bound.
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { createCache } from '../src/create-cache.js'
import { policyDir, yaml } from './helpers/policies.js'

const dir = policyDir(
  yaml(`
    version: 1
    rules:
      - { id: all, match: /**, ttl: 60s }
  `),
)

async function rejects(options: unknown, message: RegExp): Promise<void> {
  try {
    const cache = await createCache(options as Parameters<typeof createCache>[0])
    await cache.close()
  } catch (err) {
    assert.instance(err, TypeError)
    assert.match((err as Error).message, message)
    return
  }
  assert.unreachable(`createCache(${JSON.stringify(options)}) resolved`)
}

test('a misspelt top-level option names itself and the option it is close to', async () => {
  await rejects(
    { polices: dir },
    /^unknown createCache option "polices" \(did you mean "policies"\?\); the options are policies, store, watch, /,
  )
  await rejects(
    { policies: dir, readDeadline: 100 },
    /option "readDeadline" \(did you mean "readDeadlineMs"\?\)/,
  )
  await rejects({ policies: dir, Watch: true }, /option "Watch" \(did you mean "watch"\?\)/)
})

test('an option far from every name gets the list, and no guess', async () => {
  await rejects(
    { policies: dir, compression: true },
    /^unknown createCache option "compression"; the options are /,
  )
})

test('store forms: a misspelt form key and a misspelt memory option', async () => {
  await rejects(
    { policies: dir, store: { memroy: { maxBytes: 1024 } } },
    /unknown store option "memroy" \(did you mean "memory"\?\)/,
  )
  await rejects(
    { policies: dir, store: { clusters: ['127.0.0.1:7000'] } },
    /unknown store option "clusters" \(did you mean "cluster"\?\)/,
  )
  await rejects(
    { policies: dir, store: { memory: { maxByte: 1024 } } },
    /^unknown store.memory option "maxByte" \(did you mean "maxBytes"\?\); the options are maxBytes$/,
  )
})

test('cache.admin: a misspelt option names itself (publicMetric), the token rule still holds', async () => {
  const cache = await createCache({ policies: dir })
  try {
    const token = 'a-token-of-sixteen-or-more'
    assert.throws(
      () => cache.admin({ token, publicMetric: true } as unknown as Parameters<typeof cache.admin>[0]),
      (err: Error) =>
        err instanceof TypeError &&
        /^unknown admin option "publicMetric" \(did you mean "publicMetrics"\?\); the options are path, token, /.test(
          err.message,
        ),
    )
    assert.type(cache.admin({ token, publicMetrics: true }), 'function')
  } finally {
    await cache.close()
  }
})

test('not an object at all', async () => {
  await rejects('policies', /^createCache takes an options object, got policies$/)
})

test('every documented option is accepted', async () => {
  const cache = await createCache({
    policies: dir,
    store: { memory: { maxBytes: 1 << 20 } },
    watch: false,
    name: 'names',
    readDeadlineMs: 250,
    connectDeadlineMs: 1000,
    watchDebounceMs: 100,
    logger: { error() {}, warn() {}, info() {}, debug() {} },
    coalesceWaitMs: 5000,
    lockTtlMs: 10_000,
    clock: Date,
  })
  assert.is(cache.name, 'names')
  await cache.close()
})

test.run()

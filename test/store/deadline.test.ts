/**
 * `within` and `giveUp` (src/store/deadline.ts) on plain promises: who wins, what is ignored
 * afterwards, and that nothing is left behind. Deadlines here are a few ms; what is asserted is the
 * outcome, never how long it took.
 */
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { StoreTimeoutError } from '../../src/errors.js'
import { giveUp, within } from '../../src/store/deadline.js'

const test = suite('within')

const never = <T>() => new Promise<T>(() => {})
const later = <T>(ms: number, v: T) => new Promise<T>((resolve) => setTimeout(() => resolve(v), ms))
const settle = <T>(p: Promise<T>) =>
  p.then(
    (v) => ({ ok: true as const, v }),
    (e: unknown) => ({ ok: false as const, e }),
  )

test('work that settles first wins, with its value or its error; onTimeout never runs', async () => {
  let ran = 0
  assert.is(
    await within(Promise.resolve(1), 1000, () => {
      ran++
      return 2
    }),
    1,
  )
  const err = new Error('boom')
  const r = await settle(
    within(Promise.reject(err), 1000, () => {
      ran++
    }),
  )
  assert.equal(r, { ok: false, e: err })
  assert.is(ran, 0)
})

test('a deadline that passes first settles with what onTimeout returns', async () => {
  assert.is(await within(never<number>(), 5, () => undefined), undefined)
  assert.is(await within(never<boolean>(), 5, () => false), false)
})

test('a deadline that passes first rejects with what onTimeout throws; giveUp: STORE_TIMEOUT', async () => {
  const r = await settle(within(never(), 5, giveUp('store get', 5)))
  assert.ok(!r.ok && r.e instanceof StoreTimeoutError)
  assert.is((r as { e: StoreTimeoutError }).e.code, 'STORE_TIMEOUT')
  assert.is((r as { e: StoreTimeoutError }).e.message, 'store get gave up after 5 ms')
})

test('a late settlement is ignored: a late value loses, a late rejection is not unhandled', async () => {
  const unhandled: unknown[] = []
  const onUnhandled = (e: unknown) => {
    unhandled.push(e)
  }
  process.on('unhandledRejection', onUnhandled)
  try {
    assert.is(await within(later(30, 'late'), 1, () => 'fallback'), 'fallback')
    let rejectLate!: (e: Error) => void
    const work = new Promise<never>((_, reject) => {
      rejectLate = reject
    })
    assert.is(await within(work, 1, () => 'fallback'), 'fallback')
    rejectLate(new Error('late'))
    await later(30, undefined)
    assert.equal(unhandled, [])
  } finally {
    process.off('unhandledRejection', onUnhandled)
  }
})

test('a spent budget (<= 0) lets already settled work win, and times out pending work', async () => {
  assert.is(await within(Promise.resolve('done'), 0, () => 'spent'), 'done')
  assert.is(await within(Promise.resolve('done'), -50, () => 'spent'), 'done')
  assert.is(await within(never<string>(), 0, () => 'spent'), 'spent')
})

test('no deadline beyond setTimeout range: the work itself comes back', async () => {
  const work = Promise.resolve(7)
  assert.is(
    within(work, Infinity, () => 0),
    work,
  )
  assert.is(
    within(work, 2 ** 31, () => 0),
    work,
  )
})

test('NaN is a TypeError, thrown at once', () => {
  assert.throws(
    () => within(Promise.resolve(1), Number.NaN, () => 0),
    (e: unknown) => e instanceof TypeError,
  )
})

test('an answer clears the timer: a process whose work answered can exit at once', async () => {
  // with the timer left armed, `getActiveResourcesInfo` would list a Timeout until it fired
  const before = process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length
  await within(Promise.resolve(1), 60_000, () => 0)
  await within(Promise.reject(new Error('x')), 60_000, () => 0).catch(() => {})
  const after = process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length
  assert.is(after, before)
})

test('onTimeout may return a promise, which is followed', async () => {
  assert.is(await within(never<string>(), 1, () => later(1, 'from onTimeout')), 'from onTimeout')
})

test.run()

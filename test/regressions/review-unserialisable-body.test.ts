/**
 * A review regression (shared setup and background: ./review-app.ts).
 */
import * as assert from 'uvu/assert'
import { eventually } from '../helpers/http.js'
import { app, reviewSuite } from './review-app.js'

// F6 leak: capture() throws for a body JSON.stringify rejects (BigInt, a cycle); the leader then
// never settles its flight (middleware.ts: no finish() on that path), so every later miss for the
// key waits coalesceWaitMs on a promise that never resolves, for the life of the process.
const s = reviewSuite('F6 a body capture() cannot serialise')

s('a response capture() cannot serialise does not wedge later misses on a dead flight', async () => {
  const a = await app({ coalesceWaitMs: 4000 })
  a.origin.route('/j', (ctx, n) => {
    ctx.body = n === 1 ? { n: 1n } : { n }
  })
  const r1 = await a.get('/j')
  assert.is(r1.status, 500)
  const second = a.get('/j')
  second.catch(() => {}) // closed by after.each when it hangs
  await eventually(
    () => a.origin.calls('/j') === 2,
    'the next miss reached the origin before coalesceWaitMs (it waits on the dead flight)',
    2000,
  )
  const r2 = await second
  assert.is(r2.body, '{"n":2}')
})

s.run()

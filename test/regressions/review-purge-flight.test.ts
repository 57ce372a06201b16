/**
 * A review regression (shared setup and background: ./review-app.ts).
 */
import * as assert from 'uvu/assert'
import { eventually } from '../helpers/http.js'
import { cs } from '../helpers/origin.js'
import { gate } from '../helpers/scripted-origin.js'
import { app, reviewSuite } from './review-app.js'

// F5 purge: a request that arrives after purge() resolved joins the in-process flight of a fetch
// that began before the purge, and is served its (pre-purge) response: middleware.ts fetch()
// serves the flight's entry without checking its tokens against the current ones.
const s = reviewSuite('F5 purge and an in-process flight begun before it')

s('purge: a request arriving after purge() resolved is not served a response fetched before it', async () => {
  const a = await app()
  const g = gate()
  a.origin.route('/f', async (ctx, n) => {
    if (n === 1) await g.promise
    ctx.body = `call ${n}`
  })
  const first = a.get('/f')
  await eventually(() => a.origin.calls('/f') === 1, 'first request at the origin')
  await a.cache.purge({ urls: ['/f'] })
  const second = a.get('/f')
  // misses is counted just before fetch() joins the flight, in the same tick
  await eventually(() => a.cache.metrics().misses === 2, 'second request looked up')
  g.open()
  const [r1, r2] = await Promise.all([first, second])
  assert.is(r1.body, 'call 1')
  assert.is(
    r2.body,
    'call 2',
    `the post-purge request got ${JSON.stringify(r2.body)} (Cache-Status: ${cs(r2)})`,
  )
})

s.run()

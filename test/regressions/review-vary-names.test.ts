/**
 * A review regression (shared setup and background: ./review-app.ts).
 */
import * as assert from 'uvu/assert'
import { cs } from '../helpers/origin.js'
import { app, reviewSuite } from './review-app.js'

// F4 wrong variant: middleware.ts variantOf() memoises variant keys by primary key + header
// VALUES only, not the Vary NAMES. When a URL's Vary changes (x-a → x-b), a variant computed for
// x-a=v is returned for a request whose x-b is v, and served although its x-a differs.
const s = reviewSuite('F4 Vary: the variant memo and the Vary names')

s('Vary: a stored variant is never served to a request whose varied headers differ', async () => {
  const a = await app()
  a.origin.route('/v', (ctx, n) => {
    ctx.set('Vary', n === 1 ? 'x-a' : 'x-b')
    ctx.body = `#${n} a=${ctx.get('x-a')} b=${ctx.get('x-b')}`
  })
  const r1 = await a.get('/v', { 'x-a': 'v', 'x-b': 'v' })
  assert.is(r1.body, '#1 a=v b=v')
  const r2 = await a.get('/v', { 'x-a': 'v', 'x-b': 'v' })
  assert.is(r2.body, '#1 a=v b=v') // a hit through the Vary index
  const r3 = await a.get('/v', { 'x-a': 'w', 'x-b': 'v' })
  assert.is(r3.body, '#2 a=w b=v') // another x-a: the origin, which now varies on x-b
  const r4 = await a.get('/v', { 'x-a': 'w', 'x-b': 'v' })
  // #1 varied on x-a and was produced for x-a=v: it does not match x-a=w
  assert.is(r4.body, '#2 a=w b=v', `served ${JSON.stringify(r4.body)} (Cache-Status: ${cs(r4)})`)
})

s.run()

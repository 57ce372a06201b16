/**
 * A review regression (shared setup and background: ./review-app.ts).
 */
import * as assert from 'uvu/assert'
import { cs } from '../helpers/origin.js'
import { app, reviewSuite } from './review-app.js'

// F3 key/app mismatch: key/compose.ts lower-cases the host, the application sees it as sent. An
// app that compares host names exactly (tenant lookup, vhost) answers `SHOP.example` differently
// (a 404, a redirect, absolute links) and that answer is served to every `shop.example` visitor.
const s = reviewSuite('F3 the key sees the Host the application sees')

s('the key sees the Host the application sees: a host differing only in case shares no entry', async () => {
  const a = await app()
  a.origin.route('/h', (ctx) => {
    ctx.body = `host=${ctx.host}`
  })
  const r1 = await a.get('/h', { host: 'SHOP.Example' })
  assert.is(r1.body, 'host=SHOP.Example')
  const r2 = await a.get('/h', { host: 'shop.example' })
  assert.is(r2.body, 'host=shop.example', `served ${JSON.stringify(r2.body)} with Cache-Status ${cs(r2)}`)
})

s.run()

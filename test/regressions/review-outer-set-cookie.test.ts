/**
 * A review regression (shared setup and background: ./review-app.ts).
 */

import type { Context } from 'koa'
import * as assert from 'uvu/assert'
import { cs } from '../helpers/origin.js'
import { app, reviewSuite } from './review-app.js'

// F7 never-store rules checked too early: capture() decides on the headers present when the
// inner stack returned; a middleware mounted before cachet (a session layer) that adds Set-Cookie
// after next() goes unseen, and the response, sent with Set-Cookie, is stored.
const s = reviewSuite('F7 Set-Cookie added by an outer middleware')

s(
  'a response that leaves with Set-Cookie (added by an outer middleware after next) is not stored',
  async () => {
    let sid = 0
    const a = await app({
      outer: async (ctx: Context, next) => {
        await next()
        ctx.set('Set-Cookie', `sid=${++sid}; HttpOnly`)
      },
    })
    a.origin.route('/s', (ctx, n) => {
      ctx.body = `page for session ${n}`
    })
    const r1 = await a.get('/s')
    assert.is(r1.headers['set-cookie'], 'sid=1; HttpOnly')
    const r2 = await a.get('/s')
    assert.is(a.origin.calls('/s'), 2, `the Set-Cookie response was replayed (Cache-Status: ${cs(r2)})`)
    assert.is(r2.body, 'page for session 2')
  },
)

s.run()

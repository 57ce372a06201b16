/**
 * A review regression (shared setup and background: ./review-app.ts).
 */
import * as assert from 'uvu/assert'
import { eventually, request } from '../helpers/http.js'
import { cs } from '../helpers/origin.js'
import { startScriptedOrigin } from '../helpers/scripted-origin.js'
import { reviewSuite, serve } from './review-app.js'

// F2 cache poisoning through cachet serve: `Connection: accept-language` makes the proxy strip a
// header (proxy.ts endToEnd) that the variant key still reads from ctx.req.headers, so the
// upstream's answer for "no Accept-Language" is stored as the `fr` variant.
const s = reviewSuite('F2 serve: a header named in Connection')

s('serve: a header the client names in Connection is not the one the upstream answered for', async () => {
  const origin = await startScriptedOrigin()
  origin.script('/lang', (req) => ({
    headers: { 'cache-control': 'max-age=60', vary: 'Accept-Language' },
    body: `lang=${String(req.headers['accept-language'])}`,
  }))
  const sv = await serve(origin)
  const a = await request(`${sv.url}/lang`, {
    headers: { 'accept-language': 'fr', connection: 'close, accept-language' },
  })
  assert.is(a.body, 'lang=undefined') // what the upstream saw
  await eventually(() => sv.cache.metrics().stores === 1, 'the first answer stored')
  const b = await request(`${sv.url}/lang`, { headers: { 'accept-language': 'fr' } })
  assert.is(b.body, 'lang=fr', `a French client got ${JSON.stringify(b.body)} (Cache-Status: ${cs(b)})`)
})

s.run()

/**
 * A review regression (shared setup and background: ./review-app.ts).
 */
import * as assert from 'uvu/assert'
import { eventually, request } from '../helpers/http.js'
import { cs } from '../helpers/origin.js'
import { startScriptedOrigin } from '../helpers/scripted-origin.js'
import { reviewSuite, serve } from './review-app.js'

// F1 cache poisoning through cachet serve: the client's X-Forwarded-Host reaches the upstream,
// which is not keyed (app.proxy is off, so the key uses Host). Upstreams that honour it
// (Express trust proxy, Django USE_X_FORWARDED_HOST, Rails) build links from it (Kettle 2018).
const s = reviewSuite('F1 serve: a client X-Forwarded-Host')

s('serve: a client X-Forwarded-Host that the key does not see never reaches the upstream', async () => {
  const origin = await startScriptedOrigin()
  origin.script('/page', (req) => ({
    headers: { 'cache-control': 'max-age=60' },
    body: `xfh=${String(req.headers['x-forwarded-host'])}`,
  }))
  const sv = await serve(origin)
  const a = await request(`${sv.url}/page`, { headers: { 'x-forwarded-host': 'evil.example' } })
  assert.is(cs(a), 'cachet; fwd=uri-miss') // a streamed body: stored once it completed
  await eventually(() => sv.cache.metrics().stores === 1, 'the first answer stored')
  const b = await request(`${sv.url}/page`)
  // the second client never sent X-Forwarded-Host: it must not get a page built for evil.example
  assert.is.not(b.body, 'xfh=evil.example')
  assert.is(
    origin.requests.some((r) => r.headers['x-forwarded-host'] === 'evil.example'),
    false,
    'the client-supplied X-Forwarded-Host was forwarded unkeyed',
  )
})

s.run()

/**
 * A review regression (shared setup and background: ./review-app.ts).
 */
import { request as httpRequest } from 'node:http'
import type { Context } from 'koa'
import * as assert from 'uvu/assert'
import { eventually } from '../helpers/http.js'
import { cs } from '../helpers/origin.js'
import { policyDir, yaml } from '../helpers/policies.js'
import { gate } from '../helpers/scripted-origin.js'
import { app, reviewSuite } from './review-app.js'

// F9 stale-while-revalidate stops refreshing a key for good: scheduleRefresh() adds the key to
// `refreshing` and waits for res 'close'; when the client had already gone (close emitted before),
// it never fires, the key stays in `refreshing`, and no refresh ever runs for it again.
const s = reviewSuite('F9 SWR and a client that left early')

s('SWR: a client that left before its stale answer does not stop the key from ever refreshing', async () => {
  let t = Date.now()
  const clock = { now: () => t }
  const arrived = gate()
  const a = await app({
    clock,
    policies: policyDir(
      yaml(`
      version: 1
      rules:
        - id: pages
          match: /**
          ttl: 10s
          staleWhileRevalidate: 10m
    `),
    ),
    outer: async (ctx: Context, next) => {
      if (ctx.get('x-leave') === '1') {
        // stands for a slow store read during which the client gives up
        await new Promise<void>((r) => {
          ctx.res.once('close', () => r())
          arrived.open()
        })
      }
      await next()
    },
  })
  const r1 = await a.get('/p')
  assert.is(cs(r1), 'cachet; fwd=uri-miss; stored')
  t += 20_000 // stale, inside the SWR window
  // a client that leaves while its request is held
  const req = httpRequest({
    host: '127.0.0.1',
    port: a.srv.port,
    path: '/p',
    headers: { 'x-leave': '1' },
    agent: false,
  })
  req.on('error', () => {})
  req.end()
  await arrived.promise
  req.destroy()
  await eventually(
    () => a.cache.metrics().staleServed === 1,
    'the stale entry was served to the departed client',
  )
  const r3 = await a.get('/p')
  assert.match(r3.headers['cache-status'] ?? '', /^cachet; hit; ttl=-?\d+$/)
  await eventually(() => a.origin.calls('/p') === 2, 'a background refresh of /p ran', 3000)
})

s.run()

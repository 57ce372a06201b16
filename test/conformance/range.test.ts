/**
 * Range requests answered from a stored complete response (RFC 9110 §14; issue 8, item 1):
 * `206` with `Content-Range` for `a-b`, `a-` and `-n`; `416` with `bytes *\/len`; `If-Range`
 * (strong entity-tag comparison, date form) falling back to the whole `200`; several ranges as
 * `multipart/byteranges`, answered whole when they overlap or are too many; never on HEAD or on
 * a status other than 200. Through `cachet serve` and the middleware, on both stores.
 */
import { request } from 'node:http'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { cs, type Site } from '../helpers/origin.js'
import { yaml } from '../helpers/policies.js'
import { onBothStores } from '../helpers/stores.js'
import { envs } from './harness.js'

const BODY = 'abcdefghijklmnopqrstuvwxyz' // 26 bytes
const LM = 'Sun, 06 Nov 1994 08:49:37 GMT'
const DATE = 'Mon, 07 Nov 1994 08:49:37 GMT'

/** the Range header each origin call saw ('' when none) */
const ranges: string[] = []

const POLICY = yaml(`
  version: 1
  rules:
    - id: media
      match: /media/**
      ttl: 5m
    - id: fetched
      match: /fetched/**
      ttl: 5m
      rangeMiss: fetch
`)

function app(site: Site): void {
  site.origin.route(/^\/(media|fetched)\//, (ctx) => {
    ranges.push(ctx.get('range'))
    ctx.set('ETag', '"v1"')
    ctx.set('Last-Modified', LM)
    ctx.set('Date', DATE)
    ctx.type = 'text/plain'
    ctx.body = BODY
  })
}

/** A GET with these headers; the raw body as latin1. */
function get(
  site: Site,
  path: string,
  headers: Record<string, string>,
  method = 'GET',
): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(`${site.url}${path}`, { method, headers }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () =>
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          body: Buffer.concat(chunks).toString('latin1'),
        }),
      )
    })
    req.on('error', reject)
    req.end()
  })
}

onBothStores('conformance: Range from a stored response (RFC 9110 §14)', POLICY, app, (s, start) => {
  async function stored(): Promise<Site> {
    const site = await start()
    await site.get('/media/a')
    await site.waitStored('/media/a')
    return site
  }

  for (const [range, status, cr, body] of [
    ['bytes=0-4', 206, 'bytes 0-4/26', 'abcde'],
    ['bytes=20-', 206, 'bytes 20-25/26', 'uvwxyz'],
    ['bytes=-3', 206, 'bytes 23-25/26', 'xyz'],
    ['bytes=24-100', 206, 'bytes 24-25/26', 'yz'],
    ['bytes=-100', 206, 'bytes 0-25/26', BODY],
    ['bytes=0-0', 206, 'bytes 0-0/26', 'a'],
  ] as const) {
    s(`§14.1.2: Range: ${range} → ${status} ${cr}, from the entry`, async () => {
      const site = await stored()
      const r = await get(site, '/media/a', { range })
      assert.is(r.status, status)
      assert.is(r.headers['content-range'], cr)
      assert.is(r.body, body)
      assert.is(r.headers['content-length'], String(body.length))
      assert.is(r.headers.etag, '"v1"')
      assert.match(String(r.headers['cache-status']), /^cachet; hit; ttl=/)
      assert.is(site.origin.calls('/media/a'), 1, 'answered from the entry')
    })
  }

  for (const range of ['bytes=26-', 'bytes=100-200', 'bytes=-0', 'bytes=30-40, 50-']) {
    s(`§15.5.17: Range: ${range} is unsatisfiable: 416 with bytes */26`, async () => {
      const site = await stored()
      const r = await get(site, '/media/a', { range })
      assert.is(r.status, 416)
      assert.is(r.headers['content-range'], 'bytes */26')
      assert.is(r.body, '')
    })
  }

  for (const range of ['items=0-4', 'bytes=5-2', 'bytes=a-b', 'bytes=', 'bytes=0-1,,', 'bytes=0-4, 2-6']) {
    s(`§14.2: an unusable or overlapping Range (${range}) is ignored: the whole 200`, async () => {
      const site = await stored()
      const r = await get(site, '/media/a', { range })
      assert.is(r.status, 200)
      assert.is(r.body, BODY)
      assert.is(r.headers['content-range'], undefined)
    })
  }

  s('§14.2: more than 16 ranges are answered whole', async () => {
    const site = await stored()
    const many = Array.from({ length: 17 }, (_, i) => `${i}-${i}`).join(',')
    const r = await get(site, '/media/a', { range: `bytes=${many}` })
    assert.is(r.status, 200)
    assert.is(r.body, BODY)
  })

  s('§14.6: several ranges: multipart/byteranges, each part with its type and Content-Range', async () => {
    const site = await stored()
    const r = await get(site, '/media/a', { range: 'bytes=0-1, 10-12, -2' })
    assert.is(r.status, 206)
    const m = /^multipart\/byteranges; boundary=([0-9a-f]+)$/.exec(String(r.headers['content-type']))
    assert.ok(m, String(r.headers['content-type']))
    const b = m[1]
    assert.is(
      r.body,
      `\r\n--${b}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Range: bytes 0-1/26\r\n\r\nab` +
        `\r\n--${b}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Range: bytes 10-12/26\r\n\r\nklm` +
        `\r\n--${b}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Range: bytes 24-25/26\r\n\r\nyz` +
        `\r\n--${b}--\r\n`,
    )
    assert.is(r.headers['content-length'], String(Buffer.byteLength(r.body, 'latin1')))
    assert.is(r.headers['content-range'], undefined)
  })

  for (const [ifRange, ranged] of [
    ['"v1"', true],
    ['"v2"', false],
    ['W/"v1"', false],
    [LM, true],
    ['Sun, 06 Nov 1994 08:49:38 GMT', false],
    ['not a date', false],
  ] as const) {
    s(`§13.1.5: If-Range: ${ifRange} → ${ranged ? '206' : 'the whole 200'}`, async () => {
      const site = await stored()
      const r = await get(site, '/media/a', { range: 'bytes=0-4', 'if-range': ifRange })
      assert.is(r.status, ranged ? 206 : 200)
      assert.is(r.body, ranged ? 'abcde' : BODY)
    })
  }

  s('§13.2.2: a matching If-None-Match wins over Range: 304', async () => {
    const site = await stored()
    const r = await get(site, '/media/a', { range: 'bytes=0-4', 'if-none-match': '"v1"' })
    assert.is(r.status, 304)
  })

  s('§14.2: Range on HEAD is ignored', async () => {
    const site = await stored()
    const r = await get(site, '/media/a', { range: 'bytes=0-4' }, 'HEAD')
    assert.is(r.status, 200)
    assert.is(r.headers['content-range'], undefined)
    assert.is(r.headers['content-length'], '26')
  })

  s(
    'rangeMiss: fetch: a cold Range asks the origin for the whole, stores it, answers 206 from it',
    async () => {
      const site = await start()
      ranges.length = 0
      const r = await get(site, '/fetched/a', { range: 'bytes=2-5' })
      assert.is(r.status, 206)
      assert.is(r.body, 'cdef')
      assert.is(r.headers['content-range'], 'bytes 2-5/26')
      assert.is(r.headers['content-length'], '4')
      assert.match(String(r.headers['cache-status']), /^cachet; fwd=uri-miss; stored/)
      assert.equal(ranges, [''], 'the origin was asked for the whole')
      await site.waitStored('/fetched/a')
      const whole = await site.get('/fetched/a')
      assert.is(whole.body, BODY)
      assert.match(cs(whole) ?? '', /^cachet; hit/)
      const unsat = await get(site, '/fetched/b', { range: 'bytes=99-' })
      assert.is(unsat.status, 416)
      assert.is(unsat.headers['content-range'], 'bytes */26')
      await site.waitStored('/fetched/b')
      const mismatch = await get(site, '/fetched/c', { range: 'bytes=0-1', 'if-range': '"other"' })
      assert.is(mismatch.status, 200)
      assert.is(mismatch.body, BODY)
    },
  )

  s('rangeMiss: forward (the default): a cold Range reaches the origin as sent', async () => {
    const site = await start()
    ranges.length = 0
    await get(site, '/media/cold', { range: 'bytes=2-5' })
    assert.equal(ranges, ['bytes=2-5'])
  })

  s('a plain GET after ranged ones still gets the whole entry', async () => {
    const site = await stored()
    await get(site, '/media/a', { range: 'bytes=0-4' })
    const r = await site.get('/media/a')
    assert.is(r.status, 200)
    assert.is(r.body, BODY)
    assert.match(cs(r) ?? '', /^cachet; hit/)
  })
})

const test = suite('conformance: Range from a stored response through cachet serve (RFC 9110 §14)')
const pool = envs()
test.after.each(pool.closeAll)

test('§14.1.2: cachet serve answers a Range from the stored response, the upstream asked once', async () => {
  const env = await pool.start()
  env.origin.script('/v', { headers: { 'cache-control': 'max-age=60', etag: '"e"' }, body: BODY })
  await env.send('/v')
  await env.waitStored('/v')
  const r = await env.send('/v', { headers: { range: 'bytes=2-5' } })
  assert.is(r.status, 206)
  assert.is(r.body, 'cdef')
  assert.is(r.headers['content-range'], 'bytes 2-5/26')
  assert.is(r.headers['cache-status'], 'cachet; hit; ttl=60')
  assert.is(env.origin.count, 1)
})

test('rangeMiss: fetch in the plain cache: a cold Range is cut from the whole streamed response, which is stored', async () => {
  const env = await pool.start()
  env.origin.script('/big', { headers: { 'cache-control': 'max-age=60' }, body: BODY })
  const r = await env.send('/big', { headers: { range: 'bytes=20-' } })
  assert.is(r.status, 206)
  assert.is(r.body, 'uvwxyz')
  assert.is(r.headers['content-range'], 'bytes 20-25/26')
  assert.is(r.headers['content-length'], '6')
  assert.is(env.origin.requests[0]!.headers.range, undefined, 'the upstream was asked for the whole')
  const e = await env.waitStored('/big')
  assert.is(e.body.toString(), BODY)
  const again = await env.send('/big', { headers: { range: 'bytes=0-1, 4-5' } })
  assert.is(again.status, 206)
  assert.match(String(again.headers['content-type']), /^multipart\/byteranges; boundary=/)
  assert.is(env.origin.count, 1)
})

test.run()

/**
 * `cachet serve` answers a fresh hit below Koa, straight on node:http (request/raw.ts, issue 11
 * item 1). The promise: the same bytes as the Koa path. Two servers side by side over one
 * origin, one with the raw path and one with `fastHits: false`, on the same fixed clock, get
 * the same requests on raw sockets; each response, byte for byte but for `Date`, must be the
 * same from both. A subscriber to cachet:request proves the raw path really answered (its hits
 * carry no Koa context), and the counters must agree (one store read per request either way).
 */
import { subscribe, unsubscribe } from 'node:diagnostics_channel'
import { createServer, type Server } from 'node:http'
import { type AddressInfo, connect } from 'node:net'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { type Serving, startServe } from '../../src/cli/serve.js'
import type { RequestMessage } from '../../src/metrics/trace.js'
import { eventually } from '../helpers/http.js'

const T = Date.parse('2026-12-03T12:00:00Z')
/** ms the servers' clock has moved past T */
let elapsed = 0
const LAST_MODIFIED = 'Wed, 21 Oct 2015 07:28:00 GMT'

const s = suite('RFC 9111 §4 / issue 11: hits written below Koa are the Koa path’s bytes')

let origin: Server
let fast: Serving
let slow: Serving
let calls = 0
const messages: RequestMessage[] = []
const onMessage = (m: unknown) => messages.push(m as RequestMessage)

s.before(async () => {
  origin = createServer((req, res) => {
    calls++
    const path = (req.url ?? '/').split('?')[0]
    res.setHeader('Date', new Date(T).toUTCString())
    res.setHeader('Cache-Control', 'public, max-age=300')
    res.setHeader('Last-Modified', LAST_MODIFIED)
    if (path === '/typed') {
      res.setHeader('Content-Type', 'application/json; charset=utf-8')
      res.setHeader('ETag', '"v1"')
      res.setHeader('Vary', 'Accept-Encoding')
      res.setHeader('Link', ['</a.css>; rel=preload', '</b.js>; rel=preload'])
      res.setHeader('X-Product', '42')
      res.end(JSON.stringify({ id: 42, name: 'é'.repeat(40) }))
    } else if (path === '/untyped') {
      res.end('no content type here')
    } else if (path === '/chunked') {
      res.setHeader('Content-Type', 'text/plain')
      res.write('first part, ')
      setImmediate(() => res.end('second part'))
    } else if (path === '/empty') {
      res.setHeader('Content-Type', 'text/plain')
      res.end()
    } else if (path === '/no-content') {
      res.statusCode = 204
      res.end()
    } else if (path === '/authoritative') {
      res.statusCode = 203
      res.setHeader('Content-Type', 'text/plain')
      res.end('non-authoritative')
    } else {
      res.statusCode = 404
      res.end('none')
    }
  })
  await new Promise<void>((r) => origin.listen(0, '127.0.0.1', r))
  const upstream = `http://127.0.0.1:${(origin.address() as AddressInfo).port}`
  const clock = { now: () => T + elapsed }
  fast = await startServe({ upstream, port: 0, host: '127.0.0.1', clock })
  slow = await startServe({ upstream, port: 0, host: '127.0.0.1', clock, fastHits: false })
  subscribe('cachet:request', onMessage)
})

s.after(async () => {
  unsubscribe('cachet:request', onMessage)
  await fast.stop(0)
  await slow.stop(0)
  await new Promise((r) => origin.close(r))
})

/** One request on a fresh socket, the response as received, `Date` removed. */
function raw(url: string, head: string): Promise<string> {
  const { port } = new URL(url)
  return new Promise((resolve, reject) => {
    const sock = connect(Number(port), '127.0.0.1')
    const chunks: Buffer[] = []
    sock.on('data', (c: Buffer) => chunks.push(c))
    sock.once('error', reject)
    sock.once('end', () =>
      resolve(
        Buffer.concat(chunks)
          .toString('latin1')
          .replace(/\r\ndate: [^\r]*/gi, ''),
      ),
    )
    sock.write(head) // not end(): a client that half-closes has left (node:http aborts its request)
  })
}

function get(target: string, extra = '', method = 'GET', version = '1.1'): string {
  return `${method} ${target} HTTP/${version}\r\nHost: shop.example\r\n${extra}Connection: close\r\n\r\n`
}

async function both(head: string): Promise<string> {
  const a = await raw(fast.url, head)
  const b = await raw(slow.url, head)
  assert.is(a, b, head)
  return a
}

/** stores the entry on both servers (a miss each), waiting until a GET is a hit on both */
async function warm(target: string, extra = ''): Promise<void> {
  for (const srv of [fast, slow]) {
    await raw(srv.url, get(target, extra))
    await eventually(
      async () => /\r\nCache-Status: cachet; hit/.test(await raw(srv.url, get(target, extra))),
      `${target} stored`,
    )
  }
}

const rawHits = () => messages.filter((m) => m.ctx === undefined && m.outcome === 'hit').length

s('a GET hit: status line, every header in order, body: the same bytes, answered below Koa', async () => {
  await warm('/typed', 'Accept-Encoding: gzip\r\n')
  const before = rawHits()
  const r = await both(get('/typed', 'Accept-Encoding: gzip\r\n'))
  assert.ok(rawHits() > before, 'the fast server answered without a Koa context')
  assert.match(r, /^HTTP\/1\.1 200 OK\r\n/)
  assert.match(r, /\r\nCache-Status: cachet; hit; ttl=300\r\n/)
  assert.match(r, /\r\nAge: 0\r\n/)
  // stored field names go out lower-case, on both paths (field names are case-insensitive)
  assert.match(r, /\r\ncontent-type: application\/json; charset=utf-8\r\n/)
  assert.match(r, /\r\nlink: <\/a.css>; rel=preload, <\/b.js>; rel=preload\r\n/)
  assert.match(r, /\r\n\r\n\{"id":42,"name":"[^"]{80}"\}$/)
})

s('HEAD, HTTP/1.0, a query, another variant (a miss handed to Koa), Range (left to Koa)', async () => {
  await warm('/typed', 'Accept-Encoding: gzip\r\n')
  const head = await both(get('/typed', 'Accept-Encoding: gzip\r\n', 'HEAD'))
  assert.match(head, /\r\nContent-Length: \d+\r\n/)
  assert.ok(head.endsWith('\r\n\r\n'), 'no body')
  const old = await both(get('/typed', 'Accept-Encoding: gzip\r\n', 'GET', '1.0'))
  assert.match(old, /^HTTP\/1\.1 200 OK\r\n/)
  const range = await both(get('/typed', 'Accept-Encoding: gzip\r\nRange: bytes=0-4\r\n'))
  assert.match(range, /^HTTP\/1\.1 206 Partial Content\r\n[\s\S]*\r\n\r\n\{"id"$/)
  const other = await both(get('/typed', 'Accept-Encoding: br\r\n'))
  assert.match(other, /\r\nCache-Status: cachet; fwd=vary-miss/)
})

s('a 304 from a hit: If-None-Match, and If-Modified-Since', async () => {
  await warm('/typed', 'Accept-Encoding: gzip\r\n')
  const before = rawHits()
  const inm = await both(get('/typed', 'Accept-Encoding: gzip\r\nIf-None-Match: "v1"\r\n'))
  assert.match(inm, /^HTTP\/1\.1 304 Not Modified\r\n/)
  assert.not.match(inm, /Content-Length|Content-Type/)
  const ims = await both(get('/typed', `Accept-Encoding: gzip\r\nIf-Modified-Since: ${LAST_MODIFIED}\r\n`))
  assert.match(ims, /^HTTP\/1\.1 304 Not Modified\r\n/)
  const changed = await both(get('/typed', 'Accept-Encoding: gzip\r\nIf-None-Match: "v0"\r\n'))
  assert.match(changed, /^HTTP\/1\.1 200 OK\r\n/)
  assert.is(rawHits() - before, 3)
})

s('no Content-Type from the origin, a chunked origin, an empty body, a 203', async () => {
  for (const path of ['/untyped', '/chunked', '/empty', '/authoritative']) {
    await warm(path)
    const r = await both(get(path))
    assert.match(r, /\r\nCache-Status: cachet; hit/, path)
    assert.match(r, /\r\nContent-Length: \d+\r\n/, path)
  }
  // Koa's miss added application/octet-stream, and it was stored with the rest
  assert.match(await both(get('/untyped')), /\r\ncontent-type: application\/octet-stream\r\n/)
  assert.match(await both(get('/chunked')), /\r\n\r\nfirst part, second part$/)
  assert.match(await both(get('/authoritative')), /^HTTP\/1\.1 203 Non-Authoritative Information\r\n/)
})

s('a 204 (no body: left to Koa) is still the same answer', async () => {
  await warm('/no-content')
  const r = await both(get('/no-content'))
  assert.match(r, /^HTTP\/1\.1 204 No Content\r\n/)
})

s(
  'what is not a plain request is left to Koa, with the same answer: a Connection-named field, a fat GET, two Hosts',
  async () => {
    await warm('/typed', 'Accept-Encoding: gzip\r\n')
    const named = await both(get('/typed', 'Accept-Encoding: gzip\r\nX-Drop: 1\r\nConnection: X-Drop\r\n'))
    assert.match(named, /\r\nCache-Status: cachet; hit/)
    const fat = await both(
      `GET /typed HTTP/1.1\r\nHost: shop.example\r\nContent-Length: 3\r\nConnection: close\r\n\r\nabc`,
    )
    assert.match(fat, /^HTTP\/1\.1 400 Bad Request\r\n/)
    const hosts = await both(
      `GET /typed HTTP/1.1\r\nHost: shop.example\r\nHost: evil.example\r\nConnection: close\r\n\r\n`,
    )
    assert.match(hosts, /^HTTP\/1\.1 400 Bad Request\r\n/)
  },
)

s(
  'Age and Cache-Status follow the clock from one hit to the next (the raw path keeps their tuples a second at most)',
  async () => {
    await warm('/typed', 'Accept-Encoding: gzip\r\n')
    const at = (r: string) => [
      /\r\nAge: (\d+)\r\n/.exec(r)?.[1],
      /\r\nCache-Status: ([^\r]*)\r\n/.exec(r)?.[1],
    ]
    const start = elapsed
    try {
      const seen: (string | undefined)[][] = []
      for (const ms of [0, 400, 1000, 1999, 61_500]) {
        elapsed = start + ms
        seen.push(at(await both(get('/typed', 'Accept-Encoding: gzip\r\n'))))
      }
      const age0 = Number(seen[0]![0])
      const ttl0 = Number(/ttl=(\d+)/.exec(seen[0]![1]!)![1])
      assert.equal(
        seen,
        [0, 400, 1000, 1999, 61_500].map((ms) => {
          // entries are stored at T + start: Age counts whole seconds since then, ttl counts down
          const age = age0 + Math.floor(ms / 1000)
          return [String(age), `cachet; hit; ttl=${ttl0 - Math.ceil(ms / 1000)}`]
        }),
      )
    } finally {
      elapsed = start
    }
  },
)

s('the two servers counted alike: hits, misses, bytes served, store reads', async () => {
  const a = fast.cache.stats()
  const b = slow.cache.stats()
  const counts = (r: (typeof a.rules)[number]) => ({ ...r, file: '' })
  assert.equal(a.rules.map(counts), b.rules.map(counts), 'outcomes, bytes served, stored, per rule')
  assert.ok(a.rules[0]!.outcomes.hit > 10)
  assert.is(a.store.read.count, b.store.read.count, 'one store read per request on both')
  assert.is(a.unmatched, b.unmatched)
  assert.ok(calls > 0)
})

s.run()

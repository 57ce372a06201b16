/**
 * Issue 12, item 11 (the admin endpoint): it let one client guess tokens without limit (3,000
 * guesses in 2.2 s), reset the connection on a body over 64 KB instead of answering 413, and
 * held a body dribbled byte by byte for as long as the client cared to send it.
 *
 * What must hold, over real HTTP: after `maxFailures` wrong tokens from one address, that address
 * gets `429` with `Retry-After` (the right token too) until the lockout ends, then the right token
 * works again, and each further lockout is longer; other addresses and right tokens are never
 * limited; the table of addresses is bounded. A body over the limit gets a `413` status line
 * (announced by Content-Length or found while reading a chunked one), a body slower than
 * `bodyTimeoutMs` a `408`, and both close the connection.
 */
import { request as httpRequest } from 'node:http'
import { connect } from 'node:net'
import Koa from 'koa'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import type { AdminOptions } from '../../src/admin/options.js'
import { type Cache, createCache } from '../../src/create-cache.js'
import { AuthFailures, clientKey } from '../../src/generation/auth-failures.js'
import { type Listening, listen } from '../helpers/http.js'
import { policyDir, yaml } from '../helpers/policies.js'

const TOKEN = 's3cret-admin-token-of-some-length'
const PATH = '/_cachet/purge'
const POLICY = yaml(`
  version: 1
  rules:
    - id: all
      match: /**
      ttl: 1m
`)

interface Admin {
  cache: Cache
  srv: Listening
  clock: { now(): number; advance(ms: number): void }
}

const test = suite('regression: abusive clients of the admin endpoint (issue 12.11)')
const open: Admin[] = []
test.after.each(async () => {
  for (const a of open.splice(0)) {
    await a.srv.close()
    await a.cache.close()
  }
})

async function start(o: Omit<AdminOptions, 'token'> = {}): Promise<Admin> {
  let t = Date.now()
  const clock = {
    now: () => t,
    advance: (ms: number) => {
      t += ms
    },
  }
  const cache = await createCache({ policies: policyDir(POLICY), store: 'memory' })
  const app = new Koa()
  app.use(cache.admin({ token: TOKEN, clock, ...o }))
  app.use(cache.middleware())
  app.use((ctx) => {
    ctx.body = 'app'
  })
  const a = { cache, srv: await listen(app), clock }
  open.push(a)
  return a
}

interface Got {
  status: number
  headers: Record<string, string | string[] | undefined>
  body: string
}

/** POST to the endpoint from `from` (a loopback address: the whole 127/8 is this host's). */
function post(a: Admin, token: string, o: { from?: string; body?: string } = {}): Promise<Got> {
  const body = o.body ?? '{"tags":["t"]}'
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      {
        host: '127.0.0.1',
        port: a.srv.port,
        method: 'POST',
        path: PATH,
        agent: false,
        localAddress: o.from ?? '127.0.0.1',
        headers: {
          authorization: `Bearer ${token}`,
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(body),
        },
      },
      (res) => {
        let text = ''
        res.setEncoding('utf8')
        res.on('data', (c: string) => {
          text += c
        })
        res.once('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text }))
      },
    )
    req.once('error', reject)
    req.end(body)
  })
}

/** Raw bytes on one connection; resolves with all the server wrote once it closed the connection. */
function raw(a: Admin, write: (s: import('node:net').Socket) => void): Promise<string> {
  return new Promise((resolve) => {
    const s = connect(a.srv.port, '127.0.0.1')
    let got = ''
    s.setEncoding('latin1')
    s.on('data', (c: string) => {
      got += c
    })
    s.on('error', () => {}) // EPIPE or ECONNRESET while still sending a body the server refused
    s.once('close', () => resolve(got))
    s.once('connect', () => write(s))
  })
}

const head = (extra: string) =>
  `POST ${PATH} HTTP/1.1\r\nHost: admin.test\r\nAuthorization: Bearer ${TOKEN}\r\n${extra}\r\n`
const purges = (a: Admin) => a.cache.metrics().purges

test('after 10 wrong tokens the address gets 429 with Retry-After, the right token too, until the lockout ends', async () => {
  const a = await start()
  for (let i = 0; i < 10; i++) {
    const r = await post(a, `wrong-guess-number-${i}-xxxxxxxx`)
    assert.is(r.status, 403, `guess ${i + 1}`)
  }
  const locked = await post(a, TOKEN)
  assert.is(locked.status, 429, 'the right token, from the locked-out address')
  assert.is(locked.headers['retry-after'], '60')
  assert.is(locked.headers['cache-control'], 'no-store')
  assert.type(JSON.parse(locked.body).error, 'string')
  assert.is(purges(a), 0, 'nothing purged while locked out')
  a.clock.advance(30_000)
  assert.is((await post(a, TOKEN)).headers['retry-after'], '30', 'Retry-After counts down')
  // another address is not affected
  assert.is((await post(a, TOKEN, { from: '127.0.0.2' })).status, 200)
  a.clock.advance(30_000)
  const after = await post(a, TOKEN)
  assert.is(after.status, 200, 'the right token works again once the lockout is over')
  assert.is(JSON.parse(after.body).ok, true)
  // the next lockout of the same address lasts twice as long
  for (let i = 0; i < 10; i++) assert.is((await post(a, 'another-wrong-guess-xxxxxxxx')).status, 403)
  assert.is((await post(a, TOKEN)).headers['retry-after'], '120')
})

test('right tokens are never limited nor reset the count; the limit and lockout are options', async () => {
  const a = await start({ maxFailures: 3, lockoutMs: 5000 })
  assert.is((await post(a, 'wrong-guess-xxxxxxxxxxxx')).status, 403)
  assert.is((await post(a, 'wrong-guess-xxxxxxxxxxxx')).status, 403)
  for (let i = 0; i < 30; i++) assert.is((await post(a, TOKEN)).status, 200, `right token ${i + 1}`)
  assert.is((await post(a, 'wrong-guess-xxxxxxxxxxxx')).status, 403)
  const r = await post(a, TOKEN)
  assert.is(r.status, 429, 'three wrong tokens in all, right ones between them')
  assert.is(r.headers['retry-after'], '5')
  assert.is(purges(a), 30)
})

test('missing or malformed credentials are not guesses: they never lock the address out', async () => {
  const a = await start({ maxFailures: 2 })
  for (let i = 0; i < 5; i++) {
    const r = await new Promise<number>((resolve, reject) => {
      httpRequest(
        { host: '127.0.0.1', port: a.srv.port, method: 'POST', path: PATH, agent: false },
        (res) => {
          res.resume()
          resolve(res.statusCode ?? 0)
        },
      )
        .once('error', reject)
        .end()
    })
    assert.is(r, 401)
  }
  assert.is((await post(a, TOKEN)).status, 200)
})

test('the table of addresses is bounded, IPv6 counted by /64, IPv4-mapped as IPv4', () => {
  let t = 0
  const f = new AuthFailures({ maxFailures: 1, lockoutMs: 1000, maxClients: 100, clock: { now: () => t } })
  for (let i = 0; i < 5000; i++) f.fail(`10.0.${i >> 8}.${i & 255}`)
  assert.is(f.size, 100)
  assert.ok(f.lockedFor('10.0.19.135') > 0, 'the most recent failures are kept')
  assert.is(f.lockedFor('10.0.0.0'), 0, 'the oldest are forgotten')
  assert.is(clientKey('2001:db8:1:2::1'), '2001:db8:1:2::/64')
  assert.is(clientKey('2001:0db8:0001:0002:ffff:0:0:7'), '2001:db8:1:2::/64')
  assert.is(clientKey('::1'), '0:0:0:0::/64')
  assert.is(clientKey('fe80::1%eth0'), 'fe80:0:0:0::/64')
  assert.is(clientKey('::ffff:192.0.2.7'), '192.0.2.7')
  assert.is(clientKey('192.0.2.7'), '192.0.2.7')
  f.fail('2001:db8:1:2::1')
  assert.ok(
    f.lockedFor('2001:db8:1:2:aaaa:bbbb:cccc:dddd') > 0,
    'another address of the same /64 is locked out too',
  )
  t += 1000
  assert.is(f.lockedFor('2001:db8:1:2::1'), 0)
})

test('a body announced larger than 64 KB: a 413 status line, nothing purged, the connection closed', async () => {
  const a = await start()
  const body = JSON.stringify({ tags: ['x'.repeat(70_000)] })
  const got = await raw(a, (s) => {
    s.write(head(`Content-Type: application/json\r\nContent-Length: ${body.length}\r\n`))
    s.write(body)
  })
  assert.match(got, /^HTTP\/1\.1 413 Content Too Large\r\n/)
  assert.match(got, /\r\nConnection: close\r\n/i)
  assert.match(got, /\r\nCache-Control: no-store\r\n/i)
  assert.is(purges(a), 0)
})

test('a chunked body that grows past 64 KB: 413 once the limit is passed, the rest never read', async () => {
  const a = await start()
  const chunk = 'x'.repeat(16_384)
  const got = await raw(a, (s) => {
    s.write(head('Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n'))
    s.write(`1\r\n[\r\n`)
    // keeps sending until the server closes: a body with no end
    const t = setInterval(() => {
      if (s.writable) s.write(`${chunk.length.toString(16)}\r\n${chunk}\r\n`)
      else clearInterval(t)
    }, 2)
    s.once('close', () => clearInterval(t))
  })
  assert.match(got, /^HTTP\/1\.1 413 Content Too Large\r\n/)
  assert.is(purges(a), 0)
})

test('a body of exactly the limit is read and purges', async () => {
  const a = await start({ maxBodyBytes: 1000 })
  const json = '{"tags":["t"]}'
  const ok = await post(a, TOKEN, { body: json + ' '.repeat(1000 - json.length) })
  assert.is(ok.status, 200)
  const over = await post(a, TOKEN, { body: json + ' '.repeat(1001 - json.length) }).catch((e: Error) => e)
  assert.ok(!(over instanceof Error), `a 413 answer, not ${String(over)}`)
  assert.is((over as Got).status, 413)
})

test('a body dribbled slower than bodyTimeoutMs: a 408 status line and the connection closed', async () => {
  const a = await start({ bodyTimeoutMs: 300 })
  const got = await raw(a, (s) => {
    s.write(head('Content-Type: application/json\r\nContent-Length: 100\r\n'))
    s.write('{"tags":')
    const t = setInterval(() => {
      if (s.writable) s.write(' ')
      else clearInterval(t)
    }, 50)
    s.once('close', () => clearInterval(t))
  })
  assert.match(got, /^HTTP\/1\.1 408 Request Timeout\r\n/)
  assert.match(got, /\r\nConnection: close\r\n/i)
  assert.is(purges(a), 0)
})

test('a refusal before the body (401, 403, 429) closes the connection instead of reading the body', async () => {
  const a = await start({ maxFailures: 1 })
  const body = 'x'.repeat(1 << 20)
  for (const [auth, status] of [
    ['', 401],
    ['Bearer wrong-guess-xxxxxxxxxx', 403],
    [`Bearer ${TOKEN}`, 429],
  ] as const) {
    const got = await raw(a, (s) => {
      s.write(
        `POST ${PATH} HTTP/1.1\r\nHost: admin.test\r\n${auth ? `Authorization: ${auth}\r\n` : ''}Content-Length: ${body.length}\r\n\r\n`,
      )
      s.write(body)
    })
    assert.match(got, new RegExp(`^HTTP/1\\.1 ${status} `), `${status}`)
    assert.match(got, /\r\nConnection: close\r\n/i)
  }
})

test.run()

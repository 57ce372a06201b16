/**
 * `cachet serve` as a real proxy (issue 8, item 9): protocol upgrades (RFC 9110 §7.8) tunnelled,
 * `Expect: 100-continue` (RFC 9110 §10.1.1) answered end to end, `--help` and `--version`.
 * A real WebSocket client (`ws`) talks to a real WebSocket upstream through a listening proxy.
 */
import { readFileSync } from 'node:fs'
import { createServer, type IncomingMessage, request, type Server } from 'node:http'
import { connect } from 'node:net'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import WebSocket, { WebSocketServer } from 'ws'
import { EXIT_OK } from '../../src/cli/io.js'
import { cli } from '../../src/cli/main.js'
import { type Serving, startServe } from '../../src/cli/serve.js'
import { runCli } from '../helpers/cli.js'
import { send } from './harness.js'

const test = suite('conformance: upgrades and expectations through cachet serve (RFC 9110 §7.8, §10.1.1)')

interface Upstream {
  url: string
  /** request heads the upstream saw, upgrades and plain requests alike */
  seen: IncomingMessage['headers'][]
  paths: string[]
  close(): Promise<void>
}

/**
 * An origin with a WebSocket echo on /chat (refusing /forbidden with 403), plain cacheable
 * answers elsewhere, and its own handling of `Expect: 100-continue`: /expect-ok says 100 and then
 * echoes the body, /expect-refuse answers 413 without reading it.
 */
async function upstream(): Promise<Upstream> {
  const seen: IncomingMessage['headers'][] = []
  const paths: string[] = []
  const server: Server = createServer((req, res) => {
    seen.push(req.headers)
    paths.push(req.url ?? '')
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      res.writeHead(200, { 'cache-control': 'max-age=60', 'content-type': 'text/plain' })
      res.end(`plain ${req.url} ${Buffer.concat(chunks).toString()}`)
    })
  })
  server.on('checkContinue', (req, res) => {
    seen.push(req.headers)
    paths.push(req.url ?? '')
    if (req.url === '/expect-refuse') {
      res.writeHead(413, { 'content-type': 'text/plain', connection: 'close' })
      res.end('too large')
      return
    }
    res.writeContinue()
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      res.writeHead(201, { 'content-type': 'text/plain' })
      res.end(`got ${Buffer.concat(chunks).toString()}`)
    })
  })
  const wss = new WebSocketServer({ noServer: true })
  server.on('upgrade', (req, socket, head) => {
    seen.push(req.headers)
    paths.push(req.url ?? '')
    if (req.url === '/forbidden') {
      socket.end('HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain\r\nContent-Length: 6\r\n\r\nno way')
      return
    }
    wss.handleUpgrade(req, socket, head, (ws) => {
      ws.on('message', (data, binary) => ws.send(binary ? data : `echo: ${data.toString()}`))
    })
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  const addr = server.address() as { port: number }
  return {
    url: `http://127.0.0.1:${addr.port}`,
    seen,
    paths,
    close: () =>
      new Promise<void>((r) => {
        for (const c of wss.clients) c.terminate()
        server.closeAllConnections()
        server.close(() => r())
      }),
  }
}

const opened: { serving?: Serving; up?: Upstream }[] = []
test.after.each(async () => {
  for (const o of opened.splice(0)) {
    await o.serving?.stop(500)
    await o.up?.close()
  }
})

async function setup(): Promise<{ up: Upstream; serving: Serving; wsUrl: string }> {
  const up = await upstream()
  const serving = await startServe({ upstream: up.url, port: 0, host: '127.0.0.1' })
  opened.push({ serving, up })
  return { up, serving, wsUrl: serving.url.replace('http:', 'ws:') }
}

/** Opens a WebSocket; resolves with it once open, or with the HTTP answer that refused it. */
function open(url: string): Promise<{ ws?: WebSocket; status?: number; body?: string }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url)
    ws.once('open', () => resolve({ ws }))
    ws.once('unexpected-response', (_req, res) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (c: string) => {
        body += c
      })
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }))
      res.on('error', () => resolve({ status: res.statusCode ?? 0, body }))
    })
    ws.once('error', (err) => {
      if (!/Unexpected server response/.test(err.message)) reject(err)
    })
  })
}

function next(ws: WebSocket): Promise<{ data: string; binary: boolean }> {
  return new Promise((resolve) =>
    ws.once('message', (data, binary) => resolve({ data: data.toString(), binary })),
  )
}

test('RFC 9110 §7.8: a WebSocket upgrade is tunnelled both ways, text and binary, with the forwarding fields', async () => {
  const { up, wsUrl } = await setup()
  const { ws } = await open(`${wsUrl}/chat?room=1`)
  assert.ok(ws, 'the upgrade went through: 101 reached the client')
  ws.send('hello')
  assert.equal(await next(ws), { data: 'echo: hello', binary: false })
  ws.send(Buffer.from([1, 2, 3]))
  const bin = await next(ws)
  assert.equal(bin.binary, true)
  // and many messages after the upgrade, in order
  const got: string[] = []
  const all = new Promise<void>((r) =>
    ws.on('message', (d) => {
      got.push(d.toString())
      if (got.length === 50) r()
    }),
  )
  for (let i = 0; i < 50; i++) ws.send(`m${i}`)
  await all
  assert.equal(
    got,
    Array.from({ length: 50 }, (_, i) => `echo: m${i}`),
  )
  ws.close()
  assert.equal(up.paths, ['/chat?room=1'])
  const h = up.seen[0]!
  assert.equal(h.upgrade, 'websocket')
  assert.match(String(h.connection), /upgrade/i)
  assert.ok(h['sec-websocket-key'], 'the handshake fields go through')
  assert.equal(h['x-forwarded-for'], '127.0.0.1')
  assert.equal(h['x-forwarded-proto'], 'http')
})

test('RFC 9110 §7.8: an upstream that refuses the upgrade: its answer reaches the client', async () => {
  const { wsUrl } = await setup()
  const r = await open(`${wsUrl}/forbidden`)
  assert.equal(r.ws, undefined)
  assert.equal(r.status, 403)
  assert.equal(r.body, 'no way')
})

test('RFC 9110 §7.8: an upstream that cannot be reached: 502 to the upgrading client', async () => {
  const { up, serving } = await setup()
  await up.close()
  const r = await open(`${serving.url.replace('http:', 'ws:')}/chat`)
  assert.equal(r.status, 502)
})

test('RFC 9110 §7.8: closing either side closes the other', async () => {
  const { wsUrl } = await setup()
  const { ws } = await open(`${wsUrl}/chat`)
  assert.ok(ws)
  const closed = new Promise<number>((r) => ws.once('close', (code) => r(code)))
  ws.close(1000, 'bye')
  assert.equal(await closed, 1000)
})

test('RFC 9110 §7.8: an upgrade to anything but websocket (h2c) is ignored: served, and cached, as a plain request', async () => {
  const { up, serving } = await setup()
  const headers = {
    connection: 'Upgrade, HTTP2-Settings',
    upgrade: 'h2c',
    'http2-settings': 'AAMAAABkAAQCAAAAAAIAAAAA',
  }
  const a = await send(serving.url, '/page', { headers })
  assert.equal(a.status, 200)
  assert.equal(a.body, 'plain /page ')
  assert.equal(a.headers.upgrade, undefined)
  const b = await send(serving.url, '/page', { headers })
  assert.equal(b.status, 200)
  assert.match(String(b.headers['cache-status']), /; hit/)
  assert.equal(up.paths, ['/page'], 'the second was a hit')
  assert.equal(up.seen[0]!.upgrade, undefined, 'the upstream never saw the upgrade')
  assert.equal(up.seen[0]!['http2-settings'], undefined, 'nor the field its Connection named')
})

test('RFC 9112 §6.3 (smuggling): a WebSocket upgrade carrying a body is refused with 400, the upstream sees nothing', async () => {
  const { up, serving } = await setup()
  const port = new URL(serving.url).port
  const raw = await new Promise<string>((resolve) => {
    const s = connect(Number(port), '127.0.0.1')
    let got = ''
    s.setEncoding('latin1')
    s.on('data', (c: string) => {
      got += c
    })
    s.on('close', () => resolve(got))
    s.on('error', () => resolve(got))
    s.write(
      'GET /chat HTTP/1.1\r\nHost: shop.example\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n' +
        'Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nContent-Length: 44\r\n\r\n' +
        'GET /poison HTTP/1.1\r\nHost: shop.example\r\n\r\n',
    )
  })
  assert.match(raw, /^HTTP\/1\.1 400 /)
  assert.equal(up.paths, [])
})

/** A request with `Expect: 100-continue` that sends its body only once told to continue. */
function expecting(
  base: string,
  path: string,
  body: string,
): Promise<{ continues: number; status: number; body: string; sentBody: boolean }> {
  return new Promise((resolve, reject) => {
    let continues = 0
    let sentBody = false
    const req = request(`${base}${path}`, {
      method: 'POST',
      headers: {
        expect: '100-continue',
        'content-length': Buffer.byteLength(body),
        'content-type': 'text/plain',
      },
    })
    req.on('information', (info) => {
      if (info.statusCode === 100) continues++
    })
    req.on('continue', () => {
      sentBody = true
      req.end(body)
    })
    req.on('response', (res) => {
      let text = ''
      res.setEncoding('utf8')
      res.on('data', (c: string) => {
        text += c
      })
      res.on('end', () => {
        resolve({ continues, status: res.statusCode ?? 0, body: text, sentBody })
        if (!sentBody) req.destroy()
      })
    })
    req.on('error', (err) => {
      if (!sentBody && (err as NodeJS.ErrnoException).code === 'ECONNRESET') return
      reject(err)
    })
    req.flushHeaders()
  })
}

test('at --max-connections, an open WebSocket tunnel is never closed to make room: idle connections are', async () => {
  const up = await upstream()
  const serving = await startServe({ upstream: up.url, port: 0, host: '127.0.0.1', maxConnections: 2 })
  opened.push({ serving, up })
  const { ws } = await open(`${serving.url.replace('http:', 'ws:')}/chat`)
  assert.ok(ws, 'the tunnel opened')
  // the tunnel is the oldest connection: before it was held, each new one closed it
  const port = Number(new URL(serving.url).port)
  for (let i = 0; i < 3; i++) {
    const idle = connect(port, '127.0.0.1')
    await new Promise<void>((r) => idle.once('connect', () => r()))
    const r = await send(serving.url, `/plain-${i}`)
    assert.is(r.status, 200, `request ${i} answered`)
    idle.destroy()
  }
  assert.is(ws.readyState, WebSocket.OPEN, 'the tunnel is still open')
  ws.send('still there')
  assert.equal(await next(ws), { data: 'echo: still there', binary: false })
  ws.close()
})

test('RFC 9110 §10.1.1: Expect: 100-continue goes to the upstream, whose one 100 reaches the client, then the body', async () => {
  const { up, serving } = await setup()
  const r = await expecting(serving.url, '/expect-ok', 'the payload')
  assert.equal(r, { continues: 1, status: 201, body: 'got the payload', sentBody: true })
  assert.equal(up.seen[0]!.expect, '100-continue')
})

test('RFC 9110 §10.1.1: an upstream that answers at once (413): the client gets it without a 100 and never sends the body', async () => {
  const { serving } = await setup()
  const r = await expecting(serving.url, '/expect-refuse', 'x'.repeat(1000))
  assert.equal(r.status, 413)
  assert.equal(r.continues, 0)
  assert.equal(r.sentBody, false)
  assert.equal(r.body, 'too large')
})

test('RFC 9110 §10.1.1: an expectation other than 100-continue: 417', async () => {
  const { up, serving } = await setup()
  const a = await send(serving.url, '/x', { method: 'POST', headers: { expect: 'teapot' }, body: 'b' })
  assert.equal(a.status, 417)
  assert.equal(up.paths, [])
})

test('cachet --version and cachet serve --version print the package version', async () => {
  const { version } = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8'))
  for (const argv of [['--version'], ['-v'], ['serve', '--version']]) {
    const r = await runCli(cli, argv, { env: {} })
    assert.equal(r.code, EXIT_OK, argv.join(' '))
    assert.equal(r.out + r.err, `cachet ${version}\n`, argv.join(' '))
  }
})

test('cachet serve --help lists every option it parses and the signals it obeys', async () => {
  const r = await runCli(cli, ['serve', '--help'], { env: {} })
  assert.equal(r.code, EXIT_OK)
  const text = r.out + r.err
  const src = readFileSync(new URL('../../src/cli/serve.ts', import.meta.url), 'utf8')
  const parsed = src.match(/options: \{([\s\S]*?)help:/)
  assert.ok(parsed, 'the parseArgs options in serve.ts')
  const flags = [...parsed[1]!.matchAll(/'([a-z-]+)':|\n\s+([a-z]+):/g)].map((m) => m[1] ?? m[2])
  assert.ok(flags.length > 10, `flags found: ${flags.join(' ')}`)
  for (const f of flags) assert.ok(text.includes(`--${f}`), `--help names --${f}`)
  for (const s of ['SIGHUP', 'SIGTERM', 'SIGINT']) assert.ok(text.includes(s), `--help names ${s}`)
})

test.run()

/**
 * The conformance harness: `cachet serve` (the real reverse proxy, on the memory store) in front of
 * a scripted origin (../helpers/scripted-origin.ts), an injected clock that a test advances by
 * hand (entries age by it, so nothing ever sleeps for a lifetime to pass), and an HTTP client that
 * records informational responses and cut bodies instead of hiding them.
 *
 * Each test builds its own `Env` (fresh origin, numbering from 1, fresh cache) and closes it.
 */

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { type Serving, startServe } from '../../src/cli/serve.js'
import { variantKey, varyValues } from '../../src/key/variant.js'
import { decodeEntry, type Entry } from '../../src/request/entry.js'
import { eventually } from '../helpers/http.js'
import { type ScriptedOrigin, startScriptedOrigin } from '../helpers/scripted-origin.js'

export { eventually } from '../helpers/http.js'
export { type Gate, gate, type Received, type Reply } from '../helpers/scripted-origin.js'

/** A clock the test moves; starts at the wall clock so origin `Date` headers stay plausible. */
export interface TestClock {
  now(): number
  /** moves time forward by `seconds` */
  advance(seconds: number): void
}

export function testClock(): TestClock {
  let t = Date.now()
  return {
    now: () => t,
    advance: (s) => {
      t += s * 1000
    },
  }
}

export interface SendOptions {
  method?: string
  /** request headers; an array value is sent as several field lines */
  headers?: Record<string, string | readonly string[]>
  body?: string | Buffer
  /** the Host header; default `127.0.0.1:PORT` (what node:http sends) */
  host?: string
}

export interface Answer {
  readonly status: number
  readonly statusMessage: string
  /** lower-case names; node:http's joining of repeated fields */
  readonly headers: IncomingHttpHeaders
  readonly rawHeaders: readonly string[]
  readonly body: string
  readonly bytes: Buffer
  /** false when the connection ended before the whole body arrived */
  readonly complete: boolean
  /** informational (1xx) responses received before the final one */
  readonly informational: readonly { status: number; headers: IncomingHttpHeaders }[]
}

/** One request on a fresh connection (`Connection: close`), target sent as written. */
export function send(base: string, target: string, o: SendOptions = {}): Promise<Answer> {
  const u = new URL(base)
  const headers: Record<string, string | string[]> = {}
  for (const [k, v] of Object.entries(o.headers ?? {})) headers[k] = typeof v === 'string' ? v : [...v]
  if (o.host !== undefined) headers.host = o.host
  if (
    o.body !== undefined &&
    !Object.keys(headers).some((k) => /^(content-length|transfer-encoding)$/i.test(k))
  ) {
    headers['content-length'] = String(Buffer.byteLength(o.body))
  }
  return new Promise((resolve, reject) => {
    const informational: { status: number; headers: IncomingHttpHeaders }[] = []
    const req = httpRequest(
      {
        host: u.hostname,
        port: Number(u.port),
        method: o.method ?? 'GET',
        path: target,
        headers,
        agent: false,
      },
      (res) => {
        const chunks: Buffer[] = []
        let settled = false
        const finish = () => {
          if (settled) return
          settled = true
          const bytes = Buffer.concat(chunks)
          resolve({
            status: res.statusCode ?? 0,
            statusMessage: res.statusMessage ?? '',
            headers: res.headers,
            rawHeaders: res.rawHeaders,
            body: bytes.toString('utf8'),
            bytes,
            complete: res.complete,
            informational,
          })
        }
        res.on('data', (c: Buffer) => chunks.push(c))
        res.once('end', finish)
        res.once('error', finish)
        res.once('close', finish)
      },
    )
    req.on('information', (info) => informational.push({ status: info.statusCode, headers: info.headers }))
    req.once('error', reject)
    req.end(o.body)
  })
}

export interface EnvOptions {
  /** policy YAML (written to a temp folder); default: `cachet serve`'s plain RFC 9111 shared cache */
  policies?: string
  /** the proxy's upstream deadline (ms) */
  timeoutMs?: number
  name?: string
  /** `cachet serve --targeted` (plain cache only) */
  targeted?: readonly string[]
}

export interface Env {
  readonly origin: ScriptedOrigin
  readonly serving: Serving
  /** the proxy, `http://127.0.0.1:PORT` */
  readonly url: string
  /** the Host header clients send by default */
  readonly host: string
  readonly clock: TestClock
  /** a request through the proxy */
  send(target: string, o?: SendOptions): Promise<Answer>
  /** the stored GET entry (following a Vary index) for `target` as a client with these headers would get it */
  entry(target: string, headers?: Record<string, string>): Promise<Entry | undefined>
  /** resolves once that entry exists and satisfies `ok` (store writes happen after the response) */
  waitStored(target: string, headers?: Record<string, string>, ok?: (e: Entry) => boolean): Promise<Entry>
  close(): Promise<void>
}

export async function setup(o: EnvOptions = {}): Promise<Env> {
  const origin = await startScriptedOrigin()
  const clock = testClock()
  let dir: string | undefined
  if (o.policies !== undefined) {
    dir = mkdtempSync(join(tmpdir(), 'cachet-conformance-'))
    writeFileSync(join(dir, 'policy.yaml'), o.policies)
  }
  let serving: Serving
  try {
    serving = await startServe({
      upstream: origin.url,
      port: 0,
      host: '127.0.0.1',
      clock,
      ...(dir !== undefined ? { policies: dir } : {}),
      ...(o.timeoutMs !== undefined ? { timeoutMs: o.timeoutMs } : {}),
      ...(o.name !== undefined ? { name: o.name } : {}),
      ...(o.targeted !== undefined ? { targeted: o.targeted } : {}),
    })
  } catch (err) {
    // a refused start must not leave the origin listening
    await origin.close()
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true })
    throw err
  }
  const url = serving.url
  const host = new URL(url).host
  const cache = serving.cache

  async function entry(target: string, headers: Record<string, string> = {}): Promise<Entry | undefined> {
    const lower: Record<string, string> = {}
    for (const [k, v] of Object.entries(headers)) lower[k.toLowerCase()] = v
    const key = cache.explain({ method: 'GET', url: target, headers: { host, ...lower } }).key
    if (key === null) throw new Error(`GET ${target} is not looked up in the cache (explain gives no key)`)
    const buf = await cache.store.get(key)
    const e = buf === undefined ? undefined : decodeEntry(buf)
    if (e === undefined || e.kind === 'response') return e
    const names = e.varyNames ?? []
    const at = (unordered: readonly string[]) =>
      cache.store.get(
        variantKey(
          key,
          varyValues(names, (n) => lower[n] ?? '', unordered),
        ),
      )
    // the variant as the rule compares it: in order, or (key.varyUnordered) with sorted members
    const vbuf = (await at([])) ?? (await at(names))
    return vbuf === undefined ? undefined : decodeEntry(vbuf)
  }

  let closing: Promise<void> | undefined
  return {
    origin,
    serving,
    url,
    host,
    clock,
    send: (target, so) => send(url, target, so),
    entry,
    async waitStored(target, headers, ok = () => true) {
      let found: Entry | undefined
      await eventually(async () => {
        const e = await entry(target, headers)
        if (e !== undefined && ok(e)) {
          found = e
          return true
        }
        return false
      }, `entry for GET ${target} stored`)
      return found!
    },
    close() {
      closing ??= (async () => {
        await serving.stop(1000)
        await origin.close()
        if (dir !== undefined) rmSync(dir, { recursive: true, force: true })
      })()
      return closing
    },
  }
}

/** A stored entry's header value (entries keep lower-case names). */
export function storedHeader(e: Entry, name: string): string | undefined {
  for (let i = 0; i < e.headers.length; i += 2) {
    if (e.headers[i] === name) {
      const v = e.headers[i + 1]
      return Array.isArray(v) ? v.join(', ') : String(v)
    }
  }
  return undefined
}

/**
 * Tracks the envs a suite opened so `after.each` closes them even when a test failed midway.
 */
export function envs(): { start(o?: EnvOptions): Promise<Env>; closeAll(): Promise<void> } {
  const open: Env[] = []
  return {
    async start(o) {
      const e = await setup(o)
      open.push(e)
      return e
    },
    async closeAll() {
      await Promise.all(open.splice(0).map((e) => e.close()))
    },
  }
}

/** Cache-Status `ttl=` of an answer (NaN when absent). */
export function statusTtl(a: Answer): number {
  const m = /;\s*ttl=(-?\d+)/.exec(String(a.headers['cache-status'] ?? ''))
  return m ? Number(m[1]) : NaN
}

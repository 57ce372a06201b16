/**
 * What the HTTP bench (bench/http.ts) serves and how it looks at it: the product document, the
 * node:http floor and the origin behind the proxies (the same preallocated body and headers),
 * the Koa application the middleware variants wrap, and a one-shot probe.
 */
import { mkdtempSync, writeFileSync } from 'node:fs'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Koa from 'koa'
import type { Cache } from '../src/index.js'

/** A product document of about 1 KB, serialised once: the origin does no per-request work. */
export function productBody(): string {
  const doc = {
    id: 42,
    sku: 'CHT-0042-BLU-M',
    name: 'Cachet field jacket, blue, medium',
    brand: 'Cachet Outdoor',
    price: { amount: 12900, currency: 'EUR', vatIncluded: true },
    availability: { status: 'in_stock', quantity: 17, warehouse: 'AMS-2' },
    categories: ['outerwear', 'jackets', 'rain'],
    attributes: {
      colour: 'blue',
      size: 'M',
      material: '3-layer recycled nylon',
      weightGrams: 540,
      waterproofMm: 20000,
    },
    description:
      'A light, fully taped three-layer shell for wet city commutes and long days on the trail: ' +
      'pit zips, a helmet-compatible hood and two chest pockets that stay reachable under a hip belt.',
    images: [
      { url: '/img/products/42/front.jpg', width: 1200, height: 1600, alt: 'front' },
      { url: '/img/products/42/back.jpg', width: 1200, height: 1600, alt: 'back' },
      { url: '/img/products/42/detail.jpg', width: 1200, height: 1200, alt: 'hood detail' },
    ],
    rating: { average: 4.6, count: 318 },
    related: [17, 23, 108, 311],
    updatedAt: '2025-01-15T09:30:00.000Z',
  }
  return JSON.stringify(doc)
}

export const PATH = '/products/42'

export const POLICY = `version: 1
rules:
  - id: product
    match: /products/*
    ttl: 5m
`

/** The headers every origin here sends with the product, as a real product API would. */
const ORIGIN_HEADERS = {
  'Cache-Control': 'public, max-age=300',
  ETag: '"p42-v7"',
  'Last-Modified': 'Wed, 15 Jan 2025 09:30:00 GMT',
  Vary: 'Accept-Encoding',
  'X-Product-Id': '42',
} as const

/** The application every Koa variant wraps: a fixed body and the origin's headers. */
export function originApp(body: string, errors: unknown[], cache?: Cache): Koa {
  const app = new Koa()
  // A 500 must fail the bench with its cause, not print a stack per request.
  app.silent = true
  app.on('error', (err: unknown) => {
    errors.push(err)
  })
  if (cache !== undefined) app.use(cache.middleware())
  app.use(async function origin(ctx) {
    if (ctx.path !== PATH) {
      ctx.status = 404
      return
    }
    ctx.set('Cache-Control', ORIGIN_HEADERS['Cache-Control'])
    ctx.set('ETag', ORIGIN_HEADERS.ETag)
    ctx.set('Last-Modified', ORIGIN_HEADERS['Last-Modified'])
    ctx.set('Vary', ORIGIN_HEADERS.Vary)
    ctx.set('X-Product-Id', ORIGIN_HEADERS['X-Product-Id'])
    ctx.type = 'application/json; charset=utf-8'
    ctx.body = body
  })
  return app
}

/**
 * The floor: node:http answering the same body and headers as the Koa application, both
 * prepared once, with nothing between the parser and `res.end`. `counter`, when given, counts
 * the requests (the origin behind the proxies, which must see none during a measured round).
 */
export function rawHandler(body: string, counter?: { requests: number }): http.RequestListener {
  const bytes = Buffer.from(body)
  const headers = {
    ...ORIGIN_HEADERS,
    'Content-Type': 'application/json; charset=utf-8',
    'Content-Length': String(bytes.length),
  }
  const notFound = { 'Content-Length': '0' }
  return function floor(req, res) {
    if (counter !== undefined) counter.requests++
    if (req.url !== PATH) {
      res.writeHead(404, notFound)
      res.end()
      return
    }
    res.writeHead(200, headers)
    res.end(bytes)
  }
}

export function listen(handler: http.RequestListener): Promise<{ server: http.Server; port: number }> {
  return new Promise((resolve, reject) => {
    const server = http.createServer(handler)
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      resolve({ server, port: (server.address() as AddressInfo).port })
    })
  })
}

export function closeServer(server: http.Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve())
    // keep-alive sockets left by autocannon would hold close() open
    server.closeAllConnections()
  })
}

export interface Probed {
  status: number
  headers: http.IncomingHttpHeaders
  bytes: number
}

/** One request on a fresh connection; resolves status, headers and body length. */
export function probe(url: string): Promise<Probed> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { agent: false, headers: { connection: 'close' } }, (res) => {
      let bytes = 0
      res.on('data', (c: Buffer) => {
        bytes += c.length
      })
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, bytes }))
      res.on('error', reject)
    })
    req.on('error', reject)
    req.setTimeout(5000, () => req.destroy(new Error(`probe of ${url} timed out`)))
  })
}

export function cacheStatusOf(p: Probed): string {
  return String(p.headers['cache-status'] ?? '')
}

export function isHit(cacheStatus: string): boolean {
  return /^cachet; hit(;|$)/.test(cacheStatus)
}

export function writePolicy(): string {
  const dir = mkdtempSync(join(tmpdir(), 'cachet-bench-'))
  writeFileSync(join(dir, 'product.yaml'), POLICY)
  return dir
}

/** The cache's logger: errors and warnings on stderr, nothing else. */
export const quietLogger = {
  error: (m: string) => {
    process.stderr.write(`cachet: error: ${m}\n`)
  },
  warn: (m: string) => {
    process.stderr.write(`cachet: warning: ${m}\n`)
  },
  info: () => {},
  debug: () => {},
}

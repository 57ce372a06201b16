/**
 * A Koa app listening on loopback with a keep-alive client for it, shared by the benches that
 * drive one in-process server (bench/purge.ts, bench/token-leftovers.ts).
 */
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import type Koa from 'koa'

export interface Served {
  /** GET `path` with `Host: shop.test`; resolves once the body has been read */
  get(path: string): Promise<{ status: number; cacheStatus: string }>
  close(): Promise<void>
}

export async function serveApp(app: Koa, concurrency: number): Promise<Served> {
  const server = app.listen(0, '127.0.0.1')
  await new Promise<void>((resolve) => server.once('listening', () => resolve()))
  const port = (server.address() as AddressInfo).port
  const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency })
  const get = (path: string): Promise<{ status: number; cacheStatus: string }> =>
    new Promise((resolve, reject) => {
      const req = http.request(
        { host: '127.0.0.1', port, path, agent, headers: { host: 'shop.test' } },
        (res) => {
          res.resume()
          res.once('end', () =>
            resolve({ status: res.statusCode ?? 0, cacheStatus: String(res.headers['cache-status'] ?? '') }),
          )
          res.once('error', reject)
        },
      )
      req.once('error', reject)
      req.end()
    })
  return {
    get,
    async close() {
      agent.destroy()
      server.closeAllConnections()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
}

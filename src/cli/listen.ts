/**
 * The listeners `cachet serve` opens besides its proxy's: binding one, and the admin listener
 * (a process of its own in `--workers N`, the primary's: workers.ts).
 */
import { createServer, type Server } from 'node:http'
import Koa, { type Middleware } from 'koa'
import { DEFAULT_ADMIN_PATH } from '../admin/options.js'

/** Connections the admin listener keeps open at once (a console polls on one). */
export const ADMIN_MAX_CONNECTIONS = 64

/** Listens and resolves with `http://address:port`. */
export async function listenOn(server: Server, port: number, host: string): Promise<string> {
  server.listen(port, host)
  await new Promise<void>((res, rej) => {
    server.once('listening', res)
    server.once('error', rej)
  })
  const addr = server.address()
  return typeof addr === 'object' && addr
    ? `http://${addr.family === 'IPv6' ? `[${addr.address}]` : addr.address}:${addr.port}`
    : String(addr)
}

/** The admin routes (`admin`, mounted at `/_cachet`) on a listener of their own; `/` redirects to the console. */
export function adminListener(admin: Middleware, headersTimeout: number): Server {
  const app = new Koa()
  app.silent = true
  app.use(async (ctx, next) => {
    if (ctx.path !== '/') return next()
    ctx.set('Cache-Control', 'no-store')
    ctx.redirect(`${DEFAULT_ADMIN_PATH}/`)
  })
  app.use(admin)
  const server = createServer(
    { headersTimeout, requestTimeout: 60_000, keepAliveTimeout: 5000 },
    app.callback(),
  )
  server.keepAliveTimeout = 5000
  return server
}

// static-server.js: the origin, a plain static file server for public/ (no dependency), as many
// sites have one: it sends no Cache-Control, so the policy decides what is kept and for how long.
import { createReadStream } from 'node:fs'
import { stat } from 'node:fs/promises'
import { createServer } from 'node:http'
import { extname, join, normalize } from 'node:path'

const root = join(import.meta.dirname, 'public')
const types = {
  '.html': 'text/html; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.svg': 'image/svg+xml',
}

const server = createServer(async (req, res) => {
  console.log(`origin: ${req.method} ${req.url}`) // what reaches the origin (a hit does not)
  const path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname)
  const file = normalize(join(root, path.endsWith('/') ? `${path}index.html` : path))
  const info = file.startsWith(root) ? await stat(file).catch(() => null) : null
  if (!info?.isFile()) {
    res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' }).end('not found\n')
    return
  }
  res.writeHead(200, {
    'content-type': types[extname(file)] ?? 'application/octet-stream',
    'content-length': info.size,
    'last-modified': info.mtime.toUTCString(),
  })
  if (req.method === 'HEAD') res.end()
  else createReadStream(file).pipe(res)
})

const port = Number(process.env.PORT ?? 8080)
server.listen(port, '127.0.0.1', () => console.log(`origin on http://127.0.0.1:${port}`))

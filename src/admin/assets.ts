/**
 * The console's static files, `console/` at the package root (shipped as they are: no build step,
 * no dependency, nothing fetched from elsewhere). Read once per process, on the first
 * `cache.admin()`; they hold no data, so they are served without the token.
 */
import { readFileSync } from 'node:fs'

export interface Asset {
  readonly type: string
  readonly body: Buffer
}

/** the page's files by their name under `<path>/` ("" is the page itself) */
export type Assets = ReadonlyMap<string, Asset>

/** src/admin/ and dist/admin/ both sit two levels below the package root */
const ROOT = new URL('../../console/', import.meta.url)

const FILES: readonly (readonly [route: string, file: string, type: string])[] = [
  ['', 'index.html', 'text/html; charset=utf-8'],
  ['console.js', 'console.js', 'text/javascript; charset=utf-8'],
  ['console.css', 'console.css', 'text/css; charset=utf-8'],
]

let loaded: Assets | undefined

export function consoleAssets(): Assets {
  loaded ??= new Map(
    FILES.map(([route, file, type]) => [route, { type, body: readFileSync(new URL(file, ROOT)) }] as const),
  )
  return loaded
}

/**
 * Sent with every admin answer. The page runs only its own script and style (no inline code, no
 * eval, no other origin), talks only to its own origin, cannot be framed (clickjacking) nor post a
 * form anywhere; nothing is cached or sniffed as another type.
 */
export const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "connect-src 'self'",
  "img-src 'self' data:",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ')

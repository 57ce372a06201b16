/**
 * The cache-deception guard (docs/threats.md, web cache deception; Omer Gil 2017, Mirheidari et
 * al. 2020): `/account/settings/x.css` reaches an application that ignores the tail and answers
 * the account page as `text/html`; a rule that caches `**\/*.css` would store it for everyone.
 * Like Cloudflare's Cache Deception Armor, a response is not stored when the request path ends in
 * a static-looking extension and its Content-Type is not one that extension is served as.
 */

/** extension → media types it may be stored as (lower-case, without parameters) */
const STATIC_TYPES: ReadonlyMap<string, readonly string[]> = new Map(
  Object.entries({
    css: ['text/css'],
    js: ['text/javascript', 'application/javascript', 'application/x-javascript', 'application/ecmascript'],
    mjs: ['text/javascript', 'application/javascript'],
    map: ['application/json', 'application/octet-stream'],
    json: ['application/json', 'application/manifest+json', 'application/ld+json'],
    html: ['text/html', 'application/xhtml+xml'],
    htm: ['text/html', 'application/xhtml+xml'],
    txt: ['text/plain'],
    xml: ['application/xml', 'text/xml'],
    png: ['image/png'],
    jpg: ['image/jpeg'],
    jpeg: ['image/jpeg'],
    gif: ['image/gif'],
    webp: ['image/webp'],
    avif: ['image/avif'],
    svg: ['image/svg+xml'],
    ico: ['image/x-icon', 'image/vnd.microsoft.icon'],
    bmp: ['image/bmp'],
    woff: ['font/woff', 'application/font-woff'],
    woff2: ['font/woff2'],
    ttf: ['font/ttf', 'application/x-font-ttf'],
    otf: ['font/otf'],
    eot: ['application/vnd.ms-fontobject'],
    mp4: ['video/mp4'],
    webm: ['video/webm'],
    mp3: ['audio/mpeg'],
    pdf: ['application/pdf'],
    zip: ['application/zip'],
    gz: ['application/gzip', 'application/x-gzip'],
    wasm: ['application/wasm'],
  }),
)

/** The lower-cased extension of the path's last segment ('' when none), percent-decoded. */
function extensionOf(path: string): string {
  let end = path.length
  if (end > 1 && path.charCodeAt(end - 1) === 47) end--
  const slash = path.lastIndexOf('/', end - 1)
  let last = path.slice(slash + 1, end)
  if (last.includes('%')) {
    try {
      last = decodeURIComponent(last)
    } catch {
      return ''
    }
  }
  const dot = last.lastIndexOf('.')
  return dot <= 0 || dot === last.length - 1 ? '' : last.slice(dot + 1).toLowerCase()
}

/** The response's media type: lower-cased, parameters and whitespace dropped; '' when none. */
function mediaType(contentType: unknown): string {
  const raw = Array.isArray(contentType) ? contentType[0] : contentType
  if (typeof raw !== 'string') return ''
  const semi = raw.indexOf(';')
  return (semi === -1 ? raw : raw.slice(0, semi)).trim().toLowerCase()
}

/**
 * true when `path` looks like a static file whose response, typed `contentType`, is not one:
 * the response must not be stored. A missing Content-Type on such a path counts as a mismatch.
 */
export function deceptionMismatch(path: string, contentType: unknown): boolean {
  const allowed = STATIC_TYPES.get(extensionOf(path))
  if (allowed === undefined) return false
  return !allowed.includes(mediaType(contentType))
}

/** Is the media type `type` in a rule's `contentTypes` (exact types, or `image/*` ranges)? */
export function typeListed(list: readonly string[], type: string): boolean {
  if (type === '') return false
  for (const t of list) {
    if (t === type) return true
    // `image/*`: any subtype of image (the list holds only `type/subtype` and `type/*`)
    if (t.charCodeAt(t.length - 1) === 42 && type.length >= t.length && type.startsWith(t.slice(0, -1)))
      return true
  }
  return false
}

/**
 * Why the response may not be stored for its Content-Type: the deception guard, then the rule's
 * own `contentTypes` (stricter, never instead: a rule listing text/html still does not store
 * `/x.css` answered text/html). `list` null: the guard alone. A response with no Content-Type is
 * refused by a list.
 */
export function typeRefused(path: string, contentType: unknown, list: readonly string[] | null): boolean {
  if (deceptionMismatch(path, contentType)) return true
  return list !== null && !typeListed(list, mediaType(contentType))
}

/** For explain: the path's static-looking extension and the types the guard stores it as, if any. */
export function guardedTypes(
  path: string,
): { readonly extension: string; readonly types: readonly string[] } | undefined {
  const extension = extensionOf(path)
  const types = STATIC_TYPES.get(extension)
  return types === undefined ? undefined : { extension, types }
}

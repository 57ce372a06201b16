/**
 * Validators (RFC 9110 §8.8, RFC 9111 §4.3): the stored ones sent upstream as a conditional
 * request, and whether a 304 speaks of the representation we hold. Stored headers are flat
 * [name, value, name, value…] with lower-case names, as entries keep them.
 */
import type { IncomingHttpHeaders } from 'node:http'

export type FlatHeaders = readonly (string | readonly string[])[]

/** The ETag and Last-Modified among stored headers. */
export function storedValidators(stored: FlatHeaders): {
  etag: string | undefined
  lastModified: string | undefined
} {
  let etag: string | undefined
  let lastModified: string | undefined
  for (let i = 0; i < stored.length; i += 2) {
    if (stored[i] === 'etag') etag = String(stored[i + 1])
    else if (stored[i] === 'last-modified') lastModified = String(stored[i + 1])
  }
  return { etag, lastModified }
}

/**
 * §4.3.4: a 304 updates a stored response only if it names the same representation: when both
 * carry an ETag they must match (weakly: W/ prefixes aside).
 */
export function sameRepresentation(stored: FlatHeaders, etagOf304: unknown): boolean {
  if (etagOf304 === undefined || etagOf304 === null) return true
  const etag = storedValidators(stored).etag
  if (etag === undefined) return true
  const bare = (t: string) => t.trim().replace(/^W\//, '')
  return bare(String(etagOf304)) === bare(etag)
}

/**
 * §4.3.1: puts the stored validators on the request in place of the client's: true when there
 * was one to send.
 */
export function setValidators(request: IncomingHttpHeaders, stored: FlatHeaders): boolean {
  const { etag, lastModified } = storedValidators(stored)
  if (etag === undefined && lastModified === undefined) return false
  delete request['if-none-match']
  delete request['if-modified-since']
  if (etag !== undefined) request['if-none-match'] = etag
  if (lastModified !== undefined) request['if-modified-since'] = lastModified
  return true
}

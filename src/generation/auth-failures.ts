/**
 * Wrong-token accounting for the admin endpoint: after `maxFailures` wrong tokens from one client
 * address, that address is locked out for `lockoutMs`, and each further lockout doubles, up to an
 * hour (exponential back-off, as OWASP's Authentication Cheat Sheet advises against online
 * guessing). While locked out the address is refused whatever it sends, the right token too, so
 * guessing cannot go on behind a legitimate caller's successes; a success neither counts nor resets.
 *
 * The table is bounded: at most `maxClients` addresses, the least recently failed forgotten first
 * (a Map keeps insertion order; every failure re-inserts its address at the end). IPv6 addresses
 * are counted by their /64, since a single host is commonly given a whole /64 (RFC 6177) and could
 * otherwise rotate through it.
 */
import { isIPv6 } from 'node:net'

/** The longest lockout, and how long an address's record is kept after its last failure. */
export const MAX_LOCKOUT_MS = 3_600_000

interface Record {
  /** wrong tokens since the last lockout */
  failures: number
  /** lockouts so far: the next one lasts lockoutMs × 2^lockouts */
  lockouts: number
  /** locked out until this time (ms); 0 when not locked */
  until: number
  /** the last wrong token (ms) */
  last: number
}

export interface AuthFailureOptions {
  maxFailures: number
  lockoutMs: number
  maxClients: number
  clock: { now(): number }
}

export class AuthFailures {
  readonly #o: AuthFailureOptions
  readonly #table = new Map<string, Record>()

  constructor(o: AuthFailureOptions) {
    this.#o = o
  }

  /** Milliseconds this address must still wait, or 0 when it may try. */
  lockedFor(address: string): number {
    const r = this.#table.get(clientKey(address))
    if (r === undefined) return 0
    const left = r.until - this.#o.clock.now()
    return Math.max(left, 0)
  }

  /** Counts a wrong token; returns the lockout it started (ms), or 0. */
  fail(address: string): number {
    const key = clientKey(address)
    const now = this.#o.clock.now()
    let r = this.#table.get(key)
    if (r !== undefined) this.#table.delete(key)
    // an hour after its last failure or the end of its lockout, an address starts over
    if (r === undefined || now - Math.max(r.last, r.until) > MAX_LOCKOUT_MS) {
      r = { failures: 0, lockouts: 0, until: 0, last: now }
    }
    r.last = now
    r.failures++
    let started = 0
    if (r.failures >= this.#o.maxFailures) {
      started = Math.min(this.#o.lockoutMs * 2 ** r.lockouts, MAX_LOCKOUT_MS)
      r.until = now + started
      r.lockouts++
      r.failures = 0
    }
    this.#table.set(key, r)
    if (this.#table.size > this.#o.maxClients) this.#table.delete(this.#table.keys().next().value!)
    return started
  }

  /** addresses remembered (tests) */
  get size(): number {
    return this.#table.size
  }
}

/** The unit an address is counted by: an IPv4 address (also IPv4-mapped IPv6), or an IPv6 /64. */
export function clientKey(address: string): string {
  if (address.startsWith('::ffff:') && address.includes('.')) return address.slice(7)
  if (!isIPv6(address)) return address
  const zone = address.indexOf('%')
  const a = zone === -1 ? address : address.slice(0, zone)
  const [head = '', tail = ''] = a.split('::')
  const h = head === '' ? [] : head.split(':')
  const t = a.includes('::') ? (tail === '' ? [] : tail.split(':')) : []
  // an embedded IPv4 tail (::1.2.3.4) sits in the last 32 bits, never in the /64
  const groups = [...h, ...Array(Math.max(0, 8 - h.length - t.length)).fill('0'), ...t]
  return `${groups
    .slice(0, 4)
    .map((g) => Number.parseInt(g, 16).toString(16))
    .join(':')}::/64`
}

/**
 * Request coalescing: one origin request per key in this process (a flight the others wait on),
 * and one per fleet when the store is shared (a lock in the store at `<key>~lock`, which other
 * instances wait on by polling the store for the entry it produces).
 */
import { randomBytes } from 'node:crypto'
import type { Runtime } from '../runtime.js'
import { within } from '../store/deadline.js'
import type { Budget } from './budget.js'
import type { Entry } from './entry.js'

/** the longest pause between two polls of a waiter for another instance's entry */
const MAX_POLL_MS = 50

/** What requests waiting on a flight get: the entry it stored, or null when nothing usable. */
export type Outcome = Entry | null

export class Coalescer {
  readonly #rt: Runtime
  /** primary key → the leader's outcome */
  readonly #flights = new Map<string, Promise<Outcome>>()
  /** the store is shared with other instances: coalesce across them too */
  readonly #shared: boolean

  constructor(rt: Runtime) {
    this.#rt = rt
    this.#shared = rt.store.kind !== 'memory'
  }

  /** The store is shared with other instances: coalescing spans the fleet. */
  get shared(): boolean {
    return this.#shared
  }

  /** The flight of another request of this process that is asking the origin for `key`. */
  pending(key: string): Promise<Outcome> | undefined {
    return this.#flights.get(key)
  }

  /** A request of this process is asking the origin for `key`. */
  busy(key: string): boolean {
    return this.#flights.has(key)
  }

  /** Waits for a pending flight, at most `coalesceWaitMs`: its outcome, or undefined on time-out. */
  follow(flight: Promise<Outcome>): Promise<Outcome | undefined> {
    return within(flight, this.#rt.coalesceWaitMs, () => undefined)
  }

  /** This request asks the origin for `key`; the others of this process wait for its outcome. */
  lead(key: string): Flight {
    let resolve!: (o: Outcome) => void
    this.#flights.set(
      key,
      new Promise<Outcome>((r) => {
        resolve = r
      }),
    )
    return new Flight(this.#rt, this.#shared, key, resolve, () => this.#flights.delete(key))
  }

  /**
   * The fleet lock for `key` (a background refresh): its token, or undefined when another
   * instance holds it. Rejects when the store does.
   */
  async tryLock(key: string): Promise<string | undefined> {
    const token = newLockToken()
    return (await this.#rt.store.acquire(lockKey(key), token, this.#rt.lockTtlMs)) ? token : undefined
  }

  /** Releases a lock this instance holds (never rejects, not awaited). */
  unlock(key: string, token: string): void {
    void this.#rt.store.release(lockKey(key), token)
  }
}

/** One request's turn at the origin for a key. Its `settle()` runs once, in the caller's `finally`. */
export class Flight {
  readonly #rt: Runtime
  readonly #shared: boolean
  readonly #key: string
  readonly #resolve: (o: Outcome) => void
  readonly #landed: () => void
  #lock: string | undefined
  #settled = false

  constructor(rt: Runtime, shared: boolean, key: string, resolve: (o: Outcome) => void, landed: () => void) {
    this.#rt = rt
    this.#shared = shared
    this.#key = key
    this.#resolve = resolve
    this.#landed = landed
  }

  /**
   * On a shared store, takes the fleet lock: false when another instance holds it (then
   * `awaitPeer`). A store that cannot answer (within the request's budget) counts as taken by
   * us: we ask the origin ourselves.
   */
  async lock(budget: Budget): Promise<boolean> {
    const rt = this.#rt
    if (!this.#shared || !rt.store.ready) return true
    const token = newLockToken()
    const got = await budget
      .run(() => rt.store.acquire(lockKey(this.#key), token, rt.lockTtlMs), 'fleet lock')
      .catch(() => true)
    if (got) this.#lock = token
    return got
  }

  /**
   * Another instance holds the lock: waits (at most `coalesceWaitMs`) for the entry it stores,
   * reading with `read`. Undefined when none is coming: the holder's flight ended without one
   * (its answer was not storable: its lock is gone and no entry is there), or the wait ran out,
   * or the store failed. Then this request asks the origin itself.
   */
  async awaitPeer(read: () => Promise<Entry | undefined>): Promise<Entry | undefined> {
    const rt = this.#rt
    const deadline = rt.now() + rt.coalesceWaitMs
    let delay = 10
    try {
      while (rt.now() < deadline) {
        await sleep(delay)
        delay = Math.min(delay * 2, MAX_POLL_MS)
        const e = await read()
        if (e !== undefined && e.expires > rt.now()) return e
        if (await this.#lockFree()) {
          // the holder writes its entry before it releases the lock: one more read sees it
          const last = await read()
          return last !== undefined && last.expires > rt.now() ? last : undefined
        }
      }
    } catch {
      // the store failed: ask the origin (fail open)
    }
    return undefined
  }

  /**
   * Whether nobody holds the fleet lock any more. Taking it is how we learn; it is given straight
   * back, so that every other waiter learns the same on its next poll (none becomes a new
   * holder that the others would queue behind, one after another, when answers are not storable).
   */
  async #lockFree(): Promise<boolean> {
    const { store, lockTtlMs } = this.#rt
    const token = newLockToken()
    if (!(await store.acquire(lockKey(this.#key), token, lockTtlMs))) return false
    void store.release(lockKey(this.#key), token)
    return true
  }

  /**
   * What the requests waiting on this flight get, once `outcome` resolves; then the fleet lock is
   * released. Runs once: later calls do nothing.
   */
  settle(outcome: Outcome | Promise<Outcome>): void {
    if (this.#settled) return
    this.#settled = true
    const land = (o: Outcome) => {
      this.#resolve(o)
      this.#landed()
      if (this.#lock !== undefined) void this.#rt.store.release(lockKey(this.#key), this.#lock)
    }
    if (outcome === null || !(outcome instanceof Promise)) land(outcome)
    else outcome.then(land, () => land(null))
  }
}

function lockKey(key: string): string {
  return `${key}~lock`
}

function newLockToken(): string {
  return randomBytes(12).toString('base64url')
}

function sleep(ms: number): Promise<void> {
  return new Promise((res) => {
    setTimeout(res, ms)
  })
}

/**
 * The one deadline helper: every store call that a request or a purge waits for goes through
 * `within` (and the request path's own waits can, too: a coalescing wait that ends in
 * `undefined`, a per-request budget that is already spent).
 *
 * A deadline only stops the caller from waiting. The work itself is not cancelled (a Redis
 * command stays in flight until Redis or `commandTimeout` settles it), which is why callers that
 * must bound what is in flight, like RedisStore's writes, count their own slots.
 */
import { StoreTimeoutError } from '../errors.js'

/** setTimeout's longest delay; a longer one would fire after 1 ms (Node's TimeoutOverflowWarning). */
const MAX_TIMER_MS = 2 ** 31 - 1

/**
 * Settles like `work` if `work` settles within `ms`; otherwise, at `ms`, with what `onTimeout`
 * gives: its return value (a fallback such as `undefined` or `false`), or the error it throws
 * (see `giveUp`). Either way the other side is ignored afterwards: `onTimeout` never runs once
 * `work` has settled, and a late settlement of `work`, a rejection included, is handled and
 * dropped (never an unhandled rejection). The timer is cleared as soon as `work` settles, so a
 * fast answer leaves nothing behind that could keep the process alive.
 *
 * `ms` is a budget: 0 or less means it is spent, and `work` only wins if it is already settled
 * (setTimeout's shortest delay, 1 ms, still lets its callbacks run first); above 2^31 - 1 ms
 * (Infinity) there is no deadline and `work` is returned as it is. NaN is a TypeError.
 *
 * @example
 *   within(store.get(key), 250, giveUp('store get', 250))   // rejects with STORE_TIMEOUT
 *   within(flight, waitMs, () => undefined)                  // resolves undefined: stop waiting
 */
export function within<T, U = never>(work: Promise<T>, ms: number, onTimeout: () => U): Promise<T | U> {
  if (Number.isNaN(ms)) throw new TypeError('within: ms must be a number of milliseconds, got NaN')
  if (ms > MAX_TIMER_MS) return work
  return new Promise<T | U>((resolve, reject) => {
    const timer = setTimeout(() => {
      try {
        resolve(onTimeout())
      } catch (err) {
        reject(err)
      }
    }, ms)
    // resolve/reject after the other side won are no-ops, so only the timer needs clearing
    work.then(
      (v) => {
        clearTimeout(timer)
        resolve(v)
      },
      (err: unknown) => {
        clearTimeout(timer)
        reject(err)
      },
    )
  })
}

/**
 * An `onTimeout` for `within` that rejects with a StoreTimeoutError (code `STORE_TIMEOUT`), the
 * error the request path treats as a miss and a purge reports: `${what} gave up after ${ms} ms`.
 */
export function giveUp(what: string, ms: number): () => never {
  return () => {
    throw new StoreTimeoutError(`${what} gave up after ${ms} ms`)
  }
}

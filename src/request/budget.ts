/**
 * One deadline for all the store work a request waits on before it is answered (README "Fail
 * open"): the read, the fleet lock, the leader's second read and the token reads share
 * `readDeadlineMs` between them, instead of each having its own. Once it is spent the request
 * stops waiting for the store and is answered as on a miss, and its response is not stored (its
 * tokens could not be read). Real time, not the injected clock: it bounds what a client waits.
 */

import { StoreTimeoutError } from '../errors.js'
import { giveUp, within } from '../store/deadline.js'

export class Budget {
  #until: number

  /** `startedAt`: performance.now() when the request's first store read began */
  constructor(startedAt: number, ms: number) {
    this.#until = startedAt + ms
  }

  /**
   * `wait()`, which is not store work (waiting for another request's or instance's flight,
   * bounded by coalesceWaitMs): the time it takes is not taken from the budget.
   */
  async notCounting<T>(wait: () => Promise<T>): Promise<T> {
    const started = performance.now()
    try {
      return await wait()
    } finally {
      this.#until += performance.now() - started
    }
  }

  /** `work()` within what is left; rejects with STORE_TIMEOUT, without starting it, once spent. */
  run<T>(work: () => Promise<T>, what: string): Promise<T> {
    const left = this.#until - performance.now()
    if (left <= 0)
      return Promise.reject(new StoreTimeoutError(`${what}: the request's store budget is spent`))
    return within(work(), left, giveUp(`${what} (the request's store budget)`, Math.ceil(left)))
  }
}

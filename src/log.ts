import { debuglog } from 'node:util'
import type { Logger } from './options.js'

const debug = debuglog('cachet')

export const defaultLogger: Logger = {
  error: (m) => {
    process.stderr.write(`cachet: error: ${m}\n`)
  },
  warn: (m) => {
    process.stderr.write(`cachet: warning: ${m}\n`)
  },
  info: (m) => debug('%s', m),
  debug: (m) => debug('%s', m),
}

/** Logs the first failure at once, then at most one summary line per interval: a dead store must not flood the log. */
export function rateLimited(log: (m: string) => void, intervalMs = 10_000): (m: string) => void {
  let last = 0
  let suppressed = 0
  return (m) => {
    const now = Date.now()
    if (now - last < intervalMs) {
      suppressed++
      return
    }
    log(suppressed > 0 ? `${m} (and ${suppressed} more since the last report)` : m)
    last = now
    suppressed = 0
  }
}

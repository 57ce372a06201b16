/**
 * A review regression (shared setup and background: ./review-app.ts).
 */
import * as assert from 'uvu/assert'
import { MemoryStore } from '../../src/store/memory.js'
import type { Store } from '../../src/store/types.js'
import type { HttpResponse } from '../helpers/http.js'
import { app, reviewSuite } from './review-app.js'

// F8 fail-open: a whole Store (all nine methods) is used as is (store/create.ts isFullStore), so
// none of its calls gets a deadline; the middleware awaits getWithTokens with none either.
// the README: "The store being down never fails a request"; a hung store here hangs every request.
const s = reviewSuite('F8 a user Store that never answers')

s('a user Store that never answers does not hang the request', async () => {
  const mem = new MemoryStore()
  const never = new Promise<never>(() => {})
  const hung: Store = {
    kind: 'custom',
    ready: true,
    get: () => never,
    getWithTokens: () => never,
    set: (k, v, t) => mem.set(k, v, t),
    delete: (k) => mem.delete(k),
    close: () => mem.close(),
    tokens: (g, t) => mem.tokens(g, t),
    bump: (g, t) => mem.bump(g, t),
    acquire: (k, tok, t) => mem.acquire(k, tok, t),
    release: (k, tok) => mem.release(k, tok),
  }
  const a = await app({ store: hung })
  const res = a.get('/x')
  res.catch(() => {})
  const outcome = await Promise.race([
    res,
    new Promise<'hung'>((r) => {
      setTimeout(() => r('hung'), 3000).unref()
    }),
  ])
  assert.is.not(outcome, 'hung', 'no answer within 3 s (the read deadline is 250 ms)')
  assert.is((outcome as HttpResponse).status, 200)
})

s.run()

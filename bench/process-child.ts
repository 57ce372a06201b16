/** One server variant of bench/processes.ts in its own process: prints its port when warm. */

import { startServe } from '../src/cli/serve.js'
import { createCache } from '../src/index.js'
import { listen, originApp, PATH, productBody, quietLogger, rawHandler, writePolicy } from './http-servers.js'

const v = process.argv[2]!
const body = productBody()
let port: number
if (v === 'floor') port = (await listen(rawHandler(body))).port
else if (v === 'bare') port = (await listen(originApp(body, []).callback())).port
else if (v === 'mw') {
  const cache = await createCache({ policies: writePolicy(), store: 'memory', logger: quietLogger })
  port = (await listen(originApp(body, [], cache).callback())).port
} else {
  const origin = await listen(rawHandler(body))
  const s = await startServe({
    upstream: `http://127.0.0.1:${origin.port}`,
    port: 0,
    host: '127.0.0.1',
    policies: writePolicy(),
    logger: quietLogger,
    accessLog: undefined,
    warn: () => {},
    ...(v === 'slow' ? { fastHits: false } : {}),
  })
  port = Number(new URL(s.url).port)
}
// warm
for (let i = 0; i < 3; i++) await fetch(`http://127.0.0.1:${port}${PATH}`).then((r) => r.text())
process.stdout.write(`${port}\n`)
// a clean exit on SIGTERM, so that `--cpu-prof` (passed through bench/processes.ts) writes its profile
process.once('SIGTERM', () => process.exit(0))

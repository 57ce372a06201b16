/**
 * `cachet serve` and signals sent the moment it says it is up. A supervisor (or a test) that
 * reads the listening lines may signal at once: the command must already handle SIGHUP and
 * SIGTERM when it writes them, or a SIGHUP with no listener ends the process (stop 21's CI
 * failure: 6 of 8 such runs of the fleet died by SIGHUP before the fix). Each case signals
 * from the stdout `data` handler that sees the line, with no delay, several times over.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { policyDir, yaml } from '../helpers/policies.js'

const POLICY = yaml(`
  version: 1
  rules:
    - id: pages
      match: /pages/**
      ttl: 1m
`)
const TOKEN = 'signals-test-token-0123456789'
const ROUNDS = 4

const s = suite('cachet serve: signals sent on the listening line')
const children: ChildProcess[] = []
s.after.each(() => {
  for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL')
})

interface Run {
  code: number | null
  signal: NodeJS.Signals | null
  events: string[]
}

/** Starts the command; on its `admin-listening` line sends SIGHUP, then SIGTERM once the reload is logged. */
function hupOnListening(extra: string[]): Promise<Run> {
  const child = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      'src/cli/bin-cachet.ts',
      'serve',
      '--port',
      '0',
      '--admin-port',
      '0',
      '--upstream',
      'http://127.0.0.1:9',
      '--policies',
      policyDir(POLICY),
      ...extra,
    ],
    {
      cwd: new URL('../..', import.meta.url).pathname,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, CACHET_ADMIN_TOKEN: TOKEN },
    },
  )
  children.push(child)
  const events: string[] = []
  let rest = ''
  child.stdout!.on('data', (c: Buffer) => {
    const parts = (rest + c.toString()).split('\n')
    rest = parts.pop()!
    for (const line of parts) {
      if (!line.startsWith('{')) continue
      const event = (JSON.parse(line) as { event?: string }).event ?? ''
      events.push(event)
      if (event === 'admin-listening') child.kill('SIGHUP')
      if (event === 'reload') child.kill('SIGTERM')
    }
  })
  child.stderr!.resume()
  return new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal, events })))
}

for (const [name, extra] of [
  ['one process', []],
  ['a fleet (--workers 2): the primary', ['--workers', '2']],
] as const) {
  s(
    `${name}: a SIGHUP on the listening line reloads (unchanged), and SIGTERM then drains and exits 0`,
    async () => {
      for (let i = 0; i < ROUNDS; i++) {
        const r = await hupOnListening([...extra])
        assert.equal(
          { code: r.code, signal: r.signal },
          { code: 0, signal: null },
          `round ${i}: ${r.events.join(' ')}`,
        )
        assert.ok(r.events.includes('reload'), `round ${i}: the reload logged (${r.events.join(' ')})`)
        assert.ok(r.events.includes('draining'), `round ${i}: drained`)
      }
    },
  )
}

s.run()

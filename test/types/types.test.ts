/**
 * The public types hold the documented options and events exactly: test/types/*.ts compile under
 * `tsc -p test/types`, and each of their `@ts-expect-error` lines (a misspelt option, store form
 * or event) really is an error (an unused directive fails the check).
 */
import { execFile } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { test } from 'uvu'
import * as assert from 'uvu/assert'

const root = fileURLToPath(new URL('../..', import.meta.url))

test('tsc -p test/types: the documented forms compile and every misspelling is a type error', async () => {
  const out = await new Promise<{ code: number; text: string }>((resolve) => {
    execFile(
      process.execPath,
      [`${root}node_modules/typescript/bin/tsc`, '--noEmit', '-p', 'test/types'],
      { cwd: root, timeout: 120_000 },
      (err, stdout, stderr) => {
        resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, text: stdout + stderr })
      },
    )
  })
  assert.is(out.text, '', 'no diagnostics')
  assert.is(out.code, 0)
})

test.run()

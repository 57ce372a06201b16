/**
 * The test command. uvu prints `Total/Passed/Skipped` per file and hangs if a socket stays open,
 * so each test file runs in its own `node --import tsx` process: we add up the counts, treat a
 * crash before the summary as a failure, kill a file that outlives its budget (and count it as a
 * failure: something leaked), and end with the line CI reads: `N passed, N failed`. Files run with
 * --unhandled-rejections=strict: an unhandled rejection crashes the file, which counts as a failure,
 * so no test file needs a listener of its own to catch one.
 *
 * Usage: npm test [-- pattern ...]   (patterns are substrings of the test file path)
 */
import { spawn } from 'node:child_process'
import { readdirSync, statSync } from 'node:fs'
import { join, relative } from 'node:path'

const root = new URL('..', import.meta.url).pathname
const FILE_BUDGET_MS = Number(process.env.CACHET_TEST_FILE_BUDGET_MS ?? 180_000)
const AFTER_SUMMARY_MS = 10_000

function find(dir: string, out: string[]): string[] {
  for (const name of readdirSync(dir).sort()) {
    const full = join(dir, name)
    if (name === 'fixtures' || name === 'node_modules') continue
    if (statSync(full).isDirectory()) find(full, out)
    else if (/\.test\.ts$/.test(name)) out.push(full)
  }
  return out
}

interface Outcome {
  file: string
  passed: number
  failed: number
  skipped: number
  note?: string
}

function runFile(file: string): Promise<Outcome> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', '--unhandled-rejections=strict', file], {
      cwd: root,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, FORCE_COLOR: '0' },
    })
    let out = ''
    let summaryAt = 0
    let note: string | undefined
    const onData = (chunk: Buffer) => {
      const s = chunk.toString()
      out += s
      process.stdout.write(s)
      if (!summaryAt && /Duration:/.test(out)) {
        summaryAt = Date.now()
        setTimeout(() => {
          if (child.exitCode === null) {
            note = 'did not exit after its summary (an open handle)'
            child.kill('SIGKILL')
          }
        }, AFTER_SUMMARY_MS).unref()
      }
    }
    child.stdout.on('data', onData)
    child.stderr.on('data', (c: Buffer) => {
      process.stderr.write(c)
    })
    const budget = setTimeout(() => {
      note = `exceeded ${FILE_BUDGET_MS} ms`
      child.kill('SIGKILL')
    }, FILE_BUDGET_MS)
    child.on('close', (code) => {
      clearTimeout(budget)
      const num = (label: string) => Number(new RegExp(`${label}:\\s+(\\d+)`).exec(out)?.[1] ?? NaN)
      const total = num('Total'),
        passed = num('Passed'),
        skipped = num('Skipped')
      if (Number.isNaN(total)) {
        resolve({
          file,
          passed: 0,
          failed: 1,
          skipped: 0,
          note: note ?? `crashed (exit ${code}) before its summary`,
        })
        return
      }
      // uvu's Total counts the tests that ran: skipped ones (.skip, or the rest of an .only file) are not in it
      let failed = total - passed
      if (note || (code !== 0 && failed === 0)) failed += 1
      resolve({
        file,
        passed,
        failed,
        skipped,
        note: note ?? (code !== 0 && total === passed ? `exit ${code}` : undefined),
      })
    })
  })
}

const patterns = process.argv.slice(2)
const files = find(join(root, 'test'), []).filter(
  (f) => patterns.length === 0 || patterns.some((p) => f.includes(p)),
)
let passed = 0,
  failed = 0,
  skipped = 0
const bad: string[] = []
for (const file of files) {
  const rel = relative(root, file)
  process.stdout.write(`\n# ${rel}\n`)
  const o = await runFile(file)
  passed += o.passed
  failed += o.failed
  skipped += o.skipped
  if (o.failed) bad.push(`${rel}: ${o.failed} failed${o.note ? ` (${o.note})` : ''}`)
}
if (files.length === 0) {
  bad.push('no test files matched')
  failed += 1
}
process.stdout.write('\n')
for (const b of bad) process.stdout.write(`FAILED ${b}\n`)
process.stdout.write(`${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}\n`)
process.exitCode = failed ? 1 : 0

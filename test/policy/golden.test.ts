/**
 * Golden diagnostics: each invalid fixture (a file, or a folder for cross-file cases) has a
 * sibling `<name>.expected.txt` holding the exact text output of `validate-policies` for it.
 * CACHET_UPDATE_GOLDEN=1 rewrites them (then read the diff before committing).
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { validatePolicies } from '../../src/cli/validate.js'

const root = new URL('../..', import.meta.url).pathname
const dir = 'test/fixtures/policies/invalid'
const update = process.env.CACHET_UPDATE_GOLDEN === '1'

async function run(path: string, cwd = root): Promise<{ code: number; out: string; err: string }> {
  let out = ''
  let err = ''
  const code = await validatePolicies([path], {
    stdout: {
      write: (s: string) => {
        out += s
      },
    },
    stderr: {
      write: (s: string) => {
        err += s
      },
    },
    cwd,
  })
  return { code, out, err }
}

const cases = readdirSync(join(root, dir))
  .filter((n) => !n.endsWith('.expected.txt'))
  .map((n) => n.replace(/\.ya?ml$/, ''))
  .sort()

const golden = suite('golden diagnostics')

golden('every invalid fixture has an expected output, and there are enough of them', () => {
  assert.ok(cases.length >= 11, `only ${cases.length} fixtures`)
  for (const c of cases)
    assert.ok(update || existsSync(join(root, dir, `${c}.expected.txt`)), `${c}.expected.txt is missing`)
})

for (const name of cases) {
  golden(`${name}: exact text output, exit 1`, async () => {
    const target = existsSync(join(root, dir, `${name}.yaml`)) ? `${dir}/${name}.yaml` : `${dir}/${name}`
    const { code, out, err } = await run(target)
    const expectedFile = join(root, dir, `${name}.expected.txt`)
    if (update) writeFileSync(expectedFile, out)
    assert.is(code, 1)
    assert.is(err, '')
    assert.fixture(out, readFileSync(expectedFile, 'utf8'))
  })
}

golden(
  'the spec example line format: file:line:col: error: rule "id": field: expected ..., got ...',
  async () => {
    const { out } = await run(`${dir}/bad-duration.yaml`)
    assert.match(
      out,
      `${dir}/bad-duration.yaml:10:10: error: rule "search": ttl: expected a duration like "30s", "5m" or a number of seconds, got "5 minutes"\n`,
    )
  },
)

// Hostile files are generated, not committed.
const hostile = suite('golden diagnostics: generated hostile files')
let tmp = ''
hostile.before(() => {
  tmp = mkdtempSync(join(tmpdir(), 'cachet-golden-'))
})
hostile.after(() => {
  rmSync(tmp, { recursive: true, force: true })
})

hostile('an oversized file', async () => {
  const text = `version: 1\nrules: []\n${'#'.repeat(1024 * 1024)}\n`
  writeFileSync(join(tmp, 'big.yaml'), text)
  assert.equal(await run('big.yaml', tmp), {
    code: 1,
    out: `big.yaml: error: file is ${text.length} bytes, over the 1 MiB limit for a policy file\nbig.yaml: 1 file, 0 rules, 1 error, 0 warnings\n`,
    err: '',
  })
})

hostile('an alias bomb', async () => {
  const lines = ['version: 1', 'rules: []', 'x0: &x0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]']
  for (let i = 1; i <= 9; i++)
    lines.push(
      `x${i}: &x${i} [${Array(9)
        .fill(`*x${i - 1}`)
        .join(', ')}]`,
    )
  writeFileSync(join(tmp, 'bomb.yaml'), `${lines.join('\n')}\n`)
  assert.equal(await run('bomb.yaml', tmp), {
    code: 1,
    out: 'bomb.yaml:4:10: error: too many YAML aliases (limit 16): alias expansion is capped so that a policy file cannot exhaust memory\nbomb.yaml: 1 file, 0 rules, 1 error, 0 warnings\n',
    err: '',
  })
})

golden.run()
hostile.run()

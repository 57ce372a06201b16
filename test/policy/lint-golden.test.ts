/**
 * Golden lint diagnostics (issue 10 item 3): each fixture in test/fixtures/policies/lint/ is a
 * valid policy that trips one kind of warning, next to cases that must stay silent; its sibling
 * `<name>.expected.txt` is the exact text output of `validate-policies` for it, and the exit code
 * is 0 (warnings never fail a run). CACHET_UPDATE_GOLDEN=1 rewrites them (read the diff first).
 */
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { validatePolicies } from '../../src/cli/validate.js'

const root = new URL('../..', import.meta.url).pathname
const dir = 'test/fixtures/policies/lint'
const update = process.env.CACHET_UPDATE_GOLDEN === '1'

async function run(path: string): Promise<{ code: number; out: string; err: string }> {
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
    cwd: root,
  })
  return { code, out, err }
}

const cases = readdirSync(join(root, dir))
  .filter((n) => n.endsWith('.yaml'))
  .map((n) => n.replace(/\.yaml$/, ''))
  .sort()

const golden = suite('golden lint diagnostics')

golden('one fixture per new lint, each with its expected output', () => {
  for (const c of [
    'bypass-shadowed',
    'host-shadow',
    'key-cardinality',
    'query-unbounded',
    'stale-unreachable',
    'status-206',
    'ttl-cap',
  ])
    assert.ok(cases.includes(c), `${c}.yaml is missing`)
  for (const c of cases)
    assert.ok(update || existsSync(join(root, dir, `${c}.expected.txt`)), `${c}.expected.txt is missing`)
})

for (const name of cases) {
  golden(`${name}: exact text output, exit 0`, async () => {
    const { code, out, err } = await run(`${dir}/${name}.yaml`)
    const expectedFile = join(root, dir, `${name}.expected.txt`)
    if (update) writeFileSync(expectedFile, out)
    assert.is(code, 0)
    assert.is(err, '')
    assert.fixture(out, readFileSync(expectedFile, 'utf8'))
  })
}

golden('the example policies pass without a warning', async () => {
  assert.equal(await run('policies'), {
    code: 0,
    out: 'policies: 4 files, 10 rules, 4 test files (28 cases, 0 failed), 0 errors, 0 warnings\n',
    err: '',
  })
})

golden.run()

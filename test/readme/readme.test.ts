/**
 * The README's first hour works as pasted (issue 10 item 4): its marked code blocks
 * (test/readme/blocks.ts) run against the package as `npm pack` makes it, installed offline into
 * a fresh folder by the README's own `npm install` line, with real HTTP requests by the README's
 * own curl commands, their output compared line by line.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import {
  installPacked,
  type Packed,
  packCachet,
  ROOT,
  type Started,
  shell,
  startNode,
  tempDir,
} from '../helpers/packed.js'
import { type Block, fences, linePattern, readmeBlocks, transcriptSteps } from './blocks.js'

const README = readFileSync(join(ROOT, 'README.md'), 'utf8')
const blocks = readmeBlocks(README)
const FIRST_HOUR = ['Install', 'Use it in an application']

let packed: Packed | undefined
const pack = async () => {
  packed ??= await packCachet()
  return packed
}

test('every code block of the first hour (Install, Use it in an application) is marked, so tested', () => {
  const unmarked = fences(README).filter((f) => FIRST_HOUR.includes(f.section) && f.marker === undefined)
  assert.equal(
    unmarked.map((f) => `README.md:${f.line}`),
    [],
  )
  const kinds = blocks.filter((b) => b.group === 'app').map((b) => b.kind + (b.path ? `=${b.path}` : ''))
  for (const k of [
    'setup',
    'serve=app.js',
    'file=policies/10-catalog.yaml',
    'transcript',
    'serve=server.cjs',
  ])
    assert.ok(kinds.includes(k), `the app group has ${k}`)
})

test('the blocks name the file they go in, on their first line', () => {
  for (const b of blocks) {
    if (b.kind !== 'file' && b.kind !== 'serve') continue
    const first = b.text.split('\n')[0] ?? ''
    assert.ok(
      new RegExp(`^(//|#) ${b.path?.replace(/[.]/g, '\\.')}(:|$)`).test(first),
      `README.md:${b.line}: the block for ${b.path} starts with a comment naming it, got ${JSON.stringify(first)}`,
    )
  }
})

/** Runs one group's blocks in order in a fresh folder; returns what it did, for the assertions. */
async function runGroup(group: string): Promise<string[]> {
  const done: string[] = []
  const base = tempDir(`cachet-readme-${group}-`)
  let app = base
  let server: Started | undefined
  let pending: Block | undefined
  const installs = join(base, '.installs')
  try {
    for (const b of blocks.filter((x) => x.group === group)) {
      const at = `README.md:${b.line}`
      if (b.kind === 'setup') {
        assert.is(b.lang, 'sh', `${at}: a setup block is sh`)
        const lines = b.text.trim().split('\n')
        assert.match(lines[lines.length - 1] as string, /^npm install /, `${at}: npm install comes last`)
        // npm install, offline: the folder and the names are noted, then installed from the tarball
        const npm = `npm() { if [ "$1" = install ]; then shift; echo "$PWD $*" >> ${JSON.stringify(installs)}; else command npm "$@"; fi; }\nset -e\n`
        const r = await shell(npm + b.text, base)
        assert.is(r.code, 0, `${at}: the setup block failed:\n${r.stdout}${r.stderr}`)
        const noted = readFileSync(installs, 'utf8').trim().split('\n')
        assert.is(noted.length, 1, `${at}: one npm install`)
        const [dir, ...names] = (noted[0] as string).split(' ')
        assert.ok(names.includes('cachet') && names.includes('koa'), `${at}: it installs cachet and koa`)
        app = dir as string
        await installPacked(app, await pack(), names)
        const pkg = JSON.parse(readFileSync(join(app, 'package.json'), 'utf8')) as { type?: string }
        assert.is(pkg.type, 'module', `${at}: the app's package.json says "type": "module"`)
        done.push(`setup ${names.join(' ')}`)
      } else if (b.kind === 'file' || b.kind === 'serve') {
        const file = join(app, b.path as string)
        mkdirSync(dirname(file), { recursive: true })
        writeFileSync(file, b.text)
        if (b.kind === 'serve') pending = b
        done.push(`${b.kind} ${b.path}`)
      } else {
        if (pending) {
          // started when the first transcript after it needs it: the files it reads come after it
          await server?.stop()
          server = undefined
          const at2 = `README.md:${pending.line}`
          try {
            server = await startNode(app, [pending.path as string])
          } catch (err) {
            assert.unreachable(`${at2}: node ${pending.path}: ${(err as Error).message}`)
          }
          pending = undefined
        }
        for (const step of transcriptSteps(b.text)) await runStep(b, step.command, step.expected, app, server)
        done.push(`transcript ${transcriptSteps(b.text).length}`)
      }
    }
  } finally {
    await server?.stop()
  }
  return done
}

async function runStep(
  b: Block,
  command: string,
  expected: readonly string[],
  cwd: string,
  server: Started | undefined,
): Promise<void> {
  const at = `README.md:${b.line}: $ ${command}`
  let cmd = command
  if (cmd.includes('localhost:3000')) {
    assert.ok(server, `${at}: no server is running`)
    cmd = cmd.replaceAll('localhost:3000', `localhost:${server?.port}`)
  }
  const r = await shell(cmd, cwd)
  const got = r.stdout
    .replace(/\r/g, '')
    .split('\n')
    .filter((l, i, all) => l !== '' || i < all.length - 1)
  const ok = got.length === expected.length && expected.every((e, i) => linePattern(e).test(got[i] ?? ''))
  assert.ok(
    ok,
    `${at}\nexpected:\n${expected.join('\n')}\ngot (exit ${r.code}):\n${got.join('\n')}\n${r.stderr}${server ? `\nserver output:\n${server.output()}` : ''}`,
  )
}

test('the app group: install, app.js, the policy, its curl transcript, CommonJS, loadPolicies', async () => {
  const done = await runGroup('app')
  assert.equal(done, [
    'setup cachet koa',
    'serve app.js',
    'file policies/10-catalog.yaml',
    'transcript 4',
    'serve server.cjs',
    'transcript 1',
    'file check-policies.js',
    'transcript 1',
  ])
})

test('every group in the README runs', async () => {
  const groups = [...new Set(blocks.map((b) => b.group))].filter((g) => g !== 'app')
  for (const g of groups) await runGroup(g)
})

test.run()

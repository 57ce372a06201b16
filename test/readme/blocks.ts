/**
 * The README's tested code blocks. A block is tested when the line before its fence is a marker:
 *
 *   <!-- readme-test: <group> setup -->        sh, run in a fresh folder; `npm install` installs the
 *                                              packed package (test/helpers/packed.ts)
 *   <!-- readme-test: <group> file=<path> -->  written to <path> in the group's folder
 *   <!-- readme-test: <group> serve=<path> --> written, and started with `node <path>` (PORT set)
 *                                              when the next transcript runs (after the files it reads)
 *   <!-- readme-test: <group> transcript -->   `$ command` lines run in bash against the last
 *                                              server started (`localhost:3000` is its port), each
 *                                              followed by the output it must print; in the output,
 *                                              a run of digits stands for any digits and `…` for any text
 *
 * Blocks of one group run in README order, in one folder.
 */

export type BlockKind = 'setup' | 'file' | 'serve' | 'transcript'

export interface Block {
  readonly group: string
  readonly kind: BlockKind
  /** the path of `file=` and `serve=` */
  readonly path: string | undefined
  readonly lang: string
  readonly text: string
  /** 1-based line of the marker */
  readonly line: number
}

export interface Fence {
  readonly lang: string
  readonly text: string
  /** 1-based line of the opening fence */
  readonly line: number
  /** the marker's line when the fence has one */
  readonly marker: number | undefined
  /** the nearest `## ` heading above it */
  readonly section: string
}

const MARKER = /^<!-- readme-test: ([a-z0-9-]+) (setup|transcript|file=(\S+)|serve=(\S+)) -->$/
const ANY_MARKER = /^<!-- readme-test:/

/** Every fenced block of the markdown, with its marker line and section. */
export function fences(markdown: string): Fence[] {
  const lines = markdown.split('\n')
  const out: Fence[] = []
  let section = ''
  for (let i = 0; i < lines.length; i++) {
    const l = lines[i] as string
    if (l.startsWith('## ')) section = l.slice(3).trim()
    const open = /^```(\S*)\s*$/.exec(l)
    if (!open) continue
    const body: string[] = []
    let j = i + 1
    while (j < lines.length && !/^```\s*$/.test(lines[j] as string)) body.push(lines[j++] as string)
    if (j >= lines.length) throw new Error(`README.md:${i + 1}: a code fence that never closes`)
    const prev = lines[i - 1] ?? ''
    out.push({
      lang: open[1] ?? '',
      text: `${body.join('\n')}\n`,
      line: i + 1,
      marker: ANY_MARKER.test(prev) ? i : undefined,
      section,
    })
    i = j
  }
  return out
}

/** The marked blocks; a malformed marker, or one not right above a fence, is an error. */
export function readmeBlocks(markdown: string): Block[] {
  const lines = markdown.split('\n')
  const byMarker = new Map(fences(markdown).map((f) => [f.marker, f]))
  const out: Block[] = []
  lines.forEach((l, i) => {
    if (!ANY_MARKER.test(l)) return
    const m = MARKER.exec(l)
    if (!m) throw new Error(`README.md:${i + 1}: malformed marker ${JSON.stringify(l)}`)
    const fence = byMarker.get(i + 1)
    if (!fence)
      throw new Error(`README.md:${i + 1}: a marker must stand on the line right above a code fence`)
    const kind = (m[2]?.split('=')[0] ?? '') as BlockKind
    out.push({
      group: m[1] as string,
      kind,
      path: m[3] ?? m[4],
      lang: fence.lang,
      text: fence.text,
      line: i + 1,
    })
  })
  return out
}

export interface Step {
  readonly command: string
  readonly expected: readonly string[]
}

/** A transcript's `$ command` lines, each with the output lines under it. */
export function transcriptSteps(text: string): Step[] {
  const steps: { command: string; expected: string[] }[] = []
  for (const l of text.replace(/\n$/, '').split('\n')) {
    if (l.startsWith('$ ')) steps.push({ command: l.slice(2), expected: [] })
    else if (steps.length === 0) throw new Error(`a transcript starts with "$ ": ${JSON.stringify(l)}`)
    else steps[steps.length - 1]?.expected.push(l)
  }
  return steps
}

/** The expected line as a pattern: digits stand for any digits, `…` for any text. */
export function linePattern(expected: string): RegExp {
  let src = ''
  for (const part of expected.split(/(\d+|…)/)) {
    if (part === '') continue
    if (part === '…') src += '.*'
    else if (/^\d+$/.test(part)) src += '\\d+'
    else src += part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
  }
  return new RegExp(`^${src}$`)
}

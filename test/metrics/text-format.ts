/**
 * A strict reader of the Prometheus text exposition format 0.0.4 (prometheus.io "Exposition
 * formats", text format details), for the tests: it rejects what the spec does not allow, where
 * the parse-prometheus-text-format package (a port of the official Python client's parser)
 * is lenient. Checks: the line grammar (names, label names, escapes, values), one HELP and one TYPE
 * per family before its samples, a family's lines together, no series twice, counters named
 * `_total`, and histograms whose buckets ascend, accumulate, and end at `+Inf` = `_count`.
 */

export interface Series {
  readonly name: string
  readonly labels: Readonly<Record<string, string>>
  readonly value: number
}

export interface Parsed {
  readonly types: ReadonlyMap<string, string>
  readonly help: ReadonlyMap<string, string>
  readonly series: readonly Series[]
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/
// Go's strconv.ParseFloat, which the Prometheus server reads values with: NaN and Inf in any case
const VALUE = /^(?:[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?|nan|[+-]?inf)$/i
const TYPES = new Set(['counter', 'gauge', 'histogram', 'summary', 'untyped'])

export function strictParse(text: string): Parsed {
  if (text !== '' && !text.endsWith('\n')) throw new Error('the text must end with a line feed')
  const types = new Map<string, string>()
  const help = new Map<string, string>()
  const series: Series[] = []
  const seen = new Set<string>()
  const done = new Set<string>()
  let current: string | undefined
  const lines = text.split('\n')
  lines.pop()
  lines.forEach((line, i) => {
    const where = `line ${i + 1}: ${JSON.stringify(line)}`
    if (line === '') return
    let family: string
    if (line.startsWith('#')) {
      const m = /^# (HELP|TYPE) (\S+) ?(.*)$/.exec(line)
      if (!m) {
        if (/^# (HELP|TYPE)/.test(line)) throw new Error(`${where}: malformed ${line.slice(2, 6)}`)
        return // a comment
      }
      const [, kind, name, rest] = m as unknown as [string, string, string, string]
      if (!NAME.test(name)) throw new Error(`${where}: bad metric name`)
      family = name
      if (kind === 'TYPE') {
        if (!TYPES.has(rest)) throw new Error(`${where}: unknown type`)
        if (types.has(name)) throw new Error(`${where}: second TYPE for ${name}`)
        if (series.some((s) => familyOf(s.name, types) === name))
          throw new Error(`${where}: TYPE after samples`)
        types.set(name, rest)
      } else {
        if (help.has(name)) throw new Error(`${where}: second HELP for ${name}`)
        if (/\\[^\\n]/.test(rest.replace(/\\\\/g, ''))) throw new Error(`${where}: bad escape in HELP`)
        help.set(name, rest.replace(/\\n/g, '\n').replace(/\\\\/g, '\\'))
      }
    } else {
      const s = sample(line, where)
      family = familyOf(s.name, types)
      const id = `${s.name}${JSON.stringify(Object.entries(s.labels).sort())}`
      if (seen.has(id)) throw new Error(`${where}: the same series twice`)
      seen.add(id)
      series.push(s)
    }
    if (family !== current) {
      if (done.has(family)) throw new Error(`${where}: the lines of ${family} are not together`)
      if (current !== undefined) done.add(current)
      current = family
    }
  })
  for (const [name, type] of types) {
    if (type === 'counter' && !name.endsWith('_total')) throw new Error(`counter ${name} is not named _total`)
    if (type === 'histogram') checkHistogram(name, series)
  }
  return { types, help, series }
}

function familyOf(name: string, types: ReadonlyMap<string, string>): string {
  for (const suffix of ['_bucket', '_sum', '_count']) {
    const base = name.slice(0, -suffix.length)
    if (name.endsWith(suffix) && (types.get(base) === 'histogram' || types.get(base) === 'summary'))
      return base
  }
  return name
}

/** `name{a="x",b="y"} value [timestamp]` */
function sample(line: string, where: string): Series {
  let i = 0
  while (i < line.length && line[i] !== '{' && line[i] !== ' ') i++
  const name = line.slice(0, i)
  if (!NAME.test(name)) throw new Error(`${where}: bad metric name`)
  const labels: Record<string, string> = {}
  if (line[i] === '{') {
    i++
    while (line[i] !== '}') {
      const eq = line.indexOf('=', i)
      if (eq === -1) throw new Error(`${where}: label without =`)
      const ln = line.slice(i, eq)
      if (!LABEL_NAME.test(ln) || ln.startsWith('__')) throw new Error(`${where}: bad label name ${ln}`)
      if (ln in labels) throw new Error(`${where}: label ${ln} twice`)
      if (line[eq + 1] !== '"') throw new Error(`${where}: label value not quoted`)
      let v = ''
      let j = eq + 2
      for (;;) {
        const c = line[j]
        if (c === undefined) throw new Error(`${where}: unterminated label value`)
        if (c === '"') break
        if (c === '\\') {
          const e = line[j + 1]
          if (e === '\\') v += '\\'
          else if (e === '"') v += '"'
          else if (e === 'n') v += '\n'
          else throw new Error(`${where}: bad escape \\${e}`)
          j += 2
        } else {
          v += c
          j++
        }
      }
      labels[ln] = v
      i = j + 1
      if (line[i] === ',') i++
      else if (line[i] !== '}') throw new Error(`${where}: expected , or }`)
    }
    i++
  }
  if (line[i] !== ' ') throw new Error(`${where}: expected one space before the value`)
  const parts = line.slice(i + 1).split(' ')
  if (parts.length > 2 || !VALUE.test(parts[0]!)) throw new Error(`${where}: bad value`)
  if (parts.length === 2 && !/^-?\d+$/.test(parts[1]!)) throw new Error(`${where}: bad timestamp`)
  const raw = parts[0]!
  const r = raw.toLowerCase()
  const value =
    r === 'inf' || r === '+inf' ? Infinity : r === '-inf' ? -Infinity : r === 'nan' ? NaN : Number(raw)
  return { name, labels, value }
}

function checkHistogram(name: string, series: readonly Series[]): void {
  const groups = new Map<string, { le: number; value: number }[]>()
  const counts = new Map<string, number>()
  for (const s of series) {
    const { le, ...rest } = s.labels
    const key = JSON.stringify(Object.entries(rest).sort())
    if (s.name === `${name}_bucket`) {
      if (le === undefined) throw new Error(`${name}_bucket without le`)
      const b = le === '+Inf' ? Infinity : Number(le)
      if (Number.isNaN(b)) throw new Error(`${name}_bucket le="${le}" is not a number`)
      groups.set(key, [...(groups.get(key) ?? []), { le: b, value: s.value }])
    } else if (s.name === `${name}_count`) counts.set(key, s.value)
  }
  for (const [key, buckets] of groups) {
    for (let i = 1; i < buckets.length; i++) {
      if (!(buckets[i]!.le > buckets[i - 1]!.le)) throw new Error(`${name}: buckets out of order`)
      if (buckets[i]!.value < buckets[i - 1]!.value) throw new Error(`${name}: buckets not cumulative`)
    }
    const last = buckets.at(-1)!
    if (last.le !== Infinity) throw new Error(`${name}: no +Inf bucket`)
    if (counts.get(key) !== last.value) throw new Error(`${name}: +Inf bucket is not _count`)
  }
}

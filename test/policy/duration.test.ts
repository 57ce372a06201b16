import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { DURATION_PATTERN, parseDuration, parseSize, SIZE_PATTERN } from '../../src/policy/duration.js'
import { POLICY_SCHEMA } from '../../src/policy/validate.js'

const durations = suite('parseDuration')

const goodDurations: [unknown, number][] = [
  [0, 0],
  [1, 1000],
  [90, 90_000],
  ['0s', 0],
  ['250ms', 250],
  ['90s', 90_000],
  ['5m', 300_000],
  ['1h', 3_600_000],
  ['1h30m', 5_400_000],
  ['1d', 86_400_000],
  ['1d2h3m4s5ms', 86_400_000 + 7_200_000 + 180_000 + 4_000 + 5],
  ['30m1h', 5_400_000],
  ['007s', 7_000],
]
for (const [input, ms] of goodDurations) {
  durations(`${JSON.stringify(input)} → ${ms} ms`, () => {
    assert.is(parseDuration(input), ms)
  })
}

const badDurations: unknown[] = [
  -1,
  1.5,
  Number.NaN,
  Infinity,
  '',
  '5',
  '5 m',
  ' 5m',
  '5m ',
  '5M',
  '5mins',
  '1.5h',
  '-5s',
  'm',
  's5',
  '5w',
  '5y',
  null,
  undefined,
  true,
  [],
  {},
  '99999999999999999999d',
  9007199254740991,
]
for (const input of badDurations) {
  durations(`${JSON.stringify(input) ?? String(input)} is refused`, () => {
    assert.is(parseDuration(input), undefined)
  })
}

durations('the largest exact duration is accepted, one more day is not', () => {
  const days = Math.floor(Number.MAX_SAFE_INTEGER / 86_400_000)
  assert.is(parseDuration(`${days}d`), days * 86_400_000)
  assert.is(parseDuration(`${days + 1}d`), undefined)
})

const sizes = suite('parseSize')

const goodSizes: [unknown, number][] = [
  [0, 0],
  [512, 512],
  ['0b', 0],
  ['10b', 10],
  ['10B', 10],
  ['1kb', 1024],
  ['512KB', 524_288],
  ['1mb', 1_048_576],
  ['1Mb', 1_048_576],
  ['1.5mb', 1_572_864],
  ['2gb', 2_147_483_648],
  ['0.5kb', 512],
  ['1.0001kb', 1024],
]
for (const [input, bytes] of goodSizes) {
  sizes(`${JSON.stringify(input)} → ${bytes} bytes`, () => {
    assert.is(parseSize(input), bytes)
  })
}

const badSizes: unknown[] = [
  -1,
  1.5,
  '',
  '1',
  '1 mb',
  '1m',
  '1mib',
  '1tb',
  '.5mb',
  '1.mb',
  'mb',
  null,
  true,
  '9999999999999gb',
]
for (const input of badSizes) {
  sizes(`${JSON.stringify(input)} is refused`, () => {
    assert.is(parseSize(input), undefined)
  })
}

const patterns = suite('patterns agree with the JSON Schema')

patterns('the schema and the parsers accept the same strings', () => {
  const defs = (POLICY_SCHEMA as unknown as { $defs: Record<string, { anyOf: { pattern?: string }[] }> })
    .$defs
  const dPattern = new RegExp(defs.duration!.anyOf[1]!.pattern!)
  const sPattern = new RegExp(defs.size!.anyOf[1]!.pattern!)
  for (const s of ['5m', '1h30m', '250ms', '5M', '5 m', '1.5h', '', '0s']) {
    assert.is(dPattern.test(s), DURATION_PATTERN.test(s), `duration ${s}`)
  }
  for (const s of ['1mb', '1MB', '1.5Gb', '1 mb', '1m', '10b', '.5kb', '']) {
    assert.is(sPattern.test(s), SIZE_PATTERN.test(s), `size ${s}`)
  }
})

durations.run()
sizes.run()
patterns.run()

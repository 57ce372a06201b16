import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { POLICY_SCHEMA } from '../../src/policy/validate.js'

type Json = Record<string, unknown>
const schema = POLICY_SCHEMA as unknown as Json & { $defs: Record<string, Json> }

const s = suite('policy.schema.json')

s('is a draft 2020-12 schema with an $id and a title for editors', () => {
  assert.is(schema.$schema, 'https://json-schema.org/draft/2020-12/schema')
  assert.is(schema.$id, 'https://cachet.dev/schemas/policy.schema.json')
  assert.type(schema.title, 'string')
  assert.type(schema.description, 'string')
})

s('every object schema says what else it allows (unknown fields are errors)', () => {
  const seen: string[] = []
  const walk = (node: unknown, at: string) => {
    if (Array.isArray(node)) {
      for (const [i, n] of node.entries()) walk(n, `${at}/${i}`)
      return
    }
    if (node === null || typeof node !== 'object') return
    const o = node as Json
    if (o.type === 'object') {
      seen.push(at)
      assert.ok('additionalProperties' in o, `${at} has no additionalProperties`)
      if (o.properties) assert.is(o.additionalProperties, false, `${at} with properties must forbid others`)
    }
    for (const [k, v] of Object.entries(o))
      if (k !== 'properties' || typeof v === 'object') walk(v, `${at}/${k}`)
  }
  walk(schema, '#')
  assert.ok(seen.length >= 5, seen.join(' '))
})

s(
  'tags, tagsFromResponse, invalidate and the stale windows have real definitions, in rules and defaults',
  () => {
    assert.is(schema.$defs.planned, undefined, 'no field is left "planned"')
    assert.not.match(JSON.stringify(schema), 'planned')
    const rule = schema.$defs.rule!.properties as Record<string, Json>
    const defaults = (schema.properties as Record<string, Json>).defaults!.properties as Record<string, Json>
    for (const f of ['tags', 'tagsFromResponse', 'invalidate', 'staleWhileRevalidate', 'staleIfError']) {
      assert.equal(rule[f], { $ref: `#/$defs/${f}` }, `rules.${f}`)
      assert.equal(defaults[f], { $ref: `#/$defs/${f}` }, `defaults.${f}`)
      assert.type(schema.$defs[f]!.description, 'string', `${f} is documented for editors`)
    }
    assert.equal(schema.$defs.tags!.items, { $ref: '#/$defs/tagTemplate' })
    assert.is(schema.$defs.tags!.maxItems, 32)
    assert.is(schema.$defs.tagsFromResponse!.type, 'boolean')
    const invalidate = schema.$defs.invalidate!
    assert.equal(invalidate.required, ['tags'])
    assert.is(invalidate.additionalProperties, false)
    assert.is((invalidate.properties as Record<string, Json>).tags!.minItems, 1)
    assert.is(schema.$defs.staleWhileRevalidate!.$ref, '#/$defs/duration')
    assert.is(schema.$defs.staleIfError!.$ref, '#/$defs/duration')
  },
)

s('defaults hold exactly the rule fields minus id and match', () => {
  const rule = Object.keys(schema.$defs.rule!.properties as Json)
    .filter((k) => k !== 'id' && k !== 'match')
    .sort()
  const defaults = Object.keys(
    (schema.properties as Record<string, Json>).defaults!.properties as Json,
  ).sort()
  assert.equal(defaults, rule)
})

s("the id pattern and the method list are the spec's", () => {
  const id = (schema.$defs.rule!.properties as Record<string, Json>).id!
  assert.is(id.pattern, '^[a-z0-9][a-z0-9._-]*$')
  assert.equal((schema.$defs.methods!.items as Json).enum, [
    'GET',
    'HEAD',
    'POST',
    'PUT',
    'PATCH',
    'DELETE',
    'OPTIONS',
  ])
  assert.is(schema.$defs.methods!.uniqueItems, true)
})

s.run()

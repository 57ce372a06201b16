import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { PLANNED_FIELDS, POLICY_SCHEMA } from '../../src/policy/validate.js'

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
    if (Array.isArray(node)) { node.forEach((n, i) => walk(n, `${at}/${i}`)); return }
    if (node === null || typeof node !== 'object') return
    const o = node as Json
    if (o.type === 'object') {
      seen.push(at)
      assert.ok('additionalProperties' in o, `${at} has no additionalProperties`)
      if (o.properties) assert.is(o.additionalProperties, false, `${at} with properties must forbid others`)
    }
    for (const [k, v] of Object.entries(o)) if (k !== 'properties' || typeof v === 'object') walk(v, `${at}/${k}`)
  }
  walk(schema, '#')
  assert.ok(seen.length >= 5, seen.join(' '))
})

s('planned fields are declared, in rules and defaults, as a schema that accepts nothing', () => {
  assert.equal([...PLANNED_FIELDS].sort(), ['invalidate', 'staleIfError', 'staleWhileRevalidate', 'tags'])
  assert.equal(schema.$defs.planned!.not, {})
  const rule = schema.$defs.rule!.properties as Record<string, Json>
  const defaults = (schema.properties as Record<string, Json>).defaults!.properties as Record<string, Json>
  for (const f of PLANNED_FIELDS) {
    assert.equal(rule[f], { $ref: '#/$defs/planned' }, `rules.${f}`)
    assert.equal(defaults[f], { $ref: '#/$defs/planned' }, `defaults.${f}`)
  }
})

s('defaults hold exactly the rule fields minus id and match', () => {
  const rule = Object.keys(schema.$defs.rule!.properties as Json).filter((k) => k !== 'id' && k !== 'match').sort()
  const defaults = Object.keys((schema.properties as Record<string, Json>).defaults!.properties as Json).sort()
  assert.equal(defaults, rule)
})

s('the id pattern and the method list are the spec\'s', () => {
  const id = (schema.$defs.rule!.properties as Record<string, Json>).id!
  assert.is(id.pattern, '^[a-z0-9][a-z0-9._-]*$')
  assert.equal((schema.$defs.methods!.items as Json).enum, ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'])
  assert.is(schema.$defs.methods!.uniqueItems, true)
})

s.run()

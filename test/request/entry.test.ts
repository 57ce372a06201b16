/**
 * request/entry.ts: the binary entry format. A round trip keeps every field; anything that is not
 * a complete entry of this version (another writer, another format, a cut value, headers that
 * could split a response when replayed) decodes to undefined, which the middleware treats as a miss.
 */
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { decodeEntry, type Entry, encodeEntry } from '../../src/request/entry.js'

const response: Entry = {
  kind: 'response',
  status: 200,
  headers: [
    'content-type',
    'text/html; charset=utf-8',
    'etag',
    'W/"v1"',
    'link',
    ['</a.css>; rel=preload', '</b.js>; rel=preload'],
  ],
  storedAt: 784111777000,
  expires: 784111837000,
  initialAge: 7,
  variant: ['accept-language', 'fr'],
  varyNames: null,
  nullBody: false,
  tokens: ['kx1.abc', '0', 'ky2.def'],
  headerTags: ['product:42', 'sale'],
  headerTokens: ['kz3.ghi', '0'],
  swr: 30_000,
  sie: 600_000,
  siu: 3_600_000,
  body: Buffer.from('<h1>héllo</h1>\u0000\xff'),
}

const index: Entry = {
  kind: 'vary',
  status: 200,
  headers: [],
  storedAt: 784111777000,
  expires: 784111837000,
  initialAge: 0,
  variant: null,
  varyNames: ['accept-language', 'accept-encoding'],
  nullBody: true,
  tokens: ['kx1.abc'],
  headerTags: [],
  headerTokens: [],
  swr: 0,
  sie: 0,
  siu: 0,
  body: Buffer.alloc(0),
}

/** An entry's fields without the body, and the body's bytes, for deep comparison */
const parts = (e: Entry | undefined) => {
  if (e === undefined) return undefined
  const { body, ...rest } = e
  return { ...rest, body: [...body] }
}

/** A value with the right magic and version around `meta` (text, not necessarily JSON) */
interface Frame {
  magic?: [number, number]
  version?: number
  length?: number
}
function frame(meta: string, body = '', o: Frame = {}): Buffer {
  const json = Buffer.from(meta)
  const head = Buffer.alloc(7)
  head[0] = o.magic?.[0] ?? 0xca
  head[1] = o.magic?.[1] ?? 0xc7
  head[2] = o.version ?? 1
  head.writeUInt32BE(o.length ?? json.length, 3)
  return Buffer.concat([head, json, Buffer.from(body)])
}

/** the meta JSON encodeEntry writes for `response`, as an object to alter */
const meta = (): Record<string, unknown> => {
  const buf = encodeEntry(response)
  return JSON.parse(buf.toString('utf8', 7, 7 + buf.readUInt32BE(3))) as Record<string, unknown>
}
const withMeta = (change: (m: Record<string, unknown>) => void): Buffer => {
  const m = meta()
  change(m)
  return frame(JSON.stringify(m), 'body')
}

// ---------------------------------------------------------------------------------------------
const trip = suite('encodeEntry → decodeEntry')

trip('a response keeps every field, its list headers and its binary body', () => {
  assert.equal(parts(decodeEntry(encodeEntry(response))), parts(response))
})

trip('a vary index keeps its names; a response its variant, never the other way round', () => {
  assert.equal(parts(decodeEntry(encodeEntry(index))), parts(index))
  const unvaried = decodeEntry(encodeEntry({ ...response, variant: null }))
  assert.is(unvaried?.variant, null)
  assert.is(unvaried?.varyNames, null)
})

trip('the layout: magic CA C7, version 1, u32 meta length, JSON meta, raw body', () => {
  const buf = encodeEntry(response)
  assert.equal([...buf.subarray(0, 3)], [0xca, 0xc7, 1])
  const len = buf.readUInt32BE(3)
  const m = JSON.parse(buf.toString('utf8', 7, 7 + len)) as Record<string, unknown>
  assert.is(m.v, 1)
  assert.is(m.k, undefined, 'a response carries no kind marker')
  assert.ok(buf.subarray(7 + len).equals(response.body))
  assert.is(buf.length, 7 + len + response.body.length)
})

trip('no header tags: none written, none read', () => {
  const m = JSON.parse(encodeEntry(index).toString('utf8', 7)) as Record<string, unknown>
  assert.is(m.k, 1)
  assert.is(m.ht, undefined)
  assert.is(m.hg, undefined)
})

trip('optional fields absent from the meta take their defaults', () => {
  const e = decodeEntry(
    withMeta((m) => {
      for (const optional of ['a', 'w', 'x', 'ht', 'hg', 'y', 'n']) delete m[optional]
    }),
  )
  assert.ok(e)
  assert.is(e.initialAge, 0)
  assert.is(e.swr, 0)
  assert.is(e.sie, 0)
  assert.equal(e.headerTags, [])
  assert.equal(e.headerTokens, [])
  assert.is(e.variant, null)
  assert.is(e.nullBody, false)
  assert.is(e.body.toString(), 'body')
})

trip.run()

// ---------------------------------------------------------------------------------------------
const bad = suite('decodeEntry: anything else is undefined')

bad('empty, or shorter than the header', () => {
  assert.is(decodeEntry(Buffer.alloc(0)), undefined)
  assert.is(decodeEntry(encodeEntry(response).subarray(0, 6)), undefined)
})

bad('bad magic', () => {
  assert.is(decodeEntry(frame('{}', '', { magic: [0xca, 0xc8] })), undefined)
  assert.is(decodeEntry(frame('{}', '', { magic: [0x00, 0xc7] })), undefined)
  assert.is(decodeEntry(Buffer.from('{"v":1,"s":200}')), undefined, "a foreign writer's JSON")
})

bad('another format version', () => {
  const buf = Buffer.from(encodeEntry(response))
  buf[2] = 2
  assert.is(decodeEntry(buf), undefined)
  buf[2] = 0
  assert.is(decodeEntry(buf), undefined)
})

bad('meta cut short: a value truncated inside its meta, or a length beyond the value', () => {
  const buf = encodeEntry(response)
  const len = buf.readUInt32BE(3)
  assert.is(decodeEntry(buf.subarray(0, 7 + len - 1)), undefined)
  assert.is(decodeEntry(buf.subarray(0, 7)), undefined)
  assert.is(decodeEntry(frame('{}', '', { length: 1000 })), undefined)
})

bad('meta that is not JSON', () => {
  assert.is(decodeEntry(frame('{nope')), undefined)
  assert.is(decodeEntry(frame('')), undefined)
  assert.is(decodeEntry(frame('\u00ff\u00fe')), undefined)
})

bad('JSON of the wrong shape', () => {
  for (const m of ['null', '[]', '1', '"x"', '{}']) assert.is(decodeEntry(frame(m)), undefined, m)
  const cases: [string, (m: Record<string, unknown>) => void][] = [
    [
      'meta version 2',
      (m) => {
        m.v = 2
      },
    ],
    [
      'status as text',
      (m) => {
        m.s = '200'
      },
    ],
    [
      'headers not a list',
      (m) => {
        m.h = { 'content-type': 'text/html' }
      },
    ],
    [
      'storedAt missing',
      (m) => {
        delete m.t
      },
    ],
    [
      'expires as text',
      (m) => {
        m.e = 'soon'
      },
    ],
    [
      'tokens missing',
      (m) => {
        delete m.g
      },
    ],
    [
      'a token not a string',
      (m) => {
        m.g = ['a', 1]
      },
    ],
  ]
  for (const [name, change] of cases) assert.is(decodeEntry(withMeta(change)), undefined, name)
})

bad('a status no response can have (Koa throws on replaying it: a 500 on every hit, not a miss)', () => {
  for (const st of [0, 99, 1000, 200.5, -200, 1e21]) {
    assert.is(
      decodeEntry(
        withMeta((m) => {
          m.s = st
        }),
      ),
      undefined,
      String(st),
    )
  }
  assert.is(
    decodeEntry(
      withMeta((m) => {
        m.s = 100
      }),
    )?.status,
    100,
  )
  assert.is(
    decodeEntry(
      withMeta((m) => {
        m.s = 999
      }),
    )?.status,
    999,
  )
})

bad('header names: lower-case tokens only', () => {
  for (const h of [
    ['Content-Type', 'text/html'],
    ['x-a\r', 'v'],
    ['x-a\n', 'v'],
    ['x a', 'v'],
    ['', 'v'],
    [':status', '200'],
    [1, 'v'],
    ['x-a', 'v', 'x-b'], // odd length
  ]) {
    assert.is(
      decodeEntry(
        withMeta((m) => {
          m.h = h
        }),
      ),
      undefined,
      JSON.stringify(h),
    )
  }
})

bad('header values: never CR, LF, NUL or other controls, in a string or a list', () => {
  const bad = [
    'a\r\nset-cookie: x=1',
    'a\nb',
    'a\rb',
    'a\u0000b',
    'a\u001fb',
    'a\u007fb',
    ['ok', 'a\r\nb'],
    [1],
    7,
    null,
    '\u20ac',
  ]
  for (const v of bad) {
    assert.is(
      decodeEntry(
        withMeta((m) => {
          m.h = ['x-a', v]
        }),
      ),
      undefined,
      JSON.stringify(v),
    )
  }
})

bad('header values that are fine: HTAB, SP, visible ASCII, obs-text, empty, a list', () => {
  const fine = ['x-a', 'a\tb c~', 'x-b', 'caf\u00e9', 'x-c', '', 'x-d', ['1', '2']]
  const e = decodeEntry(
    withMeta((m) => {
      m.h = fine
    }),
  )
  assert.ok(e)
  assert.equal(e.headers, fine)
})

bad.run()

// ---------------------------------------------------------------------------------------------
const memo = suite('decodeEntry: memoised by identity')

memo('memoise: the same Buffer gives the same Entry object', () => {
  const buf = encodeEntry(response)
  const a = decodeEntry(buf, true)
  assert.ok(a)
  assert.is(decodeEntry(buf, true), a)
})

memo('without memoise, a new object each time', () => {
  const buf = encodeEntry(response)
  const a = decodeEntry(buf)
  assert.ok(a)
  assert.is.not(decodeEntry(buf), a)
  assert.equal(parts(decodeEntry(buf)), parts(a))
})

memo('by identity, not content: an equal copy is decoded afresh', () => {
  const buf = encodeEntry(response)
  const a = decodeEntry(buf, true)
  const b = decodeEntry(Buffer.from(buf), true)
  assert.ok(b)
  assert.is.not(b, a)
  assert.equal(parts(b), parts(a))
})

memo('a memoised Buffer is not re-read (the memory store never changes a Buffer it holds)', () => {
  const buf = encodeEntry(response)
  const a = decodeEntry(buf, true)
  buf[0] = 0
  assert.is(decodeEntry(buf, true), a)
  assert.is(decodeEntry(buf), undefined)
})

memo('an undecodable value is not memoised as anything', () => {
  const buf = frame('{nope')
  assert.is(decodeEntry(buf, true), undefined)
  assert.is(decodeEntry(buf, true), undefined)
})

memo.run()

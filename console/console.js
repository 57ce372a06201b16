// @ts-check
/**
 * The cachet status console: polls `stats` (the JSON of `cache.stats()`) every few seconds and
 * answers one question above all, "which rule is not earning its keep, and why?".
 *
 * Shipped as it is: no build step, no dependency, nothing from another origin (the server's
 * Content-Security-Policy allows this file and console.css only). Everything the server sends is
 * written with textContent or as attribute values, never parsed as HTML. The admin token is asked
 * for once, kept in this tab's sessionStorage and sent in an Authorization header, never a cookie.
 *
 * `?every=N` polls every N seconds (1-60, default 5).
 */

/**
 * @typedef {{ le: number | null, count: number }} Bucket
 * @typedef {{ count: number, sumSeconds: number, buckets: Bucket[] }} Histogram
 * @typedef {{ id: string, file: string, line: number, outcomes: Record<string, number>,
 *   bypass: Record<string, number>, notStored: Record<string, number>, stored: number,
 *   bytesServed: number, refreshes: number }} RuleStats
 * @typedef {{ name: string, at: string, policy: { version: string, files: string[], rules: number },
 *   rules: RuleStats[], unmatched: number,
 *   store: { kind: string, up: boolean, errors: number, timeouts: number, unavailable: number,
 *     read: Histogram, entries?: number, bytes?: number },
 *   reloads: { ok: number, failed: number, applied: number, unchanged: number,
 *     lastError: null | { message: string, file: string,
 *     line: number, col: number, at: string } },
 *   purges: number }} CacheStats
 * @typedef {{ t: number, stats: CacheStats, byId: Map<string, RuleStats>,
 *   delta: [number, number, number] | null }} Snapshot
 *   (delta: [time, served, requests] since the previous poll, all rules)
 */

const TOKEN_KEY = 'cachet.admin.token'
const SVG_NS = 'http://www.w3.org/2000/svg'
/** the outcomes in the order the bars stack them; a rule's "hit ratio" counts the first two */
const OUTCOMES = ['hit', 'stale', 'miss', 'revalidated', 'collapsed', 'stale-if-error', 'bypass']
/** @type {Record<string, string>} */
const OUTCOME_LABEL = {
  hit: 'hit',
  stale: 'stale (while revalidating)',
  miss: 'miss',
  revalidated: 'revalidated (304)',
  collapsed: 'collapsed onto another miss',
  'stale-if-error': 'stale (origin failed)',
  bypass: 'bypass',
}
const every = Number(new URLSearchParams(location.search).get('every'))
const EVERY_MS = Math.min(60, Math.max(1, Number.isFinite(every) && every > 0 ? every : 5)) * 1000
const WINDOW_MS = 15 * 60_000
/** rows of the rules table (the worst first), and rules listed per policy file: a set may hold thousands */
const ROW_LIMIT = 50
const FILE_RULES_LIMIT = 20

const state = {
  token: sessionStorage.getItem(TOKEN_KEY),
  /** @type {Snapshot[]} polls of the last WINDOW_MS, oldest first */
  history: [],
  /** @type {ReturnType<typeof setTimeout> | undefined} */
  timer: undefined,
  /** the rule ids the purge form offers, joined */
  purgeRules: '',
}

/** @param {string} id */
function $(id) {
  const e = document.getElementById(id)
  if (e === null) throw new Error(`the page has no #${id}`)
  return e
}

/**
 * An element; strings among the children become text nodes (escaped), attributes are set as values.
 * @param {string} tag
 * @param {Record<string, string | number | boolean | undefined | null>} [attrs]
 * @param {(Node | string | null | undefined)[]} children
 */
function h(tag, attrs = {}, ...children) {
  const e = document.createElement(tag)
  setAttrs(e, attrs)
  for (const c of children) if (c !== null && c !== undefined) e.append(c)
  return e
}

/**
 * An SVG element, the same way.
 * @param {string} tag
 * @param {Record<string, string | number | boolean | undefined | null>} [attrs]
 * @param {(Node | string | null | undefined)[]} children
 */
function s(tag, attrs = {}, ...children) {
  const e = document.createElementNS(SVG_NS, tag)
  setAttrs(e, attrs)
  for (const c of children) if (c !== null && c !== undefined) e.append(c)
  return e
}

/**
 * @param {Element} e
 * @param {Record<string, string | number | boolean | undefined | null>} attrs
 */
function setAttrs(e, attrs) {
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue
    e.setAttribute(k, v === true ? '' : String(v))
  }
}

/** @param {number} n */
const int = (n) => (Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : '–')

/** @param {number} hits @param {number} n */
const percent = (hits, n) => (n === 0 ? '–' : `${((100 * hits) / n).toFixed(1)}%`)

/** @param {number} b */
function bytes(b) {
  if (b < 1024) return `${b} B`
  if (b < 1024 * 1024) return `${(b / 1024).toFixed(1)} KiB`
  if (b < 1024 ** 3) return `${(b / 1024 ** 2).toFixed(1)} MiB`
  return `${(b / 1024 ** 3).toFixed(2)} GiB`
}

/** @param {number} seconds */
function ms(seconds) {
  const v = seconds * 1000
  if (v >= 100) return `${Math.round(v)} ms`
  if (v >= 1) return `${Number(v.toPrecision(3))} ms`
  return `${Number(v.toPrecision(2))} ms`
}

/** @param {string} path */
const basename = (path) => path.slice(Math.max(path.lastIndexOf('/'), path.lastIndexOf('\\')) + 1)

/** requests a rule matched, all outcomes */
/** @param {RuleStats} r */
function requests(r) {
  let n = 0
  for (const v of Object.values(r.outcomes)) n += v
  return n
}

/** answered from the cache: hit and stale-while-revalidate */
/** @param {RuleStats} r */
const served = (r) => (r.outcomes.hit ?? 0) + (r.outcomes.stale ?? 0)

/**
 * Why a rule's requests were not answered from the cache, largest first.
 * @param {RuleStats} r
 * @returns {[string, number][]}
 */
function reasons(r) {
  /** @type {[string, number][]} */
  const out = []
  for (const [k, n] of Object.entries(r.bypass)) if (n > 0) out.push([`bypass: ${k}`, n])
  let notStored = 0
  for (const [k, n] of Object.entries(r.notStored)) {
    if (n <= 0) continue
    out.push([`miss, not stored: ${k}`, n])
    notStored += n
  }
  const stored = (r.outcomes.miss ?? 0) - notStored
  if (stored > 0) out.push(['miss, then stored (cold, expired or purged)', stored])
  for (const o of ['revalidated', 'collapsed', 'stale-if-error']) {
    const n = r.outcomes[o] ?? 0
    if (n > 0) out.push([OUTCOME_LABEL[o] ?? o, n])
  }
  return out.sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))
}

class ApiError extends Error {
  /** @param {number} status @param {string} message */
  constructor(status, message) {
    super(message)
    this.status = status
  }
}

/**
 * A call to one of the admin routes, relative to the page (`<path>/stats`, …), with the token.
 * @param {string} route
 * @param {unknown} [body] POSTed as JSON when given
 */
async function api(route, body) {
  /** @type {Record<string, string>} */
  const headers = {}
  if (state.token) headers.authorization = `Bearer ${state.token}`
  /** @type {RequestInit} */
  const init = { method: 'GET', headers, cache: 'no-store', credentials: 'omit', redirect: 'error' }
  if (body !== undefined) {
    init.method = 'POST'
    headers['content-type'] = 'application/json'
    init.body = JSON.stringify(body)
  }
  const res = await fetch(route, init)
  const json = (res.headers.get('content-type') ?? '').includes('json')
  const data = json ? await res.json().catch(() => null) : await res.text()
  if (res.ok) return data
  const said = data !== null && typeof data === 'object' && typeof data.error === 'string' ? data.error : ''
  const message = `${said || res.statusText || 'refused'} (${res.status})`
  if (res.status === 401 || res.status === 403) {
    forgetToken()
    askToken(
      res.status === 403
        ? `wrong token: refused (${res.status} Forbidden)`
        : `the admin token is needed (${res.status} Unauthorized)`,
    )
  } else if (res.status === 429) {
    stopPolling()
    banner(
      `locked out after too many wrong tokens: retry in ${res.headers.get('retry-after') ?? '?'} s (429)`,
    )
  }
  throw new ApiError(res.status, message)
}

/** @param {string} text */
function banner(text) {
  const b = $('banner')
  b.textContent = text
  b.hidden = text === ''
}

function stopPolling() {
  clearTimeout(state.timer)
  state.timer = undefined
}

function forgetToken() {
  state.token = null
  sessionStorage.removeItem(TOKEN_KEY)
  $('forget').hidden = true
}

/** @param {string} [error] */
function askToken(error = '') {
  stopPolling()
  $('main').hidden = true
  $('login').hidden = false
  $('token-error').textContent = error
  const input = /** @type {HTMLInputElement} */ ($('token'))
  input.value = ''
  input.focus()
}

async function poll() {
  stopPolling()
  try {
    /** @type {CacheStats} */
    const stats = await api('stats')
    banner('')
    record(stats)
    render()
  } catch (err) {
    if (err instanceof ApiError && [401, 403, 429].includes(err.status)) return // waits for a token
    banner(`cannot read the stats: ${err instanceof Error ? err.message : String(err)}; retrying`)
  }
  state.timer = setTimeout(poll, EVERY_MS)
}

/** @param {CacheStats} stats */
function record(stats) {
  const t = Date.parse(stats.at) || Date.now()
  const h = state.history
  const last = h[h.length - 1]
  // counters only grow; fewer requests than before means another process (a restart): start over
  const total = (/** @type {CacheStats} */ x) => x.rules.reduce((n, r) => n + requests(r), x.unmatched)
  if (last && total(stats) < total(last.stats)) h.length = 0
  const byId = new Map(stats.rules.map((r) => [r.id, r]))
  const prev = h[h.length - 1]
  /** @type {[number, number, number] | null} */
  let delta = null
  if (prev !== undefined) {
    let hits = 0
    let n = 0
    for (const r of stats.rules) {
      const before = prev.byId.get(r.id)
      hits += served(r) - (before ? served(before) : 0)
      n += requests(r) - (before ? requests(before) : 0)
    }
    delta = [t, Math.max(0, hits), Math.max(0, n)]
  }
  h.push({ t, stats, byId, delta })
  while (h.length > 2 && h[0] !== undefined && h[0].t < t - WINDOW_MS) h.shift()
}

function render() {
  const snap = state.history[state.history.length - 1]
  if (!snap) return
  const st = snap.stats
  $('login').hidden = true
  $('main').hidden = false
  $('forget').hidden = state.token === null
  $('cache-name').textContent = st.name
  $('summary').textContent =
    `${st.policy.rules} rules · policies ${st.policy.version} · ${st.store.kind} store ${st.store.up ? 'up' : 'DOWN'}`
  $('updated').textContent =
    `updated ${new Date(snap.t).toLocaleTimeString('en-GB')} · every ${EVERY_MS / 1000} s`
  renderChart()
  renderRules(st)
  renderStore(st)
  renderPolicy(st)
  renderPurgeRules(st)
}

/**
 * Per poll interval: [time, served, requests] summed over all rules, or for one rule id.
 * @param {string} [id]
 * @returns {[number, number, number][]}
 */
function intervals(id) {
  /** @type {[number, number, number][]} */
  const out = []
  const h = state.history
  for (let i = 1; i < h.length; i++) {
    const a = /** @type {Snapshot} */ (h[i - 1])
    const b = /** @type {Snapshot} */ (h[i])
    if (id === undefined) {
      if (b.delta !== null) out.push(b.delta)
      continue
    }
    const r = b.byId.get(id)
    if (r === undefined) continue
    const before = a.byId.get(id)
    const hits = served(r) - (before ? served(before) : 0)
    const n = requests(r) - (before ? requests(before) : 0)
    out.push([b.t, Math.max(0, hits), Math.max(0, n)])
  }
  return out
}

/**
 * The span the chart and the sparklines show: the history this tab holds, at least a minute,
 * at most WINDOW_MS, so that a fresh tab is not a few dots at the right edge.
 */
function span() {
  const h = state.history
  const now = h[h.length - 1]?.t ?? Date.now()
  const held = now - (h[0]?.t ?? now)
  return { now, width: Math.min(WINDOW_MS, Math.max(60_000, held * 1.05)) }
}

/** @param {number} ago ms */
const agoLabel = (ago) => (ago === 0 ? 'now' : ago < 60_000 ? `−${ago / 1000} s` : `−${ago / 60_000} min`)

function renderChart() {
  const box = $('chart')
  const points = intervals()
  const W = 1100
  const H = 150
  const L = 44
  const R = 1090
  const T = 10
  const B = 122
  const { now, width } = span()
  const x = (/** @type {number} */ t) => L + ((t - (now - width)) / width) * (R - L)
  const y = (/** @type {number} */ ratio) => B - ratio * (B - T)
  const svg = s('svg', {
    viewBox: `0 0 ${W} ${H}`,
    role: 'img',
    'aria-label': 'hit ratio of all rules per poll',
  })
  for (const r of [0, 0.5, 1]) {
    svg.append(s('line', { class: 'grid', x1: L, x2: R, y1: y(r), y2: y(r) }))
    svg.append(s('text', { class: 'axis', x: L - 6, y: y(r) + 4, 'text-anchor': 'end' }, `${r * 100}%`))
  }
  const step = [10_000, 30_000, 60_000, 120_000, 300_000].find((st) => width / st <= 6) ?? 300_000
  for (let ago = 0; ago <= width; ago += step) {
    svg.append(
      s(
        'text',
        { class: 'axis', x: x(now - ago), y: H - 8, 'text-anchor': ago === 0 ? 'end' : 'middle' },
        agoLabel(ago),
      ),
    )
  }
  const most = Math.max(1, ...points.map((p) => p[2]))
  const barW = Math.max(2, Math.min(12, ((R - L) * EVERY_MS) / width - 2))
  for (const [t, , n] of points) {
    const bh = (n / most) * 28
    svg.append(s('rect', { class: 'volume', x: x(t) - barW / 2, y: B - bh, width: barW, height: bh }))
  }
  // the line breaks where a poll interval saw no request
  let run = ''
  const flush = () => {
    if (run !== '') svg.append(s('polyline', { class: 'line', points: run }))
    run = ''
  }
  for (const [t, hits, n] of points) {
    if (n === 0) {
      flush()
      continue
    }
    const px = x(t).toFixed(1)
    const py = y(hits / n).toFixed(1)
    run += `${px},${py} `
    svg.append(s('circle', { class: 'dot', cx: px, cy: py, r: 2.5 }, s('title', {}, percent(hits, n))))
  }
  flush()
  box.replaceChildren(svg)
  const first = state.history[0]
  $('window').textContent =
    points.length === 0
      ? `collecting: the line starts at the next poll (every ${EVERY_MS / 1000} s)`
      : `bars: requests per poll; ${Math.round((now - (first?.t ?? now)) / 1000)} s of history in this tab (up to ${WINDOW_MS / 60_000} min)`
}

/**
 * A rule's recent hit ratio per poll, as a small line.
 * @param {string} id
 */
function sparkline(id) {
  const points = intervals(id)
  const W = 120
  const H = 26
  const svg = s('svg', {
    class: 'spark',
    width: W,
    height: H,
    viewBox: `0 0 ${W} ${H}`,
    'aria-hidden': 'true',
  })
  svg.append(s('line', { class: 'base', x1: 0, x2: W, y1: H - 2, y2: H - 2 }))
  const { now, width } = span()
  const x = (/** @type {number} */ t) => ((t - (now - width)) / width) * (W - 4) + 2
  const y = (/** @type {number} */ r) => H - 2 - r * (H - 4)
  let run = ''
  const flush = () => {
    if (run !== '') svg.append(s('polyline', { class: 'line', points: run }))
    run = ''
  }
  let last = ''
  for (const [t, hits, n] of points) {
    if (n === 0) {
      flush()
      continue
    }
    last = `${x(t).toFixed(1)},${y(hits / n).toFixed(1)}`
    run += `${last} `
  }
  flush()
  if (last !== '') {
    const [cx, cy] = last.split(',')
    svg.append(s('circle', { class: 'dot', cx, cy, r: 2 }))
  }
  return svg
}

/**
 * The rule's outcomes as one stacked bar.
 * @param {RuleStats} r
 */
function outcomeBar(r) {
  const W = 140
  const H = 12
  const n = requests(r)
  const svg = s('svg', { width: W, height: H, viewBox: `0 0 ${W} ${H}`, role: 'img' })
  if (n === 0) {
    svg.append(s('rect', { class: 'o-empty', x: 0, y: 0, width: W, height: H }))
    return svg
  }
  let at = 0
  const keys = [...OUTCOMES, ...Object.keys(r.outcomes).filter((k) => !OUTCOMES.includes(k))]
  for (const k of keys) {
    const v = r.outcomes[k] ?? 0
    if (v <= 0) continue
    const w = (v / n) * W
    svg.append(
      s(
        'rect',
        { class: `o-${k}`, x: at.toFixed(2), y: 0, width: w.toFixed(2), height: H },
        s('title', {}, `${OUTCOME_LABEL[k] ?? k}: ${int(v)} (${percent(v, n)})`),
      ),
    )
    at += w
  }
  svg.setAttribute(
    'aria-label',
    keys
      .filter((k) => (r.outcomes[k] ?? 0) > 0)
      .map((k) => `${k} ${int(r.outcomes[k] ?? 0)}`)
      .join(', '),
  )
  return svg
}

/** @param {CacheStats} st */
function renderRules(st) {
  const first = state.history[0]
  const rows = st.rules
    .map((r) => ({ r, n: requests(r), hits: served(r) }))
    .sort((a, b) => b.n - b.hits - (a.n - a.hits) || b.n - a.n || a.r.id.localeCompare(b.r.id))
  const body = rows.slice(0, ROW_LIMIT).map(({ r, n, hits }) => {
    const ratio = n === 0 ? null : hits / n
    const why = reasons(r).slice(0, 3)
    const before = first && first.stats !== st ? first.byId.get(r.id) : undefined
    const dn = before ? n - requests(before) : 0
    const dh = before ? hits - served(before) : 0
    return h(
      'tr',
      { 'data-rule': r.id },
      h(
        'td',
        {},
        h('span', { class: 'rule-id' }, r.id),
        h('span', { class: 'where', title: r.file }, `${basename(r.file)}:${r.line}`),
      ),
      h('td', { class: 'num requests' }, int(n)),
      h(
        'td',
        {
          class: `num ratio${ratio === null ? '' : ratio < 0.5 ? ' low' : ratio >= 0.9 ? ' high' : ''}`,
          title: `${int(hits)} of ${int(n)} answered from the cache since the cache started`,
        },
        percent(hits, n),
      ),
      h(
        'td',
        { class: 'recent' },
        sparkline(r.id),
        h('span', { class: 'muted mono' }, before ? ` ${percent(dh, dn)}` : ''),
      ),
      h('td', {}, outcomeBar(r)),
      h('td', { class: 'num misses' }, int(n - hits)),
      h(
        'td',
        {},
        why.length === 0
          ? h(
              'span',
              { class: 'muted' },
              n === 0 ? 'no request yet' : 'every request was answered from the cache',
            )
          : h(
              'ul',
              { class: 'reasons' },
              ...why.map(([label, count]) =>
                h('li', {}, label, h('span', { class: 'share' }, percent(count, n))),
              ),
            ),
      ),
    )
  })
  if (rows.length > ROW_LIMIT) {
    const more = `and ${int(rows.length - ROW_LIMIT)} more rules, each with fewer requests not answered from the cache`
    body.push(h('tr', { class: 'more' }, h('td', { colspan: 7, class: 'muted' }, more)))
  }
  $('rules')
    .querySelector('tbody')
    ?.replaceChildren(...body)
  $('unmatched').textContent =
    `${int(st.unmatched)} request${st.unmatched === 1 ? '' : 's'} matched no rule (passed through, no Cache-Status)`
}

function renderKey() {
  $('outcome-key').replaceChildren(
    ...OUTCOMES.map((o) =>
      h(
        'li',
        {},
        s('svg', { width: 10, height: 10 }, s('rect', { class: `o-${o}`, width: 10, height: 10 })),
        OUTCOME_LABEL[o] ?? o,
      ),
    ),
  )
}

/**
 * The upper bound holding the q-quantile of a histogram (cumulative buckets), as text.
 * @param {Histogram} hist
 * @param {number} q
 */
function quantile(hist, q) {
  if (hist.count === 0) return '–'
  const want = q * hist.count
  let lastFinite = 0
  for (const b of hist.buckets) {
    if (b.count >= want) return b.le === null ? `> ${ms(lastFinite)}` : `≤ ${ms(b.le)}`
    if (b.le !== null) lastFinite = b.le
  }
  return '–'
}

/**
 * b − a, bucket by bucket (same bounds), for the latency of the last minutes.
 * @param {Histogram} a
 * @param {Histogram} b
 * @returns {Histogram}
 */
function histDelta(a, b) {
  return {
    count: b.count - a.count,
    sumSeconds: b.sumSeconds - a.sumSeconds,
    buckets: b.buckets.map((x, i) => ({ le: x.le, count: x.count - (a.buckets[i]?.count ?? 0) })),
  }
}

/**
 * @param {Element} dl
 * @param {[string, Node | string][]} pairs
 */
function fill(dl, pairs) {
  dl.replaceChildren(...pairs.flatMap(([k, v]) => [h('dt', {}, k), h('dd', {}, v)]))
}

/** @param {CacheStats} st */
function renderStore(st) {
  const store = st.store
  const read = store.read
  const first = state.history[0]?.stats
  const recent = first && first !== st ? histDelta(first.store.read, read) : undefined
  /** @type {[string, Node | string][]} */
  const pairs = [
    [
      'store',
      h(
        'span',
        {},
        `${store.kind} `,
        h('span', { class: `badge ${store.up ? 'up' : 'down'}` }, store.up ? 'up' : 'down'),
      ),
    ],
    ['reads', int(read.count)],
    [
      'read latency',
      read.count === 0
        ? '–'
        : `mean ${ms(read.sumSeconds / read.count)} · p50 ${quantile(read, 0.5)} · p99 ${quantile(read, 0.99)}`,
    ],
  ]
  if (recent && recent.count > 0)
    pairs.push([
      'in this tab',
      `${int(recent.count)} read${recent.count === 1 ? '' : 's'} · mean ${ms(recent.sumSeconds / recent.count)} · p99 ${quantile(recent, 0.99)}`,
    ])
  pairs.push(
    ['errors', int(store.errors)],
    ['timeouts', int(store.timeouts)],
    ['skipped, not connected', int(store.unavailable)],
  )
  pairs.push(['served from cache', bytes(st.rules.reduce((n, r) => n + r.bytesServed, 0))])
  if (store.entries !== undefined) pairs.push(['entries', int(store.entries)])
  if (store.bytes !== undefined) pairs.push(['bytes', bytes(store.bytes)])
  fill($('store'), pairs)
}

/** @param {CacheStats} st */
function renderPolicy(st) {
  fill($('policy'), [
    ['version', h('code', {}, st.policy.version)],
    ['rules', int(st.policy.rules)],
    ['files', int(st.policy.files.length)],
    [
      'reloads',
      `${int(st.reloads.applied)} applied · ${int(st.reloads.unchanged)} unchanged · ${int(st.reloads.failed)} failed`,
    ],
    ['purges', int(st.purges)],
  ])
  const err = st.reloads.lastError
  const box = $('reload-error')
  box.hidden = err === null
  if (err !== null) {
    box.replaceChildren(
      h('strong', {}, 'last reload failed; the set above stays in force'),
      h('span', { class: 'where' }, `${err.file}:${err.line}:${err.col}`),
      h('div', {}, err.message),
      h('div', { class: 'muted' }, new Date(err.at).toLocaleString('en-GB')),
    )
  }
  /** @type {Map<string, RuleStats[]>} */
  const byFile = new Map(st.policy.files.map((f) => [f, []]))
  for (const r of st.rules) {
    const list = byFile.get(r.file)
    if (list) list.push(r)
    else byFile.set(r.file, [r])
  }
  $('files').replaceChildren(
    ...[...byFile].map(([f, rules]) => {
      rules.sort((a, b) => a.line - b.line)
      const items = rules
        .slice(0, FILE_RULES_LIMIT)
        .map((r) => h('li', {}, h('span', { class: 'mono' }, `${basename(f)}:${r.line}`), ` ${r.id}`))
      if (rules.length > FILE_RULES_LIMIT)
        items.push(h('li', { class: 'muted' }, `and ${int(rules.length - FILE_RULES_LIMIT)} more`))
      return h('div', {}, h('h3', { class: 'mono', title: f }, f), h('ul', {}, ...items))
    }),
  )
}

/** @param {CacheStats} st */
function renderPurgeRules(st) {
  const ids = st.rules.map((r) => r.id)
  const joined = ids.join('\n')
  if (joined === state.purgeRules) return
  state.purgeRules = joined
  $('rule-ids').replaceChildren(...ids.map((id) => h('option', { value: id })))
}

/** @param {string} text */
function parseHeaders(text) {
  /** @type {Record<string, string>} */
  const out = {}
  for (const raw of text.split('\n')) {
    const line = raw.trim()
    if (line === '') continue
    const i = line.indexOf(':')
    if (i <= 0) throw new Error(`not a "Name: value" line: ${line}`)
    const name = line.slice(0, i).trim().toLowerCase()
    const value = line.slice(i + 1).trim()
    out[name] = out[name] === undefined ? value : `${out[name]}, ${value}`
  }
  return out
}

/**
 * @param {{ rule: string | null, ruleAt: string | null, decision: string, index: string,
 *   key: string | null, keyParts: null | { scheme: string | null, host: string | null, path: string,
 *   query: [string, string][], headers: Record<string, string | null>, cookies: [string, string][] | null },
 *   removed: { query: string[], cookies: string[] }, reasons: string[], policyVersion: string,
 *   method: string, url: string }} x
 */
function renderExplain(x) {
  /** @type {[string, Node | string][]} */
  const pairs = [
    ['request', h('code', {}, `${x.method} ${x.url}`)],
    [
      'rule',
      x.rule === null
        ? '(none)'
        : h('span', {}, h('strong', {}, x.rule), h('span', { class: 'where' }, x.ruleAt ?? '')),
    ],
    ['decision', h('span', { class: `decision ${x.decision}` }, x.decision)],
    ['matcher index', x.index],
  ]
  if (x.key !== null) pairs.push(['key', h('code', {}, x.key)])
  const p = x.keyParts
  if (p !== null) {
    pairs.push(
      ['keyed scheme+host', p.scheme === null ? '(not keyed)' : h('code', {}, `${p.scheme}://${p.host}`)],
      ['keyed path', h('code', {}, p.path)],
      [
        'keyed query',
        p.query.length ? h('code', {}, p.query.map(([k, v]) => `${k}=${v}`).join('&')) : '(none)',
      ],
    )
    for (const [name, v] of Object.entries(p.headers))
      pairs.push([`keyed ${name}`, v === null ? '(absent)' : h('code', {}, v)])
    if (p.cookies !== null)
      pairs.push([
        'keyed cookies',
        p.cookies.length ? h('code', {}, p.cookies.map(([k, v]) => `${k}=${v}`).join('; ')) : '(none)',
      ])
  }
  pairs.push(
    ['removed query', x.removed.query.length ? h('code', {}, x.removed.query.join(', ')) : '(nothing)'],
    ['removed cookies', x.removed.cookies.length ? h('code', {}, x.removed.cookies.join(', ')) : '(nothing)'],
  )
  const dl = h('dl', {})
  fill(dl, pairs)
  const box = $('explain-result')
  box.replaceChildren(
    dl,
    h('ul', { class: 'why' }, ...x.reasons.map((r) => h('li', {}, r))),
    h('p', { class: 'muted' }, `policies version ${x.policyVersion}`),
  )
  box.hidden = false
}

/**
 * Runs a form's action, showing its error under it; never lets the browser submit the form.
 * @param {string} id
 * @param {string} errorId
 * @param {() => Promise<void>} action
 */
function onSubmit(id, errorId, action) {
  $(id).addEventListener('submit', (ev) => {
    ev.preventDefault()
    const error = $(errorId)
    error.textContent = ''
    action().catch((err) => {
      error.textContent = err instanceof Error ? err.message : String(err)
    })
  })
}

/** @param {string} id */
const value = (id) => /** @type {HTMLInputElement} */ ($(id)).value

function wire() {
  renderKey()
  onSubmit('token-form', 'token-error', async () => {
    const token = value('token').trim()
    if (token === '') throw new Error('enter the token')
    state.token = token
    sessionStorage.setItem(TOKEN_KEY, token)
    $('token-error').textContent = ''
    await poll()
  })
  $('forget').addEventListener('click', () => {
    forgetToken()
    askToken()
  })
  onSubmit('explain-form', 'explain-error', async () => {
    $('explain-result').hidden = true
    const x = await api('explain', {
      method: value('explain-method'),
      url: value('explain-url').trim(),
      headers: parseHeaders(value('explain-headers')),
    })
    renderExplain(x)
  })
  onSubmit('purge-form', 'purge-error', async () => {
    $('purge-result').textContent = ''
    const tags = value('purge-tags')
      .split(/[\s,]+/)
      .filter((t) => t !== '')
    const urls = value('purge-urls')
      .split('\n')
      .map((u) => u.trim())
      .filter((u) => u !== '')
    const rules = value('purge-rules')
      .split(/[\s,]+/)
      .filter((r) => r !== '')
    if (tags.length + urls.length + rules.length === 0) throw new Error('name at least one tag, URL or rule')
    /** @type {Record<string, string[]>} */
    const body = {}
    if (tags.length) body.tags = tags
    if (urls.length) body.urls = urls
    if (rules.length) body.rules = rules
    const r = await api('purge', body)
    $('purge-result').textContent =
      `purged: ${r.tags} tag${r.tags === 1 ? '' : 's'}, ${r.urls} URL${r.urls === 1 ? '' : 's'}, ` +
      `${r.rules} rule${r.rules === 1 ? '' : 's'} (${r.generations} generation key${r.generations === 1 ? '' : 's'} renewed)`
    await poll()
  })
}

wire()
if (state.token === null) askToken()
else void poll()

/**
 * A real headless browser for the console tests and the README screenshot: Debian's chromium
 * (`apt-get install chromium`; .ci/run installs it when missing) driven by playwright-core, which
 * never downloads a browser of its own. A missing chromium is an error, never a silent skip.
 *
 * It records everything the page would show a developer as a problem: console errors and
 * warnings, uncaught exceptions, the browser's own log (failed loads, CSP reports) and every
 * `securitypolicyviolation` event, seen from a script that runs before the page's own.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { type BrowserContext, chromium, type Page } from 'playwright-core'

/** where Debian's package puts it; CACHET_CHROMIUM overrides */
export const CHROMIUM = process.env.CACHET_CHROMIUM ?? '/usr/bin/chromium'

export interface Problem {
  /** console.error / warning, pageerror, or the browser log's source (network, security, …) */
  readonly source: string
  readonly text: string
}

export interface Browser {
  readonly context: BrowserContext
  readonly page: Page
  /** problems seen so far (cleared by the test when it provoked them on purpose) */
  readonly problems: Problem[]
  /** CSP violations the page's document reported: "<directive> <blocked URI>" */
  violations(): Promise<string[]>
  close(): Promise<void>
}

const ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
]

const WATCH_CSP = `
  globalThis.__cachetViolations = []
  document.addEventListener('securitypolicyviolation', (e) => {
    globalThis.__cachetViolations.push(e.violatedDirective + ' ' + e.blockedURI)
  })
`

export async function openBrowser(viewport = { width: 1280, height: 900 }): Promise<Browser> {
  if (!existsSync(CHROMIUM)) {
    throw new Error(
      `no chromium at ${CHROMIUM}: install Debian's package (apt-get install chromium; .ci/run does) ` +
        'or point CACHET_CHROMIUM at one. The console test needs a real browser and is never skipped.',
    )
  }
  const profile = mkdtempSync(join(tmpdir(), 'cachet-chromium-'))
  let context: BrowserContext
  try {
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: ARGS,
      viewport,
      deviceScaleFactor: 1,
    })
  } catch (err) {
    rmSync(profile, { recursive: true, force: true })
    throw err
  }
  const page = context.pages()[0] ?? (await context.newPage())
  const problems: Problem[] = []
  page.on('console', (m) => {
    if (m.type() === 'error' || m.type() === 'warning')
      problems.push({ source: `console.${m.type()}`, text: m.text() })
  })
  page.on('pageerror', (e) => problems.push({ source: 'pageerror', text: e.message }))
  const cdp = await context.newCDPSession(page)
  cdp.on('Log.entryAdded', ({ entry }) => {
    if (entry.level === 'error' || entry.level === 'warning')
      problems.push({ source: entry.source, text: `${entry.text}${entry.url ? ` (${entry.url})` : ''}` })
  })
  await cdp.send('Log.enable')
  await page.addInitScript({ content: WATCH_CSP })
  return {
    context,
    page,
    problems,
    violations: async () => (await page.evaluate('globalThis.__cachetViolations ?? []')) as string[],
    async close() {
      await context.close()
      rmSync(profile, { recursive: true, force: true })
    },
  }
}

/**
 * The live status page in a real browser: headless Chromium from Debian driven by
 * playwright-core (no browser download), against a 3-daemon cluster of real processes.
 */
import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, expect, it } from 'vitest'
import type { Browser, Page } from 'playwright-core'
import { CHROMIUM, describeWith } from './support/components.js'
import { form, stopAll } from './support.js'
import { killDaemon, sizeOn, startCluster } from './support/daemons.js'
import { waitUntil } from './support/processes.js'
import type { DaemonHandle } from './support/daemons.js'

const OUT = join(import.meta.dirname, '..', '..', 'test-output', 'e2e')
export const SCREENSHOT = join(OUT, 'status-page.png')

describeWith('status page in Chromium (3 daemons)', [CHROMIUM], () => {
  let daemons: DaemonHandle[] = []
  let browser: Browser | undefined
  let page: Page

  beforeAll(async () => {
    daemons = await startCluster({ size: 3, profiles: ['total', 'caller:value'], livenessTimeoutMs: 1500, graceMs: 2000 })
    const { chromium } = await import('playwright-core')
    browser = await chromium.launch({ executablePath: CHROMIUM.files[0] as string })
    page = await browser.newPage({ viewport: { width: 1100, height: 900 } })
  }, 120_000)

  afterAll(async () => {
    await browser?.close()
    await stopAll()
  })

  const text = async (selector: string): Promise<string> => (await page.locator(selector).first().textContent({ timeout: 10_000 }))?.trim() ?? ''
  const waitText = async (selector: string, want: string | RegExp, timeoutMs = 15_000): Promise<void> => {
    await page.locator(selector).filter({ hasText: want }).first().waitFor({ timeout: timeoutMs })
  }
  const acquire = async (d: DaemonHandle, dialog: string, profile: string, limit: number, value?: string): Promise<number> =>
    (await form(`${d.http}/v1/acquire`, { dialog, profile, limit, ...(value !== undefined ? { value } : {}) })).status

  it('shows the cluster live, numbers change as calls are added, a killed daemon turns suspect then dead', async () => {
    const [a, b, c] = daemons as [DaemonHandle, DaemonHandle, DaemonHandle]
    await page.goto(`${a.http}/`)
    await waitText('#conn', 'live')
    await waitText('#nodes tr[data-node="dp-2"] .liveness', 'live')
    await waitText('#nodes tr[data-node="dp-3"] .liveness', 'live')
    expect(await text('#self')).toContain('dp-1')
    await waitText('[data-profile="total"] .size', /^0$/)

    // Calls through the HTTP API of each daemon: the page of dp-1 shows the cluster-wide sizes.
    for (let i = 0; i < 4; i++) expect(await acquire(b, `b-${i}`, 'total', 100)).toBe(200)
    for (let i = 0; i < 3; i++) expect(await acquire(c, `c-${i}`, 'total', 100)).toBe(200)
    for (let i = 0; i < 2; i++) expect(await acquire(a, `a-${i}`, 'total', 100)).toBe(200)
    // dp-1 refuses at the limit once the other daemons' calls have reached it (eventual mode)
    await waitUntil(async () => await sizeOn(a, 'total') === 9, 'dp-1 to count the 9 calls', 10_000)
    expect(await acquire(a, 'a-refused', 'total', 9)).toBe(429)
    // dp-1's own admissions show as a rate for the second they happened in.
    await waitText('#admitted-rate', /^[1-9]/)
    await waitText('#refused-rate', /^[1-9]/)
    for (const [d, who, n] of [[b, 'alice', 3], [c, 'bob', 1], [a, 'alice', 1]] as const) {
      for (let i = 0; i < n; i++) expect(await acquire(d, `${who}-${d.nodeId}-${i}`, 'caller', 10, who)).toBe(200)
    }
    await waitText('[data-profile="total"] .size', /^9$/)
    await waitText('[data-profile="total"] tr[data-node="dp-2"] td.num', /^4$/)
    await waitText('[data-profile="total"] tr[data-node="dp-3"] td.num', /^3$/)
    await waitText('[data-profile="caller"] .size', /^5$/)
    await waitText('[data-profile="caller"] table.top tr', /alice\s*4/)
    await waitText('#admitted-total', /^3$/)
    await waitText('#refused-total', /^1$/)

    // dp-3 dies without a goodbye: suspect after the liveness timeout, then dead; its calls stop counting.
    await killDaemon(c)
    await waitText('#nodes tr[data-node="dp-3"] .liveness', 'suspect', 20_000)
    await waitText('#nodes tr[data-node="dp-3"] .liveness', 'dead', 20_000)
    await waitText('[data-profile="total"] .size', /^6$/)
    await waitText('[data-profile="caller"] .size', /^4$/)
    mkdirSync(OUT, { recursive: true })
    await page.screenshot({ path: SCREENSHOT, fullPage: true })
    console.log(`status page screenshot: ${SCREENSHOT}`)
  }, 120_000)
})

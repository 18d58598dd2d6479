/**
 * The test command without Kamailio, SIPp or Chromium: it skips those end-to-end suites and says
 * which and how to install what they need; with CI=true a missing program fails the run.
 * (DP_E2E_ASSUME_MISSING pretends the programs are missing on a machine that has them.)
 */
import { spawnSync } from 'node:child_process'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { installHint, missing, KAMAILIO, SIPP, CHROMIUM } from './support/components.js'

const ROOT = join(import.meta.dirname, '..', '..')
const E2E = ['test/e2e/kamailio.test.ts', 'test/e2e/status-page.test.ts']

const runTests = (env: Record<string, string>): { status: number | null; out: string } => {
  const { CI: _ci, ...rest } = process.env
  const r = spawnSync(process.execPath, [join(ROOT, 'test', 'run.mjs'), ...E2E], { cwd: ROOT, env: { ...rest, DP_E2E_ASSUME_MISSING: 'kamailio,sipp,chromium', ...env }, encoding: 'utf8', timeout: 120_000 })
  return { status: r.status, out: `${r.stdout}${r.stderr}` }
}

describe('end-to-end suites and missing programs', () => {
  it('names what is missing and the Debian packages that provide it', () => {
    expect(missing([KAMAILIO, { name: 'nothing', files: ['/nonexistent/dp-e2e'], packages: ['none'] }]).map((c) => c.name)).toContain('nothing')
    expect(installHint([KAMAILIO, SIPP, CHROMIUM])).toBe('apt-get update && apt-get install -y kamailio kamailio-utils-modules sip-tester chromium')
  })

  it('without CI: skips them, says which and how to install', () => {
    const r = runTests({})
    for (const mode of ['strict', 'eventual']) expect(r.out).toContain(`skipped end-to-end: Kamailio + SIPp through the daemons (3 hosts, ${mode} mode) [e2e skipped: kamailio, sipp not installed; install: apt-get update && apt-get install -y kamailio kamailio-utils-modules sip-tester]`)
    expect(r.out).toContain('skipped end-to-end: status page in Chromium (3 daemons) [e2e skipped: chromium not installed; install: apt-get update && apt-get install -y chromium]')
    expect(r.out).toMatch(/tests: 0 passed, 0 failed, \d+ skipped/)
  }, 120_000)

  it('with CI=true: a missing program is a failure', () => {
    const r = runTests({ CI: 'true' })
    expect(r.status).toBe(1)
    expect(r.out).toContain('CI=true and kamailio, sipp not installed')
    expect(r.out).toContain('tests: 0 passed, 3 failed')
  }, 120_000)
})

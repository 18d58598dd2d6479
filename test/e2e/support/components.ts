/**
 * External programs the end-to-end tests need (Kamailio with http_client, SIPp, Chromium) and
 * what happens when one is missing: without CI the suite is skipped, with a title saying what
 * is missing and how to install it (test/run.mjs repeats those titles at the end of the run);
 * with `CI=true` a missing program is a failing test, never a skip.
 */
import { existsSync } from 'node:fs'
import { describe, it } from 'vitest'

/** One external program. */
export interface Component {
  readonly name: string
  /** Files that must exist. */
  readonly files: readonly string[]
  /** Debian packages that provide it. */
  readonly packages: readonly string[]
}

export const KAMAILIO: Component = {
  name: 'kamailio',
  files: ['/usr/sbin/kamailio', '/usr/lib/x86_64-linux-gnu/kamailio/modules/dialog.so', '/usr/lib/x86_64-linux-gnu/kamailio/modules/http_client.so'],
  packages: ['kamailio', 'kamailio-utils-modules']
}
export const SIPP: Component = { name: 'sipp', files: ['/usr/bin/sipp'], packages: ['sip-tester'] }
export const CHROMIUM: Component = { name: 'chromium', files: ['/usr/bin/chromium'], packages: ['chromium'] }

/**
 * The components of `needed` that are not installed. `DP_E2E_ASSUME_MISSING=kamailio,sipp`
 * pretends some are missing (to check the skip and the CI failure on a machine that has them).
 */
export const missing = (needed: readonly Component[]): Component[] => {
  const assumed = (process.env['DP_E2E_ASSUME_MISSING'] ?? '').split(',').map((s) => s.trim())
  return needed.filter((c) => assumed.includes(c.name) || !c.files.every((f) => existsSync(f)))
}

/** The install line for `components`. */
export const installHint = (components: readonly Component[]): string =>
  `apt-get update && apt-get install -y ${[...new Set(components.flatMap((c) => c.packages))].join(' ')}`

/**
 * `describe` when every component is installed. Otherwise: with `CI=true`, one failing test that
 * names what is missing; without, a skipped suite whose title says what is missing and how to
 * install it.
 */
export const describeWith = (title: string, needed: readonly Component[], fn: () => void): void => {
  const gone = missing(needed)
  if (gone.length === 0) { describe(title, fn); return }
  const what = `${gone.map((c) => c.name).join(', ')} not installed; install: ${installHint(gone)}`
  if (process.env['CI'] === 'true') {
    describe(title, () => { it(`needs ${gone.map((c) => c.name).join(', ')}`, () => { throw new Error(`CI=true and ${what}`) }) })
    return
  }
  console.warn(`skipping "${title}": ${what}`)
  describe.skip(`${title} [e2e skipped: ${what}]`, fn)
}

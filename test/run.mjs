#!/usr/bin/env node
// The project's test command (`npm test`): runs vitest once with its JSON reporter next to the
// default one, then prints one plain line `tests: N passed, N failed` computed from that run,
// and exits non-zero when anything failed or no test ran. Extra arguments go to vitest.
import { spawnSync } from 'node:child_process'
import { readFileSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { tmpdir } from 'node:os'

const out = join(tmpdir(), `dialog-profiles-vitest-${process.pid}.json`)
rmSync(out, { force: true })
const vitest = join(import.meta.dirname, '..', 'node_modules', 'vitest', 'vitest.mjs')
const run = spawnSync(process.execPath, [vitest, 'run', '--reporter=default', '--reporter=json', `--outputFile.json=${out}`, ...process.argv.slice(2)], { stdio: 'inherit' })

let passed = 0; let failed = 0; let skipped = 0
/** End-to-end suites skipped for a missing program (test/e2e/support/components.ts names them). */
const e2eSkipped = new Set()
try {
  const report = JSON.parse(readFileSync(out, 'utf8'))
  passed = report.numPassedTests ?? 0
  failed = (report.numFailedTests ?? 0)
  skipped = (report.numPendingTests ?? 0) + (report.numTodoTests ?? 0)
  // A file that failed to load has no tests: count it as a failure.
  for (const file of report.testResults ?? []) {
    if (file.status === 'failed' && (file.assertionResults ?? []).length === 0) failed++
    for (const t of file.assertionResults ?? []) {
      const suite = (t.ancestorTitles ?? []).find((a) => a.includes('[e2e skipped:'))
      if (suite !== undefined) e2eSkipped.add(suite)
    }
  }
} catch (err) {
  console.error(`could not read the vitest report ${out}: ${err instanceof Error ? err.message : String(err)}`)
  failed++
}
rmSync(out, { force: true })
for (const suite of e2eSkipped) console.log(`skipped end-to-end: ${suite}`)
console.log(`tests: ${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}`)
process.exit(failed > 0 || passed === 0 || run.status !== 0 ? 1 : 0)

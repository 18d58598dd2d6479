/**
 * Vitest reporter that ends the run with one plain line, `tests: N passed, N failed[, N skipped]`,
 * counted from the run's own results (CI reads that line). A test file that fails to load and an
 * unhandled error each count as a failure; a run where no test passed fails. Before it, one line
 * per end-to-end suite skipped for a missing program (test/e2e/support/components.ts puts what is
 * missing and how to install it in the suite's name).
 */
import type { Reporter, TestModule } from 'vitest/node'

export default class SummaryReporter implements Reporter {
  onTestRunEnd (testModules: ReadonlyArray<TestModule>, unhandledErrors: ReadonlyArray<unknown>): void {
    let passed = 0; let failed = 0; let skipped = 0
    const e2eSkipped = new Set<string>()
    for (const mod of testModules) {
      let tests = 0
      for (const t of mod.children.allTests()) {
        tests++
        const state = t.result().state
        if (state === 'passed') passed++
        else if (state === 'failed') failed++
        else skipped++
        const suite = t.fullName.split(' > ').find((name) => name.includes('[e2e skipped:'))
        if (suite !== undefined) e2eSkipped.add(suite)
      }
      if (tests === 0 && mod.state() === 'failed') failed++
    }
    failed += unhandledErrors.length
    for (const suite of e2eSkipped) console.log(`skipped end-to-end: ${suite}`)
    console.log(`tests: ${passed} passed, ${failed} failed${skipped > 0 ? `, ${skipped} skipped` : ''}`)
    if (failed > 0 || passed === 0) process.exitCode = 1
  }
}

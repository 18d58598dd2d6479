#!/usr/bin/env node
// The project's test command (`npm test`): runs vitest once with its default reporter and
// test/support/summary-reporter.ts, which ends the run with one plain line
// `tests: N passed, N failed` counted from the run itself; exits non-zero when anything failed
// or no test passed. Extra arguments go to vitest (`npm test -- test/profile-store.test.ts`).
import { spawnSync } from 'node:child_process'
import { join } from 'node:path'

const root = join(import.meta.dirname, '..')
const vitest = join(root, 'node_modules', 'vitest', 'vitest.mjs')
const reporter = join(root, 'test', 'support', 'summary-reporter.ts')
const run = spawnSync(process.execPath, [vitest, 'run', '--reporter=default', `--reporter=${reporter}`, ...process.argv.slice(2)], { stdio: 'inherit', cwd: root })
process.exit(run.status === 0 ? 0 : 1)

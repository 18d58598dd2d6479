import { defineConfig } from 'vitest/config'

// One test run for unit, property, cluster (real sockets on loopback) and end-to-end tests.
// Property tests read FC_SEED / FC_RUNS (see test/support/fc.ts); CI (.ci/run) pins FC_SEED to
// the default seed and leaves FC_RUNS unset, so each property runs its own default number of runs.
// Two groups: everything but test/e2e/ first (two files at once: two cores), then the
// end-to-end suites one file at a time, so real daemons, Kamailio, SIPp and Chromium never
// compete with each other or with the socket tests for the two cores.
const shared = { testTimeout: 60_000, hookTimeout: 60_000 }
export default defineConfig({
  test: {
    pool: 'forks',
    maxWorkers: 2,
    projects: [
      { test: { ...shared, name: 'unit-and-cluster', include: ['test/**/*.test.ts'], exclude: ['test/e2e/**'], fileParallelism: true, sequence: { groupOrder: 0 } } },
      { test: { ...shared, name: 'e2e', include: ['test/e2e/**/*.test.ts'], fileParallelism: false, sequence: { groupOrder: 1 } } }
    ]
  }
})

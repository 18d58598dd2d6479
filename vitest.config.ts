import { defineConfig } from 'vitest/config'

// One test run for unit, property, cluster (real sockets on loopback) and end-to-end tests.
// Property tests read FC_SEED / FC_RUNS (see test/support/fc.ts); CI pins both.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // Two cores: at most two test files at once, so socket tests are not starved.
    maxWorkers: 2,
    fileParallelism: true
  }
})

/**
 * `dialog-profiles/testing`: helpers for tests of code built on dialog-profiles.
 */
export { InMemoryCluster } from './in-memory-cluster.js'
export type { InMemoryClusterOptions, InFlightMessage, TrafficCounters } from './in-memory-cluster.js'
export { seededRandom } from '../internal/random.js'
export type { Random } from '../internal/random.js'

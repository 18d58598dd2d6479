import { describe, expect, it } from 'vitest'
import { ClusterNode, ProfileStore } from '../../src/index.js'
import { codeOf as code } from '../support/errors.js'

describe('numeric options', () => {
  it('are refused with DP_ERR_INVALID_ARGUMENT, never clamped', () => {
    const base = { nodeId: 'a', secret: 'checks-secret', log: () => {} }
    expect(code(() => new ClusterNode({ ...base, graceMs: -1 }))).toBe('DP_ERR_INVALID_ARGUMENT')
    expect(code(() => new ClusterNode({ ...base, purgeDelayMs: Number.NaN }))).toBe('DP_ERR_INVALID_ARGUMENT')
    expect(code(() => new ClusterNode({ ...base, heartbeatIntervalMs: 0 }))).toBe('DP_ERR_INVALID_ARGUMENT')
    expect(code(() => new ProfileStore({ nodeId: 'a', maxPendingWrites: 1.5 }))).toBe('DP_ERR_INVALID_ARGUMENT')
    expect(code(() => new ProfileStore({ nodeId: 'a', sweepGraceMs: -5 }))).toBe('DP_ERR_INVALID_ARGUMENT')
    expect(code(() => new ProfileStore({ nodeId: 'a', incarnation: -1 }))).toBe('DP_ERR_INVALID_ARGUMENT')
  })
})

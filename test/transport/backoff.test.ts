import { describe, expect, it } from 'vitest'
import { backoffDelay } from '../../src/transport/backoff.js'

describe('backoffDelay', () => {
  it('reconnect delays grow exponentially, with jitter from the injected random, up to the cap', () => {
    const lo = [0, 1, 2, 3, 10].map((a) => backoffDelay(a, { initialMs: 100, maxMs: 5000, random: () => 0 }))
    const hi = [0, 1, 2, 3, 10].map((a) => backoffDelay(a, { initialMs: 100, maxMs: 5000, random: () => 0.999999 }))
    expect(lo).toEqual([50, 100, 200, 400, 2500])
    expect(hi).toEqual([100, 200, 400, 800, 5000])
  })
})

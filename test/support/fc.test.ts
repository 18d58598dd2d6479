import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { fcParams, lastRunsExecuted } from './fc.js'

describe('fcParams run floor', () => {
  it('fails a property that its time limit cut short below the floor, and reports the runs executed', () => {
    const slow = fc.property(fc.nat(), () => { const until = Date.now() + 5; while (Date.now() < until) { /* spin */ } })
    expect(() => { fc.assert(slow, fcParams(1000, 500, 50)) }).toThrow(/below its floor of 500/)
    expect(lastRunsExecuted).toBeLessThan(500)
    fc.assert(fc.property(fc.nat(), () => {}), fcParams(20, 20))
    expect(lastRunsExecuted).toBe(20)
  })
})

import { describe, expect, it } from 'vitest'
import { DialogProfilesError } from '../src/index.js'
import { fail } from '../src/errors.js'
import { Readiness } from '../src/readiness.js'
import { rejectionOf } from './support/errors.js'


describe('Readiness', () => {
  it('names why the sync has not completed, with the cause, and afterTimeout allow waits for the predicate', async () => {
    let alone = false
    const r = new Readiness('reject', 20, 50, 'allow', () => alone)
    const reasons: string[] = []
    r.start((reason) => { reasons.push(reason) }, () => ({ reason: 'peer ws://x:1 failed authentication', cause: fail('DP_ERR_AUTH', 'bad secret') }))
    const timedOut = await rejectionOf(r.ready)
    expect(timedOut.code).toBe('DP_ERR_NOT_READY')
    expect(timedOut.message).toContain('failed authentication')
    expect((timedOut.cause as DialogProfilesError).code).toBe('DP_ERR_AUTH')
    expect(reasons).toEqual(['peer ws://x:1 failed authentication'])
    expect(r.timedOut).toBe(true)
    // The predicate says a peer answered: still refused, naming the cause.
    const refused = await rejectionOf(r.admit())
    expect(refused.message).toContain('failed authentication')
    expect((refused.cause as DialogProfilesError).code).toBe('DP_ERR_AUTH')
    alone = true
    await r.admit()
    r.close()
  })

  it('under wait, a waiter is not released at the timeout while the predicate refuses, and is refused after waitMs', async () => {
    const r = new Readiness('wait', 10, 60, 'allow', () => false)
    r.start(() => {}, () => ({ reason: 'answered but failed' }))
    const waiting = r.admit()
    const e = await rejectionOf(waiting)
    expect(e.message).toContain('readiness policy: wait')
    r.close()
  })
})

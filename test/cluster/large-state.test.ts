import { afterAll, describe, expect, it } from 'vitest'
import { nodeFactory } from './support.js'

// A multi-writer variant of the 100k late joiner in cluster-node.test.ts that prints its
// figures; on demand: `DP_LARGE=1 npx vitest run test/cluster/large-state.test.ts`.
const nodes = nodeFactory()
afterAll(async () => { await nodes.closeAll() })

describe('late joiner with a large state', () => {
  it.runIf(process.env['DP_LARGE'] === '1')('a node started while the cluster holds 100,000 memberships reaches the full state', async () => {
    const writers = 4
    const per = 25_000
    const seeds = []
    for (let w = 0; w < writers; w++) {
      const s = await nodes.start(`w${w}`, [], { livenessTimeoutMs: 600_000 })
      const t0 = performance.now()
      for (let i = 0; i < per; i++) s.store.add(`w${w}-dialog-${i}@host.example`, 'caller', `user-${i % 100}`)
      console.log(`writer w${w}: ${per} adds in ${(performance.now() - t0).toFixed(0)} ms`)
      seeds.push(s)
    }
    // Join the writers into a chain, then let a fresh node join at the far end.
    const hub = await nodes.start('hub', seeds.map((s) => s.url()!), { livenessTimeoutMs: 600_000, readiness: { policy: 'reject', timeoutMs: 60_000, peers: 'all' } })
    await hub.ready
    const total = writers * per
    const t1 = performance.now()
    const joiner = await nodes.start('joiner', [hub.url()!], { livenessTimeoutMs: 600_000, readiness: { policy: 'reject', timeoutMs: 60_000 } })
    await joiner.ready
    const joinMs = performance.now() - t1
    expect(joiner.store.size('caller')).toBe(total)
    const view = joiner.cluster()
    console.log(`late joiner: ${total} memberships, ${view.document.stateBytes} bytes of state, ready after ${joinMs.toFixed(0)} ms`)
    expect(joiner.store.recount().ok).toBe(true)
  })
})

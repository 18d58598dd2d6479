/**
 * Status page (issue 13 item 1): the cost of one status snapshot (what the page's event stream
 * sends every second) at 100k live calls spread over 10k values of a valued profile (--quick:
 * 20k over 2k), next to `ClusterNode.cluster()` (peers and document figures, encoding nothing)
 * and to encoding the whole document (what `cluster()` did to measure it, and what a page
 * showing the document would pay). Checks the snapshot's sizes against the store first.
 */
import * as Y from 'yjs'
import { ClusterNode } from '../../src/cluster-node.js'
import { StatusFeed } from '../../src/server/status-feed.js'
import type { BenchContext, Scenario } from '../lib/types.js'
import { percentile, nowNs } from '../lib/stats.js'

const time = (ctx: BenchContext, n: number, fn: () => unknown): number => {
  const ns: number[] = []
  for (let i = 0; i < n; i++) {
    ctx.checkBudget()
    const t = nowNs()
    fn()
    ns.push(nowNs() - t)
  }
  return percentile(ns, 50) / 1e6
}

/** The status-page scenario. */
export const statusPage: Scenario = {
  name: 'status-page',
  description: 'one status snapshot (aggregates, top values) at 100k calls and 10k values vs cluster() and vs encoding the document',
  budgetSeconds: { full: 300, quick: 60 },
  run: async (ctx: BenchContext) => {
    const calls = ctx.quick ? 20_000 : 100_000
    const values = calls / 10
    const node = new ClusterNode({ nodeId: 'bench', secret: 'bench-status-secret', profiles: [{ name: 'total' }, { name: 'caller', withValue: true }], log: () => {} })
    await node.start()
    try {
      for (let i = 0; i < calls; i++) {
        if (i % 10_000 === 0) ctx.checkBudget()
        node.store.add(`call-${i}`, 'total')
        node.store.add(`call-${i}`, 'caller', `user-${i % values}`)
      }
      node.store.flushWrites()
      const feed = new StatusFeed({ node })
      const s = feed.snapshot()
      const caller = s.profiles.find((p) => p.name === 'caller')
      ctx.verify(s.profiles.find((p) => p.name === 'total')?.size === calls && caller?.values === values && caller.top.length === 10, 'the snapshot disagrees with the store')
      const label = `@${calls / 1000}k calls, ${values / 1000}k values`
      const snapshotMs = time(ctx, ctx.quick ? 20 : 50, () => JSON.stringify(feed.snapshot()))
      const clusterMs = time(ctx, ctx.quick ? 20 : 50, () => node.cluster())
      const encodeMs = time(ctx, ctx.quick ? 5 : 10, () => Y.encodeStateAsUpdate(node.store.doc))
      ctx.report('status snapshot', `build+JSON p50 ${label}`, snapshotMs, 'ms')
      ctx.report('cluster()', `p50 ${label}`, clusterMs, 'ms')
      ctx.report('encode the document', `p50 ${label}`, encodeMs, 'ms')
      ctx.report('status snapshot/encode', `time ${label}`, snapshotMs / encodeMs, 'x')
      ctx.goal('status snapshot', `bytes ${label}`, JSON.stringify(s).length, 'bytes', '<=', 4096, 'issue 13 item 1 (aggregates and top lists only)')
    } finally {
      await node.close()
    }
  }
}

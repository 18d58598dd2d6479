/**
 * Hub topology (issue 11 item 5): ClusterNodes joining through one y-websocket hub
 * (`@y/websocket-server` 0.1.1 in its own process, the `hubs` option) against the baseline in
 * the same run, a flat Y.Map per node through the same kind of hub with `y-websocket` 3
 * providers. Node processes on 127.0.0.1 as in the `cluster` scenario (same steps, same checks:
 * after every step every node must hold exactly the union of the live calls, then nothing).
 * Reported as ratios against the baseline: bytes and update messages received per op per node
 * (at the lowest rate), and the sustained rate with p99 convergence under 50 ms.
 * Quick: batched writes at 3 and 5 nodes; full: both write modes at 3, 5 and 8 nodes.
 */
import type { BenchContext, Scenario } from '../lib/types.js'
import type { WriteMode } from '../lib/cluster-protocol.js'
import { measure, rateSteps } from './cluster.js'

const OURS = 'ClusterNode through a y-websocket hub'
const BASE = 'flat Y.Map + y-websocket hub'

export const hubTopology: Scenario = {
  name: 'hub-topology',
  description: 'ClusterNode through a y-websocket hub vs flat Y.Map + y-websocket hub, 3/5 node processes (8 full): bytes and update messages per op per node, sustained ops/s, as ratios',
  budgetSeconds: { full: 2400, quick: 1200 },
  run: async (ctx: BenchContext) => {
    const rates = rateSteps(ctx.quick)
    const durationMs = ctx.quick ? 2000 : 5000
    const sizes = ctx.quick ? [3, 5] : [3, 5, 8]
    const modes: WriteMode[] = ctx.quick ? ['batched'] : ['batched', 'per-op']
    for (const mode of modes) {
      for (const n of sizes) {
        const ours = await measure(ctx, 'dialog-profiles-hub', OURS, mode, n, rates, durationMs)
        const base = await measure(ctx, 'ymap-hub', BASE, mode, n, rates, durationMs)
        const label = `${OURS} / baseline, ${mode}, ${n} nodes`
        ctx.report(label, 'bytes received per op per node ratio', ours.bytesPerOp / base.bytesPerOp, 'x')
        ctx.report(label, 'update messages received per op per node ratio', ours.msgsPerOp / base.msgsPerOp, 'x')
        ctx.report(label, 'sustained ops/s ratio', base.best > 0 ? ours.best / base.best : Number.NaN, 'x')
      }
    }
  }
}

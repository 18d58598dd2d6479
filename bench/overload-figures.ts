/**
 * Overload figures of one cluster size and write mode (not a scenario: a quick look at one
 * case of the `cluster` scenario, issue 11 item 4).
 *   [DP_BENCH_IMPL=ymap-hub] node --import tsx bench/overload-figures.ts [NODES] [MODE] [RATE...]
 * NODES node processes (default 8), MODE `batched` or `per-op` (default batched), one step per
 * RATE in membership ops/s cluster-wide (default 2000 5000 10000), then one at twice the
 * highest rate sustained with p99 lag < 50 ms. Per step: ops/s issued, convergence p50/p99,
 * the largest event-loop stall of any node and the CPU time that node used during it, peers
 * taken for suspect or dead, connections lost, node CPU per op per node during the measured
 * window. Every step checks that the nodes converged. With DP_BENCH_IMPL=ymap-hub, the hub
 * baseline instead, without the step at twice its sustained rate.
 */
import { measure } from './scenarios/cluster.js'
import type { BenchContext } from './lib/types.js'
import { BudgetExceededError, ConvergenceError } from './lib/types.js'
import type { WriteMode } from './lib/cluster-protocol.js'

const n = Number(process.argv[2] ?? '8')
const mode = (process.argv[3] ?? 'batched') as WriteMode
const rates = process.argv.length > 4 ? process.argv.slice(4).map(Number) : [2000, 5000, 10_000]
const end = performance.now() + 600_000
const rows: string[] = []
const ctx: BenchContext = {
  quick: true,
  seed: 42,
  report: (impl, metric, value, unit) => { rows.push(`${impl} | ${metric} | ${Number.isFinite(value) ? Math.round(value * 10) / 10 : value} ${unit}`) },
  goal: (impl, metric, value, unit, op, target) => { rows.push(`${impl} | ${metric} | ${Math.round(value * 10) / 10} ${unit} (goal ${op} ${target})`) },
  notice: (m) => { rows.push(`notice: ${m}`) },
  progress: () => ({ update: () => {}, done: () => {} }),
  verify: (ok, message) => { if (!ok) throw new ConvergenceError(message) },
  checkBudget: () => { if (performance.now() > end) throw new BudgetExceededError('10 minutes spent') },
  budgetSpent: () => performance.now() > end,
  redis: async () => null
}
const baseline = process.env['DP_BENCH_IMPL'] === 'ymap-hub'
await measure(ctx, baseline ? 'ymap-hub' : 'dialog-profiles', baseline ? 'flat Y.Map + y-websocket hub' : 'ClusterNode mesh', mode, n, rates, 2000, !baseline)
for (const r of rows) if (/stall|sustained|p99|issued|suspect|lost|measured window/.test(r)) console.log(r)

/**
 * Memory (issue 4 item 5): heap and encoded state per live membership at 10k and 100k live
 * (--quick: 10k and 20k), 3 replicas filled by 3 owners, next to the flat Y.Map baseline.
 * Checks every replica counts exactly the live set before measuring.
 */
import type { BenchContext, Scenario } from '../lib/types.js'
import type { SetImplementation } from '../lib/replicated-set.js'
import { fill, sizeLabel } from '../lib/fill.js'
import { subSeed } from '../lib/prng.js'
import { settledHeap } from '../lib/stats.js'
import { profileStore } from '../implementations/profile-store.js'
import { flatYMap } from '../implementations/flat-ymap.js'

const REPLICAS = 3

/** Fills, verifies and measures one implementation at one size. */
const measure = async (ctx: BenchContext, impl: SetImplementation, n: number): Promise<{ heap: number, state: number }> => {
  const heap0 = await settledHeap()
  const f = fill(ctx, impl, n, REPLICAS, subSeed(ctx.seed, `memory/${n}`), 'mem')
  try {
    const members = new Set(f.set.members(0))
    ctx.verify(members.size === n && f.dialogs.every((d) => members.has(d)), `${impl.name} holds a different set at ${n}`)
    members.clear()
    const heap = (await settledHeap() - heap0) / REPLICAS / n
    const state = f.set.encodeState(0).byteLength / n
    const at = `@${sizeLabel(n)} live`
    ctx.report(impl.name, `heap per membership per replica ${at}`, heap, 'bytes')
    ctx.report(impl.name, `state per membership ${at}`, state, 'bytes')
    ctx.report(impl.name, `fill adds/s (3 replicas) to ${sizeLabel(n)}`, f.addsPerSecond, 'ops/s')
    ctx.report(impl.name, `add+deliver time ${at}`, f.lastAddNs / 1000, 'us')
    return { heap, state }
  } finally {
    f.set.destroy()
  }
}

/** The memory scenario. */
export const memory: Scenario = {
  name: 'memory',
  description: 'heap and encoded bytes per live membership at 10k and 100k live, ProfileStore vs flat Y.Map',
  budgetSeconds: { full: 900, quick: 40 },
  run: async (ctx: BenchContext) => {
    const sizes = ctx.quick ? [10_000, 20_000] : [10_000, 100_000]
    for (const n of sizes) {
      const ours = await measure(ctx, profileStore, n)
      const base = await measure(ctx, flatYMap, n)
      ctx.report('ProfileStore/flat Y.Map', `heap @${sizeLabel(n)} live`, ours.heap / base.heap, 'x')
      ctx.report('ProfileStore/flat Y.Map', `state @${sizeLabel(n)} live`, ours.state / base.state, 'x')
    }
  }
}

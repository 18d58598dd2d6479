/**
 * Late join (issue 4 item 4): a new node receives the full state of a cluster holding 10k and
 * 100k live memberships (--quick: 10k and 20k) and applies it in process
 * (`encodeState` / `applyUpdate`). Reports bytes, encode time on the serving node and apply
 * time on the joiner (median of several joins; each joiner must count the full live set).
 * Goal: 100k in under 1 s.
 */
import type { BenchContext, Scenario } from '../lib/types.js'
import type { SetImplementation } from '../lib/replicated-set.js'
import { fill, sizeLabel } from '../lib/fill.js'
import { subSeed } from '../lib/prng.js'
import { median, nowNs } from '../lib/stats.js'
import { profileStore } from '../implementations/profile-store.js'
import { flatYMap } from '../implementations/flat-ymap.js'

const REPLICAS = 3

/** Fills one implementation to `n` live, then joins fresh replicas from its state `repeats` times. Returns the median join ms. */
const measure = (ctx: BenchContext, impl: SetImplementation, n: number, repeats: number): number => {
  const at = `@${sizeLabel(n)} live`
  const seed = subSeed(ctx.seed, `late-join/${n}`)
  const f = fill(ctx, impl, n, REPLICAS, seed, 'join')
  try {
    const want = new Set(f.dialogs)
    const encodes: number[] = []
    const applies: number[] = []
    let bytes = 0
    for (let r = 0; r < repeats; r++) {
      ctx.checkBudget()
      const t0 = nowNs()
      const state = f.set.encodeState(r % REPLICAS)
      const t1 = nowNs()
      const joined = impl.join(state, seed + r)
      const size = joined.size()
      const t2 = nowNs()
      try {
        ctx.verify(size === n, `${impl.name} joiner counts ${size}, expected ${n}`)
        const got = joined.members()
        ctx.verify(got.length === n && got.every((d) => want.has(d)), `${impl.name} joiner holds a different set`)
      } finally {
        joined.destroy()
      }
      bytes = state.byteLength
      encodes.push((t1 - t0) / 1e6)
      applies.push((t2 - t1) / 1e6)
    }
    const apply = median(applies)
    ctx.report(impl.name, `state bytes ${at}`, bytes, 'bytes')
    ctx.report(impl.name, `encode ms ${at}`, median(encodes), 'ms')
    if (impl === profileStore && n >= 100_000) ctx.goal(impl.name, `join ms ${at}`, apply, 'ms', '<=', 1000, 'issue 4 item 4')
    else ctx.report(impl.name, `join ms ${at}`, apply, 'ms')
    return apply
  } finally {
    f.set.destroy()
  }
}

/** The late-join scenario. */
export const lateJoin: Scenario = {
  name: 'late-join',
  description: 'bytes and time for a fresh store to apply the full state of 10k and 100k live memberships',
  budgetSeconds: { full: 900, quick: 40 },
  run: async (ctx: BenchContext) => {
    const sizes = ctx.quick ? [10_000, 20_000] : [10_000, 100_000]
    const repeats = ctx.quick ? 3 : 5
    for (const n of sizes) {
      const at = `@${sizeLabel(n)} live`
      const ours = measure(ctx, profileStore, n, repeats)
      const base = measure(ctx, flatYMap, n, repeats)
      ctx.report('ProfileStore/flat Y.Map', `join time ${at}`, ours / base, 'x')
    }
    await Promise.resolve()
  }
}

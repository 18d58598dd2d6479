/**
 * Builds a cluster of replicas holding `n` live memberships, added round-robin by 3 owner nodes
 * and delivered at once, as the memory and late-join scenarios need. Reports how fast filling
 * went (the cost of one add at that size matters for a node that holds many calls).
 */
import type { BenchContext } from './types.js'
import type { ReplicatedSet, SetImplementation } from './replicated-set.js'
import { dialogId } from './prng.js'
import { nowNs } from './stats.js'

/** A filled cluster and what filling it cost. */
export interface Filled {
  readonly set: ReplicatedSet
  readonly dialogs: readonly string[]
  /** Adds (with delivery to the other replicas) per second over the whole fill. */
  readonly addsPerSecond: number
  /** Mean time of one add with delivery, over the last 1,000 adds (ns). */
  readonly lastAddNs: number
}

/** Fills a new `replicas`-replica cluster of `impl` with `n` memberships; verifies every replica counts them all. */
export const fill = (ctx: BenchContext, impl: SetImplementation, n: number, replicas: number, seed: number, tag: string): Filled => {
  const set = impl.create(replicas, seed)
  const dialogs: string[] = []
  const bar = ctx.progress(`${impl.name} fill ${n}`, n)
  try {
    const t0 = nowNs()
    let tLast = t0
    for (let i = 0; i < n; i++) {
      if (i === n - 1000) tLast = nowNs()
      const d = dialogId(i, tag)
      set.add(i % replicas, d)
      set.flush()
      dialogs.push(d)
      if ((i & 1023) === 1023) { bar.update(i); ctx.checkBudget() }
    }
    const t1 = nowNs()
    set.maintain()
    for (let r = 0; r < replicas; r++) ctx.verify(set.size(r) === n, `${impl.name} replica ${r} counts ${set.size(r)} after filling ${n}`)
    return { set, dialogs, addsPerSecond: n / ((t1 - t0) / 1e9), lastAddNs: (t1 - tLast) / Math.min(1000, n) }
  } catch (err) {
    set.destroy()
    throw err
  } finally {
    bar.done()
  }
}

/** Human label of a size: 10k, 100k, 1M. */
export const sizeLabel = (n: number): string =>
  n >= 1_000_000 && n % 1_000_000 === 0 ? `${n / 1_000_000}M` : n >= 1000 && n % 1000 === 0 ? `${n / 1000}k` : String(n)

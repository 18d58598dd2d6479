/**
 * Pending releases (issue 9 item 2): what remembering a release that found nothing costs. Two
 * stores in one process, the window on (the default, 5 s and 10,000 held) and off (0):
 * releases/s of calls this node does not know (each is remembered; past 10,000 the oldest is
 * dropped), and releases/s of calls it knows (the usual BYE: nothing is remembered), in rounds
 * that alternate the two stores. Checks: every known call is gone, the unknown releases are held
 * up to the bound and the rest counted as dropped.
 */
import { DEFAULT_MAX_PENDING_RELEASES, ProfileStore } from '../../src/index.js'
import type { BenchContext, Scenario } from '../lib/types.js'
import { nowNs, percentile } from '../lib/stats.js'

const PROFILES = [{ name: 'total' }, { name: 'caller', withValue: true }]

/** Releases/s of `n` calls on a fresh store: known (added first) or not. */
const round = (ctx: BenchContext, pendingReleaseMs: number, n: number, known: boolean, tag: string): number => {
  const s = new ProfileStore({ nodeId: 'bench', profiles: PROFILES, pendingReleaseMs, clock: () => 1_000_000, incarnation: 1 })
  try {
    if (known) for (let i = 0; i < n; i++) { s.add(`${tag}-${i}`, 'total'); s.add(`${tag}-${i}`, 'caller', `u${i % 100}`) }
    s.flushWrites()
    ctx.checkBudget()
    let removed = 0
    const t = nowNs()
    for (let i = 0; i < n; i++) removed += s.removeDialog(`${tag}-${i}`)
    const ns = nowNs() - t
    s.flushWrites()
    const st = s.stats()
    ctx.verify(removed === (known ? 2 * n : 0) && s.size('total') === 0, 'a release missed its call')
    const held = known || pendingReleaseMs === 0 ? 0 : Math.min(n, DEFAULT_MAX_PENDING_RELEASES)
    ctx.verify(st.pendingReleases === held && st.pendingReleasesDropped === (held === 0 ? 0 : n - held), `held ${st.pendingReleases}, dropped ${st.pendingReleasesDropped}`)
    return n / (ns / 1e9)
  } finally { s.destroy() }
}

export const pendingRelease: Scenario = {
  name: 'pending-release',
  description: 'releases/s with the pending-release window on vs off, of calls this node does not know and of calls it knows',
  budgetSeconds: { full: 120, quick: 60 },
  run: async (ctx) => {
    const n = ctx.quick ? 50_000 : 200_000
    const rounds = ctx.quick ? 5 : 9
    for (const known of [false, true]) {
      const on: number[] = []
      const off: number[] = []
      for (let r = 0; r < rounds; r++) {
        off.push(round(ctx, 0, n, known, `off${r}`))
        on.push(round(ctx, 5000, n, known, `on${r}`))
      }
      const what = known ? 'known calls' : 'unknown calls'
      const onMedian = percentile(on, 50)
      const offMedian = percentile(off, 50)
      ctx.report('window on', `releases/s, ${what} (median of ${rounds})`, onMedian, 'ops/s')
      ctx.report('window off', `releases/s, ${what} (median of ${rounds})`, offMedian, 'ops/s')
      ctx.report('on/off', `releases/s, ${what}`, onMedian / offMedian, 'x')
    }
  }
}

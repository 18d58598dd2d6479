/**
 * The removal-notice book of one store: every removal notice present in the document, by the
 * partition that wrote it and by the partition it addresses, and for each addressed record the
 * number of present notices that name it. A membership record named by a present notice is
 * removed (see the ownership protocol in `transaction-follower.ts`): the book answers `names()`
 * in O(1), also for a record that has not arrived yet.
 */
import type { RemovalNotice } from './partitions.js'
import { setIfUndefined } from 'lib0/map'

export class NoticeBook {
  private readonly byTarget = new Map<number, Set<RemovalNotice>>()
  /** Target client -> clock -> number of present notices naming it. */
  private readonly named = new Map<number, Map<number, number>>()
  private count = 0

  get size (): number { return this.count }

  has (n: RemovalNotice): boolean { return n.writer.notices.get(n.clock) === n }

  add (n: RemovalNotice): void {
    n.writer.notices.set(n.clock, n)
    this.count++
    setIfUndefined(this.byTarget, n.targetClient, () => new Set()).add(n)
    const clocks = setIfUndefined(this.named, n.targetClient, () => new Map())
    for (const c of n.clocks) clocks.set(c, (clocks.get(c) ?? 0) + 1)
  }

  /** Forgets a notice. @returns the clocks it named that no present notice names any more. */
  remove (n: RemovalNotice): number[] {
    if (!this.has(n)) return []
    n.writer.notices.delete(n.clock)
    this.count--
    const set = this.byTarget.get(n.targetClient)
    if (set !== undefined) { set.delete(n); if (set.size === 0) this.byTarget.delete(n.targetClient) }
    const freed: number[] = []
    const clocks = this.named.get(n.targetClient)
    if (clocks !== undefined) {
      for (const c of n.clocks) {
        const k = (clocks.get(c) ?? 0) - 1
        if (k > 0) clocks.set(c, k)
        else if (clocks.delete(c)) freed.push(c)
      }
      if (clocks.size === 0) this.named.delete(n.targetClient)
    }
    return freed
  }

  /** Whether a present notice names the record at (client, clock). */
  names (client: number, clock: number): boolean { return this.named.get(client)?.has(clock) ?? false }

  /** Present notices addressed to a partition's client. */
  addressedTo (client: number): RemovalNotice[] { return [...(this.byTarget.get(client) ?? [])] }

  /** Clients that present notices address. */
  targets (): number[] { return [...this.byTarget.keys()] }
}

/**
 * Leases and reclaim votes of strict admission, as one node keeps them (by the injected clock).
 *
 * With N ≥ 3 configured node ids and majority m = ⌊N/2⌋ + 1:
 * - Lease: this incarnation writes a lease request (seq) every leaseMs/4 and remembers when it
 *   sent each. A peer grants a request it reads unless its node (this or an earlier
 *   incarnation, whose vote it read) voted against the requester. This
 *   node may admit strict calls until (the (m−1)-th latest send time among the requests granted
 *   by distinct other nodes) + leaseMs: itself and m−1 grantors are a majority.
 * - Vote: a node votes to reclaim an incarnation once leaseMs + marginMs passed on its clock
 *   since it last granted it (or first saw it, or started, whichever is latest), and never
 *   grants it again.
 * - Reclaim: an incarnation is reclaimed once m distinct nodes other than its own voted.
 *   Every lease quorum (m−1 grantors other than the holder) meets every vote set (m voters
 *   other than the holder's node) among the N−1 other nodes, in a node whose vote came leaseMs
 *   + marginMs after its last grant: so the holder's lease had run out, as long as clocks
 *   advance at rates that differ by less than marginMs over leaseMs + marginMs.
 * With N ≤ 2 (a majority of 2 is 2: the survivor of a pair can never reclaim) or leaseMs 0,
 * there are no leases and no reclaims: every node may always admit against its rights.
 */

/** Default lease, ms. */
export const DEFAULT_LEASE_MS = 2000
/** Default wait past the lease before a vote to reclaim, ms. */
export const DEFAULT_LEASE_MARGIN_MS = 1000

export interface LeaseOptions {
  /** The configured node ids, sorted. */
  readonly nodes: readonly string[]
  readonly self: string
  readonly leaseMs: number
  readonly marginMs: number
  /** When this incarnation started (its clock): it votes against nobody before startedAt + leaseMs + marginMs. */
  readonly startedAt: number
}

export class LeaseBook {
  readonly enabled: boolean
  readonly majority: number
  private seq = 0
  private lastRequestAt = Number.NEGATIVE_INFINITY
  /** Send time of this node's recent requests, by seq. */
  private readonly sent = new Map<number, number>()
  /** Per other node: the newest of this incarnation's requests it granted. */
  private readonly grantedBy = new Map<string, number>()
  /** Per peer incarnation (client): the seq this node last granted and when. */
  private readonly given = new Map<number, { seq: number, at: number }>()
  /** When this node first saw each peer incarnation. */
  private readonly firstSeen = new Map<number, number>()
  /** Incarnations this node voted against. */
  readonly voted = new Set<number>()
  /** Voting nodes per subject incarnation. */
  private readonly votes = new Map<number, Set<string>>()
  /** validUntil's value, recomputed when a request is sent or a grant arrives. */
  private until: number | null = null

  constructor (private readonly o: LeaseOptions) {
    this.enabled = o.nodes.length >= 3 && o.leaseMs > 0
    this.majority = Math.floor(o.nodes.length / 2) + 1
  }

  /** The seq of a new lease request to write now, or null when the last one is recent enough. */
  nextRequest (now: number, force = false): number | null {
    if (!this.enabled) return null
    if (!force && now < this.lastRequestAt + this.o.leaseMs / 4) return null
    this.lastRequestAt = now
    this.until = null
    this.seq++
    this.sent.set(this.seq, now)
    for (const [s, at] of this.sent) if (at + this.o.leaseMs < now) this.sent.delete(s)
    return this.seq
  }

  /** A peer node granted this incarnation's request `seq`. @returns whether the lease may have grown. */
  onGranted (node: string, seq: number): boolean {
    if (node === this.o.self || seq <= (this.grantedBy.get(node) ?? 0)) return false
    this.grantedBy.set(node, seq)
    this.until = null
    return true
  }

  /** Until when (this node's clock) it may admit strict calls; +Infinity without leases. */
  validUntil (): number {
    if (!this.enabled) return Number.POSITIVE_INFINITY
    if (this.until !== null) return this.until
    const times: number[] = []
    for (const [node, seq] of this.grantedBy) {
      const at = this.sent.get(seq)
      if (node !== this.o.self && at !== undefined) times.push(at)
    }
    times.sort((a, b) => b - a)
    const t = times[this.majority - 2]
    this.until = t === undefined ? Number.NEGATIVE_INFINITY : t + this.o.leaseMs
    return this.until
  }

  valid (now: number): boolean { return now < this.validUntil() }

  /** Notes an incarnation seen (for the vote timer). */
  seen (client: number, now: number): void {
    if (!this.firstSeen.has(client)) this.firstSeen.set(client, now)
  }

  /** A peer incarnation asked for a lease. @returns whether this node grants it (the grant row changes). */
  onRequest (client: number, seq: number, now: number): boolean {
    if (!this.enabled || this.voted.has(client) || this.votes.get(client)?.has(this.o.self) === true) return false
    const g = this.given.get(client)
    if (g !== undefined && g.seq >= seq) return false
    this.given.set(client, { seq, at: now })
    return true
  }

  /** The grant row's content. */
  grants (): Array<[number, number]> { return [...this.given].map(([c, g]) => [c, g.seq]) }

  /** Forgets a fenced incarnation's grant. @returns whether the grant row changes. */
  forget (client: number): boolean {
    this.firstSeen.delete(client)
    return this.given.delete(client)
  }

  /** Forgets everything about an incarnation whose node has restarted since (its votes are moot). */
  drop (client: number): void {
    this.forget(client)
    this.voted.delete(client)
    this.votes.delete(client)
  }

  /** Whether this node may vote against `client` now. */
  voteDue (client: number, now: number): boolean {
    if (!this.enabled || this.voted.has(client)) return false
    const last = Math.max(this.o.startedAt, this.given.get(client)?.at ?? Number.NEGATIVE_INFINITY, this.firstSeen.get(client) ?? now)
    return now >= last + this.o.leaseMs + this.o.marginMs
  }

  /** Records a vote of `voter` against incarnation `client` of `node`. @returns whether that incarnation is reclaimed. */
  onVote (voter: string, node: string, client: number): boolean {
    if (!this.enabled || voter === node || !this.o.nodes.includes(voter)) return false
    let s = this.votes.get(client)
    if (s === undefined) { s = new Set(); this.votes.set(client, s) }
    s.add(voter)
    return s.size >= this.majority
  }

  /** The nodes whose vote against incarnation `client` was read here, sorted. */
  votersAgainst (client: number): string[] { return [...(this.votes.get(client) ?? [])].sort() }

  /** Whether `client` has votes from a majority of nodes other than its own. */
  reclaimed (client: number): boolean { return (this.votes.get(client)?.size ?? 0) >= this.majority }
}

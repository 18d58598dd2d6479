/**
 * The rights of one strict key (profile, value) as one node sees them: the offer totals of every
 * writer, the requests of its peers, its own ledger of calls, and from these what it may spend.
 *
 * Shares: the limit L of a key is split over the configured node ids (sorted): node i owns
 * ⌊L/N⌋, plus one when i < L mod N. Rights of a share move only by offers: its owner's current
 * incarnation offers them to anyone, and a holder of foreign rights may only return them to the
 * share's owner (never pass them on), so a share's rights are held by its owner or by incarnations
 * that took them straight from it.
 *
 * This node X (incarnation of node n) holds:
 * - foreign rights of origin o ≠ n: offers of o's incarnations to X − returns of X to o;
 * - its own share, once sealed (see incarnations.ts): share(L) − Σ over every incarnation R of
 *   another node that X has not fenced of outstanding(R), where outstanding(R) = what R held of
 *   n's share when it sealed X (taken from X's predecessors) + offers of X to R − returns of R to
 *   X. A fenced R is dead: what it held comes back to its owners.
 * - adopted shares: when the latest incarnation of node o is reclaimed (leases.ts) and X is the
 *   share's heir with every report naming it (incarnations.ts), share(L of o) − what each live
 *   reporter holds of o's share − what X holds of it;
 * - inherited rights: what X had adopted of o's share when it stopped being its heir (o
 *   restarted, or an earlier heir came back): frozen, spent only here, reported in X's seals and
 *   reports on o so that nobody else counts them.
 * Spare = held − ledger (own calls of the key). Every term only grows with what X learns except
 * through returns, so X never counts a right it does not hold. A reclaimed X holds nothing.
 */
import type { Incarnation, IncarnationView } from './incarnations.js'

export interface OfferEntry {
  readonly writer: Incarnation
  readonly to: number
  readonly toNode: string
  readonly origin: string
  total: number
  /** Clock of the row carrying the total. */
  clock: number
}

export interface RequestEntry {
  readonly writer: Incarnation
  seq: number
  want: number
  limit: number
  urgent: boolean
  clock: number
  /** Rights offered to the requester (by anyone, as read here) when this node read the request. */
  offeredBefore: number
}

/** The share of `node` in a limit split over the sorted `nodes`. */
export const shareOf = (nodes: readonly string[], node: string, limit: number): number => {
  const i = nodes.indexOf(node)
  if (i < 0) return 0
  const n = nodes.length
  return Math.floor(limit / n) + (i < limit % n ? 1 : 0)
}

export class KeyRights {
  /** Offer rows by `writer|to|origin`. */
  readonly offers = new Map<string, OfferEntry>()
  /** Peers' current requests, by writer client. */
  readonly requests = new Map<number, RequestEntry>()
  /** Rights offered to each incarnation (client) by anyone, as read here: the sum of the offer totals to it. */
  readonly offeredTo = new Map<number, number>()
  /** The request seq answered per peer client. */
  readonly answered = new Map<number, number>()
  /** Rights of this node's share that each sealer (client) held from predecessors when it sealed. */
  readonly sealHeld = new Map<number, number>()
  /** Per reclaimed incarnation (client): what each reporter (client) holds of its node's share. */
  readonly reportHeld = new Map<number, Map<number, number>>()
  /** Frozen adopted rights per origin node (see the header). */
  readonly inherited = new Map<string, number>()
  /** Adopted rights per origin node, from the last recompute. */
  readonly adopted = new Map<string, number>()
  /** Own calls of the key. */
  ledger = 0
  /** The limit last used here (an acquire, or a peer's request). */
  limit: number | null = null
  /** This node's current request row: seq, want, urgency and clock, or null. */
  myRequest: { seq: number, want: number, urgent: boolean, clock: number } | null = null
  /** Seq of the last request this node made (kept when the row is withdrawn). */
  lastSeq = 0
  /** Whether some right arrived since the last request was made. */
  receivedSinceRequest = false
  private own = 0
  private readonly foreign = new Map<string, number>()

  constructor (readonly profile: string, readonly value: string | null) {}

  /** Rights held, own share and foreign: recomputed by `recompute`. */
  held = 0

  get available (): number { return this.held - this.ledger }
  get ownHeld (): number { return this.own }
  foreignOf (origin: string): number { return this.foreign.get(origin) ?? 0 }
  /** What this node holds of `origin`'s share, as its seals and reports say: foreign and inherited. */
  holdingsOf (origin: string): number { return this.foreignOf(origin) + (this.inherited.get(origin) ?? 0) }

  /** Records an offer total (the largest seen wins). @returns whether it changed. */
  offer (writer: Incarnation, to: number, toNode: string, origin: string, total: number, clock: number): boolean {
    const k = `${writer.clientId}|${to}|${origin}`
    const e = this.offers.get(k)
    if (e === undefined) {
      this.offers.set(k, { writer, to, toNode, origin, total, clock })
      this.offeredTo.set(to, (this.offeredTo.get(to) ?? 0) + total)
      return true
    }
    if (total <= e.total) return false
    this.offeredTo.set(to, (this.offeredTo.get(to) ?? 0) + total - e.total)
    e.total = total
    e.clock = clock
    return true
  }

  /** Recomputes what this node holds from the offers. O(offers of the key). */
  recompute (view: IncarnationView, sealed: boolean): void {
    const self = view.self
    const n = self.node
    this.foreign.clear()
    const before = [...this.adopted]
    this.adopted.clear()
    if (self.reclaimed) { this.own = 0; this.held = 0; return }
    const outstanding = new Map<number, number>()
    for (const e of this.offers.values()) {
      if (e.to === self.clientId && e.origin !== n && e.writer.node === e.origin) {
        this.foreign.set(e.origin, (this.foreign.get(e.origin) ?? 0) + e.total)
      } else if (e.writer === self && e.origin !== n && e.toNode === e.origin) {
        this.foreign.set(e.origin, (this.foreign.get(e.origin) ?? 0) - e.total)
      }
      if (e.origin !== n) continue
      if (e.writer === self) {
        outstanding.set(e.to, (outstanding.get(e.to) ?? 0) + e.total)
      } else if (e.to === self.clientId) {
        outstanding.set(e.writer.clientId, (outstanding.get(e.writer.clientId) ?? 0) - e.total)
      }
    }
    for (const [client, held] of this.sealHeld) outstanding.set(client, (outstanding.get(client) ?? 0) + held)
    let foreign = 0
    for (const [o, v] of this.foreign) {
      if (v < 0) this.foreign.set(o, 0)
      else foreign += v
    }
    let own = 0
    if (sealed && this.limit !== null) {
      own = shareOf(view.nodes, n, this.limit)
      for (const [client, v] of outstanding) {
        const r = view.get(client)
        if (r !== undefined && r.fenced) continue
        if (v > 0) own -= v
      }
    }
    this.own = own
    let extra = 0
    if (this.limit !== null) {
      for (const o of view.nodes) {
        if (o === n) continue
        const x = view.latestOf(o)
        if (x === undefined || !x.reclaimed || !view.mayAdopt(o, x.clientId)) continue
        const held = this.reportHeld.get(x.clientId)
        let a = shareOf(view.nodes, o, this.limit) - this.holdingsOf(o)
        for (const r of view.liveReports(x.clientId)) if (r.reporter !== self) a -= held?.get(r.reporter.clientId) ?? 0
        this.adopted.set(o, a)
      }
    }
    // adoption stopped (the heir changed, or the share's node restarted): what was adopted stays here, frozen
    for (const [o, a] of before) {
      if (this.adopted.has(o) || a === 0) continue
      this.inherited.set(o, (this.inherited.get(o) ?? 0) + a)
      this.froze = true
    }
    for (const v of this.inherited.values()) extra += v
    for (const v of this.adopted.values()) extra += v
    this.held = own + foreign + extra
  }

  /** Set when a recompute froze adopted rights (the node's seals and reports must say so); the reader clears it. */
  froze = false

  /** Whether nothing refers to the key any more: no calls, rows or requests. */
  get idle (): boolean {
    return this.ledger === 0 && this.offers.size === 0 && this.requests.size === 0 && this.myRequest === null && this.sealHeld.size === 0 &&
      this.reportHeld.size === 0 && this.inherited.size === 0
  }
}

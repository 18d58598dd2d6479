/**
 * StrictRights: one node's side of strict admission (the bounded counter). It writes this
 * incarnation's rows (hello, offers, requests, seals) into its `dpa:` partition, reads every
 * other incarnation's rows from the document's transactions (local store writes, remote updates,
 * state exchanges alike), keeps per key what this node may spend (key-rights.ts), answers its
 * peers' requests with offers, and asks for rights when it runs short.
 *
 * Safety rests on the assumptions that each configured node id runs one process at a time and
 * that incarnations grow from one start to the next. What a node held when it crashed comes back
 * when its node restarts (new incarnation, sealed by every other configured node). With leases
 * (3 or more nodes, leases.ts, by the injected clock), a node that lost a majority stops
 * admitting, and a majority reclaims an incarnation silent for leaseMs + marginMs: its share goes
 * to an heir (incarnations.ts), what it held of other shares back to their owners.
 */
import * as Y from 'yjs'
import { setIfUndefined } from 'lib0/map'
import { forEachAddedValue, forEachDeletedRange, rootNameOf } from '../internal/partition-doc.js'
import type { ProfileStore } from '../profile-store.js'
import { IncarnationView, type Incarnation } from './incarnations.js'
import { KeyRights } from './key-rights.js'
import { DEFAULT_LEASE_MARGIN_MS, DEFAULT_LEASE_MS, LeaseBook } from './leases.js'
import { RowWriter } from './row-writer.js'
import {
  decodeRow, encodeGrant, encodeHello, encodeLease, encodeOffer, encodeReport, encodeRequest, encodeSeal, encodeVote, keyOf, parseRightsName, rightsName,
  ROW_GRANT, ROW_LEASE, ROW_OFFER, ROW_REPORT, ROW_REQUEST, ROW_SEAL, ROW_VOTE, type OfferRow, type RequestRow
} from './rows.js'

export interface StrictRightsOptions {
  /** Every node id of the cluster (this one included); all nodes must be given the same list. */
  readonly nodes: readonly string[]
  /** Spare rights a node keeps for itself per busy key, and asks for when it runs below. @defaultValue 2 */
  readonly reserve?: number
  /** Called for each ignored row (malformed, or from an unconfigured node). */
  readonly onInvalid?: (clientId: number, reason: string) => void
  /** Clock of leases and votes, ms. @defaultValue Date.now */
  readonly clock?: () => number
  /** Lease length (leases.ts), ms; 0: no leases and no reclaim. @defaultValue 2000 */
  readonly leaseMs?: number
  /** Wait past the lease before voting to reclaim, ms: covers clock drift and steps. @defaultValue 1000 */
  readonly leaseMarginMs?: number
}

/** A snapshot of one key's rights here, for tests, metrics and the global observer. */
export interface KeyRightsView {
  readonly profile: string
  readonly value: string | null
  readonly limit: number | null
  /** Rights held (own share and foreign), calls included. */
  readonly held: number
  /** Own calls holding a right. */
  readonly ledger: number
  /** held − ledger; negative only after the limit was lowered below what is admitted. */
  readonly available: number
  readonly ownShare: number
  readonly requesting: boolean
}

export class StrictRights {
  readonly view: IncarnationView
  readonly reserve: number
  private readonly keys = new Map<string, KeyRights>()
  private readonly writer: RowWriter
  private readonly doc: Y.Doc
  private readonly strictProfiles: (profile: string) => boolean
  /** Own offer rows: `key|to|origin` → clock. */
  private readonly myOffers = new Map<string, number>()
  /** Own seal rows by sealed node → clock. */
  private readonly mySeals = new Map<string, number>()
  /** Requests in the document by `client|clock` → key. */
  private readonly requestRows = new Map<string, string>()
  private readonly partitions = new WeakMap<Y.AbstractType<any>, Incarnation | null>()
  private isSealed = false
  private started = false
  private readonly arrivals = new Set<() => void>()
  private readonly unsubscribe: Array<() => void> = []
  private readonly onInvalid: (clientId: number, reason: string) => void
  private readonly resolver = { resolve: (type: Y.AbstractType<any>): Incarnation | null => this.partitionOf(type) }
  private readonly clock: () => number
  readonly leases: LeaseBook
  /** Own rows of the lease protocol: the lease request's and the grant row's clocks. */
  private leaseRow: number | null = null
  private grantRow: number | null = null
  private grantsDirty = false
  /** Own reports by reclaimed incarnation (client): row clock and what it said. */
  private readonly myReports = new Map<number, { clock: number, said: string }>()
  /** Own vote rows by subject incarnation (client) → clock. */
  private readonly myVotes = new Map<number, number>()

  constructor (store: ProfileStore, strictProfiles: (profile: string) => boolean, options: StrictRightsOptions) {
    this.doc = store.doc
    this.strictProfiles = strictProfiles
    this.reserve = options.reserve ?? 2
    this.onInvalid = options.onInvalid ?? (() => {})
    this.clock = options.clock ?? Date.now
    const nodes = [...new Set(options.nodes)].sort()
    const self = { node: store.nodeId, incarnation: store.incarnation, clientId: store.clientId }
    this.view = new IncarnationView(nodes, self)
    this.leases = new LeaseBook({ nodes, self: self.node, leaseMs: options.leaseMs ?? DEFAULT_LEASE_MS, marginMs: options.leaseMarginMs ?? DEFAULT_LEASE_MARGIN_MS, startedAt: this.clock() })
    const array = this.doc.getArray<unknown>(rightsName(self))
    this.partitions.set(array, this.view.self)
    this.writer = new RowWriter(this.doc, array, this, () => { store.flushWrites() })
    const h = (tr: Y.Transaction): void => { this.onTransaction(tr) }
    this.doc.on('afterTransaction', h)
    this.unsubscribe.push(() => { this.doc.off('afterTransaction', h) })
    this.unsubscribe.push(store.onOwnChange((_d, profile, value, held) => { this.onOwnChange(profile, value, held) }))
  }

  /**
   * Announces this incarnation (its hello row) and takes in the incarnations already in the
   * document (loaded from disk, or synced before). Call it once the document's updates reach
   * the peers and the persistence: a row written earlier would be missing from both. Idempotent.
   */
  start (): void {
    if (this.started) return
    this.started = true
    for (const [name, type] of this.doc.share) {
      const p = parseRightsName(name)
      if (p !== null && p.clientId !== this.view.self.clientId) this.learn(type, p)
    }
    this.checkSealed()
    this.writer.write([encodeHello()])
    this.renewLeases(true)
  }

  /**
   * Renews this node's lease (a request every leaseMs/4, or now with `force`) and votes against
   * the incarnations silent past leaseMs + marginMs. Call it periodically (ClusterNode does;
   * the in-memory cluster does on `advance`). No-op without leases.
   */
  renewLeases (force = false): void {
    if (!this.started || !this.leases.enabled) return
    const now = this.clock()
    // a reclaimed node asks for no lease (it may never admit again) but still votes
    const seq = this.view.self.reclaimed ? null : this.leases.nextRequest(now, force)
    if (seq !== null) {
      const [clock] = this.writer.write([encodeLease(seq)], this.leaseRow !== null ? [this.leaseRow] : []) as [number]
      this.leaseRow = clock
    }
    for (const inc of [...this.view.all()]) {
      if (inc === this.view.self || inc.fenced || !this.view.nodes.includes(inc.node) || this.view.latestOf(inc.node) !== inc) continue
      this.leases.seen(inc.clientId, now)
      if (!this.leases.voteDue(inc.clientId, now)) continue
      this.leases.voted.add(inc.clientId)
      const [clock] = this.writer.write([encodeVote({ node: inc.node, incarnation: inc.incarnation, client: inc.clientId })]) as [number]
      this.myVotes.set(inc.clientId, clock)
      this.onVote(this.view.self.node, inc.node, inc.clientId)
    }
    this.afterChange()
  }

  /** Whether this node may admit strict calls now: its lease holds (always without leases) and it is not reclaimed. */
  leaseValid (): boolean { return !this.view.self.reclaimed && this.leases.valid(this.clock()) }

  /** Whether a majority reclaimed this incarnation: it holds no right until its process restarts. */
  get reclaimed (): boolean { return this.view.self.reclaimed }

  /**
   * The nodes whose vote against this incarnation this node has read, sorted: each heard nothing
   * from it for leaseMs + leaseMarginMs and never grants it a lease again (with a majority of
   * them it is reclaimed).
   */
  get votedAgainstBy (): string[] { return this.leases.votersAgainst(this.view.self.clientId) }

  /** Whether this incarnation may use its node's share (sealed by every other configured node). */
  get sealed (): boolean { return this.isSealed }

  /** Spare rights for a key here (0 for an unknown key). */
  available (profile: string, value: string | null): number {
    return this.keys.get(keyOf(profile, value))?.available ?? 0
  }

  /** Sets the limit the key is used with here; recomputes the rights when it changed. */
  useLimit (profile: string, value: string | null, limit: number): KeyRights {
    const k = this.key(profile, value)
    if (k.limit !== limit) {
      k.limit = limit
      k.recompute(this.view, this.isSealed)
    }
    return k
  }

  /**
   * Asks the peers for rights for the key: `urgent` after a refusal (a call waits: every peer
   * with a spare right sends one), else to refill the reserve when running low (a busy peer keeps
   * one spare right).
   */
  request (profile: string, value: string | null, urgent = true): void {
    const k = this.keys.get(keyOf(profile, value))
    if (k === undefined || k.limit === null) return
    const want = Math.max(1, this.reserve - Math.max(0, k.available))
    const cur = k.myRequest
    if (cur !== null && !k.receivedSinceRequest && cur.want >= want && (cur.urgent || !urgent)) return
    const seq = this.writer.nextClock()
    const deletes = cur !== null ? [cur.clock] : []
    const [clock] = this.writer.write([encodeRequest({ profile, value, seq, want, limit: k.limit, urgent })], deletes) as [number]
    k.myRequest = { seq, want, urgent, clock }
    k.receivedSinceRequest = false
  }

  /** Calls `fn` whenever rights arrive here (an offer to this node, its own share once sealed). Returns the unsubscribe function. */
  onRights (fn: () => void): () => void {
    this.arrivals.add(fn)
    return () => { this.arrivals.delete(fn) }
  }

  /** Every key with state here. */
  snapshot (): KeyRightsView[] {
    return [...this.keys.values()].map(k => ({
      profile: k.profile,
      value: k.value,
      limit: k.limit,
      held: k.held,
      ledger: k.ledger,
      available: k.available,
      ownShare: k.ownHeld,
      requesting: k.myRequest !== null
    }))
  }

  /** Number of keys with state here (lazily created, freed when idle). */
  get keyCount (): number { return this.keys.size }

  destroy (): void {
    for (const u of this.unsubscribe) u()
  }

  // ---------------------------------------------------------------- internals

  private key (profile: string, value: string | null): KeyRights {
    return setIfUndefined(this.keys, keyOf(profile, value), () => new KeyRights(profile, value))
  }

  private freeIfIdle (k: KeyRights): void {
    if (k.idle) this.keys.delete(keyOf(k.profile, k.value))
  }

  private onOwnChange (profile: string, value: string | null, held: boolean): void {
    if (!this.strictProfiles(profile)) return
    const k = this.key(profile, value)
    k.ledger += held ? 1 : -1
    if (!held) {
      this.withdrawIfSatisfied(k)
      this.answerAll(k)
      this.freeIfIdle(k)
    }
  }

  /** Withdraws this node's request once some right arrived (a new refusal asks again) or it has its reserve again. */
  private withdrawIfSatisfied (k: KeyRights): void {
    if (k.myRequest === null || (!k.receivedSinceRequest && k.available < 1)) return
    this.writer.write([], [k.myRequest.clock])
    k.myRequest = null
  }

  /** Which incarnation a type is: its own partition, a peer's, or null for any other type. */
  private partitionOf (type: Y.AbstractType<any>): Incarnation | null {
    const cached = this.partitions.get(type)
    if (cached !== undefined) return cached
    const name = rootNameOf(this.doc, type)
    const p = name === null ? null : parseRightsName(name)
    const found = p === null ? null : this.learn(type, p)
    this.partitions.set(type, found)
    return found
  }

  private learn (type: Y.AbstractType<any>, p: { node: string, incarnation: number, clientId: number }): Incarnation {
    // adoption may stop with this incarnation: freeze from an up-to-date count (recompute freezes)
    if (this.view.get(p.clientId) === undefined) for (const k of this.keys.values()) k.recompute(this.view, this.isSealed)
    const { known, fenced, seal } = this.view.learn(p)
    this.partitions.set(type, known)
    if (seal && this.view.nodes.includes(p.node)) {
      // what this node holds of p's node's share, taken from its predecessors (fenced above)
      const held: Array<[string, string | null, number]> = []
      for (const k of this.keys.values()) {
        k.recompute(this.view, this.isSealed) // rows of this same transaction may be pending
        const h = k.holdingsOf(p.node)
        if (h > 0) held.push([k.profile, k.value, h])
      }
      const old = this.mySeals.get(p.node)
      const [clock] = this.writer.write([encodeSeal({ node: p.node, incarnation: p.incarnation, client: p.clientId, held })], old !== undefined ? [old] : []) as [number]
      this.mySeals.set(p.node, clock)
    }
    if (fenced.length > 0) {
      const gone = new Set(fenced.map(f => f.clientId))
      for (const c of gone) {
        if (this.leases.forget(c)) this.grantsDirty = true
        this.leases.drop(c)
        this.view.dropReports(c)
      }
      for (const k of this.keys.values()) {
        for (const c of gone) { k.requests.delete(c); k.answered.delete(c); k.reportHeld.delete(c) }
        k.recompute(this.view, this.isSealed)
        this.answerAll(k)
      }
    }
    if (!known.fenced && this.leases.reclaimed(known.clientId)) this.reclaim(known)
    this.reportsDirty = true
    return known
  }

  /** A vote of `voter` against incarnation `client` of `node`. */
  private onVote (voter: string, node: string, client: number): void {
    if (!this.leases.onVote(voter, node, client)) return
    const inc = this.view.get(client)
    if (inc !== undefined && !inc.reclaimed) this.reclaim(inc)
  }

  /**
   * A majority voted against `inc`: this node fences it (its later rows are ignored, what it held
   * of other shares returns to their owners) and reports what it holds of its node's share, naming
   * the heir. Reclaiming this node itself voids everything it holds.
   */
  private reclaim (inc: Incarnation): void {
    if (inc.reclaimed || (inc.fenced && inc !== this.view.self)) return
    this.view.reclaim(inc)
    if (this.leases.forget(inc.clientId)) this.grantsDirty = true
    for (const k of this.keys.values()) {
      k.requests.delete(inc.clientId)
      k.answered.delete(inc.clientId)
      k.recompute(this.view, this.isSealed)
      if (inc !== this.view.self) this.answerAll(k)
    }
    if (inc !== this.view.self) this.myReports.set(inc.clientId, { clock: -1, said: '' })
    this.reportsDirty = true
    for (const fn of this.arrivals) fn()
  }

  private reportsDirty = false

  /** Writes what changed: the grant row, and the reports whose heir or holdings changed. */
  private afterChange (): void {
    if (this.grantsDirty) {
      this.grantsDirty = false
      const [clock] = this.writer.write([encodeGrant(this.leases.grants())], this.grantRow !== null ? [this.grantRow] : []) as [number]
      this.grantRow = clock
    }
    for (const k of this.keys.values()) if (k.froze) { k.froze = false; this.reportsDirty = true }
    if (!this.reportsDirty || this.view.self.reclaimed) return
    this.reportsDirty = false
    // votes and reports on an incarnation whose node has restarted since are moot: deleted
    const superseded = (client: number): boolean => {
      const inc = this.view.get(client)
      return inc !== undefined && this.view.latestOf(inc.node) !== inc
    }
    const stale: number[] = []
    for (const [client, clock] of this.myVotes) if (superseded(client)) { stale.push(clock); this.myVotes.delete(client) }
    for (const [client, mine] of this.myReports) if (superseded(client)) { if (mine.clock >= 0) stale.push(mine.clock); this.myReports.delete(client) }
    if (stale.length > 0) this.writer.write([], stale)
    for (const [client, mine] of this.myReports) {
      const inc = this.view.get(client)
      if (inc === undefined) continue
      const heir = this.view.heirOf(inc.node) ?? this.view.self.node
      const heirClient = this.view.heirClientOf(inc.node)
      const held: Array<[string, string | null, number]> = []
      for (const k of this.keys.values()) {
        const h = k.holdingsOf(inc.node)
        if (h > 0) held.push([k.profile, k.value, h])
      }
      const latest = this.view.latestAll()
      const said = JSON.stringify([heirClient, latest, held])
      if (said === mine.said) continue
      const [clock] = this.writer.write([encodeReport({ node: inc.node, incarnation: inc.incarnation, client, heir, heirClient, latest, held })], mine.clock >= 0 ? [mine.clock] : []) as [number]
      this.myReports.set(client, { clock, said })
      this.view.addReport(this.view.self, client, heirClient, latest, clock)
    }
  }

  private checkSealed (): void {
    if (this.isSealed || !this.view.sealed()) return
    this.isSealed = true
    for (const k of this.keys.values()) { k.recompute(this.view, true); this.withdrawIfSatisfied(k); this.answerAll(k) }
    for (const fn of this.arrivals) fn()
  }

  private onTransaction (tr: Y.Transaction): void {
    if (tr.origin === this) return
    // cheap filter: most transactions touch only the store's partitions
    let ours = false
    for (const type of tr.changed.keys()) if (this.partitionOf(type) !== null) { ours = true; break }
    if (!ours) return
    const touched = new Set<KeyRights>()
    let leaseGrew = false
    let reports = false
    // Lease requests are decided after every other row of the transaction: a vote read in the
    // same transaction (its own node's earlier incarnation's, loaded from disk or synced back)
    // must stop a grant whatever the order the rows come in.
    const leaseRequests: Array<[Incarnation, number]> = []
    forEachAddedValue(tr, this.resolver, (w, writer, clock, raw) => {
      if (w === this.view.self) return
      if (w.clientId !== writer) { this.onInvalid(writer, 'row written into another incarnation\'s partition'); return }
      if (!this.view.nodes.includes(w.node)) { this.onInvalid(w.clientId, `row of node ${w.node}, which is not configured`); return }
      const row = decodeRow(raw)
      if (typeof row === 'string') { this.onInvalid(w.clientId, row); return }
      // A fenced incarnation is dead: rows of it that arrive now are ignored, but for its votes,
      // promises its node keeps (a restarted node never grants what its predecessor voted against).
      if (w.fenced && row.kind !== ROW_VOTE) return
      if (row.kind === ROW_OFFER) this.onOffer(w, row, clock, touched)
      else if (row.kind === ROW_REQUEST) this.onRequest(w, row, clock, touched)
      else if (row.kind === ROW_SEAL && this.view.addSeal(w, row)) {
        for (const [profile, value, held] of row.held) { const k = this.key(profile, value); k.sealHeld.set(w.clientId, held); touched.add(k) }
      } else if (row.kind === ROW_LEASE) {
        leaseRequests.push([w, row.seq])
      } else if (row.kind === ROW_GRANT) {
        for (const [c, seq] of row.grants) if (c === this.view.self.clientId && this.leases.onGranted(w.node, seq)) leaseGrew = true
      } else if (row.kind === ROW_VOTE) {
        this.onVote(w.node, row.node, row.client)
      } else if (row.kind === ROW_REPORT) {
        this.view.addReport(w, row.client, row.heirClient, row.latest, clock)
        for (const k of this.keys.values()) k.reportHeld.get(row.client)?.delete(w.clientId)
        for (const [profile, value, held] of row.held) {
          const k = this.key(profile, value)
          let m = k.reportHeld.get(row.client)
          if (m === undefined) { m = new Map(); k.reportHeld.set(row.client, m) }
          m.set(w.clientId, held)
        }
        reports = true
      }
    })
    forEachDeletedRange(tr, (client, from, len) => {
      if (this.requestRows.size === 0) return
      for (let c = from; c < from + len && c < from + 10_000; c++) {
        const ks = this.requestRows.get(`${client}|${c}`)
        if (ks === undefined) continue
        this.requestRows.delete(`${client}|${c}`)
        const k = this.keys.get(ks)
        const r = k?.requests.get(client)
        if (k !== undefined && r !== undefined && r.clock === c) { k.requests.delete(client); this.freeIfIdle(k) }
      }
    })
    // Before start() (the document is still loading: the predecessor's votes may come in a later
    // transaction) nothing is granted; a requester asks again every leaseMs / 4.
    if (this.started) {
      const now = this.clock()
      for (const [w, seq] of leaseRequests) if (!w.fenced && this.leases.onRequest(w.clientId, seq, now)) this.grantsDirty = true
    }
    this.checkSealed()
    if (reports) for (const k of this.keys.values()) touched.add(k)
    let arrived = leaseGrew
    for (const k of touched) {
      arrived ||= k.receivedSinceRequest
      k.recompute(this.view, this.isSealed)
      this.withdrawIfSatisfied(k)
      this.answerAll(k)
      this.freeIfIdle(k)
    }
    this.afterChange()
    if (arrived) for (const fn of this.arrivals) fn()
  }

  private onOffer (w: Incarnation, row: OfferRow, clock: number, touched: Set<KeyRights>): void {
    if (row.origin !== w.node && row.origin !== row.toNode) { this.onInvalid(w.clientId, 'offer of a share that is neither the writer\'s nor the receiver\'s'); return }
    if (row.origin === w.node && row.toNode === w.node) { this.onInvalid(w.clientId, 'offer to its own node'); return }
    const k = this.key(row.profile, row.value)
    if (k.offer(w, row.toClient, row.toNode, row.origin, row.total, clock) && row.toClient === this.view.self.clientId) k.receivedSinceRequest = true
    touched.add(k)
  }

  private onRequest (w: Incarnation, row: RequestRow, clock: number, touched: Set<KeyRights>): void {
    const k = this.key(row.profile, row.value)
    const cur = k.requests.get(w.clientId)
    if (cur !== undefined && cur.seq >= row.seq) return
    k.requests.set(w.clientId, { writer: w, seq: row.seq, want: row.want, limit: row.limit, urgent: row.urgent, clock, offeredBefore: k.offeredTo.get(w.clientId) ?? 0 })
    this.requestRows.set(`${w.clientId}|${clock}`, keyOf(row.profile, row.value))
    if (k.limit === null) k.limit = row.limit
    touched.add(k)
  }

  /**
   * Answers every unanswered request of the key, as far as the spare rights allow. A node with
   * no call and no request of its own on the key also returns the foreign rights it cannot pass
   * on to their owners, which then answer the requests.
   */
  private answerAll (k: KeyRights): void {
    if (k.requests.size === 0 || k.available <= 0) return
    let pending = false
    for (const r of k.requests.values()) {
      if ((k.answered.get(r.writer.clientId) ?? -1) >= r.seq) continue
      if (r.writer.fenced) continue
      // a waiting call needs one right: once some peer's offer reached the requester (as read
      // here), another one would sit idle there while calls wait elsewhere
      if (r.urgent && (k.offeredTo.get(r.writer.clientId) ?? 0) - r.offeredBefore >= 1) { k.answered.set(r.writer.clientId, r.seq); continue }
      // a call waits: every peer with a spare right sends one (the first to arrive admits it)
      if (!this.answer(k, r.writer, r.urgent ? 1 : r.want, r.urgent)) { pending = true; continue }
      k.answered.set(r.writer.clientId, r.seq)
    }
    if (!pending || k.myRequest !== null) return
    // spare rights this node cannot pass on go back to their owners, which can: a busy node keeps one
    let spare = k.available - (k.ledger > 0 ? Math.min(1, this.reserve) : 0)
    for (const node of this.view.nodes) {
      if (spare <= 0) break
      const n = Math.min(k.foreignOf(node), spare)
      if (node === this.view.self.node || n <= 0) continue
      const owner = this.view.latestOf(node)
      if (owner !== undefined && !owner.fenced && this.answer(k, owner, n, true)) spare -= n
    }
  }

  /**
   * Offers rights to `to`: first its own share's rights held here, then this node's share. An
   * urgent request (a call waits) gets the last spare right too; a request refilling a reserve
   * leaves a busy node one spare; a node that waits itself gives only the requester's own rights back.
   * @returns whether anything was given.
   */
  private answer (k: KeyRights, to: Incarnation, want: number, urgent: boolean): boolean {
    const free = urgent ? k.available : k.available - (k.ledger > 0 ? Math.min(1, this.reserve) : 0)
    if (free <= 0) return false
    const back = Math.min(want, k.foreignOf(to.node), free)
    const mine = k.myRequest?.urgent === true ? 0 : Math.max(0, Math.min(want - back, k.ownHeld, free - back))
    if (back + mine === 0) return false
    const rows: unknown[] = []
    const deletes: number[] = []
    const add = (origin: string, amount: number): void => {
      if (amount <= 0) return
      const slot = `${keyOf(k.profile, k.value)}|${to.clientId}|${origin}`
      const prev = k.offers.get(`${this.view.self.clientId}|${to.clientId}|${origin}`)
      const total = (prev?.total ?? 0) + amount
      const clock = this.writer.nextClock() + rows.length
      rows.push(encodeOffer({ profile: k.profile, value: k.value, toClient: to.clientId, toNode: to.node, origin, total }))
      const old = this.myOffers.get(slot)
      if (old !== undefined) deletes.push(old)
      this.myOffers.set(slot, clock)
      k.offer(this.view.self, to.clientId, to.node, origin, total, clock)
    }
    add(to.node, back)
    add(this.view.self.node, mine)
    this.writer.write(rows, deletes)
    k.recompute(this.view, this.isSealed)
    return true
  }
}

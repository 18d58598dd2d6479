/**
 * StrictRights: one node's side of strict admission (the bounded counter). It writes this
 * incarnation's rows (hello, offers, requests, seals) into its `dpa:` partition, reads every
 * other incarnation's rows from the document's transactions (local store writes, remote updates,
 * state exchanges alike), keeps per key what this node may spend (key-rights.ts), answers its
 * peers' requests with offers, and asks for rights when it runs short.
 *
 * Nothing here reads a clock: safety rests on the assumptions that each configured node id runs
 * one process at a time and that incarnations grow from one start to the next. What a node held
 * when it crashed comes back when its node restarts (new incarnation, sealed by every other
 * configured node); a node that never returns keeps its rights stranded.
 */
import * as Y from 'yjs'
import { setIfUndefined } from 'lib0/map'
import { forEachAddedValue, forEachDeletedRange, rootNameOf } from '../internal/partition-doc.js'
import type { ProfileStore } from '../profile-store.js'
import { IncarnationView, type Incarnation } from './incarnations.js'
import { KeyRights } from './key-rights.js'
import { RowWriter } from './row-writer.js'
import {
  decodeRow, encodeHello, encodeOffer, encodeRequest, encodeSeal, keyOf, parseRightsName, rightsName,
  ROW_OFFER, ROW_REQUEST, ROW_SEAL, type OfferRow, type RequestRow
} from './rows.js'

export interface StrictRightsOptions {
  /** Every node id of the cluster (this one included); all nodes must be given the same list. */
  readonly nodes: readonly string[]
  /** Spare rights a node keeps for itself per busy key, and asks for when it runs below. @defaultValue 2 */
  readonly reserve?: number
  /** Called for each ignored row (malformed, or from an unconfigured node). */
  readonly onInvalid?: (clientId: number, reason: string) => void
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

  constructor (store: ProfileStore, strictProfiles: (profile: string) => boolean, options: StrictRightsOptions) {
    this.doc = store.doc
    this.strictProfiles = strictProfiles
    this.reserve = options.reserve ?? 2
    this.onInvalid = options.onInvalid ?? (() => {})
    const nodes = [...new Set(options.nodes)].sort()
    const self = { node: store.nodeId, incarnation: store.incarnation, clientId: store.clientId }
    this.view = new IncarnationView(nodes, self)
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
  }

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

  /** After a refusal, or when running low: asks the peers for rights for the key. */
  request (profile: string, value: string | null): void {
    const k = this.keys.get(keyOf(profile, value))
    if (k === undefined || k.limit === null) return
    const want = Math.max(1, this.reserve - Math.max(0, k.available))
    if (k.myRequest !== null && !k.receivedSinceRequest && k.myRequest.want >= want) return
    const seq = this.writer.nextClock()
    const deletes = k.myRequest !== null ? [k.myRequest.clock] : []
    const [clock] = this.writer.write([encodeRequest({ profile, value, seq, want, limit: k.limit })], deletes) as [number]
    k.myRequest = { seq, want, clock }
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
    const { known, fenced, seal } = this.view.learn(p)
    this.partitions.set(type, known)
    if (seal && this.view.nodes.includes(p.node)) {
      // what this node holds of p's node's share, taken from its predecessors (fenced above)
      const held: Array<[string, string | null, number]> = []
      for (const k of this.keys.values()) {
        k.recompute(this.view, this.isSealed) // rows of this same transaction may be pending
        const h = k.foreignOf(p.node)
        if (h > 0) held.push([k.profile, k.value, h])
      }
      const old = this.mySeals.get(p.node)
      const [clock] = this.writer.write([encodeSeal({ node: p.node, incarnation: p.incarnation, client: p.clientId, held })], old !== undefined ? [old] : []) as [number]
      this.mySeals.set(p.node, clock)
    }
    if (fenced.length > 0) {
      const gone = new Set(fenced.map(f => f.clientId))
      for (const k of this.keys.values()) {
        for (const c of gone) { k.requests.delete(c); k.answered.delete(c) }
        k.recompute(this.view, this.isSealed)
        this.answerAll(k)
      }
    }
    return known
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
    forEachAddedValue(tr, this.resolver, (w, writer, clock, raw) => {
      if (w === this.view.self) return
      if (w.clientId !== writer) { this.onInvalid(writer, 'row written into another incarnation\'s partition'); return }
      if (!this.view.nodes.includes(w.node)) { this.onInvalid(w.clientId, `row of node ${w.node}, which is not configured`); return }
      // A fenced incarnation is dead: rows of it that arrive now are ignored.
      if (w.fenced) return
      const row = decodeRow(raw)
      if (typeof row === 'string') { this.onInvalid(w.clientId, row); return }
      if (row.kind === ROW_OFFER) this.onOffer(w, row, clock, touched)
      else if (row.kind === ROW_REQUEST) this.onRequest(w, row, clock, touched)
      else if (row.kind === ROW_SEAL && this.view.addSeal(w, row)) {
        for (const [profile, value, held] of row.held) { const k = this.key(profile, value); k.sealHeld.set(w.clientId, held); touched.add(k) }
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
    this.checkSealed()
    let arrived = false
    for (const k of touched) {
      arrived ||= k.receivedSinceRequest
      k.recompute(this.view, this.isSealed)
      this.withdrawIfSatisfied(k)
      this.answerAll(k)
      this.freeIfIdle(k)
    }
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
    k.requests.set(w.clientId, { writer: w, seq: row.seq, want: row.want, limit: row.limit, clock })
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
      if (!this.answer(k, r.writer, r.want)) { pending = true; continue }
      k.answered.set(r.writer.clientId, r.seq)
    }
    if (!pending || k.ledger > 0 || k.myRequest !== null) return
    for (const node of this.view.nodes) {
      if (node === this.view.self.node || k.foreignOf(node) <= 0) continue
      const owner = this.view.latestOf(node)
      if (owner !== undefined && !owner.fenced) this.answer(k, owner, k.foreignOf(node))
    }
  }

  /** Offers rights to `to`: first its own share's rights held here, then this node's share. @returns whether anything was given. */
  private answer (k: KeyRights, to: Incarnation, want: number): boolean {
    let spare = k.available
    if (spare <= 0) return false
    const back = Math.min(want, k.foreignOf(to.node), spare)
    spare -= back
    const keep = k.myRequest !== null ? spare : k.ledger > 0 ? Math.min(1, this.reserve) : 0
    const mine = Math.max(0, Math.min(want - back, k.ownHeld, spare - keep))
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

/**
 * Liveness: turns heartbeats (and their absence) into owner status changes on the store.
 *
 * For every other node the tracker keeps the newest incarnation it has heard of and when it
 * last heard it (by the injected clock). A node silent for `livenessTimeoutMs` is suspect
 * (still counted); after `graceMs` more it is declared dead (`store.setOwnerStatus(.., 'dead')`:
 * its memberships stop counting, or are kept until expiry per profile policy); after
 * `purgeDelayMs` more its memberships are deleted from the document (`store.purgeOwner`).
 * A heartbeat makes it live again; a heartbeat from a newer incarnation makes that incarnation
 * live and the store voids the older ones, which are purged after `purgeDelayMs`.
 * Owners found in the document but never heard of (a node that died before this one started)
 * are timed from when they were first seen.
 *
 * Bounds: the table holds only nodes the transport vouches for (a heartbeat over the node's own
 * authenticated connection, or relayed for the incarnation already tracked) and owners of
 * memberships in the document; at most `maxTrackedNodes` of them (past it, a node whose
 * memberships are purged and gone makes room, else the newcomer is not tracked and a warning is
 * logged). An incarnation ahead of the clock by more than `maxClockSkewMs` is never adopted, and
 * neither is a document owner's incarnation that contradicts the node's own open connection.
 */
import type { OwnerInfo } from './types.js'

/** What the tracker needs from the store. */
export interface LivenessStore {
  readonly nodeId: string
  readonly incarnation: number
  setOwnerStatus (node: string, incarnation: number, status: 'live' | 'dead'): void
  purgeOwner (node: string, incarnation: number): number
  owners (): OwnerInfo[]
}

export interface LivenessOptions {
  readonly clock: () => number
  readonly livenessTimeoutMs: number
  readonly graceMs: number
  readonly purgeDelayMs: number
  /** Most nodes tracked. */
  readonly maxTrackedNodes: number
  /** Largest lead of an adopted incarnation over `clock()`, ms. */
  readonly maxClockSkewMs: number
  /** Incarnation bound by the node's open connection to this one, if any. @defaultValue none */
  readonly connectedIncarnation?: (node: string) => number | undefined
  /** Called when a node leaves the table to make room for another. @defaultValue none */
  readonly forgotten?: (node: string) => void
}

/** Liveness of a node as this node sees it. */
export type PeerLiveness = 'live' | 'suspect' | 'dead' | 'purged'

/** Events of the tracker (part of the cluster node's event union). */
export type LivenessEvent =
  | { readonly type: 'owner-suspect'; readonly node: string; readonly incarnation: number; readonly silentMs: number }
  | { readonly type: 'owner-dead'; readonly node: string; readonly incarnation: number; readonly silentMs: number }
  | { readonly type: 'owner-live'; readonly node: string; readonly incarnation: number }
  | { readonly type: 'owner-purged'; readonly node: string; readonly incarnation: number; readonly deleted: number }

/** One tracked node. */
export interface LivenessEntry {
  readonly node: string
  readonly incarnation: number
  readonly state: PeerLiveness
  /** Clock time of the last heartbeat (or first sighting), ms. */
  readonly lastHeardAt: number
  /** Whether a heartbeat was ever received from this incarnation. */
  readonly heard: boolean
}

interface Tracked {
  incarnation: number
  lastHeardAt: number
  heard: boolean
  state: PeerLiveness
  deadAt: number
  /** Memberships left after the last purge (remote or kept ones stay until expiry). */
  left: number
}

export class LivenessTracker {
  private readonly nodes = new Map<string, Tracked>()
  /** Superseded incarnations waiting to be purged: key `node:inc` → time first seen void. */
  private readonly voids = new Map<string, { since: number; left: number }>()
  /** A node was refused for a full table since the last warning. */
  private fullWarned = false

  constructor (
    private readonly store: LivenessStore,
    private readonly opts: LivenessOptions,
    private readonly emit: (e: LivenessEvent) => void,
    private readonly log: (msg: string) => void = () => {}
  ) {}

  /** Incarnation tracked for `node`, if it is in the table. */
  incarnationOf (node: string): number | undefined { return this.nodes.get(node)?.incarnation }

  /** A heartbeat (or hello) of `node` incarnation `incarnation` arrived (vouched for by the transport). */
  heard (node: string, incarnation: number): void {
    if (node === this.store.nodeId) return
    const now = this.opts.clock()
    if (incarnation > now + this.opts.maxClockSkewMs) return
    const t = this.nodes.get(node)
    if (t !== undefined && incarnation < t.incarnation) return
    if (t === undefined && !this.makeRoom(node)) return
    if (t === undefined || incarnation > t.incarnation) {
      this.nodes.set(node, { incarnation, lastHeardAt: now, heard: true, state: 'live', deadAt: 0, left: 0 })
      this.setStatus(node, incarnation, 'live')
      if (t !== undefined && t.state !== 'live') this.emit({ type: 'owner-live', node, incarnation })
      return
    }
    t.lastHeardAt = now
    t.heard = true
    if (t.state !== 'live') {
      const wasDead = t.state === 'dead' || t.state === 'purged'
      t.state = 'live'
      if (wasDead) this.setStatus(node, incarnation, 'live')
      this.emit({ type: 'owner-live', node, incarnation })
    }
  }

  /** Applies the clock: suspect, dead and purge transitions. Cheap: O(owners). */
  check (): void {
    const now = this.opts.clock()
    const owners = this.store.owners()
    for (const o of owners) {
      if (o.self) continue
      if (o.status === 'void') {
        const key = `${o.node}:${o.incarnation}`
        const v = this.voids.get(key)
        if (v === undefined) this.voids.set(key, { since: now, left: -1 })
        else if (o.memberships > 0 && o.memberships !== v.left && now - v.since >= this.opts.purgeDelayMs) {
          const deleted = this.purge(o.node, o.incarnation)
          v.left = o.memberships - deleted
          if (deleted > 0) this.emit({ type: 'owner-purged', node: o.node, incarnation: o.incarnation, deleted })
        }
        continue
      }
      if (o.node === this.store.nodeId) continue
      const t = this.nodes.get(o.node)
      if (t === undefined || o.incarnation > t.incarnation) {
        if (o.incarnation > now + this.opts.maxClockSkewMs) continue
        const connected = this.opts.connectedIncarnation?.(o.node)
        if (connected !== undefined && connected !== o.incarnation) continue
        if (t === undefined && !this.makeRoom(o.node)) continue
        // Seen in the document before any heartbeat: time it from now.
        this.nodes.set(o.node, { incarnation: o.incarnation, lastHeardAt: now, heard: false, state: 'live', deadAt: 0, left: 0 })
      }
    }
    const { livenessTimeoutMs: timeout, graceMs: grace, purgeDelayMs: purgeDelay } = this.opts
    for (const [node, t] of this.nodes) {
      const silent = now - t.lastHeardAt
      if (t.state === 'live' && silent > timeout) {
        t.state = 'suspect'
        this.emit({ type: 'owner-suspect', node, incarnation: t.incarnation, silentMs: silent })
      }
      if (t.state === 'suspect' && silent > timeout + grace) {
        t.state = 'dead'
        t.deadAt = now
        this.setStatus(node, t.incarnation, 'dead')
        this.emit({ type: 'owner-dead', node, incarnation: t.incarnation, silentMs: silent })
      }
      if ((t.state === 'dead' || t.state === 'purged') && now - t.deadAt >= purgeDelay) {
        // Purge once, then again only if more of its memberships arrived (late relays).
        const o = owners.find((x) => x.node === node && x.incarnation === t.incarnation)
        const present = o?.memberships ?? 0
        if (t.state === 'dead' || (present > 0 && present !== t.left)) {
          const first = t.state === 'dead'
          const deleted = this.purge(node, t.incarnation)
          t.left = present - deleted
          t.state = 'purged'
          if (first || deleted > 0) this.emit({ type: 'owner-purged', node, incarnation: t.incarnation, deleted })
        }
      }
    }
  }

  /** Whether `node` may enter the table, evicting a purged node with nothing left if it is full. */
  private makeRoom (node: string): boolean {
    if (this.nodes.size < this.opts.maxTrackedNodes) { this.fullWarned = false; return true }
    for (const [n, t] of this.nodes) {
      if (t.state === 'purged' && t.left <= 0) {
        this.nodes.delete(n)
        this.opts.forgotten?.(n)
        return true
      }
    }
    if (!this.fullWarned) {
      this.fullWarned = true
      this.log(`liveness table full (maxTrackedNodes ${this.opts.maxTrackedNodes}): node ${node} is not tracked (its memberships count while the store takes it for live); further refusals are not logged until room frees up`)
    }
    return false
  }

  private purge (node: string, incarnation: number): number {
    try {
      return this.store.purgeOwner(node, incarnation)
    } catch (err) {
      this.log(`purge of ${node}:${incarnation} failed: ${err instanceof Error ? err.message : String(err)}`)
      return 0
    }
  }

  private setStatus (node: string, incarnation: number, status: 'live' | 'dead'): void {
    try {
      this.store.setOwnerStatus(node, incarnation, status)
    } catch (err) {
      this.log(`setOwnerStatus(${node}, ${incarnation}, ${status}) failed: ${err instanceof Error ? err.message : String(err)}`)
    }
  }

  /** Every tracked node with its liveness. */
  entries (): LivenessEntry[] {
    return [...this.nodes].map(([node, t]) => ({ node, incarnation: t.incarnation, state: t.state, lastHeardAt: t.lastHeardAt, heard: t.heard }))
  }

}

/**
 * Our ProfileStore, through the public API only (`../../src/index.js`): one store per replica,
 * one plain profile `total`, updates relayed between stores by an in-memory mesh. Remote
 * updates are applied with the mesh as origin, so a store never echoes them.
 */
import { ProfileStore } from '../../src/index.js'
import type { JoinedReplica, ReplicatedSet, SetImplementation } from '../lib/replicated-set.js'
import { Mesh } from '../lib/mesh.js'
import type { MeshReplica } from '../lib/mesh.js'

/** The profile every benchmark uses. */
export const PROFILE = 'total'

const FROM_MESH = Symbol('mesh')

/**
 * Pushes a store's pending local writes into its document now (`flushWrites`, where the store
 * defers writes to the end of the microtask); a no-op for a store that writes at once.
 */
export const flushWrites = (store: ProfileStore): void => {
  const s = store as { flushWrites?: () => void }
  if (typeof s.flushWrites === 'function') s.flushWrites.call(store)
}

/** Creates one benchmark store (node `n<i>`, seeded Yjs client id). */
export const createStore = (node: number, seed: number): ProfileStore => new ProfileStore({
  nodeId: `n${node}`,
  profiles: [{ name: PROFILE }],
  clientId: ((seed + node * 7919) % 0x7ffffffe) + 1,
  incarnation: 1
})

class StoreReplica implements MeshReplica {
  constructor (readonly store: ProfileStore) {}
  onLocalUpdate (cb: (update: Uint8Array) => void): void {
    this.store.onUpdate((update, origin) => { if (origin !== FROM_MESH) cb(update) })
  }

  apply (update: Uint8Array): void { this.store.applyUpdate(update, FROM_MESH) }
}

/** N stores wired by an in-memory mesh; `stores` gives scenarios the full store API. */
export class StoreSet implements ReplicatedSet {
  readonly stores: ProfileStore[]
  private readonly mesh: Mesh
  constructor (readonly replicas: number, seed: number) {
    this.stores = Array.from({ length: replicas }, (_, i) => createStore(i, seed))
    // Every store knows every owner as live from the start, as the liveness layer would tell it.
    for (const s of this.stores) for (const o of this.stores) s.setOwnerStatus(o.nodeId, o.incarnation, 'live')
    this.mesh = new Mesh(this.stores.map((s) => new StoreReplica(s)))
  }

  private st (i: number): ProfileStore {
    const s = this.stores[i]
    if (s === undefined) throw new Error(`no replica ${i}`)
    return s
  }

  add (node: number, dialog: string): void {
    if (!this.st(node).add(dialog, PROFILE)) throw new Error(`add refused: ${dialog}`)
  }

  remove (node: number, dialog: string): void { this.st(node).remove(dialog, PROFILE) }
  flush (): void {
    for (const s of this.stores) flushWrites(s)
    this.mesh.flush()
  }

  /** Cuts replica `i` off the mesh, as a crashed node. */
  disconnect (i: number): void { this.mesh.disconnect(i) }
  maintain (): void {
    for (const s of this.stores) { s.expire(); s.sweep() }
    this.flush()
  }

  size (replica: number): number { return this.st(replica).size(PROFILE) }
  members (replica: number): string[] { return this.st(replica).members(PROFILE).map((m) => m.dialog) }
  encodeState (replica: number): Uint8Array {
    flushWrites(this.st(replica))
    return this.st(replica).encodeState()
  }
  stats (replica: number): Record<string, number> {
    const out: Record<string, number> = {}
    for (const [k, v] of Object.entries(this.st(replica).stats())) if (typeof v === 'number') out[k] = v
    return out
  }

  destroy (): void { for (const s of this.stores) s.destroy() }
}

/** Our store. */
export const profileStore: SetImplementation = {
  name: 'ProfileStore',
  create: (replicas, seed) => new StoreSet(replicas, seed),
  join: (state: Uint8Array, seed: number): JoinedReplica => {
    const s = createStore(99, seed)
    s.applyUpdate(state, FROM_MESH)
    return { size: () => s.size(PROFILE), members: () => s.members(PROFILE).map((m) => m.dialog), destroy: () => { s.destroy() } }
  }
}

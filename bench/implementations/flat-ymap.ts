/**
 * Baseline: one plain `Y.Map` of all calls keyed by dialog id, no compaction. This is what a
 * straightforward Yjs port of a dialog profile looks like, and what grows with history (its
 * state keeps a trace of every call ever made). Counts are kept from the map's own
 * change events, as a careful user would (never `Y.Map.size`, which walks tombstones).
 */
import * as Y from 'yjs'
import type { JoinedReplica, ReplicatedSet, SetImplementation } from '../lib/replicated-set.js'
import { Mesh } from '../lib/mesh.js'
import type { MeshReplica } from '../lib/mesh.js'

const REMOTE = Symbol('remote')

class FlatReplica implements MeshReplica {
  readonly doc: Y.Doc
  readonly map: Y.Map<{ owner: number, ts: number }>
  count = 0
  constructor (clientId: number, readonly node: number) {
    this.doc = new Y.Doc()
    this.doc.clientID = clientId
    this.map = this.doc.getMap('calls')
    this.map.observe((event) => {
      for (const change of event.changes.keys.values()) {
        if (change.action === 'add') this.count++
        else if (change.action === 'delete') this.count--
      }
    })
  }

  onLocalUpdate (cb: (update: Uint8Array) => void): void {
    this.doc.on('update', (update: Uint8Array, origin: unknown) => { if (origin !== REMOTE) cb(update) })
  }

  apply (update: Uint8Array): void { Y.applyUpdate(this.doc, update, REMOTE) }
}

const structs = (doc: Y.Doc): number => {
  let n = 0
  for (const list of doc.store.clients.values()) n += list.length
  return n
}

class FlatSet implements ReplicatedSet {
  private readonly reps: FlatReplica[]
  private readonly mesh: Mesh
  private ts = 0
  constructor (readonly replicas: number, seed: number) {
    this.reps = Array.from({ length: replicas }, (_, i) => new FlatReplica(((seed + i * 7919) % 0x7fffffff) + 1, i))
    this.mesh = new Mesh(this.reps)
  }

  private rep (i: number): FlatReplica {
    const r = this.reps[i]
    if (r === undefined) throw new Error(`no replica ${i}`)
    return r
  }

  add (node: number, dialog: string): void { this.rep(node).map.set(dialog, { owner: node, ts: ++this.ts }) }
  remove (node: number, dialog: string): void { this.rep(node).map.delete(dialog) }
  flush (): void { this.mesh.flush() }
  maintain (): void { /* no compaction: that is the point of this baseline */ }
  size (replica: number): number { return this.rep(replica).count }
  members (replica: number): string[] { return [...this.rep(replica).map.keys()] }
  encodeState (replica: number): Uint8Array { return Y.encodeStateAsUpdate(this.rep(replica).doc) }
  stats (replica: number): Record<string, number> { return { structs: structs(this.rep(replica).doc) } }
  destroy (): void { for (const r of this.reps) r.doc.destroy() }
}

/** The flat Y.Map baseline. */
export const flatYMap: SetImplementation = {
  name: 'flat Y.Map',
  create: (replicas, seed) => new FlatSet(replicas, seed),
  join: (state: Uint8Array, seed: number): JoinedReplica => {
    const r = new FlatReplica(((seed + 99 * 7919) % 0x7fffffff) + 1, -1)
    r.apply(state)
    return { size: () => r.count, members: () => [...r.map.keys()], destroy: () => { r.doc.destroy() } }
  }
}

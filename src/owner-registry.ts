/**
 * Owners: the node incarnations known to a store, each with its partition (one Yjs client), and
 * the liveness verdict in force for each. A newer incarnation of a node voids the older ones at
 * once; otherwise an owner is live until the liveness layer says it is dead. Changes of status
 * are reported to a callback, which re-counts the owner's memberships: the document never changes.
 */
import type { PartitionName } from './internal/records.js'
import { newPartition, type Partition } from './internal/partitions.js'
import type { OwnerStatus } from './types.js'
import { setIfUndefined } from 'lib0/map'

export class OwnerRegistry {
  private readonly byClient = new Map<number, Partition>()
  private readonly byNode = new Map<string, Set<Partition>>()
  /** Verdicts per node, then per incarnation (no key string built per lookup: asked for every add indexed). */
  private readonly verdicts = new Map<string, Map<number, 'live' | 'dead'>>()
  private readonly newest = new Map<string, number>()

  constructor (
    private readonly selfNode: string,
    private readonly selfIncarnation: number,
    /** Called for every partition whose status changed, and for every new partition. */
    private readonly changed: (p: Partition, status: OwnerStatus, isNew: boolean) => void
  ) {}

  get size (): number { return this.byClient.size }

  partition (clientId: number): Partition | undefined { return this.byClient.get(clientId) }

  partitions (): IterableIterator<Partition> { return this.byClient.values() }

  partitionsOf (node: string, incarnation: number): Partition[] {
    return [...(this.byNode.get(node) ?? [])].filter(p => p.incarnation === incarnation)
  }

  register (name: PartitionName, self: boolean): Partition {
    const p = newPartition(name, self)
    this.byClient.set(name.clientId, p)
    setIfUndefined(this.byNode, name.node, () => new Set<Partition>()).add(p)
    this.noteIncarnation(name.node, name.incarnation)
    if (!self) this.changed(p, this.statusOf(p), true)
    return p
  }

  /** Forgets a partition (this store's own, abandoned after a client-id collision) so its client id can name another. */
  unregister (p: Partition): void {
    if (this.byClient.get(p.clientId) === p) this.byClient.delete(p.clientId)
    this.byNode.get(p.node)?.delete(p)
  }

  /** Records a liveness verdict (`setOwnerStatus`). @returns whether anything changed. */
  setVerdict (node: string, incarnation: number, status: 'live' | 'dead'): boolean {
    if (node === this.selfNode && incarnation === this.selfIncarnation) return false
    this.noteIncarnation(node, incarnation)
    const ofNode = setIfUndefined(this.verdicts, node, () => new Map<number, 'live' | 'dead'>())
    if (ofNode.get(incarnation) === status) return false
    ofNode.set(incarnation, status)
    const now = this.statusFor(node, incarnation)
    for (const p of this.partitionsOf(node, incarnation)) this.changed(p, now, false)
    return true
  }

  /** Records that `incarnation` of `node` exists; older incarnations become void. */
  noteIncarnation (node: string, incarnation: number): void {
    const newest = this.newest.get(node)
    if (newest !== undefined && newest >= incarnation) return
    this.newest.set(node, incarnation)
    for (const p of this.byNode.get(node) ?? []) {
      if (p.incarnation < incarnation && !p.self) this.changed(p, 'void', false)
    }
  }

  statusFor (node: string, incarnation: number): OwnerStatus {
    if (node === this.selfNode && incarnation === this.selfIncarnation) return 'live'
    if (incarnation < (this.newest.get(node) ?? incarnation)) return 'void'
    return this.verdicts.get(node)?.get(incarnation) ?? 'live'
  }

  statusOf (p: Partition): OwnerStatus {
    return p.self ? 'live' : this.statusFor(p.node, p.incarnation)
  }
}

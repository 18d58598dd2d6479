/**
 * Which incarnations of the configured nodes this node knows, which it has fenced, and which
 * seals it has received for its own incarnation.
 *
 * Fence: once an incarnation of node m is known, every older incarnation of m is dead (a node id
 * runs one process at a time) and fenced: its later rows are ignored, and the rights it held
 * return to their owners. A node seals each newer incarnation of another node it learns of.
 * Own share: this incarnation may use its node's share only once every other configured node has
 * sealed it: each seal says how many rights of this node's share the sealer holds per key (taken
 * from predecessors), so that nothing a predecessor handed out is counted twice.
 */
import type { RightsPartitionName, SealRow } from './rows.js'

export interface Incarnation extends RightsPartitionName {
  fenced: boolean
}

export class IncarnationView {
  private readonly byClient = new Map<number, Incarnation>()
  private readonly latest = new Map<string, Incarnation>()
  /** Seals of this incarnation, by sealing node. */
  private readonly seals = new Map<string, SealRow>()
  readonly self: Incarnation

  constructor (readonly nodes: readonly string[], self: RightsPartitionName) {
    this.self = { ...self, fenced: false }
    this.byClient.set(self.clientId, this.self)
    this.latest.set(self.node, this.self)
  }

  get (client: number): Incarnation | undefined { return this.byClient.get(client) }

  /** The newest incarnation of `node` known here. */
  latestOf (node: string): Incarnation | undefined { return this.latest.get(node) }

  all (): IterableIterator<Incarnation> { return this.byClient.values() }

  /**
   * Registers an incarnation. @returns the incarnations fenced by this call (older ones of the
   * same node, or this one when a newer is known), and whether it is a newer incarnation of
   * another node that this node must seal.
   */
  learn (p: RightsPartitionName): { known: Incarnation, fenced: Incarnation[], seal: boolean } {
    const existing = this.byClient.get(p.clientId)
    if (existing !== undefined) return { known: existing, fenced: [], seal: false }
    const inc: Incarnation = { ...p, fenced: false }
    this.byClient.set(p.clientId, inc)
    const fenced: Incarnation[] = []
    const cur = this.latest.get(p.node)
    if (cur !== undefined && (cur === this.self || cur.incarnation > p.incarnation || (cur.incarnation === p.incarnation && cur.clientId > p.clientId))) {
      // older than what we know (or an older incarnation of this very node): dead already
      inc.fenced = true
      fenced.push(inc)
      return { known: inc, fenced, seal: false }
    }
    if (cur !== undefined) for (const other of this.byClient.values()) if (other.node === p.node && other !== inc && !other.fenced) { other.fenced = true; fenced.push(other) }
    this.latest.set(p.node, inc)
    return { known: inc, fenced, seal: p.node !== this.self.node }
  }

  /** Records a seal row; @returns true when it seals this incarnation. */
  addSeal (sealer: Incarnation, row: SealRow): boolean {
    if (row.node !== this.self.node || row.client !== this.self.clientId || row.incarnation !== this.self.incarnation) return false
    if (sealer.node === this.self.node || !this.nodes.includes(sealer.node)) return false
    this.seals.set(sealer.node, row)
    return true
  }

  /** Whether this incarnation may use its node's own share: sealed by every other configured node. */
  sealed (): boolean {
    for (const n of this.nodes) if (n !== this.self.node && !this.seals.has(n)) return false
    return true
  }

  /** Configured nodes whose seal of this incarnation is missing. */
  missingSeals (): string[] { return this.nodes.filter(n => n !== this.self.node && !this.seals.has(n)) }
}

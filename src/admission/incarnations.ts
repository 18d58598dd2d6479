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
  /** Reclaimed by a majority's votes (leases.ts): fenced, and its node's share goes to an heir. */
  reclaimed: boolean
}

/** A report on a reclaimed incarnation: who wrote it and which heir (incarnation, by client) it names. */
export interface Report {
  readonly reporter: Incarnation
  readonly heirClient: number
  /** The latest incarnation the reporter knew of each node. */
  readonly latest: ReadonlyArray<readonly [string, number, number]>
  readonly clock: number
}

export class IncarnationView {
  private readonly byClient = new Map<number, Incarnation>()
  private readonly latest = new Map<string, Incarnation>()
  /** Seals of this incarnation, by sealing node. */
  private readonly seals = new Map<string, SealRow>()
  /** Reports per reclaimed incarnation (client), by reporting node: the newest of each node's latest incarnation. */
  private readonly reports = new Map<number, Map<string, Report>>()
  readonly self: Incarnation

  constructor (readonly nodes: readonly string[], self: RightsPartitionName) {
    this.self = { ...self, fenced: false, reclaimed: false }
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
    const inc: Incarnation = { ...p, fenced: false, reclaimed: false }
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

  /**
   * Whether this incarnation may use its node's own share: sealed by every other configured node
   * whose latest incarnation known here is not reclaimed (what a reclaimed one held is void).
   */
  sealed (): boolean { return this.missingSeals().length === 0 }

  /** Configured nodes whose seal of this incarnation is missing. */
  missingSeals (): string[] {
    return this.nodes.filter(n => n !== this.self.node && !this.seals.has(n) && this.latest.get(n)?.reclaimed !== true)
  }

  /** Marks an incarnation reclaimed (and fenced). */
  reclaim (inc: Incarnation): void { inc.reclaimed = true; inc.fenced = true }

  /** The client of the latest incarnation of `heirOf(node)` known here, 0 when none. */
  heirClientOf (node: string): number {
    const h = this.heirOf(node)
    return h === null ? 0 : this.latest.get(h)?.clientId ?? 0
  }

  /**
   * The heir of `node`'s share as seen here: the first configured node after it (in sorted order,
   * wrapping) whose latest known incarnation is not reclaimed; a node with no known incarnation
   * counts as not reclaimed (it may be alive). Null when every other node is reclaimed.
   */
  heirOf (node: string): string | null {
    const i = this.nodes.indexOf(node)
    for (let k = 1; k < this.nodes.length; k++) {
      const p = this.nodes[(i + k) % this.nodes.length] as string
      if (this.latest.get(p)?.reclaimed !== true) return p
    }
    return null
  }

  /** Records a report row on reclaimed incarnation `subject` (the newest per reporting incarnation wins). */
  addReport (reporter: Incarnation, subject: number, heirClient: number, latest: Report['latest'], clock: number): void {
    let m = this.reports.get(subject)
    if (m === undefined) { m = new Map(); this.reports.set(subject, m) }
    const cur = m.get(reporter.node)
    if (cur !== undefined && cur.reporter === reporter && cur.clock > clock) return
    if (cur !== undefined && cur.reporter !== reporter && cur.reporter.incarnation > reporter.incarnation) return
    m.set(reporter.node, { reporter, heirClient, latest, clock })
  }

  /**
   * Whether this incarnation may adopt the share of reclaimed incarnation `subject` of `node`:
   * its node is the heir; the latest incarnation of every other configured node (but `node`) is
   * reclaimed here or reported naming this very incarnation as heir (a report naming an earlier
   * incarnation of this node speaks of rights that incarnation took); no report names a newer
   * incarnation of a node than this node knows (that one may be an heir too: wait for it); and
   * the reports naming it come from a majority of the configured nodes, itself included. Two
   * incarnations that each knew only the other's reclaimed predecessor would otherwise both adopt;
   * their majorities share a reporter, whose report names one of them and the other's incarnation.
   */
  mayAdopt (node: string, subject: number): boolean {
    if (this.self.reclaimed || this.heirOf(node) !== this.self.node) return false
    const m = this.reports.get(subject)
    let naming = 0
    for (const p of this.nodes) {
      if (p === node || p === this.self.node) continue
      const l = this.latest.get(p)
      if (l === undefined) return false
      for (const r of m?.values() ?? []) for (const [n, inc] of r.latest) if (n === p && inc > l.incarnation) return false
      if (l.reclaimed) continue
      const r = m?.get(p)
      if (r === undefined || r.reporter !== l || r.heirClient !== this.self.clientId) return false
      naming++
    }
    return naming + 1 >= Math.floor(this.nodes.length / 2) + 1
  }

  /** The latest incarnation known here of each configured node: node, incarnation, client. */
  latestAll (): Array<[string, number, number]> {
    const out: Array<[string, number, number]> = []
    for (const n of this.nodes) { const l = this.latest.get(n); if (l !== undefined) out.push([n, l.incarnation, l.clientId]) }
    return out
  }

  /** Forgets the reports on an incarnation whose node has restarted since. */
  dropReports (subject: number): void { this.reports.delete(subject) }

  /** The reports on `subject` that count: by latest, unreclaimed incarnations. */
  liveReports (subject: number): Report[] {
    const out: Report[] = []
    for (const r of this.reports.get(subject)?.values() ?? []) if (!r.reporter.fenced && this.latest.get(r.reporter.node) === r.reporter) out.push(r)
    return out
  }
}

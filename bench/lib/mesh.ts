/**
 * In-memory, synchronous, full-mesh delivery between replicas of one implementation: every
 * local update is queued for every other replica and `flush()` delivers the queue in FIFO order
 * (updates produced while delivering are delivered in the same flush). Counts messages and bytes.
 */

/** What the mesh needs from a replica. */
export interface MeshReplica {
  /** Subscribes to updates this replica produced itself (never the ones the mesh applied). */
  onLocalUpdate (cb: (update: Uint8Array) => void): void
  /** Applies an update that came from another replica. */
  apply (update: Uint8Array): void
}

/** Upper bound of messages one flush may deliver, so a feedback loop fails instead of spinning. */
const MAX_PER_FLUSH = 50_000_000

/** A full mesh between replicas. */
export class Mesh {
  private readonly queue: { to: number, update: Uint8Array }[] = []
  private head = 0
  private readonly down = new Set<number>()
  messages = 0
  bytes = 0
  constructor (private readonly replicas: readonly MeshReplica[]) {
    replicas.forEach((r, i) => {
      r.onLocalUpdate((update) => {
        if (this.down.has(i)) return
        for (let j = 0; j < replicas.length; j++) if (j !== i && !this.down.has(j)) this.queue.push({ to: j, update })
      })
    })
  }

  /** Cuts replica `i` off (a crashed node): nothing more reaches it or leaves it. Queued messages to it are dropped. */
  disconnect (i: number): void { this.down.add(i) }

  /** Delivers everything queued, including what deliveries produce. Returns messages delivered. */
  flush (): number {
    let n = 0
    while (this.head < this.queue.length) {
      const msg = this.queue[this.head++]
      if (msg === undefined) break
      if (++n > MAX_PER_FLUSH) throw new Error('mesh: delivery does not quiesce')
      this.messages++
      this.bytes += msg.update.byteLength
      if (this.down.has(msg.to)) continue
      const r = this.replicas[msg.to]
      if (r !== undefined) r.apply(msg.update)
    }
    this.queue.length = 0
    this.head = 0
    return n
  }
}

/**
 * The write-behind queue of one store: local records and deletions wait here and reach the
 * document in one Yjs transaction per burst (at the end of the current event-loop turn, in
 * `setImmediate`; or `delayMs` after the first write of the burst when it is above 0; or once
 * `maxPending` writes wait). A delay lets the writes of several turns share one transaction:
 * a daemon answering one request per turn would otherwise pay a transaction (and an update to
 * every peer) per request. A turn, not a microtask: the daemon answers
 * an HTTP request before the transaction is written, and the requests of one turn (several
 * clients' sockets read together) share one transaction. A queued record's clock is known when it is queued, because the
 * store is the only writer of its client's clocks and the flush appends the queue in order.
 * Another local writer under the same client id (the strict-admission roots) would take those
 * clocks: so the queue is written first thing in any other transaction on the document.
 */
import * as Y from 'yjs'
import { appendRecords, clientClock, deleteRecords } from './partition-doc.js'
import { setIfUndefined } from 'lib0/map'

export class WriteQueue {
  private records: unknown[] = []
  private deletes = new Map<number, number[]>()
  private count = 0
  private scheduled = false
  /** Clock of the last record appended to the partition, -1 before the first. */
  private last = -1

  constructor (
    private readonly doc: Y.Doc,
    /** The store's own partition. */
    private partition: Y.AbstractType<any>,
    /** Origin of the flush transactions. */
    private readonly origin: unknown,
    private readonly maxPending: number,
    /** Wait after the first queued write before writing, ms; 0: at the end of the current turn. */
    private readonly delayMs = 0
  ) {
    // Inside another transaction, `flush` joins it: the queued records keep their clocks.
    doc.on('beforeTransaction', (tr: Y.Transaction) => { if (tr.origin !== origin) this.flush() })
  }

  /** Queues a record at the end of the own partition; returns the clock it will have. */
  record (value: unknown): number {
    const clock = clientClock(this.doc, this.doc.clientID) + this.records.length
    this.records.push(value)
    this.schedule()
    return clock
  }

  /** Appends to another partition from now on (after a move to a fresh client id); flush first. */
  moveTo (partition: Y.AbstractType<any>): void {
    this.partition = partition
    this.last = -1
  }

  /** Queues the deletion of the record at (client, clock). */
  delete (client: number, clock: number): void {
    const list = setIfUndefined(this.deletes, client, (): number[] => [])
    list.push(clock)
    this.schedule()
  }

  /** Writes everything queued in one transaction. Cheap when nothing is queued. */
  flush (): void {
    if (this.records.length === 0 && this.deletes.size === 0) return
    const records = this.records
    const deletes = this.deletes
    this.records = []
    this.deletes = new Map()
    this.count = 0
    this.doc.transact(tr => {
      if (records.length > 0) this.last = appendRecords(tr, this.partition, this.last, records)
      for (const [client, clocks] of deletes) deleteRecords(tr, client, clocks)
    }, this.origin)
  }

  private readonly onDue = (): void => { this.scheduled = false; this.flush() }

  private schedule (): void {
    if (++this.count >= this.maxPending) { this.flush(); return }
    if (this.scheduled) return
    this.scheduled = true
    if (this.delayMs === 0) setImmediate(this.onDue)
    else setTimeout(this.onDue, this.delayMs)
  }
}

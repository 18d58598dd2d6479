/**
 * Writes this incarnation's strict-admission rows: appended at the end of its own `dpa:`
 * partition, deleted by ID (src/internal/partition-doc.ts), so deleted runs merge and the state
 * stays proportional to the live rows. A row replaced by a newer one (a larger offer total, a
 * new request) is appended first and the old one deleted in the same transaction.
 */
import * as Y from 'yjs'
import { appendRecords, deleteRecords } from '../internal/partition-doc.js'

export class RowWriter {
  private last = -1
  constructor (
    private readonly doc: Y.Doc,
    private readonly array: Y.Array<unknown>,
    /** Origin of the writer's transactions. */
    private readonly origin: unknown,
    /** Writes the store's queued records first: the store predicts its clocks from the document's state. */
    private readonly flushStore: () => void
  ) {}

  /** The clock the next appended row will get (after writing the store's queue). */
  nextClock (): number {
    this.flushStore()
    return Y.getState(this.doc.store, this.doc.clientID)
  }

  /**
   * Appends `rows` and deletes the own rows at `deletes` in one transaction.
   * @returns the clock of each appended row.
   */
  write (rows: readonly unknown[], deletes: readonly number[] = []): number[] {
    if (rows.length === 0 && deletes.length === 0) return []
    this.flushStore()
    const first = Y.getState(this.doc.store, this.doc.clientID)
    this.doc.transact(tr => {
      if (rows.length > 0) this.last = appendRecords(tr, this.array, this.last, rows)
      if (deletes.length > 0) deleteRecords(tr, this.doc.clientID, deletes)
    }, this.origin)
    return rows.map((_, i) => first + i)
  }
}

/**
 * What remote updates brought that cannot apply yet, kept out of Yjs: runs of structs whose
 * writer's earlier clocks have not arrived, and deletions of structs not here yet.
 *
 * Yjs keeps these itself (`store.pendingStructs`, `store.pendingDs`), but merges each new
 * pending part into all the earlier ones and re-applies every pending deletion on every update:
 * O(pending) per update, so a peer sending small updates that each skip a clock made its
 * receiver spend minutes of CPU on a megabyte, and deletions of structs that never come slowed
 * every later update for good (and went out in every state answer). Here each run and each
 * range is applied once (a run that arrives again while parked is parked once), when the
 * document holds what it waits for: checked only for the
 * writers an update advanced, at O(log n) per parked part (a min-heap per writer).
 *
 * Bounded: past `maxBytes` (runs, with their overhead, and 400 bytes per writer waited for) or
 * `maxRanges` delete ranges the store drops everything
 * parked (counted), as it would drop a message it could not hold. Dropped structs come again
 * through anti-entropy (a neighbour's digest shows them missing here); a dropped deletion does
 * not, so the store reports it and the cluster node asks its peers for their state, whose answers
 * carry their delete sets.
 */
import * as Y from 'yjs'
import { clientClock, deletionUpdate, takeUnapplied, type StructRun } from './partition-doc.js'

/** A binary min-heap of items by a numeric key. */
class MinHeap<T> {
  private readonly keys: number[] = []
  private readonly items: T[] = []
  get size (): number { return this.keys.length }
  /** The smallest key, Infinity when empty. */
  get min (): number { return this.keys[0] ?? Infinity }

  push (key: number, item: T): void {
    let i = this.keys.length
    this.keys.push(key)
    this.items.push(item)
    while (i > 0) {
      const up = (i - 1) >> 1
      if (this.keys[up]! <= key) break
      this.keys[i] = this.keys[up]!
      this.items[i] = this.items[up]!
      i = up
    }
    this.keys[i] = key
    this.items[i] = item
  }

  pop (): T | undefined {
    const n = this.keys.length
    if (n === 0) return undefined
    const top = this.items[0]
    const key = this.keys.pop()!
    const item = this.items.pop()!
    if (n > 1) {
      let i = 0
      const last = n - 1
      for (;;) {
        let c = 2 * i + 1
        if (c >= last) break
        if (c + 1 < last && this.keys[c + 1]! < this.keys[c]!) c++
        if (this.keys[c]! >= key) break
        this.keys[i] = this.keys[c]!
        this.items[i] = this.items[c]!
        i = c
      }
      this.keys[i] = key
      this.items[i] = item
    }
    return top
  }
}

const runKey = (run: StructRun): string => `${run.client}:${run.start}:${run.end}`

/** Parts parked for one writer: struct runs by start clock, delete ranges (their lengths) by clock. */
interface Waiting {
  readonly runs: MinHeap<StructRun>
  readonly deletes: MinHeap<number>
}

/** Default bounds: a late joiner's pending part of a large state fits; a flood of gaps does not pile up further. */
export const MAX_PARKED_BYTES = 32 * 1024 * 1024
export const MAX_PARKED_RANGES = 1_000_000

/** Memory of a parked run besides its bytes (its objects, buffer and key), counted against `maxBytes`. */
const RUN_OVERHEAD_BYTES = 300
/**
 * Memory of the parking of one writer (its two heaps), counted against `maxBytes`: deletions
 * naming a million writers must not cost far more memory than the bytes that named them.
 */
const WRITER_OVERHEAD_BYTES = 400

/** What `ParkedUpdates.drop` discarded. */
export interface ParkedDrop { readonly bytes: number, readonly ranges: number }

export class ParkedUpdates {
  private readonly byClient = new Map<number, Waiting>()
  /** Runs parked, by `client:start:end`: a run that arrives twice (two paths, a relay) is parked once. */
  private readonly runKeys = new Set<string>()
  private parkedBytes = 0
  private parkedRanges = 0
  private dropped = { bytes: 0, ranges: 0 }

  constructor (private readonly onDrop: (d: ParkedDrop) => void, private readonly maxBytes = MAX_PARKED_BYTES, private readonly maxRanges = MAX_PARKED_RANGES) {}

  get bytes (): number { return this.parkedBytes }
  get ranges (): number { return this.parkedRanges }
  /** Bytes and ranges dropped for the bounds since the start. */
  get droppedBytes (): number { return this.dropped.bytes }
  get droppedRanges (): number { return this.dropped.ranges }

  /**
   * After a remote update was applied (inside its transaction): takes out of Yjs what it could
   * not apply, then applies what was parked for the writers in `advanced` (and for the writers
   * those parts advance) once the document holds what it waited for.
   */
  settle (doc: Y.Doc, advanced: Iterable<number>): void {
    this.park(doc)
    if (this.byClient.size === 0) return
    const work: number[] = []
    for (const c of advanced) if (this.byClient.has(c)) work.push(c)
    while (work.length > 0) {
      const client = work.pop()!
      const w = this.byClient.get(client)
      if (w === undefined) continue
      let state = clientClock(doc, client)
      while (w.runs.min <= state) {
        const run = w.runs.pop()!
        this.runKeys.delete(runKey(run))
        this.parkedBytes -= run.update.length + RUN_OVERHEAD_BYTES
        Y.applyUpdate(doc, run.update)
        this.park(doc)
        if (this.byClient.get(client) !== w) return // dropped for the bounds meanwhile
        state = clientClock(doc, client)
      }
      if (w.deletes.min < state) {
        const ranges: number[] = []
        while (w.deletes.min < state) {
          const clock = w.deletes.min
          ranges.push(clock, w.deletes.pop()!)
        }
        this.parkedRanges -= ranges.length / 2
        Y.applyUpdate(doc, deletionUpdate(client, ranges))
        this.park(doc)
        if (this.byClient.get(client) !== w) return
      }
      if (w.runs.size === 0 && w.deletes.size === 0 && this.byClient.get(client) === w) {
        this.byClient.delete(client)
        this.parkedBytes -= WRITER_OVERHEAD_BYTES
      }
    }
  }

  /** Moves what Yjs holds pending into the parking; past a bound, drops everything parked. */
  private park (doc: Y.Doc): void {
    const u = takeUnapplied(doc)
    if (u === undefined) return
    for (const run of u.runs) {
      const key = runKey(run)
      if (this.runKeys.has(key)) continue
      this.runKeys.add(key)
      this.waiting(run.client).runs.push(run.start, run)
      this.parkedBytes += run.update.length + RUN_OVERHEAD_BYTES
    }
    for (let i = 0; i < u.deletes.length; i += 3) {
      const client = u.deletes[i]!
      const clock = u.deletes[i + 1]!
      const len = u.deletes[i + 2]!
      this.waiting(client).deletes.push(clock, len)
      this.parkedRanges++
    }
    if (this.parkedBytes > this.maxBytes || this.parkedRanges > this.maxRanges) this.drop()
  }

  private waiting (client: number): Waiting {
    let w = this.byClient.get(client)
    if (w === undefined) {
      this.byClient.set(client, w = { runs: new MinHeap(), deletes: new MinHeap() })
      this.parkedBytes += WRITER_OVERHEAD_BYTES
    }
    return w
  }

  /** Drops everything parked (a bound was passed) and reports what. */
  private drop (): void {
    const d = { bytes: this.parkedBytes, ranges: this.parkedRanges }
    this.byClient.clear()
    this.runKeys.clear()
    this.dropped = { bytes: this.dropped.bytes + d.bytes, ranges: this.dropped.ranges + d.ranges }
    this.parkedBytes = 0
    this.parkedRanges = 0
    this.onDrop(d)
  }
}

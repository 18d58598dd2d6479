/**
 * Yjs-level operations on partitions, done by ID and never by position:
 * - append: an owner adds records only at the end of its own partition, each new item's origin
 *   being the previous last item, so that runs of deleted records of one writer merge into one
 *   struct (state stays proportional to the live records, see the README's compaction notes);
 * - delete: any node deletes a record by its ID (client, clock) in O(log n);
 * - read a transaction: which records it added and which IDs it deleted, in O(changes).
 */
import * as Y from 'yjs'
import * as decoding from 'lib0/decoding'
import { parsePartitionName, type PartitionName } from './records.js'

/**
 * Appends records after the item holding `lastClock` of this doc's own client (-1: none yet),
 * one embed item each. @returns the clock of the last one.
 */
export const appendRecords = (tr: Y.Transaction, array: Y.AbstractType<any>, lastClock: number, records: readonly unknown[]): number => {
  const doc = tr.doc
  const store = doc.store
  const client = doc.clientID
  let left: Y.Item | null = null
  if (lastClock >= 0) {
    const s = Y.getItem(store, Y.createID(client, lastClock))
    left = s instanceof Y.Item ? s : null
  }
  if (left === null && lastClock >= 0) {
    // Cannot happen with partitions that are never deleted; fall back to a walk to the end.
    left = array._start
    while (left !== null && left.right !== null) left = left.right
  }
  let clock = Y.getState(store, client)
  for (const r of records) {
    const item: Y.Item = new Y.Item(Y.createID(client, clock), left, left === null ? null : left.lastId, null, null, array, null, new Y.ContentEmbed(r as object))
    item.integrate(tr, 0)
    left = item
    clock++
  }
  return clock - 1
}

/** Deletes the single records at (client, clock) for each clock. Absent or deleted ones are skipped. */
export const deleteRecords = (tr: Y.Transaction, client: number, clocks: Iterable<number>): void => {
  const structs = tr.doc.store.clients.get(client)
  if (structs === undefined) return
  for (const clock of clocks) {
    const last = structs[structs.length - 1]
    if (last === undefined || clock >= last.id.clock + last.length) continue
    const s = Y.getItemCleanStart(tr, Y.createID(client, clock))
    if (!(s instanceof Y.Item) || s.deleted) continue
    if (s.length > 1) Y.getItemCleanStart(tr, Y.createID(client, clock + 1))
    s.delete(tr)
  }
}

/** Resolves which partition a type is (null for any other type), caching per type object. */
export class PartitionResolver {
  private readonly cache = new WeakMap<Y.AbstractType<any>, PartitionName | null>()
  constructor (private readonly doc: Y.Doc) {}

  resolve (type: Y.AbstractType<any>): PartitionName | null {
    const cached = this.cache.get(type)
    if (cached !== undefined) return cached
    let found: PartitionName | null = null
    if (type._item === null) {
      for (const [name, t] of this.doc.share) {
        if (t === type) { found = parsePartitionName(name); break }
      }
    }
    this.cache.set(type, found)
    return found
  }
}

/**
 * Calls `fn` for every value a transaction integrated and that is still present (whatever the
 * item's content type: the caller decodes and rejects what is not a record).
 */
export const forEachAddedValue = (tr: Y.Transaction, fn: (item: Y.Item, clock: number, value: unknown) => void): void => {
  const store = tr.doc.store
  tr.afterState.forEach((after, client) => {
    const before = tr.beforeState.get(client) ?? 0
    if (after <= before) return
    const structs = store.clients.get(client)
    if (structs === undefined) return
    for (let i = Y.findIndexSS(structs, before); i < structs.length; i++) {
      const s = structs[i] as Y.Item | Y.GC
      if (s.id.clock >= after) break
      if (!(s instanceof Y.Item) || s.deleted || s.parentSub !== null) continue
      const values = s.content.getContent()
      const from = Math.max(0, before - s.id.clock)
      const to = Math.min(values.length, after - s.id.clock)
      for (let k = from; k < to; k++) fn(s, s.id.clock + k, values[k])
    }
  })
}

/** Calls `fn` for every range of IDs (client, clock, len) a transaction deleted. */
export const forEachDeletedRange = (tr: Y.Transaction, fn: (client: number, clock: number, len: number) => void): void => {
  tr.deleteSet.clients.forEach((ranges, client) => {
    for (const r of ranges) fn(client, r.clock, r.len)
  })
}

/**
 * Whether applying `update` to `doc` would change nothing: every struct it carries is already
 * integrated and every ID its delete set names is already deleted (a duplicate, as relays and
 * repairs can deliver). O(size of the update) with no transaction; false when in doubt
 * (malformed input, pending structs or deletes of unknown IDs: the caller then applies it).
 */
export const isKnownUpdate = (doc: Y.Doc, update: Uint8Array): boolean => {
  const store = doc.store
  // Fast path for the common case, a new update: the first client's first struct starts at or
  // past what this doc holds of it (update v1: [clients][structs][client][clock]...).
  try {
    const d = decoding.createDecoder(update)
    if (decoding.readVarUint(d) > 0) {
      decoding.readVarUint(d)
      const client = decoding.readVarUint(d)
      if (decoding.readVarUint(d) >= Y.getState(store, client)) return false
    }
  } catch {
    return false
  }
  let decoded: { structs: Array<Y.Item | Y.GC | { id: Y.ID, length: number }>, ds: { clients: Map<number, Array<{ clock: number, len: number }>> } }
  try {
    decoded = Y.decodeUpdate(update) as unknown as typeof decoded
  } catch {
    return false
  }
  for (const s of decoded.structs) {
    if (s.id.clock + s.length > Y.getState(store, s.id.client)) return false
  }
  for (const [client, ranges] of decoded.ds.clients) {
    const structs = store.clients.get(client)
    for (const r of ranges) {
      if (r.len === 0) continue
      if (structs === undefined || r.clock + r.len > Y.getState(store, client)) return false
      for (let i = Y.findIndexSS(structs, r.clock); i < structs.length; i++) {
        const s = structs[i]!
        if (s.id.clock >= r.clock + r.len) break
        if (!s.deleted) return false
      }
    }
  }
  return true
}

/**
 * Yjs-level operations on partitions, done by ID and never by position:
 * - append: an owner adds records only at the end of its own partition, each new item's origin
 *   being the previous last item, so that runs of deleted records of one writer merge into one
 *   struct (state stays proportional to the live records, see the README's compaction notes);
 * - delete: any node deletes a record by its ID (client, clock) in O(log n);
 * - read a transaction: which records it added and which IDs it deleted, in O(changes);
 * - check a remote update against the document's schema before any of it is applied.
 * This is the only module that reaches into Yjs structs (items, origins, parents, the struct
 * store): a Yjs upgrade touches this file alone.
 */
import * as Y from 'yjs'
import * as decoding from 'lib0/decoding'
import * as encoding from 'lib0/encoding'
import { isAsciiJson } from './json-check.js'
import { MAX_CLIENT_ID, parsePartitionName, parseRootName, type PartitionName } from './records.js'

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

/** The name of a root type of `doc`, or null for a nested type. */
export const rootNameOf = (doc: Y.Doc, type: Y.AbstractType<any>): string | null => {
  if (type._item !== null) return null
  for (const [name, t] of doc.share) if (t === type) return name
  return null
}

/**
 * Resolves which partition a type is (null for any other type), caching per type object.
 * `parse` says which root names count: partitions (`dp:`, the default) or any writable root.
 */
export class PartitionResolver {
  private readonly cache = new WeakMap<Y.AbstractType<any>, PartitionName | null>()
  constructor (private readonly doc: Y.Doc, private readonly parse: (name: string) => PartitionName | null = parsePartitionName) {}

  resolve (type: Y.AbstractType<any>): PartitionName | null {
    const cached = this.cache.get(type)
    if (cached !== undefined) return cached
    const name = rootNameOf(this.doc, type)
    const found = name === null ? null : this.parse(name)
    this.cache.set(type, found)
    return found
  }
}

/**
 * Calls `fn` for every value a transaction integrated into a partition and that is still
 * present (whatever the item's content type: the caller decodes and rejects what is not a
 * record), with the partition it landed in and the Yjs client that wrote it. `resolver` says
 * which root types are partitions (the store's, or strict admission's `dpa:` arrays).
 */
export const forEachAddedValue = <P>(tr: Y.Transaction, resolver: { resolve (type: Y.AbstractType<any>): P | null },
  fn: (partition: P, writer: number, clock: number, value: unknown) => void): void => {
  forEachNewLiveItem(tr, (s, client, before, after) => {
    if (s.parentSub !== null) return
    const pn = resolver.resolve(s.parent as Y.AbstractType<any>)
    if (pn === null) return
    const c = s.content
    // A record (an embed, one clock): no array of its content built.
    if (c instanceof Y.ContentEmbed) { if (s.id.clock >= before && s.id.clock < after) fn(pn, client, s.id.clock, c.embed); return }
    const values = c.getContent()
    const from = Math.max(0, before - s.id.clock)
    const to = Math.min(values.length, after - s.id.clock)
    for (let k = from; k < to; k++) fn(pn, client, s.id.clock + k, values[k])
  })
}

/**
 * Calls `fn` for every live (not deleted) item a transaction added, with its writer and the
 * transaction's clock range [before, after) of that writer (an item may start before it).
 */
const forEachNewLiveItem = (tr: Y.Transaction, fn: (item: Y.Item, client: number, before: number, after: number) => void): void => {
  const store = tr.doc.store
  tr.afterState.forEach((after, client) => {
    const before = tr.beforeState.get(client) ?? 0
    if (after <= before) return
    const structs = store.clients.get(client)
    if (structs === undefined) return
    for (let i = Y.findIndexSS(structs, before); i < structs.length; i++) {
      const s = structs[i] as Y.Item | Y.GC
      if (s.id.clock >= after) break
      if (s instanceof Y.Item && !s.deleted) fn(s, client, before, after)
    }
  })
}

/** Calls `fn` for every value present in a partition of the document: a full scan, for the debug recount. */
export const forEachPresentValue = (doc: Y.Doc, resolver: PartitionResolver,
  fn: (partition: PartitionName, writer: number, clock: number, value: unknown) => void): void => {
  for (const type of doc.share.values()) {
    const pn = resolver.resolve(type)
    if (pn === null) continue
    for (let item = type._start; item !== null; item = item.right) {
      if (item.deleted) continue
      const values = item.content.getContent()
      for (let k = 0; k < values.length; k++) fn(pn, item.id.client, item.id.clock + k, values[k])
    }
  }
}

/** The next clock of a Yjs client in the document: how far it has written (0 for a client never seen). */
export const clientClock = (doc: Y.Doc, client: number): number => Y.getState(doc.store, client)

/** Whether the document holds anything written by a Yjs client. */
export const knowsClient = (doc: Y.Doc, client: number): boolean => doc.store.clients.has(client)

/** Number of structs (items and tombstone runs) in the document: its size in Yjs's terms. */
export const countStructs = (doc: Y.Doc): number => {
  let n = 0
  for (const s of doc.store.clients.values()) n += s.length
  return n
}

/** Largest clock an update may reach: far below 2^53, so no clock arithmetic loses precision. */
const MAX_CLOCK = 2 ** 40

/** What `checkUpdate` found: a reason to refuse the update, or the end clock it reaches per client. */
export type UpdateCheck = { readonly ok: false, readonly reason: string } | {
  readonly ok: true
  /** End clock the update reaches, per client. */
  readonly ends: Map<number, number>
  /** Roots named by the update's items that name their parent (a partition's first item), per client. */
  readonly roots: Map<number, PartitionName>
}

/** Struct kinds of an update's info byte (its low 5 bits), as Yjs numbers them. */
const STRUCT_GC = 0
const CONTENT_DELETED = 1
const CONTENT_EMBED = 5
const STRUCT_SKIP = 10
/** Info byte flags (Yjs `binary.BIT6..BIT8`): the item has a map key, a right origin, an origin. */
const INFO_PARENT_SUB = 0x20
const INFO_RIGHT_ORIGIN = 0x40
const INFO_ORIGIN = 0x80

/** A check failure while reading an update's bytes. */
class Malformed extends Error {}

/**
 * Checks a remote update against the document's schema before any of it is applied, so that
 * Yjs cannot fail halfway through applying it. Accepted: structs that are tombstones (GC),
 * gaps (Skip) or items whose content is an embed or deleted; an item either names its parent,
 * a partition root (`dp:`) or an admission root (`dpa:`) and whose client id is the item's (no map key,
 * no nested type), or chains to an earlier item of its own client (origin and right origin of
 * its own client, at earlier clocks), so by induction every item of a client lands in a root
 * named for that client. Delete ranges must be non-empty and bounded. Never throws.
 *
 * Reads the update's bytes (format v1, as `Y.decodeUpdate` does) without building Yjs struct
 * objects: a 100k-struct state answer is checked without allocating 100k items.
 */
export const checkUpdate = (update: Uint8Array): UpdateCheck => {
  try {
    return checkUpdateBytes(update)
  } catch (err) {
    if (err instanceof Malformed) return { ok: false, reason: err.message }
    return { ok: false, reason: `does not decode: ${err instanceof Error ? err.message : String(err)}` }
  }
}

/**
 * What `checkUpdateBytes` reports besides checking: each struct with its bytes' offsets in the
 * update (`skip` for a gap, Yjs's Skip struct), and each delete range.
 */
interface UpdateVisitor {
  struct (client: number, clock: number, length: number, skip: boolean, from: number, to: number): void
  range (client: number, clock: number, len: number): void
}

const checkUpdateBytes = (update: Uint8Array, visit?: UpdateVisitor): UpdateCheck => {
  const d = decoding.createDecoder(update)
  const end = update.length
  const uint = (): number => decoding.readVarUint(d)
  const string = (): string => {
    const v = decoding.readVarString(d)
    if (d.pos > end) throw new Malformed('does not decode: string past the end')
    return v
  }
  const ends = new Map<number, number>()
  const roots = new Map<number, PartitionName>()
  const clients = uint()
  for (let c = 0; c < clients; c++) {
    const count = uint()
    const client = uint()
    let clock = uint()
    if (!(client >= 0 && client <= MAX_CLIENT_ID)) throw new Malformed('bad client id')
    for (let i = 0; i < count; i++) {
      if (d.pos >= end) throw new Malformed('does not decode: truncated structs')
      const from = d.pos
      const info = decoding.readUint8(d)
      const kind = info & 0x1f
      let length: number
      if (kind === STRUCT_GC || kind === STRUCT_SKIP) {
        length = uint()
      } else if (kind === CONTENT_DELETED || kind === CONTENT_EMBED) {
        const hasOrigin = (info & INFO_ORIGIN) !== 0
        const hasRight = (info & INFO_RIGHT_ORIGIN) !== 0
        let chained = true
        if (hasOrigin) { const oc = uint(); const ok = uint(); chained &&= oc === client && ok < clock }
        if (hasRight) { const rc = uint(); const rk = uint(); chained &&= rc === client && rk < clock }
        if (!chained) throw new Malformed('item chained to another client or to a later clock')
        if (!hasOrigin && !hasRight) {
          // Yjs reads the parent here: a root's name (parent info 1) or a nested type's ID.
          if (uint() !== 1) throw new Malformed('item in a nested type')
          const pn = parseRootName(string())
          if (pn === null) throw new Malformed('item in a root that is not a partition')
          if (pn.clientId !== client) throw new Malformed('item written into another client\'s partition')
          if ((info & INFO_PARENT_SUB) !== 0) throw new Malformed('item with a map key')
          roots.set(client, pn)
        }
        if (kind === CONTENT_DELETED) {
          length = uint()
        } else {
          // JSON that Yjs's parse of the decoded string will surely accept (most records: checked
          // in place), else decoded and parsed as Yjs will, so that applying it cannot throw halfway.
          const at = d.pos
          const bytes = uint()
          if (d.pos + bytes <= end && isAsciiJson(update, d.pos, d.pos + bytes)) {
            d.pos += bytes
          } else {
            d.pos = at
            JSON.parse(string())
          }
          length = 1
        }
      } else if (kind <= STRUCT_SKIP) {
        throw new Malformed('item content is neither an embed nor deleted')
      } else {
        throw new Malformed('unknown struct')
      }
      if (!Number.isSafeInteger(clock) || !Number.isSafeInteger(length) || length < 1 || clock + length > MAX_CLOCK) throw new Malformed('struct clock out of range')
      if (d.pos > end) throw new Malformed('does not decode: truncated structs')
      visit?.struct(client, clock, length, kind === STRUCT_SKIP, from, d.pos)
      clock += length
    }
    if (count > 0 && clock > (ends.get(client) ?? 0)) ends.set(client, clock)
  }
  const dsClients = uint()
  for (let c = 0; c < dsClients; c++) {
    const client = uint()
    if (!(client >= 0 && client <= MAX_CLIENT_ID)) throw new Malformed('bad client id in delete set')
    const ranges = uint()
    for (let i = 0; i < ranges; i++) {
      const clock = uint()
      const len = uint()
      if (!Number.isSafeInteger(clock) || !Number.isSafeInteger(len) || clock < 0 || len < 1 || clock + len > MAX_CLOCK) throw new Malformed('delete range out of range')
      visit?.range(client, clock, len)
    }
  }
  return { ok: true, ends, roots }
}

/** Structs of one writer with no gap, as an update of their own: applicable once the document holds that writer's clocks below `start`. */
export interface StructRun {
  readonly client: number
  readonly start: number
  readonly end: number
  /** A Yjs update (v1) of these structs alone, with an empty delete set. */
  readonly update: Uint8Array
}

/** What Yjs could not apply yet: struct runs waiting for earlier structs of their writer, and delete ranges naming structs not here yet. */
export interface Unapplied {
  readonly runs: StructRun[]
  /** client, clock, len, per range. */
  readonly deletes: number[]
}

/**
 * Takes out of the document what Yjs holds back as pending (`store.pendingStructs`,
 * `store.pendingDs`: structs whose earlier clocks are missing, deletions of structs not here),
 * split into runs of consecutive structs of one writer and single delete ranges; the document
 * then holds nothing pending. Yjs merges new pending structs into the old ones, and re-applies
 * every pending deletion, on every update (O(pending) each time): a store that keeps them out
 * of Yjs (see `ParkedUpdates`) applies each once, when what it waits for arrives. Undefined
 * when nothing is pending.
 */
export const takeUnapplied = (doc: Y.Doc): Unapplied | undefined => {
  const store = doc.store
  const structs = store.pendingStructs
  const ds = store.pendingDs
  if (structs === null && ds === null) return undefined
  store.pendingStructs = null
  store.pendingDs = null
  const out: Unapplied = { runs: [], deletes: [] }
  if (structs !== null) splitRuns(Y.convertUpdateFormatV2ToV1(structs.update), out)
  if (ds !== null) splitRuns(Y.convertUpdateFormatV2ToV1(ds), out)
  return out
}

/** Splits an update (v1, as Yjs wrote it from checked input) into struct runs (split at gaps) and delete ranges, added to `out`. */
const splitRuns = (update: Uint8Array, out: Unapplied): void => {
  let client = -1
  let start = 0
  let clock = 0
  let from = 0
  let to = 0
  let count = 0
  const flush = (): void => {
    if (count === 0) return
    out.runs.push({ client, start, end: clock, update: clientUpdate(client, start, count, update.subarray(from, to)) })
    count = 0
  }
  const check = checkUpdateBytes(update, {
    struct (c, k, length, skip, a, b) {
      if (skip || c !== client || k !== clock) flush()
      client = c
      clock = k + length
      if (skip) return
      if (count === 0) { start = k; from = a }
      to = b
      count++
    },
    range (c, k, len) { out.deletes.push(c, k, len) }
  })
  flush()
  // Yjs wrote it from updates that passed the check; a failure here would be a Yjs change.
  if (!check.ok) throw new Error(`pending structs that do not check: ${check.reason}`)
}

/**
 * The structs of `client` from clock `from` (below `to`) as one update of at most about
 * `maxBytes` (at least one struct; a struct reaching past `to` goes whole), with an empty delete
 * set: consecutive structs of one writer, valid on their own. Written straight from the struct
 * store, as `Y.encodeStateAsUpdate` writes a client's structs, so a state answer is encoded one
 * chunk at a time rather than one writer's whole share at once (and without a delete set per
 * chunk). Returns undefined when the document holds nothing of `client` in [from, to); `next`
 * is the clock the next chunk starts at.
 */
export const encodeClientChunk = (doc: Y.Doc, client: number, from: number, to: number, maxBytes: number): { readonly update: Uint8Array, readonly next: number } | undefined => {
  const structs = doc.store.clients.get(client)
  if (structs === undefined || structs.length === 0 || from >= to || from >= Y.getState(doc.store, client)) return undefined
  const start = Math.max(from, structs[0]!.id.clock)
  const body = new Y.UpdateEncoderV1()
  let clock = start
  let n = 0
  let bytes = 0
  for (let i = Y.findIndexSS(structs, start); i < structs.length && clock < to; i++) {
    const s = structs[i]!
    s.write(body, clock - s.id.clock)
    const after = encoding.length(body.restEncoder)
    // Over the bound: this struct goes in the next chunk (unless it is the first).
    if (after > maxBytes && n > 0) break
    bytes = after
    clock = s.id.clock + s.length
    n++
  }
  return { update: clientUpdate(client, start, n, body.toUint8Array().subarray(0, bytes)), next: clock }
}

/** An update (v1) of `count` consecutive structs of `client` from clock `start` (their encoded bytes), with an empty delete set. */
const clientUpdate = (client: number, start: number, count: number, structs: Uint8Array): Uint8Array => {
  const e = encoding.createEncoder()
  encoding.writeVarUint(e, 1)
  encoding.writeVarUint(e, count)
  encoding.writeVarUint(e, client)
  encoding.writeVarUint(e, start)
  encoding.writeUint8Array(e, structs)
  encoding.writeVarUint(e, 0)
  return encoding.toUint8Array(e)
}

/** An update (v1) with no structs that deletes `ranges` (clock, len, clock, len, ...) of `client`. */
export const deletionUpdate = (client: number, ranges: readonly number[]): Uint8Array => {
  const e = encoding.createEncoder()
  encoding.writeVarUint(e, 0)
  encoding.writeVarUint(e, 1)
  encoding.writeVarUint(e, client)
  encoding.writeVarUint(e, ranges.length / 2)
  for (const x of ranges) encoding.writeVarUint(e, x)
  return encoding.toUint8Array(e)
}

/**
 * Whether a peer known to hold `known` (clocks per client, from its state vectors) already has
 * everything transaction `tr` changed: every struct it added, and it deleted nothing (a state
 * vector says nothing of deletions).
 */
export const holdsTransaction = (known: ReadonlyMap<number, number>, tr: Y.Transaction): boolean => {
  if (tr.deleteSet.clients.size > 0) return false
  for (const [client, clock] of tr.afterState) {
    if (clock > (tr.beforeState.get(client) ?? 0) && (known.get(client) ?? 0) < clock) return false
  }
  return true
}

/** Whether a transaction changed the document (added structs or deleted something): when Yjs emits `update` for it. */
export const changesDocument = (tr: Y.Transaction): boolean => {
  if (tr.deleteSet.clients.size > 0) return true
  for (const [client, clock] of tr.afterState) if ((tr.beforeState.get(client) ?? 0) !== clock) return true
  return false
}

/**
 * Calls `fn` after every transaction that changed the document, where Yjs would emit `update`
 * (after its cleanup: deleted content collected, structs merged), without Yjs encoding the
 * update: `fn` encodes it with {@link encodeTransactionUpdate} only if it needs the bytes. A
 * document with an `update` listener has every transaction encoded (half a second for the
 * state a 100k late joiner applies) whether or not a listener sends it anywhere.
 * @returns the unsubscribe function
 */
export const onDocumentChange = (doc: Y.Doc, fn: (tr: Y.Transaction) => void): () => void => {
  const h = (tr: Y.Transaction): void => { if (changesDocument(tr)) fn(tr) }
  doc.on('afterTransactionCleanup', h)
  return () => { doc.off('afterTransactionCleanup', h) }
}

/**
 * The update of a transaction, byte for byte what Yjs passes to `update` listeners (format v1:
 * the structs written since the transaction's before-state, highest client first, then its
 * delete set). Call it from {@link onDocumentChange}, where Yjs would encode it.
 */
export const encodeTransactionUpdate = (tr: Y.Transaction): Uint8Array => {
  const store = tr.doc.store
  const e = new Y.UpdateEncoderV1()
  const from: Array<[number, number]> = []
  for (const [client, structs] of store.clients) {
    const before = tr.beforeState.get(client) ?? 0
    if (structs.length > 0 && Y.getState(store, client) > before) from.push([client, before])
  }
  from.sort((a, b) => b[0] - a[0])
  encoding.writeVarUint(e.restEncoder, from.length)
  for (const [client, before] of from) {
    const structs = store.clients.get(client)!
    const clock = Math.max(before, structs[0]!.id.clock)
    const start = Y.findIndexSS(structs, clock)
    encoding.writeVarUint(e.restEncoder, structs.length - start)
    e.writeClient(client)
    encoding.writeVarUint(e.restEncoder, clock)
    structs[start]!.write(e, clock - structs[start]!.id.clock)
    for (let i = start + 1; i < structs.length; i++) structs[i]!.write(e, 0)
  }
  const ds = [...tr.deleteSet.clients].sort((a, b) => b[0] - a[0])
  encoding.writeVarUint(e.restEncoder, ds.length)
  for (const [client, ranges] of ds) {
    encoding.writeVarUint(e.restEncoder, client)
    encoding.writeVarUint(e.restEncoder, ranges.length)
    for (const r of ranges) { e.writeDsClock(r.clock); e.writeDsLen(r.len) }
  }
  return e.toUint8Array()
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

/**
 * Length of `JSON.stringify(v)` for the values records hold (arrays of strings, numbers, null),
 * without building the string; strings count without escapes (an estimate: ids rarely need any).
 */
const jsonLength = (v: unknown): number => {
  if (typeof v === 'string') return v.length + 2
  if (v === null) return 4
  if (typeof v === 'number') return Number.isSafeInteger(v) && v >= 0 ? digits(v) : String(v).length
  if (Array.isArray(v)) {
    let n = 1 + Math.max(1, v.length)
    for (const x of v) n += jsonLength(x)
    return n
  }
  return JSON.stringify(v)?.length ?? 4
}

/** Decimal digits of a non-negative safe integer. */
const digits = (v: number): number => {
  let n = 1
  for (let x = v; x >= 10; x = Math.floor(x / 10)) n++
  return n
}

/** Encoded bytes of an item's content, as a V1 update writes it (JSON lengths for JSON values). */
const contentBytes = (c: Y.Item['content']): number => {
  if (c instanceof Y.ContentEmbed) return 1 + jsonLength(c.embed)
  if (c instanceof Y.ContentString) return 1 + c.str.length
  if (c instanceof Y.ContentBinary) return 1 + c.content.length
  if (c instanceof Y.ContentAny || c instanceof Y.ContentJSON) {
    let n = 1
    for (const v of c.getContent()) n += 1 + (JSON.stringify(v)?.length ?? 1)
    return n
  }
  if (c instanceof Y.ContentDeleted) return 0
  return 4
}

/**
 * Encoded bytes of a live item beyond its fixed header: its content, the name of its parent when
 * it has no origin (the first item of a type), and its key in a map.
 */
const itemBytes = (s: Y.Item): number => {
  let n = contentBytes(s.content)
  if (s.origin === null && s.rightOrigin === null) {
    const p = s.parent
    n += p instanceof Y.AbstractType && p._item === null ? 1 + Y.findRootTypeKey(p).length : 6
  }
  if (s.parentSub !== null) n += 1 + s.parentSub.length
  return n
}

/** Estimated bytes of one live item's header: info, origin ID (a 32-bit client, a clock). */
const ITEM_HEADER_BYTES = 8
/** Estimated bytes of one deleted or collected struct, with its delete-set entry. */
const DELETED_STRUCT_BYTES = 6
/** Estimated bytes of one client's section header: struct count, client, first clock. */
const CLIENT_HEADER_BYTES = 9

/**
 * The size of `Y.encodeStateAsUpdate(doc)`, estimated without encoding anything: the content of
 * the live items is counted as transactions add and delete them (O(changes) per transaction,
 * after the fact), the rest is completed in O(clients) from the struct counts. Encoding the
 * state is O(state) (most of a second at 100k memberships); this answers in O(clients), within
 * a few tens of percent of the encoded size (test/internal/partition-doc.test.ts).
 */
export class StateSizeEstimate {
  private liveItems = 0
  private liveBytes = 0

  /** Follows `doc` until it is destroyed: create it with the document, before any transaction. */
  constructor (private readonly doc: Y.Doc) {
    doc.on('afterTransaction', (tr: Y.Transaction) => { this.follow(tr) })
  }

  private follow (tr: Y.Transaction): void {
    forEachNewLiveItem(tr, (s) => { this.liveItems++; this.liveBytes += itemBytes(s) })
    // Items deleted by this transaction that an earlier one added (their content is still there:
    // afterTransaction comes before Yjs collects it).
    Y.iterateDeletedStructs(tr, tr.deleteSet, (s) => {
      if (!(s instanceof Y.Item) || s.id.clock >= (tr.beforeState.get(s.id.client) ?? 0)) return
      this.liveItems--
      this.liveBytes -= itemBytes(s)
    })
  }

  /** The estimate, bytes. */
  bytes (): number {
    let structs = 0
    let clients = 0
    for (const s of this.doc.store.clients.values()) { structs += s.length; clients++ }
    const live = Math.min(this.liveItems, structs)
    return 2 + clients * CLIENT_HEADER_BYTES + this.liveBytes + live * ITEM_HEADER_BYTES + (structs - live) * DELETED_STRUCT_BYTES
  }
}

/** What `checkWriter` found. */
export type WriterCheck =
  /** Every struct is in a partition of the writer; `ranges` per client: [first clock, end clock). */
  | { readonly kind: 'ok'; readonly ranges: ReadonlyMap<number, readonly [number, number]> }
  /** A struct of a client whose partition is not known yet (its first item is neither here nor in the update). */
  | { readonly kind: 'unknown'; readonly client: number }
  /** A struct in another node's partition, or an update that does not decode. */
  | { readonly kind: 'refused'; readonly reason: string }

/**
 * Which node each Yjs client writes for, as the document says: the node named by the root
 * (`dp:` or `dpa:`) holding the client's first item (clock 0). `checkUpdate` makes every item of
 * a client land in roots named for that client, so all of a client's structs belong to that node.
 */
export class ClientOwners {
  private readonly resolver: PartitionResolver
  constructor (private readonly doc: Y.Doc) { this.resolver = new PartitionResolver(doc, parseRootName) }

  /** The node whose partition holds `client`'s first item, or undefined when the document has none. */
  ownerOf (client: number): string | undefined {
    const first = this.doc.store.clients.get(client)?.[0]
    if (!(first instanceof Y.Item) || first.id.clock !== 0 || !(first.parent instanceof Y.AbstractType)) return undefined
    return this.resolver.resolve(first.parent)?.node
  }

  /** Clients of the document whose partitions are named for `node`. */
  clientsOf (node: string): number[] {
    const out: number[] = []
    for (const client of this.doc.store.clients.keys()) if (this.ownerOf(client) === node) out.push(client)
    return out
  }

  /**
   * Whether every struct (item or tombstone) of `update` lies in a partition of `node`: each
   * struct's client must own, in the document or by its first item in this very update, a root
   * named for `node`, and every root the update's items name must be `node`'s. Delete sets may
   * name anything (deleting is how owners remove and how others purge). Never throws.
   */
  checkWriter (update: Uint8Array, node: string): WriterCheck {
    let decoded: { structs: Array<Y.Item | Y.GC | Y.Skip> }
    try {
      decoded = Y.decodeUpdate(update) as unknown as typeof decoded
    } catch (err) {
      return { kind: 'refused', reason: `does not decode: ${err instanceof Error ? err.message : String(err)}` }
    }
    const ranges = new Map<number, [number, number]>()
    const named = new Map<number, string>()
    for (const s of decoded.structs) {
      if (s instanceof Y.Skip) continue
      const { client, clock } = s.id
      const r = ranges.get(client)
      if (r === undefined) ranges.set(client, [clock, clock + s.length])
      else { r[0] = Math.min(r[0], clock); r[1] = Math.max(r[1], clock + s.length) }
      if (!(s instanceof Y.Item) || typeof s.parent !== 'string') continue
      const pn = parseRootName(s.parent)
      if (pn === null) continue // checkUpdate refuses it
      if (pn.node !== node) return { kind: 'refused', reason: `item in a partition of ${pn.node}` }
      if (clock === 0) named.set(client, pn.node)
    }
    for (const client of ranges.keys()) {
      const owner = this.ownerOf(client) ?? named.get(client)
      if (owner === undefined) return { kind: 'unknown', client }
      if (owner !== node) return { kind: 'refused', reason: `struct of Yjs client ${client}, which writes for ${owner}` }
    }
    return { kind: 'ok', ranges }
  }
}

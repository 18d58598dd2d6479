/**
 * Signed document updates (per-node keys only): a node's partitions hold only what that node
 * wrote, whichever way the structs travel.
 *
 * - Writing: a node signs the updates it writes (its own transactions, batched per event-loop
 *   turn: one Ed25519 signature per batch) with its private key; the signature covers a domain
 *   label, the node id and the updates, and travels with them through every relay unchanged.
 * - Receiving: a message counts only with the valid signature of a trusted signer, and only if
 *   every struct (item or tombstone) of every update lies in a partition (`dp:` or `dpa:` root)
 *   named for the signer: each Yjs client writes for the node that the root of its first item
 *   names (`ClientOwners`). A message with a bad signature or a struct in another node's
 *   partition is refused whole before anything of it is applied (the caller closes the
 *   connection it came on). A struct of a client whose first item is not known yet cannot be
 *   attributed: the message is dropped (not applied, not relayed) and arrives again in a state
 *   answer or a repair. Delete sets may name anyone's structs: deleting is how an owner removes,
 *   how others purge void or dead owners, and an owner re-asserts a live record deleted by
 *   another node (see the ownership protocol in `profile-store.ts`).
 * - State answers (initial exchange, repair, late join) cannot be one Yjs diff of many writers:
 *   a diff carries no writer's signature. So each node retains, per other writer, the signed
 *   messages of that writer it applied (from the writer, relays or state answers), and answers a
 *   state request with the retained messages of each writer whose structs the asker misses,
 *   then its own partitions' missing structs and its whole delete set, signed by itself. It
 *   asks (sync step 1, digests) with a state vector lowered to what it can forward, so that
 *   what it holds unsigned (loaded from its data directory) comes again signed.
 * - Bound: a writer sends a checkpoint (its partitions' structs and the delete set, signed,
 *   flagged) once the messages it signed since the last one exceed that checkpoint in bytes (at
 *   least {@link CHECKPOINT_MIN_BYTES}); a checkpoint replaces the writer's retained messages. So
 *   a writer's retained log stays within about twice its checkpoint plus the floor; a log past
 *   {@link RETAINED_FACTOR} times max(checkpoint, floor) plus the floor (a writer that never
 *   checkpoints) is dropped until the writer's next checkpoint, and that writer's structs then
 *   come only from the writer itself.
 * Why not the simpler rule "accept from a peer only its own partitions, and fetch each writer's
 * from the writer": in a partial mesh a node would then never get what a relay forwarded while
 * its link was down, and a joiner that does not reach every writer would miss live writers'
 * state; retained signed messages give both, within the bound above.
 * What is not retained: structs loaded from the data directory (signatures are not persisted)
 * until a neighbour sends them again signed, and a writer's structs that no neighbour can send
 * signed (none retained them: the writer itself is then the only source). A node therefore
 * forwards, in its state answers, only what it received signed since it started, and its own
 * partitions.
 */
import * as Y from 'yjs'
import type { KeyObject } from 'node:crypto'
import { ClientOwners } from '../internal/partition-doc.js'
import type { Logger, NodeKeys } from '../options.js'
import { signUpdates, updatesSigned } from './auth.js'
import { MAX_SIGNED_UPDATES, SIGNED_CHECKPOINT, SIGNED_STATE_END, encodeSignedUpdates } from './wire.js'
import type { SignedUpdates } from './wire.js'

/** A writer sends a checkpoint once it signed more than max(this, its last checkpoint's size) bytes since the last one. */
export const CHECKPOINT_MIN_BYTES = 64 * 1024
/** A writer's retained messages past this many times max(its checkpoint size, CHECKPOINT_MIN_BYTES), plus CHECKPOINT_MIN_BYTES, are dropped. */
export const RETAINED_FACTOR = 4
/** Room left in a message for its framing and signature. */
const ENVELOPE_BYTES = 1024

/** What to do with a received signed message. */
export type SignedVerdict =
  /** Nothing new (every update already applied, and not a checkpoint to retain): skip it. */
  | { readonly kind: 'duplicate' }
  /** Apply it; `ranges`: per client, [first clock, end clock) of its structs. */
  | { readonly kind: 'apply'; readonly ranges: ReadonlyMap<number, readonly [number, number]> }
  /** It cannot be attributed yet (a client whose partition is unknown): skip it, it will come again. */
  | { readonly kind: 'drop'; readonly reason: string }
  /** A forgery or garbage: refuse it whole and close the connection. */
  | { readonly kind: 'refuse'; readonly reason: string }

interface Retained {
  readonly msg: Uint8Array
  readonly ranges: ReadonlyMap<number, readonly [number, number]>
}

interface WriterLog {
  entries: Retained[]
  /** Signature of the retained checkpoint, if any (a copy of it arriving again is a duplicate). */
  checkpoint: Uint8Array | undefined
  bytes: number
  checkpointBytes: number
  dropped: boolean
  /** Per client: the end clock up to which the retained messages hold every struct from clock 0. */
  readonly covered: Map<number, number>
}

export class SignedUpdateLog {
  private readonly owners: ClientOwners
  private readonly logs = new Map<string, WriterLog>()
  private pending: Uint8Array[] = []
  private sinceCheckpoint = 0
  private lastCheckpoint = 0
  readonly #privateKey: KeyObject
  readonly #trusted: ReadonlyMap<string, KeyObject>

  constructor (private readonly doc: Y.Doc, private readonly nodeId: string, keys: NodeKeys,
    private readonly maxMessageBytes: number, private readonly log: Logger) {
    this.owners = new ClientOwners(doc)
    this.#privateKey = keys.privateKey
    this.#trusted = keys.trusted
  }

  /** Queues an update this node wrote; `takeOwn` signs what is queued. Returns whether the queue was empty. */
  queueOwn (update: Uint8Array): boolean {
    this.pending.push(update)
    return this.pending.length === 1
  }

  /**
   * The queued own updates as signed messages (each within `maxMessageBytes`), followed by a
   * checkpoint when one is due. An update with structs that are not this node's (applied to the
   * document by something other than a peer connection) is not sent: only its writer can sign it.
   */
  takeOwn (): Uint8Array[] {
    const out: Uint8Array[] = []
    let batch: Uint8Array[] = []
    let bytes = 0
    const seal = (): void => {
      if (batch.length === 0) return
      out.push(this.sealOwn(batch, 0))
      batch = []
      bytes = 0
    }
    for (const u of this.pending) {
      const check = this.owners.checkWriter(u, this.nodeId)
      if (check.kind !== 'ok') { this.log('warn', `an update applied locally holds structs of other writers: not sent (${check.kind === 'refused' ? check.reason : `client ${check.client}`})`); continue }
      if (bytes + u.length > this.maxMessageBytes - ENVELOPE_BYTES || batch.length === MAX_SIGNED_UPDATES) seal()
      batch.push(u)
      bytes += u.length
    }
    seal()
    this.pending = []
    if (this.sinceCheckpoint > Math.max(this.lastCheckpoint, CHECKPOINT_MIN_BYTES)) {
      const cp = this.ownState(new Map())
      if (cp.length > this.maxMessageBytes - ENVELOPE_BYTES) {
        this.log('warn', `this node's partitions (${cp.length} bytes) exceed maxMessageBytes: no checkpoint sent, so peers may drop this node's retained updates`)
        this.sinceCheckpoint = 0
      } else {
        const msg = this.sealOwn([cp], SIGNED_CHECKPOINT)
        out.push(msg)
        this.sinceCheckpoint = 0
        this.lastCheckpoint = msg.length
      }
    }
    return out
  }

  /** Signs and encodes own updates; the bytes count towards the next checkpoint (as receivers retain them). */
  private sealOwn (updates: readonly Uint8Array[], flags: number): Uint8Array {
    const msg = encodeSignedUpdates({ flags, signer: this.nodeId, updates, signature: signUpdates(this.#privateKey, this.nodeId, flags, updates) })
    this.sinceCheckpoint += msg.length
    return msg
  }

  /** Structs of this node's partitions that a peer with state vector `remote` misses, with the whole delete set, as one update. */
  private ownState (remote: ReadonlyMap<number, number>): Uint8Array {
    const target = Y.decodeStateVector(Y.encodeStateVector(this.doc))
    for (const client of this.owners.clientsOf(this.nodeId)) {
      const have = remote.get(client)
      if (have === undefined) target.delete(client)
      else target.set(client, have)
    }
    return Y.encodeStateAsUpdate(this.doc, Y.encodeStateVector(target))
  }

  /**
   * Checks a received signed message before anything of it is applied. `known`: every update is
   * already in the document. A known message is a duplicate, unless it gives this node what it
   * holds but cannot forward yet: a checkpoint not yet retained, or structs that extend what it
   * retained of the signer from clock 0 (for example structs it loaded from its data directory).
   */
  check (s: SignedUpdates, known: boolean): SignedVerdict {
    const checkpoint = (s.flags & SIGNED_CHECKPOINT) !== 0
    if (known && checkpoint && this.retainedCheckpoint(s)) return { kind: 'duplicate' }
    const key = this.#trusted.get(s.signer)
    if (key === undefined) return { kind: 'refuse', reason: `signer ${s.signer} is not in the trust list` }
    const ranges = new Map<number, readonly [number, number]>()
    for (const u of s.updates) {
      const c = this.owners.checkWriter(u, s.signer)
      if (c.kind === 'refused') return { kind: 'refuse', reason: `update signed by ${s.signer}: ${c.reason}` }
      if (c.kind === 'unknown') return { kind: 'drop', reason: `update signed by ${s.signer} with structs of Yjs client ${c.client}, whose partition is not known yet` }
      for (const [client, [from, to]] of c.ranges) {
        const r = ranges.get(client)
        ranges.set(client, r === undefined ? [from, to] : [Math.min(r[0], from), Math.max(r[1], to)])
      }
    }
    if (known && !checkpoint && !this.extendsCoverage(s.signer, ranges)) return { kind: 'duplicate' }
    if (!updatesSigned(key, s)) return { kind: 'refuse', reason: `bad signature of ${s.signer}` }
    return { kind: 'apply', ranges }
  }

  /** Whether retaining a message of `signer` with these struct ranges would extend what this node can forward of it. */
  private extendsCoverage (signer: string, ranges: ReadonlyMap<number, readonly [number, number]>): boolean {
    if (signer === this.nodeId) return false
    const log = this.logs.get(signer)
    if (log?.dropped === true) return false
    for (const [client, [from, to]] of ranges) {
      const have = log?.covered.get(client) ?? 0
      if (from <= have && to > have) return true
    }
    return false
  }

  /**
   * The state vector this node asks with: for other writers' clients, only as far as it can
   * forward their structs (what it retained from clock 0), so that structs it holds but cannot
   * forward (loaded from its data directory, say) come again, signed, and are retained.
   */
  stateVector (): Uint8Array {
    const sv = Y.decodeStateVector(Y.encodeStateVector(this.doc))
    for (const [client, clock] of sv) {
      const owner = this.owners.ownerOf(client)
      // Only where a signed copy would be retained: else the answers would never make progress.
      if (owner === undefined || owner === this.nodeId || this.logs.get(owner)?.dropped === true) continue
      const cov = this.logs.get(owner)?.covered.get(client) ?? 0
      if (cov === 0) sv.delete(client)
      else if (cov < clock) sv.set(client, cov)
    }
    return Y.encodeStateVector(sv)
  }

  private retainedCheckpoint (s: SignedUpdates): boolean {
    const sig = this.logs.get(s.signer)?.checkpoint
    return sig !== undefined && Buffer.compare(sig, s.signature) === 0
  }

  /**
   * Keeps an applied message of another writer for later state answers; returns the message as
   * relays forward it (without the sender's state-answer flag).
   */
  retain (s: SignedUpdates, ranges: ReadonlyMap<number, readonly [number, number]>): Uint8Array {
    const msg = encodeSignedUpdates({ ...s, flags: s.flags & SIGNED_CHECKPOINT })
    if (ranges.size === 0 || s.signer === this.nodeId) return msg
    let log = this.logs.get(s.signer)
    if (log === undefined) {
      log = { entries: [], checkpoint: undefined, bytes: 0, checkpointBytes: 0, dropped: false, covered: new Map() }
      this.logs.set(s.signer, log)
    }
    if ((s.flags & SIGNED_CHECKPOINT) !== 0) {
      log.entries = []
      log.bytes = 0
      log.checkpointBytes = msg.length
      log.checkpoint = s.signature
      log.dropped = false
      log.covered.clear()
    } else if (log.dropped) {
      return msg
    }
    log.entries.push({ msg, ranges })
    log.bytes += msg.length
    for (const [client, [from, to]] of ranges) {
      const have = log.covered.get(client) ?? 0
      if (from <= have && to > have) log.covered.set(client, to)
    }
    if (log.bytes > RETAINED_FACTOR * Math.max(log.checkpointBytes, CHECKPOINT_MIN_BYTES) + CHECKPOINT_MIN_BYTES) {
      this.log('warn', `${s.signer} signed ${log.bytes} bytes without a checkpoint: its retained updates are dropped until its next checkpoint`)
      log.entries = []
      log.checkpoint = undefined
      log.bytes = 0
      log.dropped = true
      log.covered.clear()
    }
    return msg
  }

  /**
   * Up to which clock this node can send `client`'s structs in a state answer: all of them for
   * its own partitions, else what the retained messages of its writer hold from clock 0.
   */
  coverage (client: number): number {
    const owner = this.owners.ownerOf(client)
    if (owner === undefined) return 0
    if (owner === this.nodeId) return Infinity
    return this.logs.get(owner)?.covered.get(client) ?? 0
  }

  /**
   * The answer to a state request (the asker's state vector): the retained messages of each
   * other writer that hold structs the asker misses, then (last, flagged as the end of the
   * answer) this node's partitions' missing structs and its whole delete set, signed by it.
   */
  stateAnswer (remote: ReadonlyMap<number, number>): Uint8Array[] {
    const out: Uint8Array[] = []
    for (const log of this.logs.values()) {
      for (const e of log.entries) {
        for (const [client, [, to]] of e.ranges) {
          if ((remote.get(client) ?? 0) < to) { out.push(e.msg); break }
        }
      }
    }
    const own = this.ownState(remote)
    out.push(encodeSignedUpdates({ flags: SIGNED_STATE_END, signer: this.nodeId, updates: [own], signature: signUpdates(this.#privateKey, this.nodeId, 0, [own]) }))
    return out
  }

  /** Retained bytes over every writer (for tests and `cluster()`). */
  retainedBytes (): number {
    let n = 0
    for (const log of this.logs.values()) n += log.bytes
    return n
  }
}

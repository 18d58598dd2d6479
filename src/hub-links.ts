/**
 * Hub links: the hub topology. A node joins the cluster through one or more standard
 * y-websocket servers ("hubs") with the `y-websocket` provider, one provider per hub on the
 * store's document. Every update of the document goes to every connected hub (local writes, and
 * updates received from another hub: a node relays between the hubs it reaches, so nodes that
 * share no hub still converge through one that reaches both); a hub's death is survived while
 * one hub is up.
 *
 * Checked path. The provider's stock sync handler applies what a hub sends with a raw
 * `Y.applyUpdate` on the document. Each provider keeps its own `messageHandlers` array, and this
 * module replaces its sync entry: step 1 is answered from `ProfileStore.encodeState`, step 2 and
 * updates go through `ProfileStore.applyUpdate` (all-or-nothing schema check, client-id collision
 * handling, incarnation skew bound); a refused update is dropped and counted, never applied. The
 * awareness entry is wrapped to bound the states one hub can make this node hold, and every
 * handler is guarded so that a malformed message closes that hub's connection (the provider
 * reconnects) instead of throwing out of a socket callback.
 *
 * Liveness over awareness: each node publishes `{ nodeId, incarnation, clientId }` as its state
 * on every hub, renewed every `heartbeatIntervalMs`; each state received with a newer awareness
 * clock counts as a heartbeat of that node (`onHeard`). A node whose state is gone from every
 * hub (removed when its connection closed, or no longer renewed) is heard no more, so the
 * liveness tracker takes it for suspect, then dead, as in mesh mode. A hub's clients are not
 * authenticated to each other: any holder of a hub token can publish a state naming any node.
 *
 * Tokens: sent as the url parameter `token`, as y-websocket servers read credentials. The
 * providers (which hold their url parameters as properties) live in a private field.
 */
import { WebSocket } from 'ws'
import * as Y from 'yjs'
import { WebsocketProvider } from 'y-websocket'
import * as awarenessProtocol from 'y-protocols/awareness'
import * as encoding from 'lib0/encoding'
import * as decoding from 'lib0/decoding'
import { NODE_ID_PATTERN } from './internal/records.js'
import type { HubOptions, Logger } from './options.js'
import { MSG_SYNC, SYNC_STEP1, SYNC_STEP2, SYNC_UPDATE, encodeSync } from './transport/wire.js'
import { MAX_MESSAGES_PER_TASK, MAX_UPDATE_BYTES_PER_TASK } from './transport/peer.js'
import type { ProfileStore } from './profile-store.js'

/** y-websocket message type of awareness updates. */
const MSG_AWARENESS = 1
/** Message types below this one without a y-websocket handler drop the connection (the provider logs others). */
const MAX_HANDLED_TYPE = 127
/** A refused state answer with more writers than this is not split writer by writer (the split costs O(writers x size)). */
const MAX_WRITERS_SPLIT = 4096
/** WebSocket close code sent to a hub that broke the protocol (the provider reconnects). */
const CLOSE_PROTOCOL = 4002

/** One hub's state, as `cluster()` shows it (no token). */
export interface HubView {
  readonly url: string
  readonly room: string
  readonly connected: boolean
  /** Whether the state exchange over the current connection completed (sync step 2 applied). */
  readonly synced: boolean
  /** Why the last connection attempt or connection failed, until one syncs; else null. */
  readonly lastError: string | null
  /** Whether the hub refused this node's token (HTTP 401 or 403 at the upgrade) since the last sync. */
  readonly refused: boolean
  readonly bytesIn: number
  readonly bytesOut: number
  readonly messagesIn: number
  readonly messagesOut: number
  /** Sync updates and state answers received from this hub (refused ones included). */
  readonly updatesIn: number
  /** Updates received from this hub and refused by the store's checks. */
  readonly refusedUpdates: number
}

/** Events of the hub links. */
export type HubEvent =
  | { readonly type: 'hub-connected'; readonly url: string; readonly room: string }
  | { readonly type: 'hub-synced'; readonly url: string; readonly room: string }
  | { readonly type: 'hub-disconnected'; readonly url: string; readonly room: string; readonly reason: string }

export interface HubLinksOptions {
  readonly heartbeatIntervalMs: number
  /** Largest WebSocket message accepted from a hub, bytes. */
  readonly maxMessageBytes: number
  /** Most awareness states one hub may make this node hold. */
  readonly maxAwarenessStates: number
  /** Largest reconnect delay, ms. */
  readonly reconnectMaxMs: number
  readonly log: Logger
  /** A heartbeat of `node` (a newer awareness state) arrived through a hub. */
  readonly onHeard: (node: string, incarnation: number) => void
  readonly onEvent: (e: HubEvent) => void
}

interface Link {
  readonly url: string
  readonly room: string
  readonly provider: WebsocketProvider
  readonly awareness: awarenessProtocol.Awareness
  readonly stats: { bytesIn: number, bytesOut: number, messagesIn: number, messagesOut: number, updatesIn: number, refusedUpdates: number }
  lastError: string | null
  refused: boolean
  /** Updates received from the hub and not applied yet, in arrival order (see {@link HubLinks.queue}). */
  pending: Uint8Array[]
  /** Whether a drain of `pending` is scheduled. */
  draining: boolean
}

type Handler = (encoder: encoding.Encoder, decoder: decoding.Decoder, provider: WebsocketProvider, emitSynced: boolean, messageType: number) => void

/** Parses an awareness state published by a node; null when it is not one. */
const nodeState = (s: unknown): { nodeId: string, incarnation: number } | null => {
  if (typeof s !== 'object' || s === null) return null
  const { nodeId, incarnation } = s as { nodeId?: unknown, incarnation?: unknown }
  if (typeof nodeId !== 'string' || !NODE_ID_PATTERN.test(nodeId)) return null
  if (typeof incarnation !== 'number' || !Number.isSafeInteger(incarnation) || incarnation < 0) return null
  return { nodeId, incarnation }
}

export class HubLinks {
  /** The hubs with their tokens. */
  readonly #hubs: ReadonlyArray<Required<HubOptions>>
  /** One per hub once started (a provider and its awareness run timers from construction). */
  readonly #links: Link[] = []
  private timer: NodeJS.Timeout | undefined
  /** Every hub is asked for its state at the next tick (see `requestState`). */
  private stateWanted = false
  private closed = false

  constructor (private readonly store: ProfileStore, hubs: ReadonlyArray<Required<HubOptions>>, private readonly opts: HubLinksOptions) {
    this.#hubs = hubs
  }

  private link (h: Required<HubOptions>): Link {
    const stats = { bytesIn: 0, bytesOut: 0, messagesIn: 0, messagesOut: 0, updatesIn: 0, refusedUpdates: 0 }
    const maxPayload = this.opts.maxMessageBytes
    // The provider constructs its sockets with (url, protocols): this class adds the frame bound
    // and the traffic counters.
    class HubSocket extends WebSocket {
      constructor (url: string, protocols?: string | string[]) {
        super(url, protocols, { maxPayload, perMessageDeflate: false })
        this.on('message', (data: Buffer | ArrayBuffer) => { stats.bytesIn += data.byteLength; stats.messagesIn++ })
      }

      override send (data: Parameters<WebSocket['send']>[0], ...rest: unknown[]): void {
        stats.bytesOut += (data as { byteLength?: number }).byteLength ?? 0
        stats.messagesOut++
        ;(super.send as (...a: unknown[]) => void)(data, ...rest)
      }
    }
    const awareness = new awarenessProtocol.Awareness(this.store.doc)
    const provider = new WebsocketProvider(h.url, h.room, this.store.doc, {
      connect: false,
      awareness,
      params: { token: h.token },
      WebSocketPolyfill: HubSocket as unknown as typeof globalThis.WebSocket,
      disableBc: true,
      maxBackoffTime: this.opts.reconnectMaxMs
    })
    const link: Link = { url: h.url, room: h.room, provider, awareness, stats, lastError: null, refused: false, pending: [], draining: false }
    const handlers = provider.messageHandlers as Handler[]
    handlers[MSG_SYNC] = (encoder, decoder, p, emitSynced) => { this.onSync(link, encoder, decoder, p, emitSynced) }
    const applyAwareness = handlers[MSG_AWARENESS]!
    handlers[MSG_AWARENESS] = (encoder, decoder, p, emitSynced, type) => {
      const count = decoding.readVarUint(decoding.createDecoder(decoding.readVarUint8Array(decoding.clone(decoder))))
      if (awareness.getStates().size + count > this.opts.maxAwarenessStates) {
        throw new Error(`awareness update of ${count} states past the bound of ${this.opts.maxAwarenessStates}`)
      }
      applyAwareness(encoder, decoder, p, emitSynced, type)
    }
    // Every handler guarded: a throw would escape from the socket's message callback. Types
    // without a handler (up to MAX_HANDLED_TYPE) drop the connection too.
    for (let i = 0; i <= MAX_HANDLED_TYPE; i++) {
      const inner: Handler = handlers[i] ?? ((_e, _d, _p, _s, type) => { throw new Error(`unknown message type ${type}`) })
      handlers[i] = (encoder, decoder, p, emitSynced, type) => {
        try {
          inner(encoder, decoder, p, emitSynced, type)
        } catch (err) {
          this.dropConnection(link, `malformed message from the hub: ${err instanceof Error ? err.message : String(err)}`)
        }
      }
    }
    awareness.on('update', ({ added, updated }: { added: number[], updated: number[] }, origin: unknown) => {
      if (origin === 'local') return
      const states = awareness.getStates()
      for (const id of [...added, ...updated]) {
        const s = nodeState(states.get(id))
        if (s !== null && s.nodeId !== this.store.nodeId) this.opts.onHeard(s.nodeId, s.incarnation)
      }
    })
    provider.on('status', ({ status }: { status: string }) => {
      if (status === 'connected') this.opts.onEvent({ type: 'hub-connected', url: h.url, room: h.room })
      if (status === 'disconnected') this.opts.onEvent({ type: 'hub-disconnected', url: h.url, room: h.room, reason: link.lastError ?? 'connection closed' })
    })
    provider.on('sync', (synced: boolean) => {
      if (!synced) return
      link.lastError = null
      link.refused = false
      this.opts.onEvent({ type: 'hub-synced', url: h.url, room: h.room })
    })
    provider.on('connection-error', (e: unknown) => {
      const message = String((e as { message?: unknown } | null)?.message ?? 'connection error')
      link.lastError = message
      // ws reports a refused upgrade as "Unexpected server response: <status>".
      const status = /Unexpected server response: (\d+)/.exec(message)?.[1]
      if (status === '401' || status === '403') link.refused = true
    })
    provider.on('connection-close', (e: unknown) => {
      const ev = e as { code?: number, reason?: string } | null
      if (ev !== null && ev.code !== undefined && ev.code !== 1000 && ev.code !== 1005) link.lastError ??= `closed by the hub (${ev.code}${ev.reason !== undefined && ev.reason !== '' ? `: ${ev.reason}` : ''})`
    })
    return link
  }

  /**
   * The replacement of the provider's sync handler: step 1 answered from the store, step 2 and
   * updates applied through the store's checks; a refused one is dropped (a hostile writer on
   * the hub cannot put into this node what the checks refuse). The provider counts as synced
   * only once a step 2 is accepted.
   */
  private onSync (link: Link, encoder: encoding.Encoder, decoder: decoding.Decoder, provider: WebsocketProvider, emitSynced: boolean): void {
    const step = decoding.readVarUint(decoder)
    const payload = decoding.readVarUint8Array(decoder)
    if (step === SYNC_STEP1) {
      const answer = this.store.encodeState(payload) // DP_ERR_INVALID_ARGUMENT for a bad state vector: the guard drops the connection
      encoding.writeVarUint(encoder, MSG_SYNC)
      encoding.writeVarUint(encoder, SYNC_STEP2)
      encoding.writeVarUint8Array(encoder, answer)
      return
    }
    if (step !== SYNC_STEP2 && step !== SYNC_UPDATE) throw new Error(`unknown sync step ${step}`)
    link.stats.updatesIn++
    if (step === SYNC_UPDATE) { this.queue(link, payload); return }
    // A state answer applies after the updates that arrived before it. A hub keeps whatever its
    // clients wrote, refused or not, and answers a sync step 1 with all of it in one update: one
    // hostile writer would keep every later joiner from syncing through that hub. So a refused
    // state answer is applied again writer by writer.
    this.drain(link, Infinity)
    if (!this.apply(link, [payload], step) && !this.applyByWriter(payload, provider)) return
    if (emitSynced && !provider.synced) provider.synced = true
  }

  /**
   * Updates from a hub arrive one per message (a hub forwards each writer's update as it came).
   * Applying each in its own Yjs transaction costs a transaction, an index pass and an update
   * event per message, so they are queued and applied together once per event-loop turn, in
   * arrival order, within the mesh's budget per task (MAX_MESSAGES_PER_TASK updates and
   * MAX_UPDATE_BYTES_PER_TASK bytes; a bigger single update goes alone), yielding between
   * transactions so a burst never holds the event loop for long.
   */
  private queue (link: Link, update: Uint8Array): void {
    link.pending.push(update)
    if (link.draining) return
    link.draining = true
    setImmediate(() => { this.drainLater(link) })
  }

  /** A scheduled drain: outside the provider's guarded handlers, so an error drops the connection here. */
  private drainLater (link: Link): void {
    try {
      this.drain(link, 1)
    } catch (err) {
      link.pending.length = 0
      link.draining = false
      if (!this.closed) this.dropConnection(link, `applying the hub's updates failed: ${err instanceof Error ? err.message : String(err)}`)
    }
  }

  /** Applies up to `batches` batches of `link.pending`; schedules the rest for the next turn. */
  private drain (link: Link, batches: number): void {
    for (let b = 0; b < batches && link.pending.length > 0 && !this.closed; b++) {
      let end = 0
      let bytes = 0
      while (end < link.pending.length && end < MAX_MESSAGES_PER_TASK && (end === 0 || bytes + link.pending[end]!.length <= MAX_UPDATE_BYTES_PER_TASK)) bytes += link.pending[end++]!.length
      const batch = link.pending.splice(0, end)
      // All or nothing per transaction: a batch with a refused update is applied one by one, so
      // only the refused ones are dropped.
      if (!this.apply(link, batch, SYNC_UPDATE, false)) for (const u of batch) this.apply(link, [u], SYNC_UPDATE)
    }
    if (this.closed) link.pending.length = 0
    link.draining = link.pending.length > 0
    if (link.draining) setImmediate(() => { this.drainLater(link) })
  }

  /**
   * Applies `updates` in one transaction through the store's checks. A refusal (with `count`,
   * counted and logged) applies nothing. @returns whether they applied.
   */
  private apply (link: Link, updates: Uint8Array[], step: number, count = true): boolean {
    try {
      this.store.applyUpdates(updates, link.provider)
      return true
    } catch (err) {
      if ((err as { code?: unknown }).code !== 'DP_ERR_BAD_UPDATE') throw err
      if (!count) return false
      link.stats.refusedUpdates++
      link.lastError = (err as Error).message
      if (link.stats.refusedUpdates === 1 || link.stats.refusedUpdates % 1000 === 0) {
        this.opts.log('warn', `hub ${link.url} room ${link.room}: refused ${step === SYNC_STEP2 ? 'a state answer' : 'an update'} (${link.stats.refusedUpdates} so far): ${(err as Error).message}`)
      }
      return false
    }
  }

  /**
   * Applies each writer's part of `update` on its own, through the same checks (each part keeps
   * the update's delete set). @returns whether no part was refused but those of writers whose
   * every part is refused, that is whether at least one part applied or there was none to refuse.
   */
  private applyByWriter (update: Uint8Array, origin: unknown): boolean {
    let to: Map<number, number>
    try { to = Y.parseUpdateMeta(update).to } catch { return false }
    const clients = [...to.keys()]
    if (clients.length === 0 || clients.length > MAX_WRITERS_SPLIT) return false
    let applied = 0
    for (const c of clients) {
      // the state vector that has every other writer's structs: what is left is c's part
      const others = new Map(clients.filter((x) => x !== c).map((x) => [x, to.get(x)!]))
      try {
        this.store.applyUpdate(Y.diffUpdate(update, Y.encodeStateVector(others)), origin)
        applied++
      } catch (err) {
        if ((err as { code?: unknown }).code !== 'DP_ERR_BAD_UPDATE') throw err
      }
    }
    if (applied < clients.length) this.opts.log('warn', `refused the parts of ${clients.length - applied} of ${clients.length} writers of a hub's state answer, applied the others`)
    return applied > 0
  }

  private dropConnection (link: Link, reason: string): void {
    link.lastError = reason
    this.opts.log('warn', `hub ${link.url} room ${link.room}: ${reason}; reconnecting`)
    link.provider.ws?.close(CLOSE_PROTOCOL, reason.slice(0, 120))
  }

  /** The state this node publishes on every hub. */
  private publish (): void {
    const state = { nodeId: this.store.nodeId, incarnation: this.store.incarnation, clientId: this.store.clientId }
    for (const l of this.#links) {
      if (l.awareness.clientID !== this.store.clientId) {
        // The store moved to a fresh Yjs client id (a collision): the provider announces the
        // awareness state of `doc.clientID`, so move the state there.
        l.awareness.setLocalState(null)
        l.awareness.clientID = this.store.clientId
      }
      l.awareness.setLocalState(state)
    }
  }

  /** Connects to every hub and starts the awareness heartbeats. */
  start (): void {
    if (this.closed || this.#links.length > 0) return
    for (const h of this.#hubs) this.#links.push(this.link(h))
    this.publish()
    for (const l of this.#links) l.provider.connect()
    this.timer = setInterval(() => {
      if (this.closed) return
      this.publish()
      if (this.stateWanted) this.sendStep1()
    }, this.opts.heartbeatIntervalMs)
  }

  /**
   * Asks every connected hub for its state (sync step 1) at the next heartbeat tick, so at most
   * once per interval (see `Transport.requestState`).
   */
  requestState (): void { this.stateWanted = true }

  private sendStep1 (): void {
    this.stateWanted = false
    const step1 = encodeSync(SYNC_STEP1, Y.encodeStateVector(this.store.doc)) // y-protocols' framing
    for (const l of this.#links) {
      const ws = l.provider.ws
      if (ws !== null && l.provider.wsconnected) ws.send(step1)
    }
  }

  /** The store changed its Yjs client id: publish under the new one at once. */
  clientIdChanged (): void {
    if (!this.closed) this.publish()
  }

  /** Whether the state exchange with hub `i` completed over its current connection. */
  syncedCount (): number { return this.#links.filter((l) => l.provider.synced).length }

  get size (): number { return this.#hubs.length }

  /** Whether a hub refused this node's token while no hub is synced: a cluster exists that this node cannot join. */
  refusedWhileUnsynced (): boolean {
    return this.syncedCount() === 0 && this.#links.some((l) => l.refused)
  }

  views (): HubView[] {
    if (this.#links.length === 0) {
      return this.#hubs.map((h) => ({ url: h.url, room: h.room, connected: false, synced: false, lastError: null, refused: false, bytesIn: 0, bytesOut: 0, messagesIn: 0, messagesOut: 0, updatesIn: 0, refusedUpdates: 0 }))
    }
    return this.#links.map((l) => ({
      url: l.url,
      room: l.room,
      connected: l.provider.wsconnected,
      synced: l.provider.synced,
      lastError: l.lastError,
      refused: l.refused,
      ...l.stats
    }))
  }

  /** Drops every hub connection; the providers reconnect and resync. */
  reconnect (): void {
    for (const l of this.#links) {
      l.provider.disconnect()
      l.provider.connect()
    }
  }

  /** Leaves every hub (this node's awareness state is removed there) and stops the timers. Idempotent. */
  close (): void {
    if (this.closed) return
    this.closed = true
    if (this.timer !== undefined) clearInterval(this.timer)
    for (const l of this.#links) {
      try { l.awareness.setLocalState(null) } catch { /* already gone */ }
      l.provider.destroy()
      l.awareness.destroy()
    }
  }
}

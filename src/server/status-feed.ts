/**
 * Status feed: the aggregates the live status page shows, built from the public API of
 * {@link ClusterNode} and {@link ProfileStore}, and streamed to browsers as server-sent events.
 *
 * A snapshot holds aggregates and top lists only, never the document: nodes with liveness,
 * incarnation, sync state and last heard; every profile with its cluster-wide size and per-node
 * breakdown; for valued profiles the number of values and the `topValues` largest; admissions
 * admitted and refused per second. Its cost is O(peers + profiles x nodes + values of valued
 * profiles) (one pass over the value counters, no sort of all of them), so it stays cheap with
 * 100k live calls and 10k values. One snapshot is built per interval and shared by every
 * subscriber, and none is built while nobody is subscribed.
 */
import type { ServerResponse } from 'node:http'
import type { ClusterNode } from '../cluster-node.js'
import type { PeerLiveness } from '../liveness.js'
import { positive, positiveInt } from '../internal/checks.js'

/** Cumulative admission counters (the daemon's `/v1/acquire` outcomes) read once per snapshot. */
export interface AdmissionTotals {
  readonly admitted: number
  readonly refused: number
}

/**
 * Counts `POST /v1/acquire` answers from the HTTP server's per-answer hook: 200 admitted; 429
 * (over the limit) and 503 (not ready) refused; anything else (bad input) is not an admission.
 */
export class AdmissionTally implements AdmissionTotals {
  admitted = 0
  refused = 0
  /** Feeds one answered request (route pattern and status). */
  answered (route: string, status: number): void {
    if (route !== 'POST /v1/acquire') return
    if (status === 200) this.admitted++
    else if (status === 429 || status === 503) this.refused++
  }
}

/** Options of {@link StatusFeed}. */
export interface StatusFeedOptions {
  /** The node whose view is shown. */
  readonly node: ClusterNode
  /** Cumulative admission counters; without it the page shows no admission rates. */
  readonly admissions?: () => AdmissionTotals
  /** Interval between snapshots pushed to subscribers, ms. @defaultValue 1000 */
  readonly intervalMs?: number
  /** Largest values listed per valued profile. @defaultValue 10 */
  readonly topValues?: number
  /** Event streams open at once; more are refused (503). @defaultValue 32 */
  readonly maxSubscribers?: number
  /** Time source, ms: give the node's clock when it was given one (last-heard ages are computed against it). @defaultValue Date.now */
  readonly clock?: () => number
}

/** Default snapshot interval, ms. */
export const DEFAULT_STATUS_INTERVAL_MS = 1000
/** Default number of top values per valued profile. */
export const DEFAULT_STATUS_TOP_VALUES = 10
/** Default number of event streams open at once. */
export const DEFAULT_STATUS_MAX_SUBSCRIBERS = 32

/** One node as the status page shows it. */
export interface StatusNode {
  readonly node: string
  readonly self: boolean
  /** `live` for this node; for a peer, its liveness as this node sees it (null: never heard). */
  readonly liveness: PeerLiveness | null
  readonly incarnation: number | null
  readonly connected: boolean
  readonly synced: boolean
  /** Ms since its last heartbeat (0 for this node, null when never heard). */
  readonly lastHeardMsAgo: number | null
}

/** One profile as the status page shows it. */
export interface StatusProfile {
  readonly name: string
  readonly withValue: boolean
  /** Cluster-wide size (`size(name)`): for a valued profile, all values together. */
  readonly size: number
  /** Counted adds per node (`sizeByNode(name)`). */
  readonly byNode: Record<string, number>
  /** Values with a counted membership (valued profiles; 0 for plain ones). */
  readonly values: number
  /** The largest values, largest first, ties by value (valued profiles; empty for plain ones). */
  readonly top: Array<{ readonly value: string; readonly size: number }>
}

/** What one server-sent event carries. */
export interface StatusSnapshot {
  /** Clock time of the snapshot, ms. */
  readonly at: number
  readonly nodeId: string
  readonly incarnation: number
  readonly ready: boolean
  readonly nodes: StatusNode[]
  readonly profiles: StatusProfile[]
  /** Admissions per second over the last interval, and totals; null without an admission source. */
  readonly admissions: { readonly admittedPerSec: number; readonly refusedPerSec: number; readonly admitted: number; readonly refused: number } | null
}

/** Keeps the `k` largest of a stream of values, in one pass: O(n log k) worst case, O(n) typical. */
export const topK = <T extends { readonly value: string; readonly size: number }>(items: Iterable<T>, k: number): T[] => {
  const out: T[] = []
  const before = (a: T, b: T): boolean => a.size > b.size || (a.size === b.size && a.value < b.value)
  for (const it of items) {
    if (out.length === k && !before(it, out[k - 1] as T)) continue
    let i = out.length < k ? out.length : k - 1
    if (out.length < k) out.push(it)
    while (i > 0 && before(it, out[i - 1] as T)) { out[i] = out[i - 1] as T; i-- }
    out[i] = it
  }
  return out
}

/**
 * Builds status snapshots of one node and streams them to subscribers as server-sent events
 * (`event: snapshot`, JSON data), every `intervalMs` while anyone listens.
 *
 * @example
 * ```ts
 * const feed = new StatusFeed({ node, admissions: () => ({ admitted, refused }) })
 * server.on('request', (req, res) => { if (req.url === '/status/events') feed.subscribe(res) })
 * ```
 */
export class StatusFeed {
  private readonly node: ClusterNode
  private readonly admissions: (() => AdmissionTotals) | undefined
  private readonly intervalMs: number
  private readonly topValues: number
  private readonly maxSubscribers: number
  private readonly clock: () => number
  private readonly subscribers = new Set<ServerResponse>()
  private timer: NodeJS.Timeout | undefined
  private last: { at: number; admitted: number; refused: number } | undefined
  private closed = false

  constructor (options: StatusFeedOptions) {
    this.node = options.node
    this.admissions = options.admissions
    this.intervalMs = positive(options.intervalMs ?? DEFAULT_STATUS_INTERVAL_MS, 'intervalMs')
    this.topValues = positiveInt(options.topValues ?? DEFAULT_STATUS_TOP_VALUES, 'topValues')
    this.maxSubscribers = positiveInt(options.maxSubscribers ?? DEFAULT_STATUS_MAX_SUBSCRIBERS, 'maxSubscribers')
    this.clock = options.clock ?? Date.now
  }

  /** Subscribers currently streaming. */
  get subscriberCount (): number { return this.subscribers.size }

  /** One snapshot now (also what `GET /status.json` answers). */
  snapshot (): StatusSnapshot {
    const now = this.clock()
    const store = this.node.store
    const nodes: StatusNode[] = [{ node: store.nodeId, self: true, liveness: 'live', incarnation: store.incarnation, connected: true, synced: this.node.isReady, lastHeardMsAgo: 0 }]
    for (const p of this.node.peers()) {
      if (p.node === null) continue
      nodes.push({
        node: p.node,
        self: false,
        liveness: p.liveness,
        incarnation: p.incarnation,
        connected: p.connected,
        synced: p.synced,
        lastHeardMsAgo: p.lastHeardAt === null ? null : Math.max(0, now - p.lastHeardAt)
      })
    }
    const profiles: StatusProfile[] = store.profiles().map((d) => {
      const values = d.withValue ? store.values(d.name) : []
      return {
        name: d.name,
        withValue: d.withValue,
        size: store.size(d.name),
        byNode: store.sizeByNode(d.name),
        values: values.length,
        top: topK(values, this.topValues)
      }
    })
    return { at: now, nodeId: store.nodeId, incarnation: store.incarnation, ready: this.node.isReady, nodes, profiles, admissions: this.rates(now) }
  }

  private rates (now: number): StatusSnapshot['admissions'] {
    if (this.admissions === undefined) return null
    const t = this.admissions()
    const prev = this.last
    this.last = { at: now, admitted: t.admitted, refused: t.refused }
    const secs = prev === undefined ? 0 : (now - prev.at) / 1000
    const rate = (a: number, b: number): number => secs > 0 ? Math.max(0, Math.round(((a - b) / secs) * 10) / 10) : 0
    return {
      admittedPerSec: prev === undefined ? 0 : rate(t.admitted, prev.admitted),
      refusedPerSec: prev === undefined ? 0 : rate(t.refused, prev.refused),
      admitted: t.admitted,
      refused: t.refused
    }
  }

  /**
   * Streams snapshots to `res` (`text/event-stream`) until the client goes away or the feed is
   * closed; the first one is sent at once. Past `maxSubscribers` it answers 503.
   */
  subscribe (res: ServerResponse): void {
    if (this.closed || this.subscribers.size >= this.maxSubscribers) {
      res.writeHead(503, { 'content-type': 'text/plain; charset=utf-8', 'retry-after': '5' })
      res.end(this.closed ? 'closed\n' : 'too many status subscribers\n')
      return
    }
    res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-store', connection: 'keep-alive' })
    res.write(`retry: ${Math.max(1000, this.intervalMs)}\n\n`)
    this.subscribers.add(res)
    res.on('close', () => { this.unsubscribe(res) })
    this.send([res])
    if (this.timer === undefined) {
      this.timer = setInterval(() => { this.send(this.subscribers) }, this.intervalMs)
      this.timer.unref()
    }
  }

  private unsubscribe (res: ServerResponse): void {
    this.subscribers.delete(res)
    if (this.subscribers.size === 0 && this.timer !== undefined) { clearInterval(this.timer); this.timer = undefined }
  }

  private send (to: Iterable<ServerResponse>): void {
    let frame: string
    try {
      frame = `event: snapshot\ndata: ${JSON.stringify(this.snapshot())}\n\n`
    } catch {
      return // the node was closed under us: the daemon is stopping and closes the feed
    }
    // A browser that does not read is dropped rather than buffered without bound.
    for (const res of [...to]) if (!res.write(frame) && res.writableLength > 1 << 20) res.destroy()
  }

  /** Ends every stream and the timer. Idempotent. */
  close (): void {
    this.closed = true
    if (this.timer !== undefined) clearInterval(this.timer)
    this.timer = undefined
    for (const res of this.subscribers) res.end()
    this.subscribers.clear()
  }
}

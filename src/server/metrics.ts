/**
 * Prometheus metrics of the daemon (prom-client, its own registry). Label cardinality is
 * bounded: profiles are declared; values of a valued profile are exported for the top N by
 * size plus one `__other__` series summing the rest; peers are the cluster's nodes; routes are
 * the route table's patterns. Gauges are read from the node when scraped, never on the hot path;
 * the per-request counters are plain integers on the hot path, copied into prom-client when scraped.
 */
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client'
import type { ClusterNode } from '../cluster-node.js'
import { DEFAULT_MAX_PENDING_RELEASES } from '../options.js'
import type { RefusalReason } from './admission.js'
import { setIfUndefined } from 'lib0/map'

type AcquireOutcome = 'admitted' | RefusalReason

const bump = <K>(m: Map<K, number>, k: K): void => { m.set(k, (m.get(k) ?? 0) + 1) }

/** Label of the series that sums the values beyond the top N. */
export const OTHER_VALUES = '__other__'

/** Options of {@link DaemonMetrics}. */
export interface MetricsOptions {
  /** Values per valued profile with their own series. @defaultValue 10 */
  readonly topValues?: number
  /** Clock for the heartbeat age, ms. @defaultValue Date.now */
  readonly clock?: () => number
}

/** The daemon's metrics over one node. */
export class DaemonMetrics {
  readonly registry = new Registry()
  /** Acquire answers by profile, then by outcome (`admitted` or the refusal reason). */
  private readonly acquireCounts = new Map<string, Map<AcquireOutcome, number>>()
  /** HTTP answers by route, then by status code. */
  private readonly requestCounts = new Map<string, Map<number, number>>()

  constructor (node: ClusterNode, options: MetricsOptions = {}) {
    const registry = this.registry
    const topValues = options.topValues ?? 10
    const clock = options.clock ?? Date.now
    // Every gauge reads the node's cheap accessors (O(peers), O(Yjs clients)): none encodes the document.
    collectDefaultMetrics({ register: registry, prefix: 'dialog_profiles_' })
    const acquireCounts = this.acquireCounts
    const requestCounts = this.requestCounts
    new Counter({
      name: 'dialog_profiles_acquires_total',
      help: 'POST /v1/acquire answers: result admitted or refused, reason limit, no_rights or no_quorum (strict) or not_ready (none when admitted)',
      labelNames: ['profile', 'result', 'reason'] as const,
      registers: [registry],
      collect () {
        this.reset()
        for (const [profile, byOutcome] of acquireCounts) {
          for (const [outcome, n] of byOutcome) {
            this.inc({ profile, result: outcome === 'admitted' ? 'admitted' : 'refused', reason: outcome === 'admitted' ? 'none' : outcome }, n)
          }
        }
      }
    })
    new Counter({
      name: 'dialog_profiles_http_requests_total',
      help: 'HTTP requests answered, by route pattern and status code',
      labelNames: ['route', 'code'] as const,
      registers: [registry],
      collect () {
        this.reset()
        for (const [route, byCode] of requestCounts) for (const [code, n] of byCode) this.inc({ route, code: String(code) }, n)
      }
    })
    new Gauge({
      name: 'dialog_profiles_profile_size',
      help: `Cluster-wide size as this node sees it; plain profiles value="", valued profiles the top ${topValues} values and value="${OTHER_VALUES}" for the rest`,
      labelNames: ['profile', 'value'] as const,
      registers: [registry],
      collect () {
        this.reset()
        for (const p of node.store.profiles()) {
          if (!p.withValue) { this.set({ profile: p.name, value: '' }, node.store.size(p.name)); continue }
          const values = node.store.values(p.name).sort((a, b) => b.size - a.size)
          let other = 0
          for (let i = 0; i < values.length; i++) {
            const v = values[i] as { value: string; size: number }
            if (i < topValues) this.set({ profile: p.name, value: v.value }, v.size)
            else other += v.size
          }
          if (values.length > topValues) this.set({ profile: p.name, value: OTHER_VALUES }, other)
        }
      }
    })
    new Gauge({
      name: 'dialog_profiles_profile_total',
      help: 'Cluster-wide size of a profile over all its values',
      labelNames: ['profile'] as const,
      registers: [registry],
      collect () {
        this.reset()
        for (const p of node.store.profiles()) this.set({ profile: p.name }, node.store.size(p.name))
      }
    })
    new Gauge({
      name: 'dialog_profiles_peers_up',
      help: 'Peers with an open, authenticated connection',
      registers: [registry],
      collect () { this.set(node.peers().filter((p) => p.connected).length) }
    })
    new Gauge({
      name: 'dialog_profiles_peers_synced',
      help: 'Peers whose state exchange over the current connection has completed',
      registers: [registry],
      collect () { this.set(node.peers().filter((p) => p.synced).length) }
    })
    new Gauge({
      name: 'dialog_profiles_peer_liveness',
      help: 'Known peers by liveness state (live, suspect, dead)',
      labelNames: ['state'] as const,
      registers: [registry],
      collect () {
        this.reset()
        const counts: Record<string, number> = { live: 0, suspect: 0, dead: 0 }
        for (const p of node.peers()) if (p.liveness !== null) counts[p.liveness] = (counts[p.liveness] ?? 0) + 1
        for (const [state, n] of Object.entries(counts)) this.set({ state }, n)
      }
    })
    new Gauge({
      name: 'dialog_profiles_peer_heard_age_seconds',
      help: 'Time since the last heartbeat from each known peer (a bound on how stale its updates here can be: the replication lag)',
      labelNames: ['peer'] as const,
      registers: [registry],
      collect () {
        this.reset()
        const now = clock()
        for (const p of node.peers()) if (p.node !== null && p.lastHeardAt !== null) this.set({ peer: p.node }, Math.max(0, now - p.lastHeardAt) / 1000)
      }
    })
    new Gauge({
      name: 'dialog_profiles_ready',
      help: '1 once the initial sync with the cluster completed, else 0',
      registers: [registry],
      collect () { this.set(node.isReady ? 1 : 0) }
    })
    new Gauge({
      name: 'dialog_profiles_document_bytes',
      help: 'Size of the encoded document state, bytes (estimated without encoding it)',
      registers: [registry],
      collect () { this.set(node.store.stats().stateBytes) }
    })
    new Gauge({
      name: 'dialog_profiles_document_memberships',
      help: 'Memberships present in the document (counted or not)',
      registers: [registry],
      collect () { this.set(node.store.stats().memberships) }
    })
    new Gauge({
      name: 'dialog_profiles_document_structs',
      help: 'Yjs structs in the document (stays proportional to live memberships)',
      registers: [registry],
      collect () { this.set(node.store.stats().structs) }
    })
    new Gauge({
      name: 'dialog_profiles_document_clients',
      help: 'Yjs clients in the document: one per node incarnation or client-id move, never forgotten (each transaction and digest costs O(clients))',
      registers: [registry],
      collect () { this.set(node.store.stats().clients) }
    })
    new Gauge({
      name: 'dialog_profiles_pending_releases',
      help: 'Releases that found no call here, remembered for --pending-release in case the call\'s record arrives from a peer',
      registers: [registry],
      collect () { this.set(node.store.stats().pendingReleases) }
    })
    new Counter({
      name: 'dialog_profiles_late_releases_total',
      help: 'Membership records released on arrival by a remembered release (the release reached this node before the call\'s record)',
      registers: [registry],
      collect () { this.reset(); this.inc(node.store.stats().pendingReleasesApplied) }
    })
    new Gauge({
      name: 'dialog_profiles_unapplied_struct_bytes',
      help: 'Bytes of structs and deletions from peers waiting for structs not here yet (counted with 300 bytes of overhead per run and 400 per writer waited for)',
      registers: [registry],
      collect () { this.set(node.store.stats().unappliedBytes) }
    })
    new Gauge({
      name: 'dialog_profiles_unapplied_delete_ranges',
      help: 'Delete ranges from peers waiting for the structs they delete',
      registers: [registry],
      collect () { this.set(node.store.stats().unappliedRanges) }
    })
    new Counter({
      name: 'dialog_profiles_unapplied_dropped_struct_bytes_total',
      help: 'Waiting struct bytes dropped past their bound (32 MiB)',
      registers: [registry],
      collect () { this.reset(); this.inc(node.store.stats().unappliedDroppedBytes) }
    })
    new Counter({
      name: 'dialog_profiles_unapplied_dropped_delete_ranges_total',
      help: 'Waiting delete ranges dropped past their bound (1,000,000)',
      registers: [registry],
      collect () { this.reset(); this.inc(node.store.stats().unappliedDroppedRanges) }
    })
    new Counter({
      name: 'dialog_profiles_pending_releases_dropped_total',
      help: `Remembered releases dropped before their window ended, to keep at most ${DEFAULT_MAX_PENDING_RELEASES}`,
      registers: [registry],
      collect () { this.reset(); this.inc(node.store.stats().pendingReleasesDropped) }
    })
  }

  /** Counts one acquire answer (profiles are declared, so the labels stay bounded). */
  acquire (profile: string, admitted: boolean, reason: RefusalReason | undefined): void {
    bump(setIfUndefined(this.acquireCounts, profile, () => new Map<AcquireOutcome, number>()), admitted ? 'admitted' : (reason ?? 'limit'))
  }

  /** Counts one HTTP answer (routes are the route table's patterns, or `unmatched`). */
  request (route: string, code: number): void {
    bump(setIfUndefined(this.requestCounts, route, () => new Map<number, number>()), code)
  }

  /** The Prometheus text exposition and its content type. */
  async render (): Promise<{ body: string; contentType: string }> {
    return { body: await this.registry.metrics(), contentType: this.registry.contentType }
  }
}

/**
 * The view of a cluster node that `ClusterNode.peers()` and `cluster()` return: plain functions
 * from what the transport, the liveness table, readiness, persistence and the store report.
 */
import type { HubView } from './hub-links.js'
import type { LivenessEntry, PeerLiveness } from './liveness.js'
import type { PersistenceStatus } from './persistence/file-persistence.js'
import type { ProfileStore } from './profile-store.js'
import type { ConnectionInfo, PeerError } from './transport/transport.js'

/** One peer in the {@link ClusterView}. */
export interface PeerView {
  readonly node: string | null
  /** Configured url (null for a peer that dialled in or is known only by relay). */
  readonly url: string | null
  /**
   * For a configured url, why the last attempt failed (`kind`: `'refused'`, `'unreachable'`,
   * `'tls'`, `'auth-failed'`, `'protocol'`), until a handshake with it succeeds; else null.
   */
  readonly lastError: PeerError | null
  readonly connected: boolean
  readonly direction: 'inbound' | 'outbound' | null
  /** Whether the initial state exchange over the current connection has completed. */
  readonly synced: boolean
  readonly liveness: PeerLiveness | null
  readonly incarnation: number | null
  /** Clock time of the last heartbeat (direct or relayed), ms. */
  readonly lastHeardAt: number | null
  readonly bytesIn: number
  readonly bytesOut: number
}

/** What `cluster()` returns: this node, its peers and its document. */
export interface ClusterView {
  readonly nodeId: string
  readonly incarnation: number
  readonly clientId: number
  readonly listening: { readonly host: string; readonly port: number } | null
  readonly ready: boolean
  /**
   * `'degraded'`: the initial sync is done (or timed out) but writes to `dataDir` fail; admission
   * goes on (memberships are held in memory and replicated) and they are written by the full
   * snapshot that ends the episode. Answer not-ready to health checks while degraded.
   */
  readonly readyState: 'syncing' | 'ready' | 'timed-out' | 'degraded'
  /** The data directory's state (failing writes, what was loaded), or null without `dataDir`. */
  readonly persistence: PersistenceStatus | null
  readonly peers: PeerView[]
  /** Hub topology: each hub with its connection, sync state and traffic; empty in mesh mode. */
  readonly hubs: HubView[]
  /** The read-only y-websocket endpoint: its address and connected observers, or null. */
  readonly observe: { readonly host: string; readonly port: number; readonly observers: number } | null
  readonly document: {
    /** Size of the encoded document state, bytes: an estimate that encodes nothing (see `ProfileStore.stats`). */
    readonly stateBytes: number
    /** Updates applied to the document since start (local and remote): a generation counter. */
    readonly generation: number
    readonly memberships: number
    readonly structs: number
    /** Yjs clients in the document: one per node incarnation or client-id move, never forgotten (each transaction and digest costs O(clients)). */
    readonly clients: number
    /** Records ignored since start (they do not decode or contradict the declarations); each writer and reason is logged once at warn. */
    readonly invalidRecords: number
    /**
     * With per-node keys: bytes of other writers' signed updates this node keeps for its state
     * answers (bounded by each writer's checkpoints); 0 without keys.
     */
    readonly retainedBytes: number
  }
}

/** A configured peer url as the transport reports it. */
export interface ConfiguredPeer {
  readonly url: string
  readonly node: string | null
  /** The url is this node itself (never shown). */
  readonly self: boolean
  readonly lastError: PeerError | null
}

/**
 * The peers: configured urls (but this node's own), then connected nodes not configured, then
 * nodes known only from the liveness table, each once, with connection, sync state and liveness.
 */
export const peerViews = (configured: readonly ConfiguredPeer[], conns: readonly ConnectionInfo[], liveness: readonly LivenessEntry[]): PeerView[] => {
  const byNode = new Map(conns.map((c) => [c.node, c]))
  const live = new Map(liveness.map((l) => [l.node, l]))
  const peers: PeerView[] = []
  const seen = new Set<string>()
  const add = (node: string | null, url: string | null, lastError: PeerError | null = null): void => {
    if (node !== null) seen.add(node)
    const c = node !== null ? byNode.get(node) : undefined
    const l = node !== null ? live.get(node) : undefined
    peers.push({
      node,
      url,
      lastError,
      connected: c !== undefined,
      direction: c?.direction ?? null,
      synced: c?.synced ?? false,
      liveness: l?.state ?? null,
      incarnation: l?.incarnation ?? null,
      lastHeardAt: l?.lastHeardAt ?? null,
      bytesIn: c?.stats.bytesIn ?? 0,
      bytesOut: c?.stats.bytesOut ?? 0
    })
  }
  for (const p of configured) if (!p.self) add(p.node, p.url, p.lastError)
  for (const c of conns) if (!seen.has(c.node)) add(c.node, null)
  for (const l of live.keys()) if (!seen.has(l)) add(l, null)
  return peers
}

/** What {@link clusterView} is built from. */
export interface ClusterViewSource {
  /** The store, its pending writes flushed. */
  readonly store: ProfileStore
  readonly listening: ClusterView['listening']
  readonly isReady: boolean
  readonly timedOut: boolean
  readonly persistence: PersistenceStatus | null
  readonly peers: PeerView[]
  readonly generation: number
  readonly invalidRecords: number
  readonly retainedBytes: number
  readonly hubs: HubView[]
  readonly observe: ClusterView['observe']
}

/** This node, its peers and its document. O(peers + Yjs clients): it encodes nothing. */
export const clusterView = (s: ClusterViewSource): ClusterView => {
  const stats = s.store.stats()
  const synced = s.isReady || s.timedOut
  return {
    nodeId: s.store.nodeId,
    incarnation: s.store.incarnation,
    clientId: s.store.clientId,
    listening: s.listening,
    ready: s.isReady,
    readyState: synced && s.persistence?.state === 'failing' ? 'degraded' : s.isReady ? 'ready' : s.timedOut ? 'timed-out' : 'syncing',
    persistence: s.persistence,
    peers: s.peers,
    hubs: s.hubs,
    observe: s.observe,
    document: {
      stateBytes: stats.stateBytes,
      generation: s.generation,
      memberships: stats.memberships,
      structs: stats.structs,
      clients: stats.clients,
      invalidRecords: s.invalidRecords,
      retainedBytes: s.retainedBytes
    }
  }
}

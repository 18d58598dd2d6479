/**
 * Messages between the cluster scenario (parent) and its node processes (bench/lib/cluster-worker.ts),
 * over the Node IPC channel. Every request carries an id; the worker answers with the same id.
 */

/**
 * What a node process runs: a ClusterNode in a full mesh (`dialog-profiles`), a ClusterNode
 * joining through one y-websocket hub (`dialog-profiles-hub`, the hub topology), or a flat
 * Y.Map synced through a y-websocket hub (`ymap-hub`, the baseline).
 */
export type ClusterImpl = 'dialog-profiles' | 'dialog-profiles-hub' | 'ymap-hub'

/** Whether an implementation runs through a hub process. */
export const usesHub = (impl: ClusterImpl): boolean => impl !== 'dialog-profiles'

/**
 * How the load writes: `batched` issues what is due in one loop turn together (the store
 * batches it per microtask; the flat map writes it in one `transact`); `per-op` makes one
 * transaction per operation, as a proxy does when each SIP message is its own task.
 */
export type WriteMode = 'batched' | 'per-op'

export type WorkerRequest =
  | { readonly id: number, readonly type: 'wait-mesh', readonly peers: number, readonly timeoutMs: number }
  | { readonly id: number, readonly type: 'watch', readonly dialog: string }
  | { readonly id: number, readonly type: 'add', readonly dialog: string }
  | { readonly id: number, readonly type: 'remove', readonly dialog: string }
  | { readonly id: number, readonly type: 'load', readonly callsPerSecond: number, readonly holdMs: number, readonly durationMs: number, readonly seed: number, readonly tag: string, readonly mode: WriteMode }
  | { readonly id: number, readonly type: 'end-all' }
  /** Counts, traffic and health; the members too with `members` (costly with many live calls: only for the final check). */
  | { readonly id: number, readonly type: 'state', readonly members?: boolean }
  /** Starts a new window for `state`'s `health.stallMaxMs`. */
  | { readonly id: number, readonly type: 'reset-stalls' }
  | { readonly id: number, readonly type: 'close' }
  /** Adds `count` live calls of this node (ids tagged `tag`), a few thousand per loop turn. */
  | { readonly id: number, readonly type: 'fill', readonly count: number, readonly tag: string }
  /** How many live calls this replica holds. */
  | { readonly id: number, readonly type: 'count' }
  /** A deferred joiner (DP_BENCH_DEFER=1) starts its replica now and waits until it is ready and holds `expect` calls. */
  | { readonly id: number, readonly type: 'join', readonly expect: number, readonly timeoutMs: number }

export type WorkerReply =
  | { readonly id: number, readonly type: 'ok' }
  | { readonly id: number, readonly type: 'meshed', readonly ok: boolean, readonly connected: number }
  /** Wall-clock time (performance.timeOrigin + now) of the add. */
  | { readonly id: number, readonly type: 'added', readonly at: number }
  | { readonly id: number, readonly type: 'loaded', readonly ops: number, readonly seconds: number, readonly live: readonly string[], readonly cpuMs: number }
  | { readonly id: number, readonly type: 'state', readonly size: number, readonly members: readonly string[], readonly drops: number, readonly traffic: Traffic, readonly health: Health }
  | { readonly id: number, readonly type: 'error', readonly message: string }
  | { readonly id: number, readonly type: 'count', readonly size: number }
  /**
   * A joiner's figures: ms from starting its replica until ready and complete, peak RSS of the
   * process (KB), CPU time of the process over that span (user + system, ms: less sensitive to
   * the machine's load than the wall time), bytes received and sent, encoded bytes of its state
   * once joined.
   */
  | { readonly id: number, readonly type: 'joined', readonly ok: boolean, readonly size: number, readonly ms: number, readonly maxRssKb: number, readonly cpuMs: number, readonly bytesIn: number, readonly bytesOut: number, readonly stateBytes: number }

/** A node's transport totals since it started. */
export interface Traffic {
  /** Update messages received (y-protocols sync updates and state answers; duplicates included). */
  readonly updatesIn: number
  readonly updatesOut: number
  readonly bytesIn: number
  readonly bytesOut: number
  /** Bytes of state answers (sync step 2, repairs) sent; 0 for the baseline's clients. */
  readonly stateBytesOut: number
  /** Membership operations this node's load generator issued since it started. */
  readonly opsIssued: number
  /** CPU time of the node's process since it started (user + system, ms). */
  readonly cpuMs: number
}

/**
 * How a node process fared: its largest event-loop stall since the last `reset-stalls` (the
 * largest gap between ticks of a 10 ms timer, less the 10 ms) and the CPU time it used during
 * that stall (as much as the stall: its own long task; far less: the machine ran others), and
 * since it started the peers it took for suspect or dead and the connections it lost.
 */
export interface Health {
  readonly stallMaxMs: number
  readonly stallCpuMs: number
  /** The most CPU time it used between two ticks of that timer (its longest own work, roughly). */
  readonly busyStallMaxMs: number
  readonly suspect: number
  readonly dead: number
  readonly closed: number
}

/** Unsolicited worker messages. */
export type WorkerEvent =
  | { readonly type: 'up', readonly url: string }
  /** A watched dialog became visible here, at wall-clock `at`. */
  | { readonly type: 'seen', readonly dialog: string, readonly at: number }

/** Wall-clock ms with sub-ms resolution, comparable between processes of one machine. */
export const wallNow = (): number => performance.timeOrigin + performance.now()

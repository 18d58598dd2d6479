/**
 * The one place where the HTTP API changes memberships: admission (`POST /v1/acquire`), plain
 * adds and removes, and dialog ends, mapped onto ClusterNode's public API (`acquire`, `release`,
 * `store.add`); each profile is admitted in the mode it was declared with (eventual or strict).
 * Every membership added here gets an expiry of at most `maxCallDurationMs`, so a BYE
 * lost while the daemon was down cannot hold capacity forever.
 */
import type { ClusterNode } from '../cluster-node.js'
import type { AdmissionResult as NodeAdmissionResult } from '../admission/types.js'
import { fail } from '../errors.js'
import type { AdmissionMode } from './config.js'

/** Why an acquire was refused (metrics label): the limit as seen here, no spare strict right, no strict lease, not ready. */
export type RefusalReason = 'limit' | 'no_rights' | 'no_quorum' | 'not_ready'

/** Answer of {@link Admission.acquire}. */
export interface AdmissionResult {
  readonly admitted: boolean
  readonly size: number
  readonly limit: number
  /** Set when refused. */
  readonly reason?: RefusalReason
}

/** What the routes call to change memberships. */
export interface Admission {
  readonly mode: AdmissionMode
  /**
   * Checks the limit and adds, atomically on this node. `expiresInMs` is capped at the maximum
   * call duration. Answers at once (no promise) when the node is ready and the profile eventual,
   * the hot path; a promise otherwise (readiness wait, a strict wait for rights).
   * @throws DialogProfilesError `DP_ERR_NOT_READY` when the readiness policy refuses
   */
  acquire (dialog: string, profile: string, value: string | undefined, limit: number, expiresInMs: number | undefined): AdmissionResult | Promise<AdmissionResult>
  /** Adds a membership (`set_dlg_profile`); refused on strict profiles (they are joined by acquire). */
  add (dialog: string, profile: string, value: string | undefined, expiresInMs: number | undefined): void
  /** Removes a membership (`unset_dlg_profile`); a valued profile without value: every value. */
  remove (dialog: string, profile: string, value: string | undefined): void
  /** Removes the dialog from every profile (dialog end), returning its strict rights. */
  end (dialog: string): void
}

/** Options of {@link createAdmission}. */
export interface AdmissionOptions {
  readonly mode: AdmissionMode
  /** Most time a membership added through the daemon counts, ms. */
  readonly maxCallDurationMs: number
}

/**
 * Admission over a ClusterNode's `acquire` / `release`, each profile in the mode it was
 * declared with (the daemon declares every profile in `--mode`): eventual checks this node's
 * view of the cluster-wide size; strict admits against the rights this node holds (a bounded
 * counter: the limit is never exceeded cluster-wide).
 */
export const createAdmission = (node: ClusterNode, options: AdmissionOptions): Admission => {
  const max = options.maxCallDurationMs
  const ttl = (expiresInMs: number | undefined): { ttlMs: number } => ({ ttlMs: expiresInMs === undefined ? max : Math.min(expiresInMs, max) })
  const strict = new Set(node.store.profiles().filter((p) => p.admission === 'strict').map((p) => p.name))
  const resultOf = (r: NodeAdmissionResult): AdmissionResult => {
    if (r.admitted) return { admitted: true, size: r.size, limit: r.limit }
    if (r.reason === 'not-ready') throw fail('DP_ERR_NOT_READY', 'the initial sync with the cluster is not done and the readiness policy refuses')
    return { admitted: false, size: r.size, limit: r.limit, reason: r.reason === 'no-rights' ? 'no_rights' : r.reason === 'no-quorum' ? 'no_quorum' : 'limit' }
  }
  return {
    mode: options.mode,
    acquire (dialog, profile, value, limit, expiresInMs) {
      const keys = [{ profile, value, limit }]
      // Ready and eventual: ClusterNode.acquire would decide at once, as node.admission does, without its promise.
      if (node.isReady && !strict.has(profile)) return resultOf(node.admission.acquire(dialog, keys, ttl(expiresInMs)))
      return node.acquire(dialog, keys, ttl(expiresInMs)).then(resultOf)
    },
    add (dialog, profile, value, expiresInMs) {
      if (strict.has(profile)) throw fail('DP_ERR_INVALID_ARGUMENT', `profile "${profile}" is strict: calls join it through POST /v1/acquire`)
      node.store.add(dialog, profile, value, ttl(expiresInMs))
    },
    remove (dialog, profile, value) { node.release(dialog, [{ profile, value }]) },
    end (dialog) { node.release(dialog) }
  }
}

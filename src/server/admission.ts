/**
 * The one place where the HTTP API changes memberships: admission (`POST /v1/acquire`), plain
 * adds and removes, and dialog ends, mapped onto ClusterNode's public API. Switching the
 * daemon to another admission call (the strict bounded counter) means changing this module
 * only. Every membership added here gets an expiry of at most `maxCallDurationMs`, so a BYE
 * lost while the daemon was down cannot hold capacity forever.
 */
import type { ClusterNode } from '../cluster-node.js'
import { fail } from '../errors.js'
import type { AdmissionMode } from './config.js'

/** Why an acquire was refused (metrics label). */
export type RefusalReason = 'limit' | 'not_ready'

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
   * call duration. @throws DialogProfilesError `DP_ERR_NOT_READY` when the readiness policy refuses
   */
  acquire (dialog: string, profile: string, value: string | undefined, limit: number, expiresInMs: number | undefined): Promise<AdmissionResult>
  /** Adds a membership (`set_dlg_profile`). */
  add (dialog: string, profile: string, value: string | undefined, expiresInMs: number | undefined): void
  /** Removes a membership (`unset_dlg_profile`); a valued profile without value: every value. */
  remove (dialog: string, profile: string, value: string | undefined): void
  /** Removes the dialog from every profile (dialog end). */
  end (dialog: string): void
}

/** Options of {@link createAdmission}. */
export interface AdmissionOptions {
  readonly mode: AdmissionMode
  /** Most time a membership added through the daemon counts, ms. */
  readonly maxCallDurationMs: number
}

/**
 * Admission over a ClusterNode. `eventual`: `node.acquire` (check this node's view, add below
 * the limit). `strict` needs the node's bounded-counter API, which this build does not have.
 * @throws DialogProfilesError `DP_ERR_CONFIG` for `strict`
 */
export const createAdmission = (node: ClusterNode, options: AdmissionOptions): Admission => {
  if (options.mode !== 'eventual') {
    throw fail('DP_ERR_CONFIG', '--mode strict needs the strict (bounded counter) admission of ClusterNode, which this build does not have yet: use --mode eventual')
  }
  const max = options.maxCallDurationMs
  const ttl = (expiresInMs: number | undefined): { ttlMs: number } => ({ ttlMs: expiresInMs === undefined ? max : Math.min(expiresInMs, max) })
  return {
    mode: options.mode,
    async acquire (dialog, profile, value, limit, expiresInMs) {
      const r = await node.acquire(dialog, profile, value, limit, ttl(expiresInMs))
      return r.admitted ? { admitted: true, size: r.size, limit: r.limit } : { admitted: false, size: r.size, limit: r.limit, reason: 'limit' }
    },
    add (dialog, profile, value, expiresInMs) { node.store.add(dialog, profile, value, ttl(expiresInMs)) },
    remove (dialog, profile, value) { node.store.remove(dialog, profile, value) },
    end (dialog) { node.store.removeDialog(dialog) }
  }
}

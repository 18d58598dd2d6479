/**
 * Public value types of call admission: the keys one `acquire` checks, its answer and the reason
 * of a refusal.
 */

/** One limit a call is checked against: a profile (and value, for a valued profile) and its limit. */
export interface AdmissionKey {
  readonly profile: string
  /** The value of a valued profile; omit (or null) for a plain profile. */
  readonly value?: string | null | undefined
  /** Most calls admitted at once in this profile (value), a non-negative integer. */
  readonly limit: number
}

/**
 * Why an acquire was refused:
 * - `limit`: eventual mode, the cluster-wide size as seen here has reached the limit;
 * - `no-rights`: strict mode, this node holds no spare right for the key (it has asked its peers);
 * - `not-ready`: the node has not completed its initial sync and the readiness policy refuses;
 * - `no-quorum`: strict mode, this node's lease has run out (it lost contact with a majority of
 *   `admission.nodes` for longer than `admission.leaseMs`), or a majority reclaimed it.
 */
export type AdmissionReason = 'limit' | 'no-rights' | 'not-ready' | 'no-quorum'

/** The outcome for one key of an acquire. */
export interface AdmissionKeyResult {
  readonly profile: string
  readonly value: string | null
  readonly mode: 'eventual' | 'strict'
  /** Cluster-wide size of the profile (value) as seen here, after the decision. */
  readonly size: number
  readonly limit: number
  /** Strict mode: spare rights this node holds for the key after the decision; null in eventual mode. */
  readonly available: number | null
  /** Whether this key refused the call (with `reason`). */
  readonly refused: boolean
}

/**
 * Answer of an acquire: all keys admitted, or none (nothing is changed then).
 * `size` and `limit` are those of the first refusing key, else of the first key.
 */
export interface AdmissionResult {
  readonly admitted: boolean
  /** Set when refused. */
  readonly reason: AdmissionReason | null
  readonly size: number
  readonly limit: number
  readonly keys: readonly AdmissionKeyResult[]
}

/**
 * Typed errors. Every error thrown by dialog-profiles is a {@link DialogProfilesError} with a
 * stable {@link ErrorCode}: branch on `err.code`, never on the message text.
 */

/** Stable error codes. The README lists each with its meaning. */
export type ErrorCode =
  /** A profile name that was never declared. */
  | 'DP_ERR_UNKNOWN_PROFILE'
  /** A declaration that conflicts with an earlier one, or a malformed declaration. */
  | 'DP_ERR_BAD_DECLARATION'
  /** A value given for a plain profile, or none given where the profile needs one. */
  | 'DP_ERR_VALUE_MISMATCH'
  /** A malformed argument: empty or oversize id, bad expiry, bad limit, bad option. */
  | 'DP_ERR_INVALID_ARGUMENT'
  /** A configured resource limit (for example `maxLocalMemberships`) would be exceeded. */
  | 'DP_ERR_LIMIT_EXCEEDED'
  /** A Yjs update that could not be decoded. Nothing of it was applied. */
  | 'DP_ERR_BAD_UPDATE'
  /** The object was destroyed and can no longer be used. */
  | 'DP_ERR_DESTROYED'
  /** Network-level errors of the cluster transport. */
  | 'DP_ERR_TRANSPORT'
  /** A peer failed authentication. */
  | 'DP_ERR_AUTH'
  /** A peer broke the wire protocol (malformed, oversize, unknown or too many messages). */
  | 'DP_ERR_PROTOCOL'
  /** The initial sync did not complete in time. */
  | 'DP_ERR_NOT_READY'
  /** Persistence could not read or write its data directory. */
  | 'DP_ERR_PERSISTENCE'
  /** The daemon's HTTP API got a malformed request: a body that does not parse, an unsupported content type, an oversize body. */
  | 'DP_ERR_BAD_REQUEST'
  /** The daemon's HTTP API has no such route. */
  | 'DP_ERR_NOT_FOUND'
  /** The route exists but not with this method. */
  | 'DP_ERR_METHOD_NOT_ALLOWED'
  /** The daemon's HTTP API needs its API token (`Authorization: Bearer ...`) and got none or a wrong one. */
  | 'DP_ERR_UNAUTHORIZED'
  /** A daemon configuration (flags, `DP_*` environment, config file) that is missing or wrong. */
  | 'DP_ERR_CONFIG'
  /** An unexpected failure inside the daemon while answering a request (a bug: see its log). */
  | 'DP_ERR_INTERNAL'

/** The one error class of the library. `code` is stable; `cause` carries the underlying error. */
export class DialogProfilesError extends Error {
  readonly code: ErrorCode
  constructor (code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'DialogProfilesError'
    this.code = code
  }
}

/** Shorthand used across the code base: `throw fail('DP_ERR_...', 'message')`. */
export const fail = (code: ErrorCode, message: string, cause?: unknown): DialogProfilesError =>
  new DialogProfilesError(code, message, cause === undefined ? undefined : { cause })

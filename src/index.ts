/**
 * dialog-profiles: cluster-wide SIP dialog profiles as add-wins observed-remove sets in Yjs.
 * The public API; nothing else is meant to be imported.
 */
export { ProfileStore } from './profile-store.js'
export type { ProfileStoreOptions, AddOptions, AcquireResult, RecountResult, OwnChangeListener } from './profile-store.js'
export { DialogProfilesError } from './errors.js'
export type { ErrorCode } from './errors.js'
export type {
  ProfileDeclaration, OwnerStatus, OwnerInfo, Member, ValueSize, StoreEvent, Clock
} from './types.js'
// Call admission.
export { Admission, MAX_ADMISSION_KEYS } from './admission/admission.js'
export type { AdmissionOptions, ReleaseKey } from './admission/admission.js'
export type { AdmissionKey, AdmissionKeyResult, AdmissionReason, AdmissionResult } from './admission/types.js'
export type { KeyRightsView } from './admission/strict-rights.js'
// Cluster over WebSockets.
export { ClusterNode } from './cluster-node.js'
export type { ClusterEvent } from './cluster-node.js'
export type { ClusterView, PeerView } from './cluster-view.js'
export {
  DEFAULT_HEARTBEAT_INTERVAL_MS, DEFAULT_LIVENESS_TIMEOUT_MS, DEFAULT_GRACE_MS, DEFAULT_PURGE_DELAY_MS,
  DEFAULT_MAX_MESSAGE_BYTES, MIN_MAX_MESSAGE_BYTES, DEFAULT_MAX_MESSAGES_PER_SECOND, DEFAULT_MAX_MESSAGES_PER_FRAME,
  DEFAULT_MAX_BUFFERED_BYTES, DEFAULT_AUTH_TIMEOUT_MS, DEFAULT_RECONNECT_INITIAL_MS, DEFAULT_RECONNECT_MAX_MS,
  DEFAULT_SWEEP_INTERVAL_MS, DEFAULT_MAX_LOCAL_MEMBERSHIPS, DEFAULT_WRITE_DELAY_MS, MAX_WRITE_DELAY_MS, DEFAULT_MAX_TRACKED_NODES, DEFAULT_MAX_CLOCK_SKEW_MS,
  DEFAULT_PENDING_RELEASE_MS, DEFAULT_MAX_PENDING_RELEASES, DEFAULT_MAX_CLIENTS,
  DEFAULT_READINESS_POLICY, DEFAULT_READINESS_TIMEOUT_MS, DEFAULT_READINESS_WAIT_MS, DEFAULT_READINESS_PEERS,
  DEFAULT_READINESS_AFTER_TIMEOUT, DEFAULT_FSYNC_INTERVAL_MS, DEFAULT_SNAPSHOT_INTERVAL_MS, DEFAULT_SNAPSHOT_LOG_BYTES,
  DEFAULT_PERSISTENCE_RETRY_MS, DEFAULT_ADMISSION_RESERVE, DEFAULT_ADMISSION_WAIT_MS, DEFAULT_ADMISSION_LEASE_MS,
  DEFAULT_ADMISSION_LEASE_MARGIN_MS,
  MIN_SECRET_LENGTH, PEER_ERROR_LOG_INTERVAL_MS, MAX_TIMER_MS,
  DEFAULT_HUB_ROOM, MAX_HUBS, MAX_TOKEN_LENGTH, DEFAULT_MAX_OBSERVERS, DEFAULT_OBSERVE_MAX_MESSAGE_BYTES,
  DEFAULT_OBSERVE_MAX_MESSAGES_PER_SECOND
} from './options.js'
export type { ClusterNodeOptions, HubOptions, ObserveOptions } from './options.js'
export type { HubEvent, HubView } from './hub-links.js'
export { CLOSE_READ_ONLY } from './observer-endpoint.js'
export type { PeerError, PeerErrorKind } from './transport/transport.js'
export type { ReadinessOptions, ReadinessPolicy } from './readiness.js'
export type { LivenessEvent, LivenessEntry, PeerLiveness } from './liveness.js'
export type { TlsOptions, Logger, LogLevel } from './transport/transport.js'
export type { LoadReport, PersistenceEvent, PersistenceStatus } from './persistence/file-persistence.js'
export type { FileSystem } from './persistence/file-system.js'

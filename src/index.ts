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
// Call admission (issue 9).
export { Admission, MAX_ADMISSION_KEYS } from './admission/admission.js'
export type { AdmissionOptions, ReleaseKey } from './admission/admission.js'
export type { AdmissionKey, AdmissionKeyResult, AdmissionReason, AdmissionResult } from './admission/types.js'
export type { KeyRightsView } from './admission/strict-rights.js'
// Cluster over WebSockets (issue 3).
export { ClusterNode } from './cluster-node.js'
export type { ClusterNodeOptions, ClusterEvent, ClusterView, PeerView } from './cluster-node.js'
export type { ReadinessOptions, ReadinessPolicy } from './readiness.js'
export type { LivenessEvent, LivenessEntry, PeerLiveness } from './liveness.js'
export type { TlsOptions, Logger, LogLevel } from './transport/transport.js'
export type { LoadReport } from './persistence/file-persistence.js'

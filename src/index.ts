/**
 * dialog-profiles: cluster-wide SIP dialog profiles as add-wins observed-remove sets in Yjs.
 * The public API; nothing else is meant to be imported.
 */
export { ProfileStore } from './profile-store.js'
export type { ProfileStoreOptions, AddOptions, AcquireResult, RecountResult } from './profile-store.js'
export { DialogProfilesError } from './errors.js'
export type { ErrorCode } from './errors.js'
export type {
  ProfileDeclaration, OwnerStatus, OwnerInfo, Member, ValueSize, StoreEvent, Clock
} from './types.js'
// Cluster over WebSockets (issue 3).
export { ClusterNode } from './cluster-node.js'
export type { ClusterNodeOptions, ClusterEvent, ClusterView, PeerView } from './cluster-node.js'
export type { ReadinessOptions, ReadinessPolicy } from './readiness.js'
export type { LivenessEvent, LivenessEntry, PeerLiveness } from './liveness.js'
export type { TlsOptions, Logger, LogLevel } from './transport/transport.js'
export type { LoadReport, PersistenceEvent, PersistenceStatus } from './persistence/file-persistence.js'
export type { FileSystem } from './persistence/file-system.js'

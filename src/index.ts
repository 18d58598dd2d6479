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

/**
 * Public value types shared by the store, the cluster layer and the testing helpers.
 */

/**
 * A profile declaration, as Kamailio's `profiles_no_value` / `profiles_with_value`.
 *
 * @example
 * ```ts
 * const profiles = [{ name: 'total' }, { name: 'caller', withValue: true, onOwnerDead: 'keep' }]
 * ```
 */
export interface ProfileDeclaration {
  /** Profile name: 1 to 64 characters of `[A-Za-z0-9_.:-]`. */
  readonly name: string
  /** Whether memberships carry a value (`caller` = `alice`). @defaultValue false */
  readonly withValue?: boolean
  /**
   * What happens to the memberships of an owner declared dead by the liveness layer:
   * `'drop'` stops counting them at once; `'keep'` counts those that carry an expiry until it
   * passes (memberships without an expiry are dropped as with `'drop'`).
   * A superseded incarnation's memberships are void under either policy.
   * @defaultValue 'drop'
   */
  readonly onOwnerDead?: 'drop' | 'keep'
  /**
   * How `acquire` enforces limits on this profile: `'eventual'` checks this node's view of the
   * cluster-wide size (fast; concurrent admissions on several nodes can overshoot);
   * `'strict'` admits only against rights this node holds (a bounded counter: the limit is never
   * exceeded, see the README's "Admission" section). @defaultValue 'eventual'
   */
  readonly admission?: 'eventual' | 'strict'
}

/** A node's liveness as the store sees it. `void`: superseded by a newer incarnation of the same node. */
export type OwnerStatus = 'live' | 'dead' | 'void'

/** One owner (node incarnation) known to the store. */
export interface OwnerInfo {
  readonly node: string
  readonly incarnation: number
  /** The Yjs client id that writes this owner's partition. */
  readonly clientId: number
  readonly status: OwnerStatus
  /** Memberships of this owner present in the document (counted or not). */
  readonly memberships: number
  /** Whether this owner is the local store. */
  readonly self: boolean
}

/** One membership as listed by `members()`. */
export interface Member {
  readonly dialog: string
  readonly profile: string
  readonly value: string | null
  /** Node that added it. */
  readonly node: string
  readonly incarnation: number
  /** Absolute expiry in ms of the store clock, or null. */
  readonly expiresAt: number | null
  /** True for a remote membership (`addRemote`), not bound to a local dialog. */
  readonly remote: boolean
  /** Stable id of this add (`<clientId>.<clock>`): unique cluster-wide. */
  readonly id: string
}

/** Size of one value of a valued profile. */
export interface ValueSize {
  readonly value: string
  readonly size: number
}

/** Events of a {@link ProfileStore}, a discriminated union on `type`. */
export type StoreEvent =
  /**
   * A cluster-wide size changed. `value` is the value for a valued profile's per-value size,
   * and null for the profile's total (plain profiles only have the total).
   */
  | { readonly type: 'size'; readonly profile: string; readonly value: string | null; readonly size: number }
  /** An owner was seen for the first time or changed status. */
  | { readonly type: 'owner'; readonly node: string; readonly incarnation: number; readonly status: OwnerStatus }
  /** This node re-added memberships of its own that another node had purged while it was unreachable. */
  | { readonly type: 'reasserted'; readonly count: number }
  /**
   * A record in the document was ignored, never counted (a buggy, misconfigured or hostile
   * writer): it does not decode, sits in another writer's partition, or contradicts this node's
   * declarations (a value on a plain profile, none on a valued one, an undeclared profile: such
   * a record counts once its profile is declared here). `clientId` is the writer's Yjs client id.
   */
  | { readonly type: 'invalid-record'; readonly clientId: number; readonly reason: string }
  /**
   * Another writer used this store's Yjs client id (a peer restarted with the same `clientId`
   * option, or a hostile peer): the store moved to a fresh partition under a new client id (same
   * incarnation), re-wrote its own memberships there and deleted their old records. It never
   * writes under a client id that differs from its partition's.
   */
  | { readonly type: 'client-id-collision'; readonly node: string; readonly incarnation: number; readonly oldClientId: number; readonly newClientId: number; readonly reason: string }
  /**
   * A release of `dialog` that found nothing here (its records had not arrived) removed records
   * of it that arrived from a peer within `pendingReleaseMs`: `ids` are the adds removed
   * (`<clientId>.<clock>`, as in `Member.id`), by a removal notice to their owner as any release.
   */
  | { readonly type: 'late-release'; readonly dialog: string; readonly ids: readonly string[] }
  /**
   * Parts of remote updates waiting for structs not here yet (struct runs after a gap in their
   * writer's clocks, deletions of structs that have not arrived) passed their bounds (32 MiB of
   * structs, 1,000,000 delete ranges) and were all dropped: `bytes` and `ranges` dropped. The
   * structs come again through anti-entropy; a `ClusterNode` asks its peers (or hubs) for their state,
   * whose answers carry their delete sets, at most once a minute.
   */
  | { readonly type: 'unapplied-dropped'; readonly bytes: number; readonly ranges: number }

/** Injected time source, ms. Must not go backwards. */
export type Clock = () => number

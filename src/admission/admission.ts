/**
 * Admission: the one acquire/release API over a {@link ProfileStore}, with a mode per profile
 * (`admission: 'eventual' | 'strict'` in the declaration). One acquire checks several
 * (profile, value, limit) keys, all or nothing, and is idempotent per dialog: a dialog that
 * already counts in a key's profile (value), wherever it was added, is admitted again for that
 * key without being counted or consuming anything twice. A release removes the dialog's
 * memberships, on any node, and is a no-op when they are gone (a double BYE, a BYE racing a
 * CANCEL): each call frees its count, and in strict mode its right, exactly once. A release
 * that arrives before the call's record is remembered by the store (`pendingReleaseMs`) and
 * applied when the record arrives.
 */
import { fail } from '../errors.js'
import { nonNegative, nonNegativeInt, onlyKnownKeys } from '../internal/checks.js'
import type { AddOptions, ProfileStore } from '../profile-store.js'
import { checkId } from '../profile-registry.js'
import type { ProfileDeclaration } from '../types.js'
import { DEFAULT_LEASE_MARGIN_MS, DEFAULT_LEASE_MS } from './leases.js'
import { StrictRights, type StrictRightsOptions } from './strict-rights.js'
import type { AdmissionKey, AdmissionKeyResult, AdmissionResult } from './types.js'

/** Most keys one acquire may check. */
export const MAX_ADMISSION_KEYS = 32

/** A profile (and value) to release; omit the value of a valued profile to release every value. */
export interface ReleaseKey {
  readonly profile: string
  readonly value?: string | null | undefined
}

interface CheckedKey {
  readonly profile: string
  readonly value: string | null
  readonly limit: number
  readonly mode: 'eventual' | 'strict'
}

export interface AdmissionOptions {
  /**
   * Every node id of the cluster, this one included, the same list on every node: strict
   * profiles split each limit over them. @defaultValue [this node] (a single node holds every right)
   */
  readonly nodes?: readonly string[]
  /** Spare rights a strict node keeps per busy key and asks its peers for when below. @defaultValue 2 */
  readonly reserve?: number
  /**
   * `ClusterNode.acquire` only: how long a strict acquire refused for `no-rights` waits for rights
   * its node asked for, then decides again (once), ms. 0 refuses at once. @defaultValue 0
   */
  readonly waitMs?: number
  /** Called for each strict-admission row ignored as malformed. */
  readonly onInvalid?: StrictRightsOptions['onInvalid']
  /** Clock of strict leases, ms. @defaultValue Date.now */
  readonly clock?: () => number
  /**
   * Strict lease, ms (3 or more nodes): a node that has not heard grants from a majority of
   * `nodes` for this long stops admitting strict calls (`no-quorum`); 0 turns leases and reclaims
   * off. @defaultValue 2000
   */
  readonly leaseMs?: number
  /** Extra wait past the lease before a majority reclaims a silent node's rights, ms: bounds clock drift and steps. @defaultValue 1000 */
  readonly leaseMarginMs?: number
  /**
   * Whether to write this incarnation's first strict-admission row at construction; with false,
   * call `start()` once the store's updates reach the peers and any persistence (ClusterNode
   * does, after loading its data directory). @defaultValue true
   */
  readonly start?: boolean
}

/** The fields of a key (the compiler checks the lists are complete). */
const ADMISSION_KEY_FIELDS: ReadonlySet<string> = new Set(Object.keys({ profile: 1, value: 1, limit: 1 } satisfies Record<keyof AdmissionKey, 1>))
const RELEASE_KEY_FIELDS: ReadonlySet<string> = new Set(Object.keys({ profile: 1, value: 1 } satisfies Record<keyof ReleaseKey, 1>))
/** Every option key (the compiler checks the list is complete). */
const ADMISSION_OPTIONS: ReadonlySet<string> = new Set(Object.keys({ nodes: 1, reserve: 1, waitMs: 1, onInvalid: 1, clock: 1, leaseMs: 1, leaseMarginMs: 1, start: 1 } satisfies Record<keyof AdmissionOptions, 1>))

export class Admission {
  readonly strict: StrictRights
  private declared = new Map<string, Required<ProfileDeclaration>>()

  constructor (private readonly store: ProfileStore, options: AdmissionOptions = {}) {
    if (typeof options !== 'object' || options === null) throw fail('DP_ERR_INVALID_ARGUMENT', 'admission options must be an object')
    onlyKnownKeys(options, ADMISSION_OPTIONS, '')
    const nodes = options.nodes ?? [store.nodeId]
    if (!Array.isArray(nodes) || nodes.length === 0 || !nodes.every(n => typeof n === 'string')) throw fail('DP_ERR_INVALID_ARGUMENT', 'admission.nodes must be a non-empty array of node ids')
    if (!nodes.includes(store.nodeId)) throw fail('DP_ERR_INVALID_ARGUMENT', `admission.nodes must include this node (${store.nodeId})`)
    const reserve = options.reserve ?? 2
    nonNegativeInt(reserve, 'admission.reserve')
    const leaseMs = nonNegative(options.leaseMs ?? DEFAULT_LEASE_MS, 'admission.leaseMs')
    const leaseMarginMs = nonNegative(options.leaseMarginMs ?? DEFAULT_LEASE_MARGIN_MS, 'admission.leaseMarginMs')
    this.strict = new StrictRights(store, p => this.profile(p)?.admission === 'strict', {
      nodes, reserve, leaseMs, leaseMarginMs,
      ...(options.clock !== undefined ? { clock: options.clock } : {}),
      ...(options.onInvalid !== undefined ? { onInvalid: options.onInvalid } : {})
    })
    if (options.start !== false) this.strict.start()
  }

  /** Starts strict admission when constructed with `start: false` (idempotent). */
  start (): void { this.strict.start() }

  /** Renews the strict lease and votes against silent nodes (see StrictRights.renewLeases); call it every leaseMs/4 or more often. */
  renewLeases (): void { this.strict.renewLeases() }

  /**
   * Admits `dialog` under every key, or under none. Per key: eventual mode admits when the
   * cluster-wide size seen here is below the limit; strict mode when this node holds a spare
   * right (it consumes it; the call's end returns it). A dialog already counted in a key's
   * profile (value) passes that key without consuming anything. When refused, nothing changes
   * (except that a strict node short of rights asks its peers for some).
   *
   * @throws DialogProfilesError `DP_ERR_UNKNOWN_PROFILE`, `DP_ERR_VALUE_MISMATCH`,
   *   `DP_ERR_INVALID_ARGUMENT` (bad dialog, keys, limit or expiry); nothing is changed then.
   */
  acquire (dialog: string, keys: readonly AdmissionKey[], options?: AddOptions): AdmissionResult {
    const checked = this.checkAll(dialog, keys, options)
    const results: AdmissionKeyResult[] = []
    const members: boolean[] = []
    let refused: AdmissionKeyResult | undefined
    let reason: AdmissionResult['reason'] = null
    const quorum = !checked.some(k => k.mode === 'strict') || this.strict.leaseValid()
    for (const k of checked) {
      const member = this.store.has(dialog, k.profile, k.value)
      members.push(member)
      const size = this.store.size(k.profile, k.value)
      let no = false
      let available: number | null = null
      if (k.mode === 'strict') {
        const r = this.strict.useLimit(k.profile, k.value, k.limit)
        available = r.available
        no = !member && (!quorum || available < 1)
        if (no) reason ??= quorum ? 'no-rights' : 'no-quorum'
      } else {
        no = !member && size >= k.limit
        if (no) reason ??= 'limit'
      }
      const res: AdmissionKeyResult = { profile: k.profile, value: k.value, mode: k.mode, size, limit: k.limit, available, refused: no }
      if (no) refused ??= res
      results.push(res)
    }
    if (refused !== undefined) {
      if (quorum) for (const k of checked) if (k.mode === 'strict' && this.strict.available(k.profile, k.value) < 1) this.strict.request(k.profile, k.value)
      return { admitted: false, reason, size: refused.size, limit: refused.limit, keys: results }
    }
    const added: CheckedKey[] = []
    try {
      checked.forEach((k, i) => {
        // strict: a dialog counted already (here or elsewhere) holds its right; no second one
        if (k.mode === 'strict' && members[i] === true) return
        if (this.store.add(dialog, k.profile, k.value, options)) added.push(k)
      })
    } catch (err) {
      for (const k of added) this.store.remove(dialog, k.profile, k.value)
      throw err
    }
    const after = checked.map((k, i): AdmissionKeyResult => {
      const strict = k.mode === 'strict'
      if (strict && this.strict.available(k.profile, k.value) < this.strict.reserve) this.strict.request(k.profile, k.value, false)
      return { ...(results[i] as AdmissionKeyResult), size: this.store.size(k.profile, k.value), available: strict ? this.strict.available(k.profile, k.value) : null }
    })
    const first = after[0] as AdmissionKeyResult
    return { admitted: true, reason: null, size: first.size, limit: first.limit, keys: after }
  }

  /**
   * Checks an acquire's input as {@link acquire} does, deciding nothing.
   * @throws DialogProfilesError as {@link acquire}
   */
  validate (dialog: string, keys: readonly AdmissionKey[], options?: AddOptions): void {
    this.checkAll(dialog, keys, options)
  }

  /**
   * The answer to an acquire refused because the node is not ready (its input checked as
   * {@link acquire} checks it): every key refused, with its size and spare rights as they are.
   * @throws DialogProfilesError as {@link acquire}
   */
  notReady (dialog: string, keys: readonly AdmissionKey[], options?: AddOptions): AdmissionResult {
    const results = this.checkAll(dialog, keys, options).map((k): AdmissionKeyResult => ({
      profile: k.profile,
      value: k.value,
      mode: k.mode,
      size: this.store.size(k.profile, k.value),
      limit: k.limit,
      available: k.mode === 'strict' ? this.strict.available(k.profile, k.value) : null,
      refused: true
    }))
    const first = results[0] as AdmissionKeyResult
    return { admitted: false, reason: 'not-ready', size: first.size, limit: first.limit, keys: results }
  }

  /**
   * Removes `dialog` from the given profiles (values), or from every profile when `keys` is
   * omitted, whichever node added it. Idempotent. One that finds nothing is remembered by the
   * store for `pendingReleaseMs` (records of the dialog arriving then are released on arrival).
   * @returns the memberships removed now (0 when none).
   */
  release (dialog: string, keys?: readonly ReleaseKey[]): number {
    checkId(dialog, 'dialog')
    if (keys === undefined) return this.store.removeDialog(dialog)
    if (!Array.isArray(keys)) throw fail('DP_ERR_INVALID_ARGUMENT', 'keys must be an array')
    for (const [i, k] of keys.entries()) {
      // a misspelt `value` would release every value of the profile: refused
      if (typeof k === 'object' && k !== null) onlyKnownKeys(k, RELEASE_KEY_FIELDS, `keys[${i}]`)
      this.store.size(k?.profile, k?.value) // validates every key before any removal
    }
    let n = 0
    for (const k of keys) n += this.store.remove(dialog, k.profile, k.value)
    return n
  }

  destroy (): void { this.strict.destroy() }

  private profile (name: string): Required<ProfileDeclaration> | undefined {
    let p = this.declared.get(name)
    if (p === undefined) {
      this.declared = new Map(this.store.profiles().map(d => [d.name, d]))
      p = this.declared.get(name)
    }
    return p
  }

  /** The dialog, keys and options checked, or the typed error. */
  private checkAll (dialog: string, keys: readonly AdmissionKey[], options: AddOptions | undefined): CheckedKey[] {
    checkId(dialog, 'dialog')
    const checked = this.check(keys)
    this.store.expiryFor(options)
    return checked
  }

  private check (keys: readonly AdmissionKey[]): CheckedKey[] {
    if (!Array.isArray(keys) || keys.length === 0 || keys.length > MAX_ADMISSION_KEYS) {
      throw fail('DP_ERR_INVALID_ARGUMENT', `keys must be an array of 1 to ${MAX_ADMISSION_KEYS} keys`)
    }
    const seen = new Set<string>()
    return keys.map((k, i): CheckedKey => {
      if (typeof k !== 'object' || k === null) throw fail('DP_ERR_INVALID_ARGUMENT', 'each key must be an object { profile, value?, limit }')
      onlyKnownKeys(k, ADMISSION_KEY_FIELDS, `keys[${i}]`)
      const p = this.profile(k.profile)
      if (p === undefined) throw fail('DP_ERR_UNKNOWN_PROFILE', `profile ${JSON.stringify(k.profile)} is not declared`)
      let value: string | null = null
      if (p.withValue) {
        if (k.value === undefined || k.value === null) throw fail('DP_ERR_VALUE_MISMATCH', `profile ${p.name} needs a value`)
        value = checkId(k.value, 'value')
      } else if (k.value !== undefined && k.value !== null) {
        throw fail('DP_ERR_VALUE_MISMATCH', `profile ${p.name} takes no value`)
      }
      nonNegativeInt(k.limit, 'limit')
      const id = `${p.name}\u0000${value ?? ''}`
      if (seen.has(id)) throw fail('DP_ERR_INVALID_ARGUMENT', `key ${p.name}${value === null ? '' : `=${value}`} given twice`)
      seen.add(id)
      return { profile: p.name, value, limit: k.limit, mode: p.admission }
    })
  }
}

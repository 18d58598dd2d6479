/**
 * Profile declarations (Kamailio's `profiles_no_value` / `profiles_with_value`) and the checks
 * every public call makes on its profile, value and id arguments before it touches any state.
 */
import { fail } from './errors.js'
import { unknownKey } from './internal/checks.js'
import { MAX_ID_LENGTH, PROFILE_NAME_PATTERN } from './internal/records.js'
import type { ProfileDeclaration } from './types.js'

/** A declaration with its defaults filled in. */
export interface ResolvedProfile {
  readonly name: string
  readonly withValue: boolean
  readonly onOwnerDead: 'drop' | 'keep'
  readonly admission: 'eventual' | 'strict'
}

/** The keys a declaration may have. */
export const DECLARATION_KEYS: ReadonlySet<string> = new Set(Object.keys({ name: 1, withValue: 1, onOwnerDead: 1, admission: 1 } satisfies Record<keyof ProfileDeclaration, 1>))

/** `misfit()` of a record whose profile is not declared on this node. */
export const UNDECLARED = 'undeclared profile'

export class ProfileRegistry {
  private readonly byName = new Map<string, ResolvedProfile>()

  constructor (declarations: readonly ProfileDeclaration[] = []) {
    for (const d of declarations) this.declare(d)
  }

  /**
   * Declares a profile. Declaring the same profile again with the same shape is a no-op;
   * a different shape throws `DP_ERR_BAD_DECLARATION`.
   */
  declare (d: ProfileDeclaration): ResolvedProfile {
    if (typeof d !== 'object' || d === null || typeof d.name !== 'string' || !PROFILE_NAME_PATTERN.test(d.name)) {
      throw fail('DP_ERR_BAD_DECLARATION', `profile name must match ${String(PROFILE_NAME_PATTERN)}`)
    }
    const extra = unknownKey(d, DECLARATION_KEYS)
    if (extra !== undefined) throw fail('DP_ERR_BAD_DECLARATION', `profile ${d.name}: unknown key ${extra} (a declaration has ${[...DECLARATION_KEYS].join(', ')})`)
    if (d.withValue !== undefined && typeof d.withValue !== 'boolean') {
      throw fail('DP_ERR_BAD_DECLARATION', `profile ${d.name}: withValue must be a boolean`)
    }
    if (d.onOwnerDead !== undefined && d.onOwnerDead !== 'drop' && d.onOwnerDead !== 'keep') {
      throw fail('DP_ERR_BAD_DECLARATION', `profile ${d.name}: onOwnerDead must be 'drop' or 'keep'`)
    }
    if (d.admission !== undefined && d.admission !== 'eventual' && d.admission !== 'strict') {
      throw fail('DP_ERR_BAD_DECLARATION', `profile ${d.name}: admission must be 'eventual' or 'strict'`)
    }
    const resolved: ResolvedProfile = { name: d.name, withValue: d.withValue ?? false, onOwnerDead: d.onOwnerDead ?? 'drop', admission: d.admission ?? 'eventual' }
    const existing = this.byName.get(d.name)
    if (existing !== undefined) {
      if (existing.withValue !== resolved.withValue || existing.onOwnerDead !== resolved.onOwnerDead || existing.admission !== resolved.admission) {
        throw fail('DP_ERR_BAD_DECLARATION', `profile ${d.name} is already declared with another shape`)
      }
      return existing
    }
    this.byName.set(d.name, resolved)
    return resolved
  }

  /** The declaration, or undefined. Records from peers may name profiles this node did not declare. */
  find (name: string): ResolvedProfile | undefined { return this.byName.get(name) }

  list (): ResolvedProfile[] { return [...this.byName.values()] }

  /**
   * Whether a record read from the document fits the declarations: null when it does,
   * `UNDECLARED` for a profile not declared here (yet), or the reason it contradicts them.
   */
  misfit (profile: string, value: string | null): string | null {
    const p = this.byName.get(profile)
    if (p === undefined) return UNDECLARED
    if (p.withValue && value === null) return 'no value on a valued profile'
    if (!p.withValue && value !== null) return 'value on a plain profile'
    return null
  }

  /** The declaration, or `DP_ERR_UNKNOWN_PROFILE`. */
  get (name: unknown): ResolvedProfile {
    const p = typeof name === 'string' ? this.byName.get(name) : undefined
    if (p === undefined) throw fail('DP_ERR_UNKNOWN_PROFILE', `profile ${JSON.stringify(name)} is not declared`)
    return p
  }

  /**
   * Checks a profile and value for writing: a valued profile needs a value, a plain one takes
   * none. Returns the value to store (null for plain profiles).
   */
  valueForWrite (name: unknown, value: unknown): { profile: ResolvedProfile, value: string | null } {
    const profile = this.get(name)
    if (profile.withValue) {
      if (value === undefined || value === null) throw fail('DP_ERR_VALUE_MISMATCH', `profile ${profile.name} needs a value`)
      return { profile, value: checkId(value, 'value') }
    }
    if (value !== undefined && value !== null) throw fail('DP_ERR_VALUE_MISMATCH', `profile ${profile.name} takes no value`)
    return { profile, value: null }
  }

  /**
   * Checks a profile and optional value for reading or removing: on a valued profile an absent
   * value means "any value". Returns undefined for "any".
   */
  valueForQuery (name: unknown, value: unknown): { profile: ResolvedProfile, value: string | null | undefined } {
    const profile = this.get(name)
    if (value === undefined || value === null) return { profile, value: profile.withValue ? undefined : null }
    if (!profile.withValue) throw fail('DP_ERR_VALUE_MISMATCH', `profile ${profile.name} takes no value`)
    return { profile, value: checkId(value, 'value') }
  }
}

/** A dialog id, remote uid or value: a non-empty string of at most 256 characters. */
export const checkId = (v: unknown, what: string): string => {
  if (typeof v !== 'string' || v.length === 0 || v.length > MAX_ID_LENGTH) {
    throw fail('DP_ERR_INVALID_ARGUMENT', `${what} must be a non-empty string of at most ${MAX_ID_LENGTH} characters`)
  }
  return v
}

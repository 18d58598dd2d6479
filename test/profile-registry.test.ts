import { describe, expect, it } from 'vitest'
import { DialogProfilesError } from '../src/index.js'
import { ProfileRegistry } from '../src/profile-registry.js'

const code = (fn: () => unknown): string | undefined => {
  try { fn() } catch (e) { return e instanceof DialogProfilesError ? e.code : 'untyped' }
  return undefined
}

describe('ProfileRegistry', () => {
  it('fills defaults and checks values for writes and queries', () => {
    const r = new ProfileRegistry([{ name: 'total' }, { name: 'caller', withValue: true, onOwnerDead: 'keep' }])
    expect(r.get('total')).toEqual({ name: 'total', withValue: false, onOwnerDead: 'drop', admission: 'eventual' })
    expect(r.valueForWrite('caller', 'alice').value).toBe('alice')
    expect(r.valueForWrite('total', undefined).value).toBeNull()
    expect(r.valueForQuery('caller', undefined).value).toBeUndefined()
    expect(r.valueForQuery('total', null).value).toBeNull()
    expect(code(() => r.valueForWrite('caller', undefined))).toBe('DP_ERR_VALUE_MISMATCH')
    expect(code(() => r.valueForWrite('total', 'x'))).toBe('DP_ERR_VALUE_MISMATCH')
    expect(code(() => r.valueForQuery('total', 'x'))).toBe('DP_ERR_VALUE_MISMATCH')
    expect(code(() => r.valueForWrite('caller', 7))).toBe('DP_ERR_INVALID_ARGUMENT')
    expect(code(() => r.get('nope'))).toBe('DP_ERR_UNKNOWN_PROFILE')
    expect(code(() => r.get(undefined))).toBe('DP_ERR_UNKNOWN_PROFILE')
  })

  it('rejects malformed and conflicting declarations', () => {
    const r = new ProfileRegistry()
    r.declare({ name: 'a', withValue: true })
    expect(code(() => r.declare({ name: 'a' }))).toBe('DP_ERR_BAD_DECLARATION')
    expect(code(() => r.declare({ name: '' }))).toBe('DP_ERR_BAD_DECLARATION')
    expect(code(() => r.declare({ name: 'x'.repeat(65) }))).toBe('DP_ERR_BAD_DECLARATION')
    expect(code(() => r.declare({ name: 'b', withValue: 'yes' as unknown as boolean }))).toBe('DP_ERR_BAD_DECLARATION')
    expect(code(() => r.declare({ name: 'b', onOwnerDead: 'maybe' as 'keep' }))).toBe('DP_ERR_BAD_DECLARATION')
    expect(code(() => r.declare(null as unknown as { name: string }))).toBe('DP_ERR_BAD_DECLARATION')
    expect(r.list().map(p => p.name)).toEqual(['a'])
  })
})

import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import {
  decodeRecord, encodeMembership, encodeRemoval, KIND_DIALOG, KIND_REMOTE, KIND_REMOVAL, MAX_ID_LENGTH,
  parsePartitionName, parseRootName, partitionName, type MembershipRecord
} from '../../src/internal/records.js'
import { fcParams } from '../support/fc.js'

const id = fc.string({ minLength: 1, maxLength: MAX_ID_LENGTH, unit: 'grapheme' }).filter(s => s.length <= MAX_ID_LENGTH)
const membership: fc.Arbitrary<MembershipRecord> = fc.record({
  kind: fc.constantFrom(KIND_DIALOG, KIND_REMOTE),
  dialog: id,
  profile: fc.stringMatching(/^[A-Za-z0-9_.:-]{1,64}$/),
  value: fc.option(id, { nil: null }),
  expiresAt: fc.option(fc.oneof(fc.nat(), fc.double({ noNaN: true, noDefaultInfinity: true })), { nil: null })
}).map(r => r.kind === KIND_REMOTE && r.expiresAt === null ? { ...r, expiresAt: 1 } : r)

describe('records', () => {
  it('round-trip: what is encoded decodes to the same record', () => {
    fc.assert(fc.property(membership, r => {
      const back = decodeRecord(encodeMembership(r))
      expect(back).toEqual(r)
    }), fcParams(500))
    fc.assert(fc.property(fc.nat({ max: 0xffffffff }), fc.array(fc.nat(), { minLength: 1, maxLength: 50 }), (client, clocks) => {
      expect(decodeRecord(encodeRemoval(client, clocks))).toEqual({ kind: 2, targetClient: client, clocks })
    }), fcParams(200))
  })

  it('never throws on arbitrary values, and rejects every malformed variant of a valid record', () => {
    fc.assert(fc.property(fc.anything(), v => {
      const r = decodeRecord(v)
      // a reason, or a record that encodes back to exactly what was decoded
      if (typeof r !== 'string') expect(r.kind === KIND_REMOVAL ? encodeRemoval(r.targetClient, r.clocks) : encodeMembership(r)).toEqual(v)
    }), fcParams(1000))
    fc.assert(fc.property(membership, fc.nat({ max: 4 }), fc.anything(), (r, at, junk) => {
      const arr = encodeMembership(r)
      expect(typeof decodeRecord(arr.slice(0, at))).toBe('string') // truncated
      expect(typeof decodeRecord([...arr, junk])).toBe('string') // extended
      if (at !== 3 && at !== 4) expect(typeof decodeRecord(arr.map((x, i) => i === at ? { junk } : x))).toBe('string') // a field of the wrong type
    }), fcParams(300))
    expect(decodeRecord(new Uint8Array([0, 1]))).toBe('not a record')
    expect(decodeRecord([2, 1, []])).toBe('bad removal targets')
    expect(decodeRecord([1, 'u', 'p', null, null])).toBe('remote membership without expiry')
    expect(decodeRecord([0, 'x'.repeat(257), 'p', null, null])).toBe('bad dialog id')
  })

  it('names partitions and parses only well-formed names', () => {
    const name = { node: 'proxy-a', incarnation: 1732612345678, clientId: 4294967295 }
    expect(parsePartitionName(partitionName(name))).toEqual(name)
    for (const bad of ['x', 'dp:', 'dp:a:1', 'dp:a:b:1', 'dp:a:1:4294967296', 'dp:a b:1:1', 'dp:a:1:1:1', 'dpa:a:1:1']) {
      expect(parsePartitionName(bad)).toBeNull()
    }
    // admission roots: same shape, their own prefix; never partitions
    expect(parseRootName('dpa:proxy-a:7:9')).toEqual({ node: 'proxy-a', incarnation: 7, clientId: 9 })
    expect(parseRootName(partitionName(name))).toEqual(name)
    for (const bad of ['dpb:a:1:1', 'dpa:a:1', 'dpa:a:1:4294967296']) expect(parseRootName(bad)).toBeNull()
  })
})

/**
 * The debug recount: counts by a full scan of the document, independently of the incremental
 * index, and lists every difference. O(document): for tests and diagnostics only.
 */
import * as Y from 'yjs'
import { decodeRecord, KIND_REMOTE, KIND_REMOVAL } from './records.js'
import type { PartitionResolver } from './partition-doc.js'
import { membershipKey, type MembershipIndex } from '../membership-index.js'
import type { OwnerRegistry } from '../owner-registry.js'

export interface RecountResult {
  /** Whether the incremental counts equal the recount by scan. */
  readonly ok: boolean
  /** Memberships found by the scan (present in the document, counted or not). */
  readonly memberships: number
  /** One line per difference. */
  readonly mismatches: string[]
}

export const recount = (doc: Y.Doc, resolver: PartitionResolver, owners: OwnerRegistry, index: MembershipIndex,
  keepsDead: (profile: string) => boolean, now: number): RecountResult => {
  const counted = new Map<string, { profile: string, value: string | null }>()
  const present = new Set<string>()
  for (const type of doc.share.values()) {
    const pn = resolver.resolve(type)
    const p = pn === null ? undefined : owners.partition(pn.clientId)
    if (pn === null || p === undefined) continue
    const status = owners.statusOf(p)
    for (let item = type._start; item !== null; item = item.right) {
      if (item.deleted || item.id.client !== pn.clientId) continue
      for (const raw of item.content.getContent()) {
        const rec = decodeRecord(raw)
        if (typeof rec === 'string' || rec.kind === KIND_REMOVAL) continue
        const key = membershipKey(rec.profile, rec.value, rec.dialog)
        present.add(key)
        const expired = rec.expiresAt !== null && rec.expiresAt <= now
        const effective = !expired && (rec.kind === KIND_REMOTE || status === 'live' ||
          (status === 'dead' && rec.expiresAt !== null && keepsDead(rec.profile)))
        if (effective) counted.set(key, { profile: rec.profile, value: rec.value })
      }
    }
  }
  // expected sizes per (profile, value); value undefined = the whole profile
  const expected = new Map<string, { profile: string, value: string | null, n: number }>()
  const bump = (profile: string, value: string | null, by: number): void => {
    const k = `${profile}\u0000${value ?? ''}\u0000${value === null ? '-' : '+'}`
    const e = expected.get(k) ?? { profile, value, n: 0 }
    e.n += by
    expected.set(k, e)
  }
  for (const { profile, value } of counted.values()) {
    bump(profile, null, 1)
    if (value !== null) bump(profile, value, 1)
  }
  const out: string[] = []
  for (const m of index.allMemberships()) {
    bump(m.profile, null, 0)
    if (m.value !== null) bump(m.profile, m.value, 0)
    const key = membershipKey(m.profile, m.value, m.dialog)
    if (!present.has(key)) out.push(`indexed membership ${JSON.stringify(key)} is not in the document`)
  }
  for (const { profile, value, n } of expected.values()) {
    const got = index.counter(profile, value)?.size ?? 0
    if (got !== n) out.push(`${profile}${value === null ? '' : `/${value}`}: incremental ${got}, scan ${n}`)
  }
  if (present.size !== index.membershipCount) out.push(`index holds ${index.membershipCount} memberships, document ${present.size}`)
  return { ok: out.length === 0, memberships: present.size, mismatches: out }
}

/**
 * The debug recount: counts by a full scan of the document, independently of the incremental
 * index, and lists every difference. O(document): for tests and diagnostics only.
 *
 * The rule it applies: a membership record counts when it is present in its writer's partition,
 * decodes, fits the declarations, is named by no present removal notice, has not expired, and is
 * remote or owned by an owner that counts.
 */
import { forEachPresentValue, type PartitionResolver } from './partition-doc.js'
import { decodeRecord, KIND_REMOTE, KIND_REMOVAL, type MembershipRecord } from './records.js'
import { membershipKey, type MembershipIndex } from '../membership-index.js'
import type { OwnerRegistry } from '../owner-registry.js'
import type { Partition } from './partitions.js'
import type { ProfileRegistry } from '../profile-registry.js'
import type * as Y from 'yjs'

export interface RecountResult {
  /** Whether the incremental counts equal the recount by scan. */
  readonly ok: boolean
  /** Memberships found by the scan (present in the document and not removed by a notice, counted or not). */
  readonly memberships: number
  /** One line per difference. */
  readonly mismatches: string[]
}

export const recount = (doc: Y.Doc, resolver: PartitionResolver, owners: OwnerRegistry, index: MembershipIndex,
  registry: ProfileRegistry, now: number): RecountResult => {
  // one scan: the notices' targets, and the records that fit; then the records no notice names
  const named = new Set<string>()
  const records: Array<{ id: string, p: Partition, rec: MembershipRecord }> = []
  forEachPresentValue(doc, resolver, (pn, writer, clock, raw) => {
    const p = owners.partition(pn.clientId)
    if (writer !== pn.clientId || p === undefined || p.node !== pn.node || p.incarnation !== pn.incarnation) return
    const rec = decodeRecord(raw)
    if (typeof rec === 'string') return
    if (rec.kind === KIND_REMOVAL) { for (const c of rec.clocks) named.add(`${rec.targetClient}.${c}`); return }
    if (registry.misfit(rec.profile, rec.value) === null) records.push({ id: `${writer}.${clock}`, p, rec })
  })
  const counted = new Map<string, { profile: string, value: string | null }>()
  const present = new Set<string>()
  for (const { id, p, rec } of records) {
    if (named.has(id)) continue
    const key = membershipKey(rec.profile, rec.value, rec.dialog)
    present.add(key)
    const status = owners.statusOf(p)
    const expired = rec.expiresAt !== null && rec.expiresAt <= now
    const effective = !expired && (rec.kind === KIND_REMOTE || status === 'live' ||
      (status === 'dead' && rec.expiresAt !== null && registry.find(rec.profile)?.onOwnerDead === 'keep'))
    if (effective) counted.set(key, { profile: rec.profile, value: rec.value })
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

/** The strict-admission rows: each encodes and decodes to itself; malformed ones decode to a reason, never throw. */
import { describe, expect, it } from 'vitest'
import {
  decodeRow, encodeGrant, encodeLease, encodeReport, encodeRequest, encodeVote, ROW_GRANT, ROW_LEASE, ROW_REPORT, ROW_REQUEST, ROW_VOTE
} from '../../src/admission/rows.js'

describe('strict-admission rows', () => {
  it('round-trip: requests with their urgency, lease requests, grants, votes, reports', () => {
    expect(decodeRow(encodeRequest({ profile: 'trunk', value: 'T1', seq: 7, want: 2, limit: 9, urgent: true }))).toEqual({ kind: ROW_REQUEST, profile: 'trunk', value: 'T1', seq: 7, want: 2, limit: 9, urgent: true })
    // a request written without the urgency field refills a reserve
    expect(decodeRow([ROW_REQUEST, 'trunk', null, 7, 2, 9])).toMatchObject({ urgent: false })
    expect(decodeRow(encodeLease(3))).toEqual({ kind: ROW_LEASE, seq: 3 })
    expect(decodeRow(encodeGrant([[12, 3], [13, 4]]))).toEqual({ kind: ROW_GRANT, grants: [[12, 3], [13, 4]] })
    expect(decodeRow(encodeVote({ node: 'n1', incarnation: 5, client: 12 }))).toEqual({ kind: ROW_VOTE, node: 'n1', incarnation: 5, client: 12 })
    const report = { node: 'n1', incarnation: 5, client: 12, heir: 'n2', heirClient: 13, latest: [['n2', 4, 13]] as Array<[string, number, number]>, held: [['trunk', 'T1', 2]] as Array<[string, string | null, number]> }
    expect(decodeRow(encodeReport(report))).toEqual({ kind: ROW_REPORT, ...report })
  })

  it('refuses malformed rows with a reason', () => {
    for (const raw of [
      [ROW_REQUEST, 'trunk', null, 7, 2, 9, 2],
      [ROW_LEASE], [ROW_LEASE, -1],
      [ROW_GRANT, [[12]]], [ROW_GRANT, 'x'],
      [ROW_VOTE, 'n1', 5], [ROW_VOTE, 'bad id', 5, 12],
      [ROW_REPORT, 'n1', 5, 12, 'n2', 13, [['n2', 4]], []], [ROW_REPORT, 'n1', 5, 12, 'n2', 13, [], [['trunk', 'T1', -1]]]
    ]) expect(typeof decodeRow(raw), JSON.stringify(raw)).toBe('string')
  })
})

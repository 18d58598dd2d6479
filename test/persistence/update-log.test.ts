import * as fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { encodeRecord, HEADER_BYTES, scanLog } from '../../src/persistence/update-log.js'
import { fcParams } from '../support/fc.js'

const MAX = 1 << 16
const frame = (records: Uint8Array[]): { log: Buffer; spans: Array<[number, number]> } => {
  const spans: Array<[number, number]> = []
  let pos = 0
  for (const r of records) { spans.push([pos, pos + HEADER_BYTES + r.length]); pos += HEADER_BYTES + r.length }
  return { log: Buffer.concat(records.map((r) => encodeRecord(r))), spans }
}
const payloads = (records: Uint8Array[]): string[] => records.map((r) => Buffer.from(r).toString('hex'))
const record = (n: number, len = 30): Uint8Array => new Uint8Array(len).fill(n & 0xff)

describe('update log framing', () => {
  it('one flipped byte in the middle costs the record it is in, not the ones after it', () => {
    const records = Array.from({ length: 500 }, (_, i) => record(i, 20 + (i % 7)))
    const { log, spans } = frame(records)
    const at = Math.floor(log.length / 2)
    log[at]! ^= 0x5a
    const hit = spans.findIndex(([s, e]) => at >= s && at < e)
    const scan = scanLog(log, MAX)
    expect(scan.records.length).toBe(499)
    expect(payloads(scan.records)).toEqual(payloads(records.filter((_, i) => i !== hit)))
    expect(scan).toMatchObject({ corruptRegions: 1, corruptRecords: 1, tornBytes: 0, validBytes: log.length })
  })

  it('tells a torn tail (a record cut short, or zeros) from a damaged last record', () => {
    const records = [record(1), record(2), record(3)]
    const { log, spans } = frame(records)
    const cut = scanLog(log.subarray(0, spans[2]![0] + 17), MAX)
    expect(cut).toMatchObject({ tornBytes: 17, corruptRecords: 0, validBytes: spans[2]![0] })
    expect(cut.records.length).toBe(2)
    const zeros = scanLog(Buffer.concat([log, Buffer.alloc(4096)]), MAX)
    expect(zeros).toMatchObject({ tornBytes: 4096, corruptRecords: 0, validBytes: log.length })
    const damaged = Buffer.from(log)
    damaged[spans[2]![0] + HEADER_BYTES + 3]! ^= 1
    const last = scanLog(damaged, MAX)
    expect(last).toMatchObject({ tornBytes: 0, corruptRecords: 1, corruptBytes: spans[2]![1] - spans[2]![0] })
    expect(last.records.length).toBe(2)
  })

  it('every record the damage did not touch is recovered, in order, and nothing else (property)', () => {
    fc.assert(fc.property(
      fc.array(fc.uint8Array({ minLength: 0, maxLength: 60 }), { minLength: 1, maxLength: 40 }),
      fc.array(fc.record({ at: fc.nat(), xor: fc.integer({ min: 1, max: 255 }) }), { maxLength: 6 }),
      fc.option(fc.record({ at: fc.nat(), len: fc.integer({ min: 1, max: 80 }) }), { nil: undefined }),
      fc.option(fc.nat(), { nil: undefined }),
      (records, flips, zeroed, cutAt) => {
        const { log, spans } = frame(records)
        const touched = new Set<number>()
        const touch = (pos: number): void => { const i = spans.findIndex(([s, e]) => pos >= s && pos < e); if (i >= 0) touched.add(i) }
        for (const f of flips) { const at = f.at % log.length; log[at]! ^= f.xor; touch(at) }
        if (zeroed !== undefined) {
          const at = zeroed.at % log.length
          for (let p = at; p < Math.min(log.length, at + zeroed.len); p++) { if (log[p] !== 0) touch(p); log[p] = 0 }
        }
        const end = cutAt === undefined ? log.length : cutAt % (log.length + 1)
        spans.forEach(([, e], i) => { if (e > end) touched.add(i) })
        const scan = scanLog(log.subarray(0, end), MAX)
        const intact = records.filter((_, i) => !touched.has(i))
        const got = payloads(scan.records)
        // Every intact record, in order (a damaged record whose bytes still check out may appear too).
        let k = 0
        for (const p of got) if (k < intact.length && p === payloads([intact[k]!])[0]) k++
        expect(k).toBe(intact.length)
        const all = new Set(payloads(records))
        for (const p of got) expect(all.has(p)).toBe(true)
        // A log with nothing touched but a cut reports no corruption.
        if (flips.length === 0 && zeroed === undefined) expect(scan.corruptRecords).toBe(0)
      }
    ), fcParams(300))
  })
})

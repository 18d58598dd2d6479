import * as fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { isAsciiJson, MAX_DEPTH } from '../../src/internal/json-check.js'
import { fcParams } from '../support/fc.js'

const bytes = (s: string): Uint8Array => new TextEncoder().encode(s)
/** What Yjs does with an embed's bytes: a fatal UTF-8 decode, then JSON.parse. */
const yjsAccepts = (b: Uint8Array): boolean => {
  try {
    JSON.parse(new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(b))
    return true
  } catch {
    return false
  }
}
const isAscii = (s: string): boolean => [...s].every((ch) => ch.charCodeAt(0) < 0x80)
const depthOf = (v: unknown): number => v !== null && typeof v === 'object' ? 1 + Math.max(0, ...Object.values(v as object).map(depthOf)) : 0

/** Characters that make near-valid JSON likely, so that random texts reach every branch. */
const jsonish = fc.string({ unit: fc.constantFrom(...'[]{}",:0123456789-+.eEtrufalsn \t\n\r\\/bu"aF\u0001\u007f\u00e9'.split('')), maxLength: 40 })

describe('isAsciiJson (the byte-level JSON check of checkUpdate)', () => {
  it('accepts only what a fatal UTF-8 decode and JSON.parse accept, on near-valid texts (property)', () => {
    let fast = 0
    fc.assert(fc.property(jsonish, (s) => {
      const b = bytes(s)
      if (isAsciiJson(b, 0, b.length)) { fast++; expect(yjsAccepts(b)).toBe(true) }
    }), fcParams(3000))
    // The random texts reach the fast path, not only refusals.
    expect(fast).toBeGreaterThan(10)
  })

  it('accepts every ASCII JSON text nested at most MAX_DEPTH deep, and nothing past `to` or beyond (property)', () => {
    fc.assert(fc.property(fc.jsonValue({ maxDepth: 6 }), fc.nat(4), fc.constantFrom('', ' ', '\n\t', '  \r'), (v, pad, ws) => {
      const text = ws + JSON.stringify(v, null, pad > 2 ? pad : undefined) + ws
      const b = bytes(text)
      if (isAscii(text) && depthOf(v) <= MAX_DEPTH) expect(isAsciiJson(b, 0, b.length)).toBe(true)
      if (isAsciiJson(b, 0, b.length)) expect(yjsAccepts(b)).toBe(true)
      // A prefix cut inside the text, within a larger buffer: judged on [from, to) only.
      const framed = bytes(`xx${text}]]`)
      expect(isAsciiJson(framed, 2, 2 + b.length)).toBe(isAsciiJson(b, 0, b.length))
      if (b.length > 1 && isAsciiJson(framed, 2, 1 + b.length)) expect(yjsAccepts(b.subarray(0, b.length - 1))).toBe(true)
    }), fcParams(500))
  })

  it('says "not sure" for what it does not follow, and refuses invalid JSON', () => {
    const yes = ['0', '-0.5e+10', '"a\\u00e9\\n"', '[0,"call-1@x","total",null,null]', '{"a":[true,false,null],"b":{}}', ' [ ] ', '[2,7,[1,2,3]]']
    const no = ['', ' ', '01', '1.', '1e', '-', '[1,]', '[,1]', '{"a":1,}', '{a:1}', '{"a"}', '"\\x"', '"\\u00g0"', '"a', '"\u0001"', 'tru', 'nul', '[1]]', '[1] x',
      '"\u00e9"', // non-ASCII: left to JSON.parse
      '['.repeat(MAX_DEPTH + 1) + ']'.repeat(MAX_DEPTH + 1)] // deeper than followed
    for (const s of yes) { const b = bytes(s); expect(isAsciiJson(b, 0, b.length), s).toBe(true); expect(yjsAccepts(b)).toBe(true) }
    for (const s of no) { const b = bytes(s); expect(isAsciiJson(b, 0, b.length), s).toBe(false) }
    const deepest = '['.repeat(MAX_DEPTH) + ']'.repeat(MAX_DEPTH)
    expect(isAsciiJson(bytes(deepest), 0, deepest.length)).toBe(true)
  })
})

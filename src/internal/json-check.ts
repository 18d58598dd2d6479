/**
 * A byte-level check that some UTF-8 bytes are a JSON text `JSON.parse` accepts, without
 * decoding them into a string or building the value: how `checkUpdate` makes sure Yjs will not
 * fail halfway through an update on a record's JSON (Yjs decodes each embed with
 * `JSON.parse(utf8 string)`, its decoder failing on bad UTF-8) at a fraction of the cost of
 * parsing every record twice.
 *
 * Only a subset is followed: pure ASCII bytes (always valid UTF-8) nested at most
 * {@link MAX_DEPTH} deep. `isAsciiJson` answers true only when `JSON.parse` surely accepts the
 * text; false means "not sure" (non-ASCII bytes, deeper nesting, or invalid JSON), and the
 * caller then decodes and parses it as Yjs will.
 */

/** Deepest nesting of arrays and objects followed; deeper texts are left to `JSON.parse`. */
export const MAX_DEPTH = 32

const QUOTE = 0x22
const BACKSLASH = 0x5c
const COMMA = 0x2c
const COLON = 0x3a
const OPEN_ARRAY = 0x5b
const CLOSE_ARRAY = 0x5d
const OPEN_OBJECT = 0x7b
const CLOSE_OBJECT = 0x7d
const MINUS = 0x2d
const PLUS = 0x2b
const DOT = 0x2e
const ZERO = 0x30
const NINE = 0x39

/** Container kinds on the nesting stack: 1 array, 2 object (reused: the check never re-enters). */
const stack = new Uint8Array(MAX_DEPTH)
const ARRAY = 1
const OBJECT = 2

/** JSON whitespace: space, tab, line feed, carriage return. */
const skipSpace = (b: Uint8Array, i: number, end: number): number => {
  while (i < end) {
    const c = b[i]!
    if (c !== 0x20 && c !== 0x09 && c !== 0x0a && c !== 0x0d) break
    i++
  }
  return i
}

const isDigit = (c: number): boolean => c >= ZERO && c <= NINE
const isHex = (c: number): boolean => (c >= ZERO && c <= NINE) || (c >= 0x41 && c <= 0x46) || (c >= 0x61 && c <= 0x66)

/** Bytes inside a string: 0 plain (printable ASCII), 1 a quote or a backslash, 2 not followed (control, non-ASCII). */
const STRING_BYTE = new Uint8Array(256).map((_, c) => c === QUOTE || c === BACKSLASH ? 1 : c < 0x20 || c >= 0x80 ? 2 : 0)

/** The end of the ASCII string starting at `i` (a quote), or -1. */
const scanString = (b: Uint8Array, i: number, end: number): number => {
  for (i++; i < end; i++) {
    const k = STRING_BYTE[b[i]!]
    if (k === 0) continue
    if (k === 2) return -1
    if (b[i] === QUOTE) return i + 1
    if (++i >= end) return -1
    const e = b[i]!
    // \" \\ \/ \b \f \n \r \t, or \u and four hex digits
    if (e === QUOTE || e === BACKSLASH || e === 0x2f || e === 0x62 || e === 0x66 || e === 0x6e || e === 0x72 || e === 0x74) continue
    if (e !== 0x75 || i + 4 >= end) return -1
    if (!isHex(b[i + 1]!) || !isHex(b[i + 2]!) || !isHex(b[i + 3]!) || !isHex(b[i + 4]!)) return -1
    i += 4
  }
  return -1
}

/** The end of the number starting at `i`, or -1: `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`. */
const scanNumber = (b: Uint8Array, i: number, end: number): number => {
  if (b[i] === MINUS) i++
  if (i >= end) return -1
  if (b[i] === ZERO) i++
  else if (isDigit(b[i]!)) { while (i < end && isDigit(b[i]!)) i++ } else return -1
  if (i < end && b[i] === DOT) {
    if (++i >= end || !isDigit(b[i]!)) return -1
    while (i < end && isDigit(b[i]!)) i++
  }
  if (i < end && (b[i] === 0x65 || b[i] === 0x45)) {
    if (++i < end && (b[i] === PLUS || b[i] === MINUS)) i++
    if (i >= end || !isDigit(b[i]!)) return -1
    while (i < end && isDigit(b[i]!)) i++
  }
  return i
}

/** The end of the literal `word` (ASCII codes) at `i`, or -1. */
const scanWord = (b: Uint8Array, i: number, end: number, word: readonly number[]): number => {
  if (i + word.length > end) return -1
  for (let k = 0; k < word.length; k++) if (b[i + k] !== word[k]) return -1
  return i + word.length
}

const TRUE = [0x74, 0x72, 0x75, 0x65]
const FALSE = [0x66, 0x61, 0x6c, 0x73, 0x65]
const NULL = [0x6e, 0x75, 0x6c, 0x6c]

/**
 * Whether `b[from, to)` is, surely, a JSON text `JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(...))`
 * accepts: ASCII only, nested at most {@link MAX_DEPTH} deep. False when not sure. Never throws.
 */
export const isAsciiJson = (b: Uint8Array, from: number, to: number): boolean => {
  const end = Math.min(to, b.length)
  let depth = 0
  let i = skipSpace(b, from, end)
  for (;;) {
    // A value starts at i.
    if (i >= end) return false
    const c = b[i]!
    if (c === OPEN_ARRAY || c === OPEN_OBJECT) {
      if (depth === MAX_DEPTH) return false
      stack[depth++] = c === OPEN_ARRAY ? ARRAY : OBJECT
      i = skipSpace(b, i + 1, end)
      if (i < end && b[i] === (c === OPEN_ARRAY ? CLOSE_ARRAY : CLOSE_OBJECT)) {
        depth--
        i++
      } else {
        if (c === OPEN_OBJECT && (i = key(b, i, end)) < 0) return false
        continue
      }
    } else if (c === QUOTE) {
      if ((i = scanString(b, i, end)) < 0) return false
    } else if (c === MINUS || isDigit(c)) {
      if ((i = scanNumber(b, i, end)) < 0) return false
    } else if (c === 0x74 || c === 0x66 || c === 0x6e) {
      if ((i = scanWord(b, i, end, c === 0x74 ? TRUE : c === 0x66 ? FALSE : NULL)) < 0) return false
    } else {
      return false
    }
    // After a value: a separator, the end of containers, or the end of the text.
    for (;;) {
      i = skipSpace(b, i, end)
      if (depth === 0) return i === end
      if (i >= end) return false
      const kind = stack[depth - 1]
      const d = b[i]!
      if (d === COMMA) {
        i = skipSpace(b, i + 1, end)
        if (kind === OBJECT && (i = key(b, i, end)) < 0) return false
        break
      }
      if (d !== (kind === ARRAY ? CLOSE_ARRAY : CLOSE_OBJECT)) return false
      depth--
      i++
    }
  }
}

/** An object's key and colon at `i`; returns where its value starts, or -1. */
const key = (b: Uint8Array, i: number, end: number): number => {
  if (i >= end || b[i] !== QUOTE) return -1
  if ((i = scanString(b, i, end)) < 0) return -1
  i = skipSpace(b, i, end)
  if (i >= end || b[i] !== COLON) return -1
  return skipSpace(b, i + 1, end)
}

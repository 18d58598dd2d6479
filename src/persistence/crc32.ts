/**
 * CRC-32 (IEEE), from `node:zlib` when the runtime has it (Node >= 20.15), else a table.
 */
import * as zlib from 'node:zlib'

const TABLE = (() => {
  const t = new Uint32Array(256)
  for (let n = 0; n < 256; n++) {
    let c = n
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1
    t[n] = c >>> 0
  }
  return t
})()

const tableCrc32 = (data: Uint8Array, previous: number): number => {
  let c = (previous ^ 0xffffffff) >>> 0
  for (let i = 0; i < data.length; i++) c = TABLE[(c ^ data[i]!) & 0xff]! ^ (c >>> 8)
  return (c ^ 0xffffffff) >>> 0
}

const native = (zlib as { crc32?: (data: Uint8Array, value?: number) => number }).crc32

/**
 * CRC-32 of `data` as an unsigned 32-bit integer; pass the CRC of the bytes before `data` as
 * `previous` to continue a running checksum (`crc32(b, crc32(a))` is the CRC of `a` then `b`).
 */
export const crc32 = (data: Uint8Array, previous = 0): number =>
  native !== undefined ? native(data, previous) >>> 0 : tableCrc32(data, previous)

/**
 * A map from a Yjs clock to an entry that carries that clock (`entry.clock`), as one open-addressed
 * table of entries: a slot costs one pointer, where a `Map` costs three words per entry plus its
 * buckets, rounded up to a power of two. A partition's adds are held this way (one entry per
 * present record of every replica, so its size is the index's largest table).
 *
 * Linear probing with backward-shift deletion (no tombstones), at most 3/4 full, halved when at
 * most 1/8 full. Slots come from a multiplicative hash with a random odd multiplier per table, so
 * a peer choosing its clocks (a tombstone run skips any number of them) cannot make them collide.
 * The random multiplier must not make the store's behaviour depend on it: `values()` and `keys()`
 * return fresh arrays in clock order (O(n log n), for the rare walks over a whole partition), so a
 * seeded run replays exactly.
 */

/** What the table holds: anything that knows its clock. */
export interface Clocked { readonly clock: number }

const MIN_BITS = 3

const byClock = (a: Clocked, b: Clocked): number => a.clock - b.clock

export class ClockTable<V extends Clocked> {
  private slots: Array<V | undefined>
  private bits = MIN_BITS
  private count = 0
  private readonly mult: number

  constructor () {
    this.slots = new Array<V | undefined>(1 << MIN_BITS).fill(undefined)
    this.mult = (Math.floor(Math.random() * 0x7fffffff) << 1) | 1
  }

  get size (): number { return this.count }

  private home (clock: number): number {
    // clocks reach 2^40: fold the high part in before the 32-bit multiply
    const h = Math.imul((clock | 0) ^ Math.floor(clock / 0x100000000), this.mult)
    return h >>> (32 - this.bits)
  }

  private slotOf (clock: number): number {
    const slots = this.slots
    const mask = slots.length - 1
    for (let i = this.home(clock); ; i = (i + 1) & mask) {
      const v = slots[i]
      if (v === undefined || v.clock === clock) return i
    }
  }

  get (clock: number): V | undefined { return this.slots[this.slotOf(clock)] }

  has (clock: number): boolean { return this.slots[this.slotOf(clock)] !== undefined }

  /** Holds `v` under its clock, replacing any entry of the same clock. */
  set (v: V): void {
    const i = this.slotOf(v.clock)
    if (this.slots[i] === undefined) {
      this.count++
      if (this.count * 4 > this.slots.length * 3) { this.resize(this.bits + 1); this.slots[this.slotOf(v.clock)] = v; return }
    }
    this.slots[i] = v
  }

  /** Removes the entry of `clock`. @returns whether there was one. */
  delete (clock: number): boolean {
    const slots = this.slots
    const mask = slots.length - 1
    let i = this.slotOf(clock)
    if (slots[i] === undefined) return false
    // backward shift: move later entries of the probe run into the hole when their home allows it
    for (let j = (i + 1) & mask; ; j = (j + 1) & mask) {
      const v = slots[j]
      if (v === undefined) break
      const h = this.home(v.clock)
      // v may move to i when i lies cyclically in [h, j)
      if (((j - h) & mask) >= ((j - i) & mask)) { slots[i] = v; i = j }
    }
    slots[i] = undefined
    this.count--
    if (this.bits > MIN_BITS && this.count * 8 <= slots.length) this.resize(this.bits - 1)
    return true
  }

  /** The entries in clock order (a fresh array: safe to change the table while using it). */
  values (): V[] {
    const out: V[] = []
    for (const v of this.slots) if (v !== undefined) out.push(v)
    return out.sort(byClock)
  }

  /** The clocks held, in order (a fresh array). */
  keys (): number[] { return this.values().map(v => v.clock) }

  private resize (bits: number): void {
    const old = this.slots
    this.bits = bits
    this.slots = new Array<V | undefined>(1 << bits).fill(undefined)
    const mask = this.slots.length - 1
    for (const v of old) {
      if (v === undefined) continue
      let i = this.home(v.clock)
      while (this.slots[i] !== undefined) i = (i + 1) & mask
      this.slots[i] = v
    }
  }
}

/**
 * An indexed binary min-heap of entries ordered by `expiresAt`. Entries carry their own heap
 * position, so removing an arbitrary entry is O(log n): the heap never holds entries for
 * memberships that are gone, and its size is bounded by the live memberships, not by history.
 */

/** What the heap stores: anything with an expiry and a slot for its position. */
export interface HeapEntry {
  readonly expiresAt: number
  /** Position in the heap, -1 when not in it. Owned by the heap. */
  heapIndex: number
}

export class ExpiryHeap<T extends HeapEntry> {
  private readonly items: T[] = []

  get size (): number { return this.items.length }

  /** The entry that expires first, or undefined. */

  push (entry: T): void {
    entry.heapIndex = this.items.length
    this.items.push(entry)
    this.up(entry.heapIndex)
  }

  /** Removes `entry` if it is in the heap. */
  remove (entry: T): void {
    const i = entry.heapIndex
    if (i < 0 || this.items[i] !== entry) return
    const last = this.items.pop() as T
    entry.heapIndex = -1
    if (last !== entry) {
      this.items[i] = last
      last.heapIndex = i
      this.down(i)
      this.up(last.heapIndex)
    }
  }

  /** Removes and returns the first entry if it expires at or before `now`. */
  popExpired (now: number): T | undefined {
    const top = this.items[0]
    if (top === undefined || top.expiresAt > now) return undefined
    this.remove(top)
    return top
  }

  private up (i: number): void {
    const items = this.items
    const entry = items[i] as T
    while (i > 0) {
      const parent = (i - 1) >> 1
      const p = items[parent] as T
      if (p.expiresAt <= entry.expiresAt) break
      items[i] = p; p.heapIndex = i
      i = parent
    }
    items[i] = entry; entry.heapIndex = i
  }

  private down (i: number): void {
    const items = this.items
    const n = items.length
    const entry = items[i] as T
    for (;;) {
      const l = 2 * i + 1
      if (l >= n) break
      const r = l + 1
      const c = r < n && (items[r] as T).expiresAt < (items[l] as T).expiresAt ? r : l
      const child = items[c] as T
      if (child.expiresAt >= entry.expiresAt) break
      items[i] = child; child.heapIndex = i
      i = c
    }
    items[i] = entry; entry.heapIndex = i
  }
}

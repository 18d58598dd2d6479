/**
 * A map from a key to one value or a few, holding no array for the common single value: the
 * memberships of one dialog id (usually one to three). Values must not be arrays.
 */
/** What {@link FewMap.addAndFind} found under the key: no value, values none of which matched, one that matched. */
export const FEW_NONE = 0
export const FEW_OTHER = 1
export const FEW_MATCH = 2
export type FewFound = typeof FEW_NONE | typeof FEW_OTHER | typeof FEW_MATCH

export class FewMap<K, V extends object> {
  private readonly map = new Map<K, V | V[]>()
  private count = 0

  /** Number of values (not keys). */
  get size (): number { return this.count }

  /** The first of `key`'s values for which `match(v, a, b)` holds (static matchers: no closure per call). */
  find<A, B> (key: K, match: (v: V, a: A, b: B) => boolean, a: A, b: B): V | undefined {
    const had = this.map.get(key)
    if (had === undefined) return undefined
    if (!Array.isArray(had)) return match(had, a, b) ? had : undefined
    for (const v of had) if (match(v, a, b)) return v
    return undefined
  }

  /**
   * Adds `v` to `key`'s values and says what was there (`find` then `add`, with one lookup of
   * the key): {@link FEW_NONE} no value, {@link FEW_OTHER} values of which none matched,
   * {@link FEW_MATCH} a value that matched.
   */
  addAndFind<A, B> (key: K, v: V, match: (v: V, a: A, b: B) => boolean, a: A, b: B): FewFound {
    const had = this.map.get(key)
    this.count++
    if (had === undefined) { this.map.set(key, v); return FEW_NONE }
    if (!Array.isArray(had)) { this.map.set(key, [had, v]); return match(had, a, b) ? FEW_MATCH : FEW_OTHER }
    let found: FewFound = FEW_OTHER
    for (const x of had) if (match(x, a, b)) { found = FEW_MATCH; break }
    had.push(v)
    return found
  }

  add (key: K, v: V): void {
    const had = this.map.get(key)
    if (had === undefined) this.map.set(key, v)
    else if (Array.isArray(had)) had.push(v)
    else this.map.set(key, [had, v])
    this.count++
  }

  /** Removes `v` from `key`'s values. @returns whether it was there. */
  delete (key: K, v: V): boolean {
    const had = this.map.get(key)
    if (had === v) { this.map.delete(key); this.count--; return true }
    if (!Array.isArray(had)) return false
    const i = had.indexOf(v)
    if (i < 0) return false
    had[i] = had[had.length - 1] as V
    had.pop()
    if (had.length === 1) this.map.set(key, had[0] as V)
    this.count--
    return true
  }

  /** `key`'s values, as a fresh array (safe to change the map while iterating it). */
  get (key: K): V[] {
    const had = this.map.get(key)
    return had === undefined ? [] : Array.isArray(had) ? had.slice() : [had]
  }

  /** Calls `fn` for each of `key`'s values, without copying them (do not change the map meanwhile). */
  forEach (key: K, fn: (v: V) => void): void {
    const had = this.map.get(key)
    if (had === undefined) return
    if (!Array.isArray(had)) { fn(had); return }
    for (const v of had) fn(v)
  }

  /** The keys that have values. */
  keys (): IterableIterator<K> { return this.map.keys() }

  * values (): IterableIterator<V> {
    for (const had of this.map.values()) {
      if (Array.isArray(had)) yield * had
      else yield had
    }
  }
}

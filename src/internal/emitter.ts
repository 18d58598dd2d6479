/**
 * A minimal typed emitter for discriminated-union events: `on('peer-up', e => ...)` gets the
 * `peer-up` member of the union. Emitting to no listener costs one map lookup.
 */
export type Listener<E> = (event: E) => void

export class Emitter<E extends { readonly type: string }> {
  private readonly listeners = new Map<string, Set<Listener<never>>>()

  /** Subscribes to one event type; returns the function that unsubscribes. */
  on<T extends E['type']> (type: T, fn: Listener<Extract<E, { type: T }>>): () => void {
    let set = this.listeners.get(type)
    if (set === undefined) { set = new Set(); this.listeners.set(type, set) }
    set.add(fn as Listener<never>)
    return () => this.off(type, fn)
  }

  off<T extends E['type']> (type: T, fn: Listener<Extract<E, { type: T }>>): void {
    const set = this.listeners.get(type)
    if (set === undefined) return
    set.delete(fn as Listener<never>)
    if (set.size === 0) this.listeners.delete(type)
  }

  /** Whether anybody listens to `type`: lets callers skip building events nobody reads. */
  has (type: E['type']): boolean { return this.listeners.has(type) }

  /** Calls every listener of the event's type. A listener that throws does not stop the others. */
  emit (event: E): void {
    const set = this.listeners.get(event.type)
    if (set === undefined) return
    for (const fn of [...set]) {
      try { (fn as Listener<E>)(event) } catch (err) { queueMicrotask(() => { throw err }) }
    }
  }

  clear (): void { this.listeners.clear() }
}

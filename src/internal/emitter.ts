/**
 * A minimal typed emitter for discriminated-union events: `on('peer-up', e => ...)` gets the
 * `peer-up` member of the union, `onAny(e => ...)` every event. Emitting to no listener costs
 * one map lookup.
 */
import { setIfUndefined } from 'lib0/map'

export type Listener<E> = (event: E) => void

export class Emitter<E extends { readonly type: string }> {
  private readonly listeners = new Map<string, Set<Listener<never>>>()
  private readonly anyListeners = new Set<Listener<E>>()

  /**
   * @param onListenerError what to do with an error thrown by a listener; by default it is
   * rethrown asynchronously (an uncaught exception, as an EventEmitter listener's would be),
   * never into the code that emitted.
   */
  constructor (private readonly onListenerError: (err: unknown) => void = rethrowLater) {}

  /** Subscribes to every event, whatever its type; returns the function that unsubscribes. */
  onAny (fn: Listener<E>): () => void {
    this.anyListeners.add(fn)
    return () => { this.anyListeners.delete(fn) }
  }

  /** Subscribes to one event type; returns the function that unsubscribes. */
  on<T extends E['type']> (type: T, fn: Listener<Extract<E, { type: T }>>): () => void {
    const set = setIfUndefined(this.listeners, type, () => new Set())
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
  has (type: E['type']): boolean { return this.listeners.has(type) || this.anyListeners.size > 0 }

  /** Calls every listener of the event's type, then every `onAny` listener. A listener that throws does not stop the others. */
  emit (event: E): void {
    const set = this.listeners.get(event.type)
    if (set !== undefined) for (const fn of [...set]) this.call(fn as Listener<E>, event)
    if (this.anyListeners.size > 0) for (const fn of [...this.anyListeners]) this.call(fn, event)
  }

  private call (fn: Listener<E>, event: E): void {
    try { fn(event) } catch (err) { this.onListenerError(err) }
  }

  clear (): void { this.listeners.clear(); this.anyListeners.clear() }
}

const rethrowLater = (err: unknown): void => { queueMicrotask(() => { throw err }) }

/**
 * A minimal typed emitter for discriminated-union events: `on(listener)` receives every event,
 * narrowed by `event.type`.
 */

export class EventFeed<E extends { readonly type: string }> {
  private listeners: Array<(e: E) => void> = []

  /** Subscribes to every event; returns the unsubscribe function. */
  on (listener: (e: E) => void): () => void {
    this.listeners.push(listener)
    return () => { this.listeners = this.listeners.filter((l) => l !== listener) }
  }

  /** Resolves with the first event that matches `pred`. */
  once<T extends E> (pred: (e: E) => e is T): Promise<T> {
    return new Promise((resolve) => {
      const off = this.on((e) => { if (pred(e)) { off(); resolve(e) } })
    })
  }

  emit (e: E): void {
    for (const l of this.listeners) {
      try {
        l(e)
      } catch (err) {
        // A throwing listener must not break the transport.
        console.error('dialog-profiles: event listener threw', err)
      }
    }
  }

  clear (): void { this.listeners = [] }
}

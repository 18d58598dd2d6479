import { describe, expect, it, vi } from 'vitest'
import * as Y from 'yjs'
import { WriteQueue } from '../../src/internal/write-queue.js'

describe('WriteQueue', () => {
  it('gives each queued record the clock it gets when written, and writes once per event-loop turn', async () => {
    const doc = new Y.Doc()
    const part = doc.getArray('p')
    const origin = Symbol('me')
    const updates: unknown[] = []
    doc.on('update', (_u: Uint8Array, o: unknown) => updates.push(o))
    const q = new WriteQueue(doc, part, origin, 1000)
    const clocks = [q.record(new Uint8Array([1])), q.record(new Uint8Array([2])), q.record(new Uint8Array([3]))]
    expect(clocks).toEqual([0, 1, 2])
    q.delete(doc.clientID, 1)
    expect(part.length).toBe(0) // nothing written yet
    await Promise.resolve()
    expect(part.length).toBe(0) // not at the end of the microtask: at the end of the turn
    await new Promise((resolve) => setImmediate(resolve))
    expect(updates).toEqual([origin])
    expect(part.toArray()).toEqual([new Uint8Array([1]), new Uint8Array([3])])
    expect(q.record(new Uint8Array([4]))).toBe(3)
    q.flush()
    expect(part.length).toBe(3)
    doc.destroy()
  })

  it('with a delay, lets the writes of several turns share one transaction, written that long after the first', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] })
    try {
      const doc = new Y.Doc()
      const part = doc.getArray('p')
      const updates: unknown[] = []
      doc.on('update', (_u: Uint8Array, o: unknown) => updates.push(o))
      const q = new WriteQueue(doc, part, 'o', 1000, 5)
      expect(q.record(new Uint8Array([1]))).toBe(0)
      await new Promise((resolve) => setImmediate(resolve)) // the end of this turn: still waiting
      expect(part.length).toBe(0)
      expect(q.record(new Uint8Array([2]))).toBe(1)
      q.delete(doc.clientID, 0)
      vi.advanceTimersByTime(4)
      expect(part.length).toBe(0)
      vi.advanceTimersByTime(1) // 5 ms after the first write: everything in one transaction
      expect(updates).toEqual(['o'])
      expect(part.toArray()).toEqual([new Uint8Array([2])])
      // another transaction on the document writes the queue first, whatever the delay
      expect(q.record(new Uint8Array([3]))).toBe(2)
      doc.transact(() => { doc.getMap('other').set('k', 1) }, 'someone')
      expect(part.length).toBe(2)
      vi.advanceTimersByTime(5)
      expect(updates).toEqual(['o', 'someone']) // the queue joined that transaction; the timer then finds nothing
      doc.destroy()
    } finally {
      vi.useRealTimers()
    }
  })

  it('writes at once when maxPending writes wait', () => {
    const doc = new Y.Doc()
    const part = doc.getArray('p')
    const q = new WriteQueue(doc, part, 'o', 3)
    q.record(new Uint8Array([1])); q.record(new Uint8Array([2]))
    expect(part.length).toBe(0)
    q.record(new Uint8Array([3]))
    expect(part.length).toBe(3)
    doc.destroy()
  })
})

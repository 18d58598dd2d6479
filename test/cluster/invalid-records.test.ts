import { afterAll, describe, expect, it } from 'vitest'
import { nodeFactory, waitFor } from './support.js'

const nodes = nodeFactory()
afterAll(async () => { await nodes.closeAll() })

describe('records that contradict the declarations', () => {
  it('are never counted, and are reported in cluster() and the logs with the writer\'s client id', async () => {
    const a = await nodes.start('a', [])
    // b is misconfigured: caller declared plain, and a profile a does not know
    const b = await nodes.start('b', [a.url()!], { profiles: [{ name: 'total' }, { name: 'caller' }, { name: 'account', withValue: true }] })
    await b.ready
    b.store.add('c1', 'caller')
    b.store.add('c2', 'account', 'acme')
    b.store.add('c3', 'total')
    await waitFor(() => a.store.size('total') === 1 && a.cluster().document.invalidRecords === 2, 'a got b\'s records')
    expect(a.store.size('caller')).toBe(0)
    expect(a.lines.filter(l => l.startsWith('warn: ignored a record written by Yjs client ' + String(b.store.clientId)))).toEqual([
      expect.stringContaining('no value on a valued profile'),
      expect.stringContaining('undeclared profile')
    ])
    expect(a.store.recount().ok).toBe(true)
  })
})

describe('a node restarted with the clientId of its previous run', () => {
  it('moves to a fresh client id, says so at error, and every node counts its calls', async () => {
    const b = await nodes.start('b', [])
    const a1 = await nodes.start('a', [b.url()!], { clientId: 4242, incarnation: 1 })
    await a1.ready
    for (let i = 0; i < 5; i++) a1.store.add(`old-call-${i}`, 'total')
    await waitFor(() => b.store.size('total') === 5, 'b got the first run\'s calls')
    await a1.close()
    // the second run writes less under the reused id than the first did before it syncs
    const a2 = await nodes.start('a', [b.url()!], { clientId: 4242, incarnation: 2 })
    a2.store.add('new-call', 'total')
    await a2.ready
    await waitFor(() => b.store.members('total').map(m => m.dialog).join() === 'new-call' && a2.store.members('total').map(m => m.dialog).join() === 'new-call', 'both count the new run\'s call only')
    expect(a2.store.clientId).not.toBe(4242)
    expect(a2.lines.filter(l => l.startsWith('error: Yjs client id 4242 was used by another writer'))).toHaveLength(1)
    expect(a2.store.recount().ok).toBe(true)
    expect(b.store.recount().ok).toBe(true)
  })
})

import { randomBytes } from 'node:crypto'
import { inspect } from 'node:util'
import { afterEach, describe, expect, it } from 'vitest'
import { signHeartbeat } from '../../src/transport/auth.js'
import { CloseCode } from '../../src/transport/peer.js'
import { encodeHeartbeat, encodeSignature } from '../../src/transport/wire.js'
import { keys, privateKeyOf, withKeys } from './keys.js'
import { closedWithin, rawClient } from './raw-client.js'
import { SECRET, nodeFactory, sleep, waitFor } from './support.js'

const nodes = nodeFactory()
afterEach(async () => { await nodes.closeAll() })

describe('per-node keys (Ed25519 trust list)', () => {
  it('a relayed signed heartbeat announces a restart at once across a partial mesh; the private key is never printed', async () => {
    const t = { livenessTimeoutMs: 60_000 }
    const a = await nodes.start('a', [], { ...t, ...withKeys('a') })
    const b = await nodes.start('b', [a.url()!], { ...t, ...withKeys('b') })
    const c = await nodes.start('c', [b.url()!], { ...t, ...withKeys('c'), incarnation: 1 })
    await c.ready
    c.store.add('c-call', 'total')
    await waitFor(() => a.store.size('total') === 1, 'a counts c through b')
    expect(inspect(a, { depth: 8, showHidden: true })).not.toContain(keys['a']!.privateKey.split('\n')[1]!)
    await c.close()
    const c2 = await nodes.start('c', [b.url()!], { ...t, ...withKeys('c'), incarnation: 2 })
    await c2.ready
    // c2 writes nothing: a learns of it only from its signed heartbeats, relayed by b.
    await waitFor(() => a.cluster().peers.find((p) => p.node === 'c')?.incarnation === 2, 'a learns the new incarnation through b')
    await waitFor(() => a.store.size('total') === 0, 'the old incarnation is void on a')
  })

  it('a peer holding the secret but not in the trust list is refused as an authentication failure', async () => {
    const a = await nodes.start('a', [], withKeys('a'))
    const c = await rawClient(a.url()!, SECRET, 'stranger').then((x) => x, (e: unknown) => e)
    const code = c instanceof Error ? CloseCode.authFailed : await closedWithin(c as Awaited<ReturnType<typeof rawClient>>, 5000)
    expect(code).toBe(CloseCode.authFailed)
    expect(a.cluster().peers.some((p) => p.node === 'stranger')).toBe(false)
  })

  it('a trusted node forging another node\'s heartbeat is disconnected, and the claim changes nothing', async () => {
    const a = await nodes.start('a', [], { livenessTimeoutMs: 60_000, ...withKeys('a') })
    const b = await nodes.start('b', [a.url()!], { livenessTimeoutMs: 60_000, ...withKeys('b') })
    await b.ready
    b.store.add('b-call', 'total')
    await waitFor(() => a.store.size('total') === 1, 'a counts b')
    const m = await rawClient(a.url()!, SECRET, 'm')
    const mKey = privateKeyOf('m')
    const signed = (hb: { nodeId: string; incarnation: number; clientId: number; seq: number }): Buffer =>
      Buffer.concat([encodeHeartbeat(hb), encodeSignature(signHeartbeat(mKey, hb))])
    const own = { nodeId: 'm', incarnation: 1, clientId: 12345, seq: 1 }
    // m proves its own id, then claims a newer incarnation of b (connected: ignored) and of c
    // (signed with m's key: a valid signature of the wrong node).
    m.send(Buffer.concat([signed(own), signed({ nodeId: 'b', incarnation: b.store.incarnation + 1, clientId: 1, seq: 1 }),
      signed({ nodeId: 'c', incarnation: 5, clientId: 1, seq: 1 })]))
    expect(await closedWithin(m, 5000)).toBe(CloseCode.protocol)
    await sleep(50)
    expect(a.store.size('total')).toBe(1)
    expect(a.cluster().peers.find((p) => p.node === 'b')?.incarnation).toBe(b.store.incarnation)
    expect(a.cluster().peers.some((p) => p.node === 'c')).toBe(false)
  })

  it('a peer claiming a trusted id without its key is closed once it fails to sign, and never counts as that node', async () => {
    const a = await nodes.start('a', [], { authTimeoutMs: 300, ...withKeys('a') })
    const impostor = await rawClient(a.url()!, SECRET, 'c', Date.now())
    impostor.send(Buffer.concat([encodeHeartbeat({ nodeId: 'c', incarnation: Date.now(), clientId: 12345, seq: 1 }), encodeSignature(randomBytes(64))]))
    expect(await closedWithin(impostor, 5000)).toBe(CloseCode.protocol)
    const silent = await rawClient(a.url()!, SECRET, 'c', Date.now())
    expect(await closedWithin(silent, 5000)).toBe(CloseCode.authFailed)
    expect(a.cluster().peers.some((p) => p.node === 'c' && p.liveness !== null)).toBe(false)
  })
})

describe('signature messages on the wire', () => {
  it('round-trip, and a short one is a protocol error', async () => {
    const { decodeFrame, MSG_SIGNATURE } = await import('../../src/transport/wire.js')
    const sig = randomBytes(64)
    expect(decodeFrame(encodeSignature(sig), 10)).toEqual([{ type: 'signature', signature: new Uint8Array(sig) }])
    expect(() => decodeFrame(Uint8Array.from([MSG_SIGNATURE, 3, 1, 2, 3]), 10)).toThrow(/short signature/)
  })

  it('signed updates round-trip; no updates, a short signature or unknown flags are protocol errors', async () => {
    const { decodeFrame, encodeSignedUpdates, SIGNED_CHECKPOINT } = await import('../../src/transport/wire.js')
    const signed = { flags: SIGNED_CHECKPOINT, signer: 'node-a', updates: [new Uint8Array([1, 2]), new Uint8Array([3])], signature: new Uint8Array(randomBytes(64)) }
    expect(decodeFrame(encodeSignedUpdates(signed), 10)).toEqual([{ type: 'signed-updates', signed }])
    expect(() => decodeFrame(encodeSignedUpdates({ ...signed, updates: [] }), 10)).toThrow(/without updates/)
    expect(() => decodeFrame(encodeSignedUpdates({ ...signed, signature: new Uint8Array(63) }), 10)).toThrow(/short signature/)
    expect(() => decodeFrame(encodeSignedUpdates({ ...signed, flags: 4 }), 10)).toThrow(/flags out of range/)
  })
})

/** Ed25519 key pairs for the per-node-keys tests: nodes a to e and a hostile but trusted m. */
import { createPrivateKey, generateKeyPairSync } from 'node:crypto'
import type { KeyObject } from 'node:crypto'

const keyPair = (): { privateKey: string; publicKey: string } => {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519')
  return { privateKey: privateKey.export({ type: 'pkcs8', format: 'pem' }) as string, publicKey: publicKey.export({ type: 'spki', format: 'pem' }) as string }
}

export const keys = Object.fromEntries(['a', 'b', 'c', 'd', 'e', 'm'].map((id) => [id, keyPair()]))
export const trustedNodes = Object.fromEntries(Object.entries(keys).map(([id, k]) => [id, k.publicKey]))

/** The `identity` and `trustedNodes` options of node `id`. */
export const withKeys = (id: string): { identity: { privateKey: string }; trustedNodes: Record<string, string> } => ({ identity: { privateKey: keys[id]!.privateKey }, trustedNodes })

/** The private key of node `id`, as a KeyObject (for a hand-driven peer). */
export const privateKeyOf = (id: string): KeyObject => createPrivateKey(keys[id]!.privateKey)

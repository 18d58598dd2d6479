/**
 * The library in-process, as a Node.js SIP application uses it: every application node holds a
 * ClusterNode (no daemon, no HTTP), admits INVITEs against a cluster-wide total and a
 * per-caller limit, and ends the call's memberships on BYE, on whichever node the BYE lands.
 *
 *   node --import tsx examples/node/sip-app.ts
 *
 * Two nodes in one process on 127.0.0.1 stand in for two application servers; in production each
 * runs in its own process with `listen` on its address and the others in `peers`.
 */
import { ClusterNode } from '../../src/index.js'

const TOTAL_LIMIT = 5
const PER_CALLER_LIMIT = 2
const options = {
  secret: process.env['DP_SECRET'] ?? 'example-secret-change-me',
  profiles: [{ name: 'total' }, { name: 'caller', withValue: true }],
  readiness: { policy: 'wait' as const, waitMs: 2000 },
  log: () => {}
}

/** INVITE handler: the SIP status to answer (200 admits the call, 503 refuses it). */
const onInvite = async (node: ClusterNode, callId: string, caller: string): Promise<200 | 503> => {
  const perCaller = await node.acquire(callId, 'caller', caller, PER_CALLER_LIMIT)
  if (!perCaller.admitted) return 503
  const total = await node.acquire(callId, 'total', null, TOTAL_LIMIT)
  if (!total.admitted) { node.store.removeDialog(callId); return 503 } // give back the caller slot
  return 200
}

/** BYE (or failed INVITE) handler: the call leaves every profile, cluster-wide. */
const onBye = (node: ClusterNode, callId: string): void => { node.store.removeDialog(callId) }

const a = new ClusterNode({ ...options, nodeId: 'app-a', listen: { host: '127.0.0.1', port: 0 } })
await a.start()
const b = new ClusterNode({ ...options, nodeId: 'app-b', listen: { host: '127.0.0.1', port: 0 }, peers: [a.url() as string] })
await b.start()
await Promise.all([a.ready, b.ready])

const settle = async (): Promise<void> => { await new Promise((resolve) => setTimeout(resolve, 100)) }
const calls: Array<[ClusterNode, string, string]> = [
  [a, 'call-1', 'alice'], [b, 'call-2', 'alice'], [a, 'call-3', 'alice'], // alice's third call: over her limit
  [b, 'call-4', 'bob'], [a, 'call-5', 'carol'], [b, 'call-6', 'dave'], [a, 'call-7', 'erin'] // the seventh: over the total
]
for (const [node, id, caller] of calls) {
  const status = await onInvite(node, id, caller)
  console.log(`INVITE ${id} from ${caller} on ${node.store.nodeId}: ${status}`)
  await settle() // the other node hears of the call within milliseconds
}
console.log(`total ${a.store.size('total')} on app-a, ${b.store.size('total')} on app-b; alice ${b.store.size('caller', 'alice')}`)

onBye(b, 'call-1') // a BYE may land on another node than the INVITE
await settle()
console.log(`after BYE call-1 on app-b: total ${a.store.size('total')} on app-a, alice ${a.store.size('caller', 'alice')}`)
console.log(`INVITE call-8 from alice on app-a: ${await onInvite(a, 'call-8', 'alice')}`)

await Promise.all([a.close(), b.close()])

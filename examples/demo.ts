/**
 * `npm start`: a local cluster of three nodes over WebSockets on 127.0.0.1 with simulated call
 * traffic. Each node admits calls against a per-caller limit and a total limit, every second
 * each prints the cluster-wide counts it sees, and halfway through one node is stopped without
 * a goodbye: the survivors stop counting its calls once its liveness timeout and grace pass.
 *
 *   npm start -- --seconds 20 --rate 60 --limit 40
 */
import { parseArgs } from 'node:util'
import { ClusterNode } from '../src/index.js'
import { seededRandom } from '../src/testing/index.js'

const { values: args } = parseArgs({
  options: {
    seconds: { type: 'string', default: '12' },
    rate: { type: 'string', default: '24' },
    limit: { type: 'string', default: '60' },
    seed: { type: 'string', default: '42' }
  }
})
const SECONDS = Math.min(300, Math.max(4, Number(args.seconds)))
const RATE = Math.min(5000, Math.max(1, Number(args.rate))) // new calls per second, cluster-wide
const LIMIT = Math.max(1, Number(args.limit)) // total concurrent calls allowed
const PER_CALLER = Math.max(1, Math.floor(LIMIT / 4))
const random = seededRandom(Number(args.seed))
const CALLERS = ['alice', 'bob', 'carol', 'dave', 'erin', 'frank']
const profiles = [{ name: 'total' }, { name: 'caller', withValue: true }]
const secret = 'demo-secret-not-for-production'

const quiet = (): void => {}
const nodes: ClusterNode[] = []
const common = {
  profiles, secret, heartbeatIntervalMs: 250, livenessTimeoutMs: 1000, graceMs: 500, purgeDelayMs: 2000,
  readiness: { policy: 'wait' as const, timeoutMs: 5000, waitMs: 2000 }, log: quiet
}
const first = new ClusterNode({ ...common, nodeId: 'proxy-a', listen: { host: '127.0.0.1', port: 0 } })
await first.start()
nodes.push(first)
for (const id of ['proxy-b', 'proxy-c']) {
  const n = new ClusterNode({ ...common, nodeId: id, listen: { host: '127.0.0.1', port: 0 }, peers: nodes.map(x => x.url() as string) })
  await n.start()
  nodes.push(n)
}
await Promise.all(nodes.map(n => n.ready))
console.log(`3 nodes up on ${nodes.map(n => n.url()).join(', ')}; limit ${LIMIT} calls in total, ${PER_CALLER} per caller, ${RATE} new calls/s for ${SECONDS} s`)

interface Call { id: string, node: ClusterNode, endsAt: number }
const calls: Call[] = []
let seq = 0; let admitted = 0; let refused = 0; let maxSeen = 0
const killAt = Date.now() + (SECONDS * 1000) / 2
let killed: ClusterNode | undefined
const endAt = Date.now() + SECONDS * 1000

const step = async (): Promise<void> => {
  const now = Date.now()
  // calls that end: BYE on the node that admitted them
  for (let i = calls.length - 1; i >= 0; i--) {
    const c = calls[i] as Call
    if (c.endsAt > now) continue
    calls.splice(i, 1)
    if (c.node !== killed) c.node.store.removeDialog(c.id)
  }
  // new calls: an INVITE reaches a random live node
  const live = nodes.filter(n => n !== killed)
  const arrivals = Math.floor(RATE / 20) + (random() < (RATE / 20) % 1 ? 1 : 0)
  for (let i = 0; i < arrivals; i++) {
    const node = live[Math.floor(random() * live.length)] as ClusterNode
    const caller = CALLERS[Math.floor(random() * CALLERS.length)] as string
    const id = `call-${++seq}@demo`
    const perCaller = await node.acquire(id, 'caller', caller, PER_CALLER)
    if (!perCaller.admitted) { refused++; continue }
    const total = await node.acquire(id, 'total', undefined, LIMIT)
    if (!total.admitted) { node.store.removeDialog(id); refused++; continue }
    admitted++
    calls.push({ id, node, endsAt: now + 500 + random() * 4000 })
  }
  for (const n of live) maxSeen = Math.max(maxSeen, n.store.size('total'))
}

const report = (): void => {
  const rows = nodes.map(n => n === killed ? `${n.store.nodeId}: (stopped)` : `${n.store.nodeId}: total=${String(n.store.size('total')).padStart(3)} alice=${n.store.size('caller', 'alice')}`)
  const shares = Object.entries(first.store.sizeByNode('total')).map(([k, v]) => `${k.slice(-1)}=${v}`).join(' ')
  console.log(`${new Date().toISOString().slice(11, 19)}  ${rows.join('  ')}  | at proxy-a by owner: ${shares.padEnd(16)} | admitted ${admitted}, refused ${refused}`)
}

let lastReport = 0
while (Date.now() < endAt) {
  await step()
  if (killed === undefined && Date.now() >= killAt) {
    killed = nodes[2] as ClusterNode
    const held = calls.filter(c => c.node === killed).length
    await killed.close() // no removal of its calls: the survivors must stop counting them
    console.log(`-- ${killed.store.nodeId} stopped with ${held} calls up; survivors drop them after liveness timeout + grace (1.5 s)`)
  }
  if (Date.now() - lastReport >= 1000) { report(); lastReport = Date.now() }
  await new Promise(resolve => setTimeout(resolve, 50))
}

// end every call and check that the survivors agree
for (const c of calls.splice(0)) if (c.node !== killed) c.node.store.removeDialog(c.id)
await new Promise(resolve => setTimeout(resolve, 300))
report()
const survivors = nodes.filter(n => n !== killed)
const agree = survivors.every(n => JSON.stringify(n.store.dump()) === JSON.stringify(survivors[0]?.store.dump()))
console.log(`done: ${admitted} admitted, ${refused} refused, highest total seen on a node ${maxSeen} (limit ${LIMIT}; eventual mode may overshoot by concurrent admissions); survivors converged: ${agree}`)
await Promise.all(survivors.map(n => n.close()))
process.exit(agree ? 0 : 1)

/**
 * The scenario list, in the order `npm run bench` runs them. A new scenario is a new file here
 * plus one line in this list.
 */
import type { Scenario } from '../lib/types.js'
import { admission } from './admission.js'
import { churn } from './churn.js'
import { cluster } from './cluster.js'
import { httpAcquire } from './http-acquire.js'
import { hubTopology } from './hub-topology.js'
import { lateJoin } from './late-join.js'
import { lateJoinNet } from './late-join-net.js'
import { memory } from './memory.js'
import { nodeKeys } from './node-keys.js'
import { redisToday } from './redis-today.js'
import { statusPage } from './status-page.js'
import { strictAdmission } from './strict-admission.js'
import { pendingRelease } from './pending-release.js'

export const scenarios: readonly Scenario[] = [churn, admission, memory, lateJoin, lateJoinNet, redisToday, cluster, nodeKeys, hubTopology, httpAcquire, statusPage, strictAdmission, pendingRelease]

/**
 * Property-test settings: a fixed seed and bounded runs, overridable to replay a failure.
 *   FC_SEED=<seed> FC_RUNS=<n> npm test -- test/profile-store.property.test.ts
 * Every property prints its seed when it fails (fast-check's report includes seed and path).
 * A property is bounded in time, and FAILS when the time bound cut it short below its run
 * floor: a slow run cannot pass on a handful of runs. Each property reports the runs executed.
 */
import fc from 'fast-check'

const envInt = (name: string): number | undefined => {
  const v = process.env[name]
  if (v === undefined || v === '') return undefined
  const n = Number(v)
  if (!Number.isSafeInteger(n)) throw new Error(`${name} must be an integer, got ${v}`)
  return n
}

/** The seed in force: FC_SEED, or the fixed CI seed. */
export const FC_SEED = envInt('FC_SEED') ?? 20261126

/** Runs executed by the last property checked with `fcParams` (for tests of the floor itself). */
export let lastRunsExecuted = -1

/**
 * Parameters for fc.assert: seed, runs (FC_RUNS or `runs`), a time bound, the replay hint, and
 * a run floor (default: half the runs asked for) below which the property fails.
 */
export const fcParams = <T>(runs: number, floor = Math.ceil(runs / 2), timeLimitMs = 45_000): fc.Parameters<T> => {
  const numRuns = envInt('FC_RUNS') ?? runs
  const minRuns = Math.min(floor, numRuns)
  return {
    seed: FC_SEED,
    numRuns,
    interruptAfterTimeLimit: timeLimitMs,
    markInterruptAsFailure: false,
    reporter: (details) => {
      lastRunsExecuted = details.numRuns
      if (details.failed) {
        const cause = details.errorInstance instanceof Error ? details.errorInstance.message : String(details.errorInstance)
        throw new Error(`${fc.defaultReportMessage(details)}\ncause: ${cause}\nreplay: FC_SEED=${String(details.seed)} npm test -- <this file>  (path ${String(details.counterexamplePath)})`)
      }
      if (details.numRuns < minRuns) {
        throw new Error(`property ran ${details.numRuns} of ${numRuns} runs before its time limit (${timeLimitMs} ms), below its floor of ${minRuns} (seed ${String(details.seed)})`)
      }
      console.info(`fast-check: ${details.numRuns} runs executed (seed ${String(details.seed)}, floor ${minRuns})`)
    }
  }
}

/**
 * Property-test settings: a fixed seed and bounded runs, overridable to replay a failure.
 *   FC_SEED=<seed> FC_RUNS=<n> npm test -- test/profile-store.property.test.ts
 * Every property prints its seed when it fails (fast-check's report includes seed and path).
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

/** Parameters for fc.assert: seed, runs (FC_RUNS or `runs`), a time bound, and the replay hint. */
export const fcParams = <T>(runs: number): fc.Parameters<T> => ({
  seed: FC_SEED,
  numRuns: envInt('FC_RUNS') ?? runs,
  interruptAfterTimeLimit: 45_000,
  markInterruptAsFailure: false,
  reporter: (details) => {
    if (details.failed) {
      const cause = details.errorInstance instanceof Error ? details.errorInstance.message : String(details.errorInstance)
      throw new Error(`${fc.defaultReportMessage(details)}\ncause: ${cause}\nreplay: FC_SEED=${String(details.seed)} npm test -- <this file>  (path ${String(details.counterexamplePath)})`)
    }
  }
})

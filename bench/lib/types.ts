/**
 * The harness's vocabulary: a scenario runs each implementation on a seeded trace and reports
 * results through a {@link BenchContext}; the runner (bench/index.ts) writes them out.
 */
import type { Progress } from './progress.js'
import type { RedisServer } from './redis-server.js'

/** One figure. `implementation` names what was measured, or a ratio such as `store/fresh`. */
export interface Result {
  readonly scenario: string
  readonly implementation: string
  readonly metric: string
  readonly value: number
  readonly unit: string
}

/** A figure held against a goal from the issue, e.g. churned/fresh state <= 3 x. */
export interface GoalCheck {
  readonly scenario: string
  readonly implementation: string
  readonly metric: string
  readonly value: number
  readonly unit: string
  readonly op: '>=' | '<='
  readonly target: number
  readonly pass: boolean
  /** Where the goal comes from, e.g. "issue 2 item 4". */
  readonly source: string
}

/** What a scenario gets from the runner. */
export interface BenchContext {
  /** Small sizes (`--quick`): every scenario together in under 3 minutes on 2 cores. */
  readonly quick: boolean
  /** The run's seed (`--seed N`); derive per-trace seeds with `subSeed`. */
  readonly seed: number
  /** Records a figure. Only call it after the run it comes from was verified. */
  report (implementation: string, metric: string, value: number, unit: string): void
  /** Records a figure and checks it against a goal. */
  goal (implementation: string, metric: string, value: number, unit: string, op: '>=' | '<=', target: number, source: string): void
  /** Prints a notice (a skipped baseline, a budget hit) and keeps it in the results file. */
  notice (message: string): void
  /** A progress bar on stderr. */
  progress (label: string, total: number): Progress
  /** Throws a {@link ConvergenceError} unless `ok`: a fast wrong answer is not a result. */
  verify (ok: boolean, message: string): asserts ok
  /** Throws a {@link BudgetExceededError} when the scenario's time budget is spent. Call it in every loop. */
  checkBudget (): void
  /** Whether the scenario's time budget is spent. */
  budgetSpent (): boolean
  /** The shared redis-server of this run, started on first use; null (with a notice) when not installed. */
  redis (): Promise<RedisServer | null>
}

/** A benchmark scenario: one file in bench/scenarios/. */
export interface Scenario {
  /** Name used on the command line (`npm run bench -- churn`). */
  readonly name: string
  /** One line for `--list` and the report. */
  readonly description: string
  /** Time budget in seconds, full and quick. The runner stops the scenario when it is spent. */
  readonly budgetSeconds: { readonly full: number, readonly quick: number }
  run (ctx: BenchContext): Promise<void>
}

/** Replicas disagree with each other or with the trace's model. */
export class ConvergenceError extends Error {
  constructor (message: string) {
    super(message)
    this.name = 'ConvergenceError'
  }
}

/** A scenario ran out of its time budget. */
export class BudgetExceededError extends Error {
  constructor (message: string) {
    super(message)
    this.name = 'BudgetExceededError'
  }
}

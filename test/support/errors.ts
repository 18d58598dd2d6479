/**
 * The one helper the tests use to see how a call fails: the typed error's code and message, or
 * `'untyped'` for anything that is not a DialogProfilesError, or undefined when it does not throw;
 * `rejectionOf` for a promise whose typed error (with its cause) the test reads.
 */
import { expect } from 'vitest'
import { DialogProfilesError } from '../../src/index.js'

export interface Failure {
  readonly code: string
  readonly message: string
}

const failure = (e: unknown): Failure =>
  e instanceof DialogProfilesError ? { code: e.code, message: e.message } : { code: 'untyped', message: String(e) }

/** How `fn` fails, if it does. */
export const failureOf = (fn: () => unknown): Failure | undefined => {
  try { fn() } catch (e) { return failure(e) }
  return undefined
}

/** How `fn` (sync or async) fails, if it does. */
export const failureOfAsync = async (fn: () => unknown): Promise<Failure | undefined> => {
  try { await fn() } catch (e) { return failure(e) }
  return undefined
}

/** The error code `fn` throws, if any. */
export const codeOf = (fn: () => unknown): string | undefined => failureOf(fn)?.code

/** The error code `fn` (sync or async) throws, if any. */
export const codeOfAsync = async (fn: () => unknown): Promise<string | undefined> => (await failureOfAsync(fn))?.code

/** The DialogProfilesError a promise rejects with (the test fails when it resolves or rejects with anything else). */
export const rejectionOf = async (p: Promise<unknown>): Promise<DialogProfilesError> => {
  const e = await p.then(() => null, (err: unknown) => err)
  expect(e).toBeInstanceOf(DialogProfilesError)
  return e as DialogProfilesError
}

/**
 * The ledger of this node's own memberships: what it added and still holds, each with the
 * record (client, clock) that carries it now and those that carried it before (a re-assert
 * after a purge, a move to a fresh client id). The ownership protocol (transaction-follower.ts)
 * reads it to tell a purge from a removal: a present own record deleted by another node is
 * re-asserted while the ledger holds its membership; a removal notice naming any of its records,
 * now or before, makes the ledger forget the membership.
 */
import { FewMap } from './few-map.js'
import type { StoredMembership } from './records.js'
import { setIfUndefined } from 'lib0/map'

/** A membership this node added and still holds. */
export interface OwnMembership {
  /** The record, as stored in the document: the same array as its carrier's Yjs item and index add. */
  readonly stored: StoredMembership
  /** Client and clock of the record that carries it now (-1 before the first). */
  client: number
  clock: number
  /** Whether that record is present in the document. */
  present: boolean
  /** Client and clock of each record that carried it before. */
  past: Array<[number, number]> | null
}

export class OwnLedger {
  /** By dialog id: one membership, or a few. */
  private readonly byDialog = new FewMap<string, OwnMembership>()
  /** By every (client, clock) of a record that carries or carried each. */
  private readonly byRecord = new Map<number, Map<number, OwnMembership>>()

  /** @param onChange told when a membership starts (`held` true) or stops being held (strict admission's ledger). */
  constructor (private readonly onChange: (stored: StoredMembership, held: boolean) => void = () => {}) {}

  /** Number of memberships held. */
  get size (): number { return this.byDialog.size }

  /** The membership (dialog, profile, value) held, if any. */
  find (dialog: string, profile: string, value: string | null): OwnMembership | undefined {
    return this.byDialog.find(dialog, sameProfileValue, profile, value)
  }

  /** The membership the record at (client, clock) carries or carried, if held. */
  at (client: number, clock: number): OwnMembership | undefined { return this.byRecord.get(client)?.get(clock) }

  /** Whether the record at (client, clock) is the one that carries `own` now. */
  static carriedBy (own: OwnMembership, client: number, clock: number): boolean { return own.client === client && own.clock === clock }

  /** Whether any held membership is or was carried by a record of `client`. */
  knowsClient (client: number): boolean { return this.byRecord.has(client) }

  /** Every membership held (a fresh array). */
  all (): OwnMembership[] { return [...this.byDialog.values()] }

  /** Records that `own` is now carried by the present record (client, clock); holds it if new. */
  carry (own: OwnMembership, client: number, clock: number): void {
    if (own.clock >= 0) (own.past ??= []).push([own.client, own.clock])
    own.client = client
    own.clock = clock
    own.present = true
    const s = own.stored
    if (this.find(s[1], s[2], s[3]) !== own) { this.byDialog.add(s[1], own); this.onChange(s, true) }
    const byClock = setIfUndefined(this.byRecord, client, () => new Map())
    byClock.set(clock, own)
  }

  /**
   * Takes a present record of an earlier run of this incarnation (`resume`) as carrying an own
   * membership: a new one, or one already held (then the record is tied to it as a past
   * carrier, so that a notice naming either removes the membership).
   */
  adopt (stored: StoredMembership, client: number, clock: number): void {
    let own = this.find(stored[1], stored[2], stored[3])
    if (own === undefined) {
      own = { stored, client, clock, present: true, past: null }
      this.byDialog.add(stored[1], own)
      this.onChange(stored, true)
    } else {
      (own.past ??= []).push([client, clock])
    }
    const byClock = setIfUndefined(this.byRecord, client, () => new Map())
    byClock.set(clock, own)
  }

  /** Forgets the membership the record at (client, clock) carries or carried (removed on purpose). */
  forget (client: number, clock: number): OwnMembership | undefined {
    const own = this.at(client, clock)
    if (own === undefined) return undefined
    this.byDialog.delete(own.stored[1], own)
    this.onChange(own.stored, false)
    for (const [c, k] of [[own.client, own.clock] as [number, number], ...(own.past ?? [])]) {
      const byClock = this.byRecord.get(c)
      if (byClock === undefined) continue
      byClock.delete(k)
      if (byClock.size === 0) this.byRecord.delete(c)
    }
    return own
  }
}

const sameProfileValue = (o: OwnMembership, profile: string, value: string | null): boolean => o.stored[2] === profile && o.stored[3] === value

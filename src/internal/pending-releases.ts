/**
 * Pending releases: releases (removals) that found nothing here, remembered for a bounded
 * window so that a record of the same dialog arriving from a peer within it is removed as the
 * release would have removed it. This covers a release that reaches this node before the
 * record of the call it ends (a BYE or CANCEL handled on another node than the INVITE, one
 * replication delay after the acquire at most).
 *
 * Local to this replica: never replicated, never persisted (a restart forgets them). Bounded
 * in time (`windowMs` after the release, on the store clock) and in number (`max`; past it the
 * oldest is dropped and counted). A release is remembered with what it selected: the whole
 * dialog, one profile (every value or one), and whether only remote memberships.
 */

/** What a remembered release removes. */
export interface ReleaseSelector {
  /** One profile, or null for every profile of the dialog. */
  readonly profile: string | null
  /** One value of `profile`, or undefined for every value. */
  readonly value?: string | null | undefined
  /** Only remote memberships (`removeRemote`). */
  readonly remoteOnly: boolean
}

interface Entry extends ReleaseSelector {
  readonly dialog: string
  readonly at: number
  /** Dropped, forgotten or pruned: left in the queue until its head passes it. */
  dead: boolean
}

/** The record fields a pending release matches. */
export interface ReleaseTarget {
  readonly dialog: string
  readonly profile: string
  readonly value: string | null
  readonly remote: boolean
}

export class PendingReleases {
  /** Every entry, oldest first, from `head` on; dead ones are skipped (a plain array: O(1) at both ends). */
  private queue: Entry[] = []
  private head = 0
  private live = 0
  private readonly byDialog = new Map<string, Entry[]>()
  /** Entries dropped to keep `max`, since the start. */
  dropped = 0
  /** Adds removed by a pending release, since the start. */
  applied = 0

  constructor (readonly windowMs: number, readonly max: number) {}

  /** Entries held now (some may have outlived the window until the next call that prunes). */
  get size (): number { return this.live }

  /** Remembers a release that found nothing, made at `now`; no-op when the window is 0. */
  remember (dialog: string, selector: ReleaseSelector, now: number): void {
    if (this.windowMs <= 0 || this.max <= 0) return
    this.prune(now)
    const same = this.byDialog.get(dialog)?.find(e => e.profile === selector.profile && e.value === selector.value && e.remoteOnly === selector.remoteOnly)
    if (same !== undefined) this.drop(same) // the same release again: it moves to the newest
    while (this.live >= this.max) {
      const oldest = this.queue[this.head++] as Entry
      if (oldest.dead) continue
      this.drop(oldest)
      this.dropped++
    }
    const e: Entry = { dialog, at: now, profile: selector.profile, value: selector.value, remoteOnly: selector.remoteOnly, dead: false }
    this.queue.push(e)
    this.live++
    const list = this.byDialog.get(dialog)
    if (list === undefined) this.byDialog.set(dialog, [e])
    else list.push(e)
    this.compact()
  }

  /** Whether some entry names `dialog` (cheap: one map lookup; the window is checked by `matches`). */
  names (dialog: string): boolean { return this.byDialog.has(dialog) }

  /** Whether a release remembered within the window at `now` removes a record with these fields. */
  matches (t: ReleaseTarget, now: number): boolean {
    this.prune(now)
    const list = this.byDialog.get(t.dialog)
    if (list === undefined) return false
    return list.some(e => now < e.at + this.windowMs && (e.profile === null || e.profile === t.profile) &&
      (e.value === undefined || e.value === t.value) && (!e.remoteOnly || t.remote))
  }

  /** Forgets every entry of `dialog` (this node adds it again: its own write is the newer intent). */
  forgetDialog (dialog: string): void {
    const list = this.byDialog.get(dialog)
    if (list === undefined) return
    for (const e of list) { e.dead = true; this.live-- }
    this.byDialog.delete(dialog)
  }

  /** Drops the entries whose window has passed: held while `now < at + windowMs`. */
  private prune (now: number): void {
    while (this.head < this.queue.length) {
      const e = this.queue[this.head] as Entry
      if (!e.dead) {
        if (now < e.at + this.windowMs) break
        this.drop(e)
      }
      this.head++
    }
    this.compact()
  }

  /** Frees the queue's passed slots once they are most of it. */
  private compact (): void {
    if (this.head === this.queue.length) { this.queue = []; this.head = 0 } else if (this.head > 1024 && this.head * 2 > this.queue.length) {
      this.queue = this.queue.slice(this.head)
      this.head = 0
    }
  }

  private drop (e: Entry): void {
    e.dead = true
    this.live--
    const list = this.byDialog.get(e.dialog)
    if (list === undefined) return
    const i = list.indexOf(e)
    if (i >= 0) list.splice(i, 1)
    if (list.length === 0) this.byDialog.delete(e.dialog)
  }
}

import { randomBytes } from 'node:crypto'

/** Timestamps are stored as ISO-8601 UTC text (portable across SQLite and PostgreSQL, and sortable). */
export function nowIso(): string {
  return new Date().toISOString()
}

/** Job ids look like the real cloud's: 32 lower-case hex characters (time-ordered, see `uuidV7`). */
export function newJobId(): string {
  return newTimeOrderedId().replaceAll('-', '')
}

const HEX = '0123456789abcdef'

/**
 * A UUID in version 7 layout: 48 bits of milliseconds, a 12-bit counter that keeps ids of one
 * millisecond in order, then 62 random bits (`randomHex`, 16 hex digits: 2 bits of the first,
 * all of the rest). Ids made one after another sort after each other, so the rows they key
 * append to the end of their indexes instead of landing on a random page each: a write touches
 * (and a commit writes) fewer pages.
 */
export function uuidV7(ms: number, counter: number, randomHex: string): string {
  const time = ms.toString(16).padStart(12, '0')
  const variant = HEX[8 | (Number.parseInt(randomHex[0]!, 16) & 3)]
  return `${time.slice(0, 8)}-${time.slice(8)}-7${counter.toString(16).padStart(3, '0')}-${variant}${randomHex.slice(1, 4)}-${randomHex.slice(4, 16)}`
}

let lastMs = 0
let counter = 0

/** A new time-ordered id (`uuidV7` with the clock and crypto randomness); later calls sort after earlier ones in this process. */
export function newTimeOrderedId(): string {
  const now = Date.now()
  if (now > lastMs) {
    lastMs = now
    counter = 0
  } else if (++counter === 4096) {
    // More than 4,096 ids in one millisecond: borrow the next millisecond.
    lastMs++
    counter = 0
  }
  return uuidV7(lastMs, counter, randomBytes(8).toString('hex'))
}

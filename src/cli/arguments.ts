/**
 * Parsers of command-line values shared by the `ecsd` commands: each answers the parsed value or
 * throws commander's InvalidArgumentError, which commander prints as one line naming the flag.
 */
import { InvalidArgumentError } from 'commander'
import { HOST_NAME_PATTERN } from '../domain/host.ts'

/** An integer from 1 to `max`. */
export function positiveInt(max: number): (value: string) => number {
  return (value) => {
    const n = Number(value)
    if (!/^\d+$/.test(value) || !Number.isSafeInteger(n) || n < 1 || n > max) throw new InvalidArgumentError(`not an integer from 1 to ${max}`)
    return n
  }
}

/** A whole number, 0 or more. */
export function nonNegativeInt(value: string): number {
  const n = Number(value)
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(n)) throw new InvalidArgumentError('not a whole number (0 or more)')
  return n
}

/** Text of 1 to `maxLength` characters. */
export function boundedText(maxLength: number): (value: string) => string {
  return (value) => {
    if (value.length === 0 || value.length > maxLength) throw new InvalidArgumentError(`must be 1 to ${maxLength} characters`)
    return value
  }
}

/** A host name as the hosts API accepts it. */
export function hostName(value: string): string {
  if (!new RegExp(HOST_NAME_PATTERN).test(value)) {
    throw new InvalidArgumentError('a host name is 1 to 63 letters, digits, ".", "_" or "-", starting with a letter or digit')
  }
  return value
}

/** An ISO 8601 time with its zone (a bare local time would mean different things on different machines). */
export function isoTime(value: string): string {
  const ms = Date.parse(value)
  if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$/.test(value) || Number.isNaN(ms)) {
    throw new InvalidArgumentError('not an ISO 8601 time with a zone, e.g. 2026-07-01T22:00:00Z')
  }
  return new Date(ms).toISOString()
}

const UNIT_MS = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const

/** A time in the past: ISO 8601 with a zone, or how long ago (`90s`, `15m`, `2h`, `7d`). */
export function pastTime(value: string): string {
  const ago = /^(\d{1,9})([smhd])$/.exec(value)
  if (ago) return new Date(Date.now() - Number(ago[1]) * UNIT_MS[ago[2] as keyof typeof UNIT_MS]).toISOString()
  try {
    return isoTime(value)
  } catch {
    throw new InvalidArgumentError('not a time: ISO 8601 with a zone (2026-07-01T22:00:00Z) or how long ago (90s, 15m, 2h, 7d)')
  }
}

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

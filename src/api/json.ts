/** Deepest nesting of objects and arrays a request body may have. */
export const MAX_JSON_DEPTH = 32

/**
 * Whether a JSON text nests objects/arrays deeper than `max`, found by one scan of the text
 * before it is parsed: a deeply nested body is refused cheaply instead of being parsed and
 * walked by validators that recurse.
 */
export function jsonDepthExceeds(text: string, max: number): boolean {
  let depth = 0
  let inString = false
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (inString) {
      if (c === 0x5c) i++
      else if (c === 0x22) inString = false
    } else if (c === 0x22) {
      inString = true
    } else if (c === 0x7b || c === 0x5b) {
      if (++depth > max) return true
    } else if (c === 0x7d || c === 0x5d) {
      depth--
    }
  }
  return false
}

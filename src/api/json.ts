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

/**
 * Why a request's path parameters, query or body text cannot be stored, or undefined. A NUL
 * character is valid JSON and valid in a URL, but PostgreSQL text cannot hold it; it is refused
 * up front, the same way on both databases, instead of failing deep inside a query.
 */
export function unstorableText(parts: { params?: unknown; query?: unknown; bodyText?: string }): string | undefined {
  for (const [part, value] of [['path', parts.params], ['query string', parts.query]] as const) {
    if (value !== null && typeof value === 'object' && Object.entries(value).some(([k, v]) => k.includes('\u0000') || [v].flat().some((x) => typeof x === 'string' && x.includes('\u0000')))) {
      return `the ${part} contains a NUL character`
    }
  }
  if (parts.bodyText !== undefined && (parts.bodyText.includes('\u0000') || /\\u0000/i.test(parts.bodyText))) {
    return 'the request body contains a NUL character'
  }
  return undefined
}

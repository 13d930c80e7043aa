/**
 * SDK-HMAC-SHA256 request signing in the browser, byte for byte as ecsd verifies it
 * (src/api/auth/signature.ts, which follows the Huawei Cloud SDK): the canonical request is the
 * method, the path with each segment RFC 3986-encoded and a trailing '/', the query decoded,
 * sorted and re-encoded, the signed headers' lines, their names, and the body's SHA-256; the
 * signature is the hex HMAC-SHA256 of "SDK-HMAC-SHA256\n<date>\n<hash of the canonical request>"
 * keyed with the secret key itself. WebCrypto does the hashing, so it needs a secure context
 * (HTTPS, or http://localhost / 127.0.0.1). No DOM types: the server's tests run it in Node.
 */

/** The only scheme ecsd accepts. */
export const SIGNING_ALGORITHM = 'SDK-HMAC-SHA256'

/** What one signed request needs. */
export interface SigningInput {
  method: string
  /** Path and query exactly as they will be sent (already percent-encoded). */
  url: string
  /** `host[:port]` as the browser will send it (`location.host`). */
  host: string
  /** The body as sent; undefined for none. */
  body?: string | undefined
  accessKey: string
  secretKey: string
  /** Signing time; now by default. */
  date?: Date
}

const encoder = new TextEncoder()

/** Whether this page may sign: WebCrypto exists only in secure contexts. */
export function canSign(): boolean {
  return typeof globalThis.crypto?.subtle?.importKey === 'function'
}

function hex(bytes: ArrayBuffer): string {
  return Array.from(new Uint8Array(bytes), (b) => b.toString(16).padStart(2, '0')).join('')
}

async function sha256Hex(text: string): Promise<string> {
  return hex(await crypto.subtle.digest('SHA-256', encoder.encode(text)))
}

function isUnreserved(byte: number): boolean {
  return (byte >= 0x41 && byte <= 0x5a) || (byte >= 0x61 && byte <= 0x7a) || (byte >= 0x30 && byte <= 0x39) || byte === 0x2d || byte === 0x2e || byte === 0x5f || byte === 0x7e
}

/** RFC 3986 encoding of the UTF-8 bytes: everything but A-Z a-z 0-9 - . _ ~ (so '%' too). */
export function rfc3986Encode(value: string): string {
  let out = ''
  for (const byte of encoder.encode(value)) out += isUnreserved(byte) ? String.fromCharCode(byte) : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`
  return out
}

function decodeComponent(raw: string): string {
  return decodeURIComponent(raw.replaceAll('+', ' '))
}

function byCodeUnits(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0
}

/** The canonical request ecsd rebuilds for `signedHeaders` (lower-case names, sorted). */
export async function canonicalRequest(method: string, url: string, headers: Record<string, string>, signedHeaders: readonly string[], body: string): Promise<string> {
  const q = url.indexOf('?')
  const rawPath = q === -1 ? url : url.slice(0, q)
  const rawQuery = q === -1 ? '' : url.slice(q + 1)
  const encodedPath = rawPath.split('/').map(rfc3986Encode).join('/')
  const pairs = rawQuery
    .split('&')
    .filter((part) => part !== '')
    .map((part): [string, string] => {
      const eq = part.indexOf('=')
      return eq === -1 ? [decodeComponent(part), ''] : [decodeComponent(part.slice(0, eq)), decodeComponent(part.slice(eq + 1))]
    })
    .sort((x, y) => byCodeUnits(x[0], y[0]) || byCodeUnits(x[1], y[1]))
  return [
    method,
    encodedPath.endsWith('/') ? encodedPath : `${encodedPath}/`,
    pairs.map(([k, v]) => `${rfc3986Encode(k)}=${rfc3986Encode(v)}`).join('&'),
    signedHeaders.map((n) => `${n}:${headers[n] ?? ''}\n`).join(''),
    signedHeaders.join(';'),
    await sha256Hex(body),
  ].join('\n')
}

/** `YYYYMMDDTHHmmssZ` in UTC. */
export function sdkDate(date: Date): string {
  return date.toISOString().replace(/\.\d{3}Z$/, 'Z').replaceAll('-', '').replaceAll(':', '')
}

/**
 * The headers that sign a request: `X-Sdk-Date` and `Authorization`, plus `Content-Type` when
 * there is a body. `host` is signed but not returned: the browser sends it itself.
 */
export async function signRequest(input: SigningInput): Promise<Record<string, string>> {
  const date = sdkDate(input.date ?? new Date())
  const headers: Record<string, string> = { host: input.host, 'x-sdk-date': date }
  if (input.body !== undefined) headers['content-type'] = 'application/json'
  const signed = Object.keys(headers).sort(byCodeUnits)
  const canonical = await canonicalRequest(input.method, input.url, headers, signed, input.body ?? '')
  const key = await crypto.subtle.importKey('raw', encoder.encode(input.secretKey), { name: 'HMAC', hash: 'SHA-256' }, false, ['sign'])
  const toSign = `${SIGNING_ALGORITHM}\n${date}\n${await sha256Hex(canonical)}`
  const signature = hex(await crypto.subtle.sign('HMAC', key, encoder.encode(toSign)))
  const out: Record<string, string> = {
    'X-Sdk-Date': date,
    Authorization: `${SIGNING_ALGORITHM} Access=${input.accessKey}, SignedHeaders=${signed.join(';')}, Signature=${signature}`,
  }
  if (input.body !== undefined) out['Content-Type'] = 'application/json'
  return out
}

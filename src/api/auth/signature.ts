/**
 * Huawei Cloud "SDK-HMAC-SHA256" request signing, server side.
 *
 * The canonical request has to be rebuilt byte for byte the way the official Node SDK
 * (`@huaweicloud/huaweicloud-sdk-core` `auth/AKSKSigner.js`) builds it, including its quirks
 * (raw path segments encoded without decoding, a trailing '/' on the path, an empty line before
 * SignedHeaders), because an unmodified SDK client is the thing this service must accept.
 * Everything here is pure so that it can be tested against fixed vectors and reused by clients.
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto'

/** What the verifier needs from an HTTP request, exactly as it arrived on the wire. */
export interface WireRequest {
  /** The request method as received; it is signed verbatim. */
  method: string
  /** Raw request target as received: path plus optional '?query', NOT decoded, because the SDK signs the encoded path form. */
  url: string
  /** Node-style lower-cased header names; arrays (repeated headers) are signed joined with ','. */
  headers: Record<string, string | string[] | undefined>
  /** Raw body bytes, undefined when none; the payload hash covers these exact bytes. */
  body: Buffer | undefined
}

/** The three fields of an `SDK-HMAC-SHA256` Authorization header, kept apart so the caller can look up the secret by access key before verifying. */
export interface ParsedAuthorization {
  accessKey: string
  signedHeaders: string[]
  signature: string
}

/** The only scheme the SDK uses unless a derived-auth service name is configured, so it is the only one accepted. */
export const SIGNING_ALGORITHM = 'SDK-HMAC-SHA256'

/** Huawei's API gateway tolerates this much difference between X-Sdk-Date and its own clock; matching it keeps client behaviour identical to the real cloud. */
export const MAX_CLOCK_SKEW_MS = 15 * 60 * 1000

/** Outcome of a verification; failures carry a reason meant to be shown to the client author so that they can fix their request. */
export type SignatureCheck = { ok: true } | { ok: false; reason: string }

const SDK_DATE_HEADER = 'x-sdk-date'
const CONTENT_SHA256_HEADER = 'x-sdk-content-sha256'
const REQUIRED_SIGNED_HEADERS = ['host', SDK_DATE_HEADER] as const
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9a-z-]+$/
const HEX_SIGNATURE = /^[0-9a-f]{64}$/
const SDK_DATE = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/

function sha256Hex(data: string | Buffer): string {
  return createHash('sha256').update(data).digest('hex')
}

function isUnreserved(byte: number): boolean {
  return (
    (byte >= 0x41 && byte <= 0x5a) ||
    (byte >= 0x61 && byte <= 0x7a) ||
    (byte >= 0x30 && byte <= 0x39) ||
    byte === 0x2d ||
    byte === 0x2e ||
    byte === 0x5f ||
    byte === 0x7e
  )
}

function rfc3986Encode(value: string): string {
  let out = ''
  for (const byte of Buffer.from(value, 'utf8')) {
    out += isUnreserved(byte)
      ? String.fromCharCode(byte)
      : '%' + byte.toString(16).toUpperCase().padStart(2, '0')
  }
  return out
}

function splitTarget(url: string): { path: string; query: string } {
  const q = url.indexOf('?')
  return q === -1 ? { path: url, query: '' } : { path: url.slice(0, q), query: url.slice(q + 1) }
}

function canonicalUri(rawPath: string): string {
  const encoded = rawPath.split('/').map(rfc3986Encode).join('/')
  return encoded.endsWith('/') ? encoded : encoded + '/'
}

function decodeQueryComponent(raw: string): string | undefined {
  try {
    return decodeURIComponent(raw.replaceAll('+', ' '))
  } catch {
    return undefined
  }
}

type QueryPairs = { pairs: Array<[string, string]>; malformed: string | undefined }

function parseQuery(rawQuery: string): QueryPairs {
  const pairs: Array<[string, string]> = []
  let malformed: string | undefined
  for (const part of rawQuery.split('&')) {
    if (part === '') continue
    const eq = part.indexOf('=')
    const rawKey = eq === -1 ? part : part.slice(0, eq)
    const rawValue = eq === -1 ? '' : part.slice(eq + 1)
    const key = decodeQueryComponent(rawKey)
    const value = decodeQueryComponent(rawValue)
    if (key === undefined || value === undefined) malformed ??= part
    pairs.push([key ?? rawKey, value ?? rawValue])
  }
  return { pairs, malformed }
}

function compareCodeUnits(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0
}

function canonicalQuery(pairs: ReadonlyArray<readonly [string, string]>): string {
  return [...pairs]
    .sort((x, y) => compareCodeUnits(x[0], y[0]) || compareCodeUnits(x[1], y[1]))
    .map(([k, v]) => `${rfc3986Encode(k)}=${rfc3986Encode(v)}`)
    .join('&')
}

function headerValue(headers: WireRequest['headers'], name: string): string | undefined {
  const value = headers[name]
  return Array.isArray(value) ? value.join(',') : value
}

function payloadHash(req: WireRequest, lowerSignedHeaders: readonly string[]): string {
  if (lowerSignedHeaders.includes(CONTENT_SHA256_HEADER)) {
    const declared = headerValue(req.headers, CONTENT_SHA256_HEADER)
    if (declared) return declared
  }
  return sha256Hex(req.body ?? Buffer.alloc(0))
}

/**
 * Splits the Authorization header into its parts, or explains what is wrong with it.
 * Only the exact shape the SDK emits is accepted (whitespace around the commas aside), because
 * anything looser would let differently-built headers verify here yet fail on the real cloud.
 */
export function parseAuthorization(header: string | undefined): ParsedAuthorization | { error: string } {
  if (header === undefined || header.trim() === '') {
    return { error: `missing Authorization header; expected "${SIGNING_ALGORITHM} Access=<AK>, SignedHeaders=<a;b;c>, Signature=<hex>"` }
  }
  const value = header.trim()
  const space = value.search(/\s/)
  const scheme = space === -1 ? value : value.slice(0, space)
  if (scheme !== SIGNING_ALGORITHM) {
    return { error: `unsupported Authorization scheme "${scheme}"; only ${SIGNING_ALGORITHM} is accepted (derived V11-HMAC-SHA256 signing is not supported)` }
  }
  if (space === -1) {
    return { error: `Authorization header has no parameters after "${SIGNING_ALGORITHM}"; expected "Access=<AK>, SignedHeaders=<a;b;c>, Signature=<hex>"` }
  }
  const parts = value.slice(space).split(',').map((p) => p.trim())
  const expected = ['Access', 'SignedHeaders', 'Signature'] as const
  if (parts.length !== expected.length) {
    return { error: `Authorization header must have exactly 3 comma-separated parameters (Access, SignedHeaders, Signature), got ${parts.length}` }
  }
  const values: string[] = []
  for (const [i, name] of expected.entries()) {
    const part = parts[i] ?? ''
    const prefix = `${name}=`
    if (!part.startsWith(prefix)) {
      return { error: `Authorization parameter ${i + 1} must be "${prefix}…", got "${part}"` }
    }
    values.push(part.slice(prefix.length))
  }
  const [accessKey = '', signedHeaderList = '', signature = ''] = values
  if (accessKey === '' || /\s/.test(accessKey)) {
    return { error: 'Authorization Access (the access key id) must be non-empty and contain no whitespace' }
  }
  const signedHeaders = signedHeaderList.split(';')
  const badName = signedHeaders.find((n) => !HEADER_NAME.test(n))
  if (badName !== undefined) {
    return { error: `Authorization SignedHeaders must be lower-case header names separated by ';', got "${signedHeaderList}" (bad entry "${badName}")` }
  }
  if (!HEX_SIGNATURE.test(signature)) {
    return { error: 'Authorization Signature must be 64 lower-case hex digits (hex-encoded HMAC-SHA256)' }
  }
  return { accessKey, signedHeaders, signature }
}

/**
 * Rebuilds the canonical request the client must have signed.
 *
 * Header lines are sorted by UTF-16 code unit. The Node SDK orders them with localeCompare, which
 * only differs for names containing punctuation other than '-', and no SDK operation sends such
 * headers. `x-sdk-content-sha256` replaces the body hash only when it is itself signed; otherwise
 * anyone could swap the body and pin the old hash in an unsigned header. A query with a malformed
 * percent-escape is not decodable the way the SDK's would be, so that pair is encoded as received;
 * `verifySignature` rejects such requests with its own reason before relying on this.
 */
export function canonicalRequest(req: WireRequest, signedHeaders: readonly string[]): string {
  const { path, query } = splitTarget(req.url)
  const lowerNames = signedHeaders.map((n) => n.toLowerCase())
  const headerLines = [...lowerNames]
    .sort(compareCodeUnits)
    .map((n) => `${n}:${headerValue(req.headers, n) ?? ''}\n`)
    .join('')
  return [
    req.method,
    canonicalUri(path),
    canonicalQuery(parseQuery(query).pairs),
    headerLines,
    signedHeaders.join(';'),
    payloadHash(req, lowerNames),
  ].join('\n')
}

/** The string the HMAC covers; exposed so that mismatches can be debugged step by step against a client's own output. */
export function stringToSign(sdkDate: string, canonical: string): string {
  return `${SIGNING_ALGORITHM}\n${sdkDate}\n${sha256Hex(canonical)}`
}

/** Hex HMAC-SHA256 keyed with the secret key string itself; unlike AWS SigV4 the SDK derives no per-date key. */
export function computeSignature(secretKey: string, sdkDate: string, canonical: string): string {
  return createHmac('sha256', secretKey).update(stringToSign(sdkDate, canonical)).digest('hex')
}

/** Parses X-Sdk-Date strictly (UTC `YYYYMMDDTHHmmssZ`), rejecting out-of-range fields that Date would silently roll over. */
export function parseSdkDate(value: string): Date | undefined {
  const m = SDK_DATE.exec(value)
  if (!m) return undefined
  const [year, month, day, hour, minute, second] = m.slice(1).map(Number) as [number, number, number, number, number, number]
  const date = new Date(Date.UTC(year, month - 1, day, hour, minute, second))
  const roundTrips =
    date.getUTCFullYear() === year &&
    date.getUTCMonth() === month - 1 &&
    date.getUTCDate() === day &&
    date.getUTCHours() === hour &&
    date.getUTCMinutes() === minute &&
    date.getUTCSeconds() === second
  return roundTrips ? date : undefined
}

function formatSdkDate(date: Date): string {
  return date.toISOString().replace(/\.\d{3}Z$/, 'Z').replaceAll('-', '').replaceAll(':', '')
}

function describeDuration(ms: number): string {
  const totalSeconds = Math.ceil(ms / 1000)
  const minutes = Math.floor(totalSeconds / 60)
  const seconds = totalSeconds % 60
  return `${minutes}m${seconds}s`
}

/**
 * Verifies a parsed Authorization against the request with the credential's secret; constant-time compare.
 * Policy checks (required signed headers, clock skew, missing headers, undecodable query) come first
 * so the client is told the specific problem instead of a bare mismatch; on a mismatch the server's
 * canonical request is returned, as Huawei's gateway does, so a client author can diff it with theirs.
 */
export function verifySignature(req: WireRequest, auth: ParsedAuthorization, secretKey: string, now: Date): SignatureCheck {
  const lowerNames = auth.signedHeaders.map((n) => n.toLowerCase())
  for (const required of REQUIRED_SIGNED_HEADERS) {
    if (!lowerNames.includes(required)) {
      return { ok: false, reason: `SignedHeaders "${auth.signedHeaders.join(';')}" must include "${required}"; sign the host and x-sdk-date headers` }
    }
  }
  const rawDate = headerValue(req.headers, SDK_DATE_HEADER)
  if (rawDate === undefined || rawDate === '') {
    return { ok: false, reason: 'missing X-Sdk-Date header; send the signing time as UTC YYYYMMDDTHHmmssZ' }
  }
  const date = parseSdkDate(rawDate)
  if (date === undefined) {
    return { ok: false, reason: `malformed X-Sdk-Date "${rawDate}"; expected UTC YYYYMMDDTHHmmssZ, e.g. 20240101T000000Z` }
  }
  const skew = date.getTime() - now.getTime()
  if (Math.abs(skew) > MAX_CLOCK_SKEW_MS) {
    return {
      ok: false,
      reason:
        `X-Sdk-Date ${rawDate} is ${describeDuration(Math.abs(skew))} ${skew < 0 ? 'behind' : 'ahead of'} server time ` +
        `${now.toISOString()}; the allowed window is ±${describeDuration(MAX_CLOCK_SKEW_MS)}. Check the client clock and sign each request just before sending it`,
    }
  }
  const absent = lowerNames.find((n) => headerValue(req.headers, n) === undefined)
  if (absent !== undefined) {
    return { ok: false, reason: `header "${absent}" is listed in SignedHeaders but absent from the request` }
  }
  const { malformed } = parseQuery(splitTarget(req.url).query)
  if (malformed !== undefined) {
    return { ok: false, reason: `query parameter "${malformed}" contains a malformed percent-escape; percent-encode the query as UTF-8` }
  }
  const canonical = canonicalRequest(req, auth.signedHeaders)
  const expected = Buffer.from(computeSignature(secretKey, rawDate, canonical), 'utf8')
  const given = Buffer.from(auth.signature, 'utf8')
  if (expected.length !== given.length || !timingSafeEqual(expected, given)) {
    return { ok: false, reason: `verify aksk signature fail, canonicalRequest:${canonical.replaceAll('\n', '|')}` }
  }
  return { ok: true }
}

/**
 * Signs a request the way the official SDK does; returns the headers to add (X-Sdk-Date, Authorization). Used by tests, benchmarks and any ecsd client.
 *
 * Every header passed in is signed, as the SDK signs every header it has at signing time, so pass
 * only headers that will reach the server unchanged (not User-Agent if a proxy may rewrite it).
 * A `host` header is required because the verifier insists on it. Throws on input that could only
 * produce a request the verifier rejects, since that is a bug in the caller.
 */
export function signRequest(input: {
  method: string
  url: string
  headers: Record<string, string>
  body?: string | Buffer
  accessKey: string
  secretKey: string
  date?: Date
}): { 'X-Sdk-Date': string; Authorization: string } {
  const headers: Record<string, string> = {}
  for (const [name, value] of Object.entries(input.headers)) {
    const lower = name.toLowerCase()
    if (lower in headers) throw new TypeError(`signRequest: header "${name}" given more than once`)
    if (lower === SDK_DATE_HEADER || lower === 'authorization') {
      throw new TypeError(`signRequest: do not pass "${name}"; it is produced by signRequest`)
    }
    headers[lower] = value
  }
  if (!/^[^\s,]+$/.test(input.accessKey)) throw new TypeError('signRequest: accessKey must be non-empty without whitespace or commas')
  if (headers['host'] === undefined) throw new TypeError('signRequest: a "host" header is required; it must be signed')
  const { malformed } = parseQuery(splitTarget(input.url).query)
  if (malformed !== undefined) throw new TypeError(`signRequest: query parameter "${malformed}" has a malformed percent-escape`)

  const sdkDate = formatSdkDate(input.date ?? new Date())
  headers[SDK_DATE_HEADER] = sdkDate
  const signedHeaders = Object.keys(headers).sort(compareCodeUnits)
  const body = input.body === undefined ? undefined : Buffer.isBuffer(input.body) ? input.body : Buffer.from(input.body, 'utf8')
  const canonical = canonicalRequest({ method: input.method, url: input.url, headers, body }, signedHeaders)
  const signature = computeSignature(input.secretKey, sdkDate, canonical)
  return {
    'X-Sdk-Date': sdkDate,
    Authorization: `${SIGNING_ALGORITHM} Access=${input.accessKey}, SignedHeaders=${signedHeaders.join(';')}, Signature=${signature}`,
  }
}

/** A credential as a signing client holds it. */
export interface SigningCredential {
  accessKey: string
  secretKey: string
  projectId: string
}

/**
 * Every header the official SDK sends for a JSON API call — its signed set (`host`,
 * `content-type: application/json`, `x-project-id`, any `extra` header such as
 * `x-client-token`, then `X-Sdk-Date`) and `Authorization`. `extra` may also replace a default
 * (a test sending another content type). The one way tests, benchmarks and clients build a
 * request like the SDK's.
 */
export function sdkHeaders(input: {
  method: string
  url: string
  host: string
  body?: string | undefined
  credential: SigningCredential
  extra?: Record<string, string> | undefined
  date?: Date | undefined
}): Record<string, string> {
  const headers: Record<string, string> = {
    host: input.host,
    'content-type': 'application/json',
    'x-project-id': input.credential.projectId,
    ...input.extra,
  }
  const signed = signRequest({
    method: input.method,
    url: input.url,
    headers,
    ...(input.body === undefined ? {} : { body: input.body }),
    accessKey: input.credential.accessKey,
    secretKey: input.credential.secretKey,
    ...(input.date === undefined ? {} : { date: input.date }),
  })
  return { ...headers, ...signed }
}

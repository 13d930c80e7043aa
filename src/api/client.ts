/**
 * The client side of ecsd's API, for ecsd's own programs that call a running server over the
 * network — the `--endpoint` mode of the CLI, the host agent: signed requests over http:// or
 * https://, the server verified against a CA file when one is given, and every way of getting
 * no usable answer turned into one line that says what to do.
 *
 * It is built on the `undici` package (its `fetch` and `Agent`) rather than Node's global
 * fetch, because a CA can only be given per connection pool (`Agent({ connect: { ca } })`), and
 * an Agent of one undici version passed to the fetch Node bundles (another version) is not a
 * supported pairing; node:https would take `ca` per request, but then timeouts, keep-alive and
 * bodies would all be written here by hand.
 */
import { X509Certificate } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { Agent, fetch } from 'undici'
import { ConfigError } from '../config.ts'
import { sdkHeaders, signRequest } from './auth/signature.ts'

/** A credential a client signs with; `projectId` for a tenant's, none for an operator's or a host agent's. */
export interface ClientCredential {
  accessKey: string
  secretKey: string
  /** Sent as `X-Project-Id`, as the SDK does; the server then checks it is the credential's project. */
  projectId?: string | undefined
}

/** Where and how an `EcsdClient` calls. */
export interface EcsdClientOptions {
  /** `http://` or `https://` base URL; a path prefix (a load balancer's route) is kept and signed. */
  endpoint: string | URL
  credential: ClientCredential
  /**
   * PEM file of the CA(s) that signed the server's certificate (`--ca FILE` / `ECSD_CA_FILE`):
   * only these are trusted for it. Undefined: Node's bundled public roots. Only for https://.
   */
  caFile?: string | undefined
  /** How long one request may take, connecting to last byte of the answer (default 60 s). */
  timeoutMs?: number | undefined
}

/** One answer of the server, whatever its status. */
export interface ApiAnswer<T = unknown> {
  status: number
  /** The parsed JSON body; undefined when the body is empty. */
  body: T | undefined
  requestId: string | null
}

/** Per request: more headers to sign and send, a caller's abort, another timeout. */
export interface RequestOptions {
  /** Signed with the rest (e.g. `x-client-token`); they must reach the server unchanged. */
  headers?: Record<string, string> | undefined
  signal?: AbortSignal | undefined
  timeoutMs?: number | undefined
}

/**
 * No usable answer (unreachable, TLS refused, timed out, not JSON), or, from `call`, an error
 * answer; the message is one line for a person. `status` is the answer's status, if there was one.
 */
export class EndpointError extends Error {
  override name = 'EndpointError'
  constructor(
    message: string,
    readonly status?: number,
  ) {
    super(message)
  }
}

/** How long one request may take unless told otherwise. */
export const DEFAULT_REQUEST_TIMEOUT_MS = 60_000

/**
 * Reads a CA file for `--ca` / `ECSD_CA_FILE`: PEM, one or more certificates. A file that cannot
 * be read or holds no certificate is a ConfigError, said before any connection is tried.
 */
export function readCaFile(file: string): string {
  let pem: string
  try {
    pem = readFileSync(file, 'utf8')
  } catch (err) {
    // Node's message ends with ", open '<file>'": the file is named already.
    throw new ConfigError(`--ca / ECSD_CA_FILE: cannot read ${file} (${(err as Error).message.replace(/, \w+ '.*'$/, '')})`)
  }
  try {
    // Parses the first certificate; TLS reads every one in the file.
    new X509Certificate(pem)
  } catch {
    throw new ConfigError(`--ca / ECSD_CA_FILE: ${file} is not a PEM certificate (-----BEGIN CERTIFICATE-----)`)
  }
  return pem
}

/**
 * A signed-request client of one ecsd endpoint. Keeps its connections open between requests
 * (an agent's heartbeats reuse one TLS session); `close()` when done, or the process stays up
 * until they time out.
 */
export class EcsdClient {
  /** The endpoint, parsed. */
  readonly endpoint: URL
  private readonly credential: ClientCredential
  private readonly caFile: string | undefined
  private readonly timeoutMs: number
  private readonly dispatcher: Agent

  /** Throws ConfigError for an endpoint that is not http(s)://, an unusable CA file, or a CA for an http:// endpoint. */
  constructor(options: EcsdClientOptions) {
    const given = options.endpoint
    const endpoint = given instanceof URL ? given : URL.canParse(given) ? new URL(given) : undefined
    if (endpoint === undefined || (endpoint.protocol !== 'http:' && endpoint.protocol !== 'https:')) {
      throw new ConfigError(`the endpoint must be an http:// or https:// URL, got "${String(options.endpoint)}"`)
    }
    if (options.caFile !== undefined && endpoint.protocol !== 'https:') {
      // A CA given for plain HTTP verifies nothing; saying so beats a silent false sense of security.
      throw new ConfigError(`--ca / ECSD_CA_FILE verifies an https:// endpoint, but ${endpoint.origin} is plain http://`)
    }
    const ca = options.caFile === undefined ? undefined : readCaFile(options.caFile)
    this.endpoint = endpoint
    this.credential = options.credential
    this.caFile = options.caFile
    this.timeoutMs = options.timeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS
    this.dispatcher = new Agent(ca === undefined ? {} : { connect: { ca } })
  }

  /**
   * Sends a signed request and answers whatever the server answered, error statuses included.
   * `path` is the API path with any query (`/admin/hosts`, `/v1/{project}/jobs/{id}`), after the
   * endpoint's own path; `body` is sent as JSON. With a project id the headers are exactly the
   * SDK's (`sdkHeaders`); without, only `host`, `content-type` (with a body) and `headers` are
   * signed. Throws EndpointError when there is no answer, or one that is not JSON.
   */
  async request<T = unknown>(method: string, path: string, body?: unknown, options: RequestOptions = {}): Promise<ApiAnswer<T>> {
    const fullPath = `${this.endpoint.pathname.replace(/\/+$/, '')}${path}`
    const payload = body === undefined ? undefined : JSON.stringify(body)
    const host = this.endpoint.host
    const { projectId } = this.credential
    const headers = projectId === undefined
      ? this.signedWithoutProject(method, fullPath, host, payload, options.headers)
      : sdkHeaders({ method, url: fullPath, host, body: payload, credential: { ...this.credential, projectId }, extra: options.headers })
    const timeout = AbortSignal.timeout(options.timeoutMs ?? this.timeoutMs)
    const signal = options.signal === undefined ? timeout : AbortSignal.any([timeout, options.signal])
    let status: number
    let text: string
    let requestId: string | null
    try {
      const res = await fetch(`${this.endpoint.origin}${fullPath}`, {
        method, headers, signal, dispatcher: this.dispatcher, ...(payload === undefined ? {} : { body: payload }),
      })
      status = res.status
      requestId = res.headers.get('x-request-id')
      text = await res.text()
    } catch (err) {
      // The caller's own abort is theirs to handle, not a failure of the endpoint.
      if (options.signal?.aborted && !timeout.aborted) throw err
      throw new EndpointError(this.failure(err, options.timeoutMs ?? this.timeoutMs))
    }
    try {
      return { status, body: text === '' ? undefined : (JSON.parse(text) as T), requestId }
    } catch {
      throw new EndpointError(`${method} ${fullPath} answered ${status} with a body that is not JSON; is ${this.endpoint.origin} an ecsd endpoint?`, status)
    }
  }

  /** `request`, answering the body of a 2xx answer; any other answer is an EndpointError with the server's message. */
  async call<T>(method: string, path: string, body?: unknown, options: RequestOptions = {}): Promise<T> {
    const answer = await this.request<T>(method, path, body, options)
    if (answer.status < 200 || answer.status > 299) {
      throw new EndpointError(errorMessage(answer.body) ?? `${method} ${path} answered ${answer.status}`, answer.status)
    }
    return answer.body as T
  }

  /** Closes the kept connections. */
  async close(): Promise<void> {
    await this.dispatcher.close()
  }

  private signedWithoutProject(method: string, url: string, host: string, payload: string | undefined, extra: Record<string, string> | undefined): Record<string, string> {
    const headers: Record<string, string> = { host, ...(payload === undefined ? {} : { 'content-type': 'application/json' }), ...extra }
    const signed = signRequest({ method, url, headers, ...(payload === undefined ? {} : { body: payload }), accessKey: this.credential.accessKey, secretKey: this.credential.secretKey })
    return { ...headers, ...signed }
  }

  /** Why a request got no answer, in one line that says what to do (fetch hides the socket's error in `cause`). */
  private failure(err: unknown, timeoutMs: number): string {
    const origin = this.endpoint.origin
    if (err instanceof Error && err.name === 'TimeoutError') return `cannot reach ${origin}: no answer within ${timeoutMs / 1000} s`
    const cause = err instanceof Error && err.cause instanceof Error ? err.cause : err instanceof Error ? err : undefined
    const code = (cause as (Error & { code?: unknown }) | undefined)?.code
    const message = cause?.message ?? String(err)
    if (typeof code === 'string' && UNTRUSTED_ISSUER.has(code)) {
      const fix = this.caFile === undefined
        ? 'give the CA that signed it with --ca FILE (or ECSD_CA_FILE)'
        : `it is not signed by a CA in ${this.caFile}`
      return `cannot reach ${origin} securely: its certificate is not trusted (${message}); ${fix}`
    }
    if (typeof code === 'string' && (code === 'ERR_TLS_CERT_ALTNAME_INVALID' || code.startsWith('CERT_'))) {
      return `cannot reach ${origin} securely: its certificate is not trusted (${message})`
    }
    if (code === 'ERR_SSL_WRONG_VERSION_NUMBER' || /wrong version number/.test(message)) {
      return `cannot reach ${origin}: it does not speak TLS; is it an http:// endpoint?`
    }
    if (this.endpoint.protocol === 'http:' && code === 'UND_ERR_SOCKET') {
      // An HTTPS server drops a plain-HTTP request without a word.
      return `cannot reach ${origin}: the connection closed without an answer (${message}); if the server serves HTTPS, use an https:// endpoint`
    }
    return `cannot reach ${origin}: ${message}`
  }
}

/** OpenSSL's verdicts that the certificate's issuer is not among the trusted CAs: `--ca` is the fix. */
const UNTRUSTED_ISSUER = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'CERT_UNTRUSTED',
])

/** The message of an ecsd error body: `{"error":{"code","message"}}`, or the gateway's `{"error_code","error_msg"}`. */
export function errorMessage(json: unknown): string | undefined {
  if (typeof json !== 'object' || json === null) return undefined
  const body = json as { error?: { message?: unknown }; error_msg?: unknown }
  if (typeof body.error?.message === 'string') return body.error.message
  return typeof body.error_msg === 'string' ? body.error_msg : undefined
}

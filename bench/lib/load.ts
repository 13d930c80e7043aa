/**
 * The load generator: autocannon (keep-alive connections, one request in flight per
 * connection), fed with requests signed exactly as the Huawei SDK signs them.
 */
import autocannon from 'autocannon'
import { sdkHeaders, type SigningCredential } from '../../src/api/auth/signature.ts'

/** A credential requests are signed with. */
export type Credential = SigningCredential

/** A request as autocannon sends it. */
export interface WireRequest {
  method: 'GET' | 'POST' | 'DELETE'
  path: string
  headers: Record<string, string>
  body?: string
}

/**
 * Signs one request as the SDK does: Host, Content-Type, X-Project-Id and X-Sdk-Date signed,
 * SDK-HMAC-SHA256 over the exact body bytes. X-Sdk-Date is now, so a signed request stays
 * valid for the server's ±15 min window: sign before each phase, not once per run.
 */
export function signed(baseUrl: string, credential: Credential, method: WireRequest['method'], path: string, body?: unknown): WireRequest {
  const payload = body === undefined ? undefined : JSON.stringify(body)
  const headers = sdkHeaders({ method, url: path, host: new URL(baseUrl).host, body: payload, credential })
  return { method, path, headers, ...(payload === undefined ? {} : { body: payload }) }
}

/** What one load phase measured. */
export interface LoadResult {
  connections: number
  seconds: number
  requests: number
  /** 2xx responses per second. */
  rps: number
  p50Ms: number
  p99Ms: number
  non2xx: number
  errors: number
  timeouts: number
}

/**
 * Runs one phase against `url` for `seconds` with `connections` keep-alive connections.
 * `next(connection)` gives the request to send next on a connection (0-based), so scenarios
 * can keep per-connection state (a server cycling between two groups) or rotate over a shared
 * list. `onBody` sees each response body (to collect job ids).
 */
export async function runLoad(options: {
  url: string
  connections: number
  seconds: number
  /** Stop after this many requests instead (smoke runs). */
  amount?: number | undefined
  next: (connection: number) => WireRequest
  onBody?: (status: number, body: string) => void
}): Promise<LoadResult> {
  // autocannon gives each connection a context, but resets it before every request of a
  // one-step sequence. A connection's identity is handed over instead: autocannon calls
  // onResponse and then, synchronously on the same connection, setupRequest for its next
  // request; the first request of a connection (and one after a reconnect) gets a new number.
  let connectionsSeen = 0
  let handoff: number | undefined
  const result = await autocannon({
    url: options.url,
    connections: options.connections,
    duration: options.seconds,
    ...(options.amount === undefined ? {} : { amount: options.amount }),
    pipelining: 1,
    timeout: 30,
    requests: [
      {
        setupRequest: (req, context) => {
          const connection = handoff ?? connectionsSeen++
          handoff = undefined
          ;(context as { connection?: number }).connection = connection
          const r = options.next(connection)
          return { ...req, method: r.method, path: r.path, headers: r.headers, ...(r.body === undefined ? {} : { body: r.body }) }
        },
        onResponse: (status: number, body: string, context: object) => {
          handoff = (context as { connection?: number }).connection
          options.onBody?.(status, body)
        },
      },
    ],
  })
  const ok = result['2xx']
  return {
    connections: options.connections,
    seconds: result.duration,
    requests: ok + result.non2xx,
    rps: ok / result.duration,
    p50Ms: result.latency.p50,
    p99Ms: result.latency.p99,
    non2xx: result.non2xx,
    errors: result.errors,
    timeouts: result.timeouts,
  }
}

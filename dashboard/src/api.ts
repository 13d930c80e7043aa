/**
 * How the page talks to ecsd: every call is signed with the operator's access key (SDK-HMAC-SHA256)
 * or carries an Identity v3 token. The session lives in this tab's sessionStorage only: it is
 * gone when the tab closes, and other tabs and sites never see it.
 */
import { signRequest } from './sign.ts'

/** Who is signed in, and how requests prove it. */
export type Session =
  | { kind: 'keys'; accessKey: string; secretKey: string }
  | { kind: 'token'; token: string; user: string; project: string; expiresAt: string }

const STORAGE_KEY = 'ecsd.dashboard.session'

/** A refused or failed call, with ecsd's own explanation. */
export class ApiError extends Error {
  override name = 'ApiError'
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message)
  }
}

/** The session of this tab, if any. */
export function loadSession(): Session | undefined {
  const text = sessionStorage.getItem(STORAGE_KEY)
  if (text === null) return undefined
  try {
    return JSON.parse(text) as Session
  } catch {
    sessionStorage.removeItem(STORAGE_KEY)
    return undefined
  }
}

/** Forgets the session. */
export function clearSession(): void {
  sessionStorage.removeItem(STORAGE_KEY)
}

/** Who the session is, for the header. */
export function describeSession(s: Session): string {
  return s.kind === 'keys' ? `access key ${s.accessKey}` : `${s.user} (${s.project})`
}

/** ecsd's explanation in any of its error shapes (Huawei, gateway, Keystone). */
function errorMessage(status: number, text: string): string {
  try {
    const body = JSON.parse(text) as { error_msg?: string; error?: { message?: string } | string; message?: string }
    const message = body.error_msg ?? (typeof body.error === 'object' ? body.error.message : body.error) ?? body.message
    if (message) return message
  } catch {
    // Not JSON: the status line says enough.
  }
  return `HTTP ${status}${text === '' ? '' : `: ${text.slice(0, 200)}`}`
}

/** Sends an authenticated request; resolves with the parsed JSON answer. */
export async function request<T>(session: Session, method: string, url: string, body?: unknown): Promise<T> {
  const payload = body === undefined ? undefined : JSON.stringify(body)
  const headers: Record<string, string> =
    session.kind === 'keys'
      ? await signRequest({ method, url, host: location.host, body: payload, accessKey: session.accessKey, secretKey: session.secretKey })
      : { 'X-Auth-Token': session.token, ...(payload === undefined ? {} : { 'Content-Type': 'application/json' }) }
  const res = await fetch(url, { method, headers, cache: 'no-store', credentials: 'omit', ...(payload === undefined ? {} : { body: payload }) })
  const text = await res.text()
  if (!res.ok) throw new ApiError(res.status, errorMessage(res.status, text))
  return (text === '' ? undefined : JSON.parse(text)) as T
}

/** Checks that a session may read the fleet (an operator), then keeps it for this tab. */
async function adopt(session: Session): Promise<Session> {
  try {
    await request(session, 'GET', '/admin/fleet/servers?limit=1')
  } catch (err) {
    if (err instanceof ApiError && err.status === 403) throw new ApiError(403, 'Signed in, but not as an operator: the dashboard needs an admin credential or an admin user.')
    throw err
  }
  sessionStorage.setItem(STORAGE_KEY, JSON.stringify(session))
  return session
}

/** Signs in with an operator's access key and secret key. */
export function signInWithKeys(accessKey: string, secretKey: string): Promise<Session> {
  return adopt({ kind: 'keys', accessKey: accessKey.trim(), secretKey: secretKey.trim() })
}

/** Signs in with an Identity v3 password (`POST /v3/auth/tokens`), then uses the token. */
export async function signInWithPassword(user: string, password: string, project: string): Promise<Session> {
  const domain = { name: 'Default' }
  const body = {
    auth: {
      identity: { methods: ['password'], password: { user: { name: user.trim(), password, domain } } },
      ...(project.trim() === '' ? {} : { scope: { project: { name: project.trim(), domain } } }),
    },
  }
  const res = await fetch('/v3/auth/tokens', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body), credentials: 'omit' })
  const text = await res.text()
  const token = res.headers.get('x-subject-token')
  if (!res.ok || token === null) throw new ApiError(res.status, errorMessage(res.status, text))
  const issued = JSON.parse(text) as { token: { expires_at: string; project: { name: string } } }
  return adopt({ kind: 'token', token, user: user.trim(), project: issued.token.project.name, expiresAt: issued.token.expires_at })
}

import type { FastifyRequest } from 'fastify'
import { signatureRejected } from '../../domain/errors.ts'
import type { IdentityService, Principal } from '../../services/identity/index.ts'
import { parseAuthorization, verifySignature } from './signature.ts'

export type { Principal } from '../../services/identity/index.ts'

declare module 'fastify' {
  interface FastifyRequest {
    /** Raw body bytes as received; the signature covers them. */
    rawBody: Buffer | undefined
    /** Why the body could not be used, reported after authentication so unsigned requests learn nothing. */
    bodyProblem: string | undefined
    principal: Principal | undefined
  }
}

/**
 * Authenticates a request the way the Huawei API gateway does: an `X-Auth-Token` from the
 * Identity endpoint, or an SDK-HMAC-SHA256 signature over the raw request by an active, unlocked
 * access key (five failed signatures in a row lock the key for five minutes). Then the
 * principal's project must be the project named in the path and in `X-Project-Id`. Throws
 * `APIGW.0301` (401) otherwise.
 */
export async function authenticate(identity: IdentityService, req: FastifyRequest, pathProjectId: string | undefined): Promise<Principal> {
  const principal = await authenticateCaller(identity, req)
  if (pathProjectId !== undefined && pathProjectId !== principal.projectId) {
    throw signatureRejected(`${describe(principal)} belongs to another project than ${pathProjectId} in the URL`)
  }
  const headerProject = req.headers['x-project-id']
  if (headerProject !== undefined && headerProject !== principal.projectId) {
    throw signatureRejected(`X-Project-Id ${String(headerProject)} is not the project of ${describe(principal)}`)
  }
  return principal
}

async function authenticateCaller(identity: IdentityService, req: FastifyRequest): Promise<Principal> {
  const token = req.headers['x-auth-token']
  if (typeof token === 'string' && req.headers.authorization === undefined) {
    const principal = await identity.lookupToken(token)
    if (!principal) throw signatureRejected('the X-Auth-Token is invalid or expired; request a new one from POST /v3/auth/tokens')
    return principal
  }
  const parsed = parseAuthorization(req.headers.authorization)
  if ('error' in parsed) throw signatureRejected(parsed.error)
  const credential = await identity.lookupCredential(parsed.accessKey)
  switch (credential.kind) {
    case 'unknown':
      throw signatureRejected(`Get secretKey failed, ak: ${mask(parsed.accessKey)}, err: ak not exist`)
    case 'revoked':
      throw signatureRejected(`the access key ${mask(parsed.accessKey)} has been revoked`)
    case 'locked':
      throw signatureRejected(`AK access failed to reach the limit, forbidden: ${mask(parsed.accessKey)} is locked until ${credential.until} after repeated signature failures`)
    case 'active':
      break
  }
  const check = verifySignature(
    { method: req.method, url: req.raw.url ?? req.url, headers: req.headers, body: req.rawBody },
    parsed,
    credential.secretKey,
    new Date(),
  )
  if (!check.ok) {
    const lockedUntil = await identity.recordFailure(parsed.accessKey)
    throw signatureRejected(lockedUntil ? `${check.reason}; too many failures, ${mask(parsed.accessKey)} is locked until ${lockedUntil}` : check.reason)
  }
  if (credential.recentFailures > 0) await identity.recordSuccess(parsed.accessKey)
  return { accessKey: parsed.accessKey, projectId: credential.projectId, admin: credential.admin, ...(credential.hostId === undefined ? {} : { hostId: credential.hostId }) }
}

function describe(p: Principal): string {
  return p.accessKey.startsWith('token:') ? `the token of ${p.accessKey.slice(6)}` : `the credential ${mask(p.accessKey)}`
}

/** Access keys are half-masked in messages, as the real gateway does. */
function mask(accessKey: string): string {
  return accessKey.length <= 8 ? '******' : `${accessKey.slice(0, 4)}******${accessKey.slice(-4)}`
}

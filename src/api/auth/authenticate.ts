import type { FastifyRequest } from 'fastify'
import { signatureRejected } from '../../domain/errors.ts'
import type { Database } from '../../store/database.ts'
import { parseAuthorization, verifySignature } from './signature.ts'

/** Who a request acts as, once its signature is verified. */
export interface Principal {
  accessKey: string
  projectId: string
  /** An operator credential, allowed on /admin routes. */
  admin: boolean
}

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
 * Authenticates a request the way the Huawei API gateway does for AK/SK clients: verifies the
 * SDK-HMAC-SHA256 signature over the raw request, then requires the credential's project to be
 * the project named in the path and in `X-Project-Id`. Throws `APIGW.0301` (401) otherwise.
 */
export async function authenticate(database: Database, req: FastifyRequest, pathProjectId: string | undefined): Promise<Principal> {
  const parsed = parseAuthorization(req.headers.authorization)
  if ('error' in parsed) throw signatureRejected(parsed.error)
  const credential = await database.db
    .selectFrom('credentials')
    .select(['secret_key', 'project_id', 'admin'])
    .where('access_key', '=', parsed.accessKey)
    .executeTakeFirst()
  if (!credential) throw signatureRejected(`Get secretKey failed, ak: ${mask(parsed.accessKey)}, err: ak not exist`)
  const check = verifySignature(
    { method: req.method, url: req.raw.url ?? req.url, headers: req.headers, body: req.rawBody },
    parsed,
    credential.secret_key,
    new Date(),
  )
  if (!check.ok) throw signatureRejected(check.reason)
  if (pathProjectId !== undefined && pathProjectId !== credential.project_id) {
    throw signatureRejected(`the credential ${mask(parsed.accessKey)} belongs to another project than ${pathProjectId} in the URL`)
  }
  const headerProject = req.headers['x-project-id']
  if (headerProject !== undefined && headerProject !== credential.project_id) {
    throw signatureRejected(`X-Project-Id ${String(headerProject)} is not the project of the credential ${mask(parsed.accessKey)}`)
  }
  return { accessKey: parsed.accessKey, projectId: credential.project_id, admin: credential.admin === 1 }
}

/** Access keys are half-masked in messages, as the real gateway does. */
function mask(accessKey: string): string {
  return accessKey.length <= 8 ? '******' : `${accessKey.slice(0, 4)}******${accessKey.slice(-4)}`
}

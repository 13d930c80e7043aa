import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { FastifyReply, FastifyRequest } from 'fastify'
import { Type } from 'typebox'
import { invalidParameter } from '../../domain/errors.ts'
import type { Services } from '../../services/index.ts'
import { unstorableText } from '../json.ts'
import { IdentityVersionResponse, TokenResponse } from '../schemas/identity-responses.ts'
import { identityErrors } from '../schemas/responses.ts'

const Named = Type.Object(
  { id: Type.Optional(Type.String({ maxLength: 255 })), name: Type.Optional(Type.String({ maxLength: 255 })) },
  { additionalProperties: true },
)

/** `POST /v3/auth/tokens` with the password method, as Keystone clients send it. */
const TokenRequest = Type.Object(
  {
    auth: Type.Object(
      {
        identity: Type.Object(
          {
            methods: Type.Array(Type.String(), { minItems: 1 }),
            password: Type.Object(
              {
                user: Type.Object(
                  {
                    name: Type.Optional(Type.String({ minLength: 1, maxLength: 255 })),
                    id: Type.Optional(Type.String({ maxLength: 255 })),
                    password: Type.String({ maxLength: 1024 }),
                    domain: Type.Optional(Named),
                  },
                  { additionalProperties: false },
                ),
              },
              { additionalProperties: false },
            ),
          },
          { additionalProperties: false },
        ),
        scope: Type.Optional(Type.Object({ project: Type.Optional(Type.Object({ id: Type.Optional(Type.String()), name: Type.Optional(Type.String()), domain: Type.Optional(Named) }, { additionalProperties: false })) }, { additionalProperties: true })),
      },
      { additionalProperties: false },
    ),
  },
  { additionalProperties: false },
)

/** A Keystone-style fault: `{"error": {"code", "title", "message"}}`. */
function keystoneError(reply: FastifyReply, code: 400 | 401, message: string) {
  return reply.code(code).send({ error: { code, title: code === 401 ? 'Unauthorized' : 'Bad Request', message } })
}

/**
 * A minimal Identity v3 for clients that do not sign requests (OpenStack clients): the password
 * method issues a token, returned in `X-Subject-Token`, with a catalog naming ecsd's endpoints.
 */
export const identityRoutes: FastifyPluginAsyncTypebox<{ services: Services }> = async (app, { services }) => {
  app.addHook('preValidation', async (req) => {
    const problem = req.bodyProblem ?? unstorableText({ params: req.params, query: req.query })
    if (problem !== undefined) throw invalidParameter(problem)
  })

  app.get('/', { schema: { response: { 200: IdentityVersionResponse, ...identityErrors } } }, async (req) => ({
    version: {
      id: 'v3.14',
      status: 'stable',
      updated: '2020-04-07T00:00:00Z',
      links: [{ rel: 'self', href: `${publicBase(req)}/v3/` }],
      'media-types': [{ base: 'application/json', type: 'application/vnd.openstack.identity-v3+json' }],
    },
  }))

  app.post('/auth/tokens', { schema: { body: TokenRequest, response: { 201: TokenResponse, ...identityErrors } } }, async (req, reply) => {
    const { identity: id, scope } = req.body.auth
    if (!id.methods.includes('password')) return keystoneError(reply, 400, 'only the "password" method is supported')
    const name = id.password.user.name
    if (name === undefined) return keystoneError(reply, 400, 'auth.identity.password.user.name is required')
    const issued = await services.identity.issueToken(name, id.password.user.password)
    if (!issued) return keystoneError(reply, 401, 'The request you have made requires authentication: wrong user name or password.')
    // A user has a role on exactly one project: a scope naming another (by id or name) is refused.
    const wanted = scope?.project
    if (wanted?.id !== undefined && wanted.id !== issued.projectId) {
      return keystoneError(reply, 401, `user ${name} has no role on project ${wanted.id}`)
    }
    if (wanted?.name !== undefined && wanted.name !== issued.projectName && wanted.name !== issued.projectId) {
      return keystoneError(reply, 401, `user ${name} has no role on project ${wanted.name}`)
    }
    const base = publicBase(req)
    const endpoints = (type: string, name: string, url: string) => ({
      type,
      name,
      id: `${type}-${issued.projectId}`,
      endpoints: ['public', 'internal', 'admin'].map((iface) => ({ id: `${type}-${iface}`, interface: iface, region: REGION, region_id: REGION, url })),
    })
    const roles = issued.admin ? ['admin', 'member', 'reader'] : ['member', 'reader']
    return reply
      .code(201)
      .header('x-subject-token', issued.token)
      .send({
        token: {
          methods: ['password'],
          issued_at: issued.issuedAt,
          expires_at: issued.expiresAt,
          user: { id: issued.user.id, name: issued.user.name, domain: { id: 'default', name: 'Default' } },
          project: { id: issued.projectId, name: issued.projectName, domain: { id: 'default', name: 'Default' } },
          roles: roles.map((role) => ({ id: role, name: role })),
          catalog: [
            endpoints('identity', 'keystone', `${base}/v3`),
            endpoints('compute', 'nova', `${base}/v2.1/${issued.projectId}`),
            endpoints('image', 'glance', `${base}/image`),
            endpoints('ecs', 'ecs', `${base}/v1/${issued.projectId}`),
          ],
        },
      })
  })
}

/** The region name the catalog gives every endpoint (clients' `--os-region-name`). */
export const REGION = 'RegionOne'

/**
 * Where clients reach this ecsd: the scheme and Host they used, so the catalog and version
 * documents work behind any address (a Host that is not a plain host[:port] is not echoed).
 */
export function publicBase(req: FastifyRequest): string {
  const host = req.headers.host
  return `${req.protocol}://${host && /^[\w.:[\]-]+$/.test(host) ? host : '127.0.0.1'}`
}

import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { FastifyReply } from 'fastify'
import { Type } from 'typebox'
import { invalidParameter } from '../../domain/errors.ts'
import type { Services } from '../../services/index.ts'
import { unstorableText } from '../json.ts'

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

  app.get('/', async (req) => ({
    version: {
      id: 'v3.14',
      status: 'stable',
      updated: '2020-04-07T00:00:00Z',
      links: [{ rel: 'self', href: `${publicUrl(req.headers.host)}/v3/` }],
      'media-types': [{ base: 'application/json', type: 'application/vnd.openstack.identity-v3+json' }],
    },
  }))

  app.post('/auth/tokens', { schema: { body: TokenRequest } }, async (req, reply) => {
    const { identity: id, scope } = req.body.auth
    if (!id.methods.includes('password')) return keystoneError(reply, 400, 'only the "password" method is supported')
    const name = id.password.user.name
    if (name === undefined) return keystoneError(reply, 400, 'auth.identity.password.user.name is required')
    const issued = await services.identity.issueToken(name, id.password.user.password)
    if (!issued) return keystoneError(reply, 401, 'The request you have made requires authentication: wrong user name or password.')
    const wanted = scope?.project?.id
    if (wanted !== undefined && wanted !== issued.projectId) {
      return keystoneError(reply, 401, `user ${name} has no role on project ${wanted}`)
    }
    const base = publicUrl(req.headers.host)
    const endpoints = (type: string, name: string, url: string) => ({
      type,
      name,
      id: `${type}-${issued.projectId}`,
      endpoints: ['public', 'internal', 'admin'].map((iface) => ({ id: `${type}-${iface}`, interface: iface, region: 'RegionOne', region_id: 'RegionOne', url })),
    })
    return reply
      .code(201)
      .header('x-subject-token', issued.token)
      .send({
        token: {
          methods: ['password'],
          issued_at: issued.issuedAt,
          expires_at: issued.expiresAt,
          user: { id: issued.user.id, name: issued.user.name, domain: { id: 'default', name: 'Default' } },
          project: { id: issued.projectId, name: issued.projectId, domain: { id: 'default', name: 'Default' } },
          roles: [{ id: 'member', name: 'member' }],
          catalog: [
            endpoints('compute', 'nova', `${base}/v2.1/${issued.projectId}`),
            endpoints('ecs', 'ecs', `${base}/v1/${issued.projectId}`),
          ],
        },
      })
  })
}

/** Where clients reach this ecsd: the Host they used, so the catalog works behind any address. */
function publicUrl(host: string | undefined): string {
  return `http://${host && /^[\w.:[\]-]+$/.test(host) ? host : '127.0.0.1'}`
}

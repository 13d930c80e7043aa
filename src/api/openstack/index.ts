import type { FastifyPluginAsync, FastifyRequest } from 'fastify'
import { apiNotFound, invalidParameter } from '../../domain/errors.ts'
import type { Services } from '../../services/index.ts'
import { authenticate } from '../auth/authenticate.ts'
import { unstorableText } from '../json.ts'
import { VersionResponse, VersionsResponse } from '../schemas/openstack-responses.ts'
import { huaweiErrors, novaErrors } from '../schemas/responses.ts'
import { negotiateMicroversion } from './microversion.ts'
import { catalogRoutes } from './catalog.ts'
import { imageRoutes } from './images.ts'
import { serverGroupRoutes } from './server-groups.ts'
import { serverRoutes } from './servers.ts'
import { versionDocument, versionSummary } from './versions.ts'

/** The resources of the compute API, served with and without the project in the path. */
const resources = [serverGroupRoutes, serverRoutes, catalogRoutes] as const

/**
 * The OpenStack Compute v2.1 surface: `GET /` (version list), `GET /v2.1` (version document),
 * and the resources under `/v2.1/…` and `/v2.1/{project_id}/…`. Every v2.1 request has its
 * microversion negotiated first (so faults carry the version headers too); resources then
 * authenticate like the Huawei API (an Identity token or an AK/SK signature). Errors are Nova
 * faults (`src/api/errors.ts` renders them for any `/v2.1` path). Beside it, the small Glance v2
 * image catalogue the Identity catalog names (`/image`).
 */
export const openstackRoutes: FastifyPluginAsync<{ services: Services }> = async (app, { services }) => {
  // Huawei documents 200 for novaListVersions and its SDK treats anything but 2xx as a failure;
  // OpenStack clients get the 300 Multiple Choices of a version list.
  app.get('/', { schema: { response: { 200: VersionsResponse, 300: VersionsResponse, ...huaweiErrors } } }, async (req, reply) => {
    const huaweiSdk = /^SDK-HMAC-SHA256\s/i.test(req.headers.authorization ?? '')
    return reply.code(huaweiSdk ? 200 : 300).send({ versions: [versionSummary(req)] })
  })

  const authenticated = async (req: FastifyRequest) => {
    req.principal = await authenticate(services.identity, req, (req.params as { project_id?: string }).project_id)
    const problem = req.bodyProblem ?? unstorableText({ params: req.params, query: req.query })
    if (problem !== undefined) throw invalidParameter(problem)
  }

  app.register(
    async (v21) => {
      v21.decorateRequest('microversion', undefined as never)
      v21.addHook('onRequest', async (req, reply) => negotiateMicroversion(req, reply))
      v21.get('/', { schema: { response: { 200: VersionResponse, ...novaErrors } } }, async (req) => versionDocument(req))
      for (const prefix of ['', '/:project_id']) {
        v21.register(
          async (api) => {
            api.addHook('preValidation', authenticated)
            for (const routes of resources) await api.register(routes, { services })
          },
          { prefix },
        )
      }
      v21.setNotFoundHandler((req) => {
        throw apiNotFound(req.method, req.url.split('?')[0] ?? req.url)
      })
    },
    { prefix: '/v2.1' },
  )
  app.register(imageRoutes, { services, prefix: '/image' })
}

import { randomUUID } from 'node:crypto'
import rateLimit from '@fastify/rate-limit'
import swagger from '@fastify/swagger'
import swaggerUi from '@fastify/swagger-ui'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import { Ajv, type ErrorObject } from 'ajv'
import addFormats from 'ajv-formats'
import Fastify, { LogController, type FastifyRequest } from 'fastify'
import fastJson from 'fast-json-stringify'
import type { Logger } from 'pino'
import { adminRoutes } from './api/admin/routes.ts'
import { agentRoutes } from './api/agent/routes.ts'
import { authenticate } from './api/auth/authenticate.ts'
import { handleError } from './api/errors.ts'
import { identityRoutes } from './api/identity/routes.ts'
import { openstackRoutes } from './api/openstack/index.ts'
import { jsonDepthExceeds, MAX_JSON_DEPTH, unstorableText } from './api/json.ts'
import { huaweiErrors, PlainText, SHARED_RESPONSE_SCHEMAS } from './api/schemas/responses.ts'
import { groupRoutes } from './api/huawei/groups.ts'
import { moveRoutes, resizeV11Routes } from './api/huawei/moves.ts'
import { recycleBinRoutes } from './api/huawei/recycle-bin.ts'
import { scheduledEventRoutes } from './api/huawei/scheduled-events.ts'
import { serverRoutes } from './api/huawei/servers.ts'
import { serverAttributeRoutes } from './api/huawei/server-attributes.ts'
import { consolePage, serverMonitorRoutes, serverOsRoutes, serverOsV2Routes } from './api/huawei/server-os.ts'
import { nicRoutes } from './api/huawei/nics.ts'
import { volumeRoutes } from './api/huawei/volumes.ts'
import { catalogueRoutes, cloudServerV11Routes, launchTemplateRoutes } from './api/huawei/catalogue.ts'
import type { TlsMaterial } from './config.ts'
import { dashboardPage } from './dashboard/routes.ts'
import { apiNotFound, EcsError, invalidParameter } from './domain/errors.ts'
import type { Services } from './services/index.ts'
import { VERSION } from './version.ts'

/** Longest path segment routed; ids are at most 64 characters. */
export const MAX_PATH_PARAMETER_LENGTH = 100

/** Largest accepted request body. */
export const BODY_LIMIT_BYTES = 1024 * 1024

/**
 * The routes (`METHOD url` as registered) whose 2xx answers are serialised from their response
 * schema by fast-json-stringify: the hottest reads, showServer and listServerGroups, which clients
 * poll and where the compiled serializer is measurably faster (BENCHMARKS.md). Every other answer,
 * and every error, goes through `JSON.stringify`: a compiled serializer drops the fields its
 * schema does not name and coerces the values it types otherwise, so elsewhere a response schema
 * only documents the answer (and is the oracle of test/api/openapi-responses.test.ts) and can
 * never change what is sent. The two schemas here are kept exact by
 * test/api/huawei/response-schemas.test.ts.
 */
export const COMPILED_SERIALIZER_ROUTES: ReadonlySet<string> = new Set([
  'GET /v1/:project_id/cloudservers/:server_id',
  'GET /v1/:project_id/cloudservers/os-server-groups',
])

/**
 * Builds the HTTP application over wired services; it does not listen. Request flow:
 * onRequest (request id) → body read raw (the signature covers the bytes) → preValidation
 * (authenticate, then report an unreadable body) → schema validation (strict bodies) →
 * preHandler (per-credential rate limit) → handler → service transaction → response; every
 * error goes through one handler. With `tls` it serves HTTPS.
 */
export function buildApp(services: Services, logger: Logger, tls?: TlsMaterial) {
  const app = Fastify({
    // null is fastify's "plain HTTP" for this option; one type of app either way.
    https: tls === undefined ? null : { cert: tls.cert, key: tls.key },
    loggerInstance: logger,
    genReqId: () => randomUUID().replaceAll('-', ''),
    requestIdHeader: false,
    bodyLimit: BODY_LIMIT_BYTES,
    // A client that trickles its request in is cut off (slowloris), keep-alive or not.
    requestTimeout: services.config.requestTimeoutMs,
    // Requests that arrive while the process drains are answered below, in the API's own shape.
    return503OnClosing: false,
    // One access-log line per request (onResponse below) instead of fastify's two.
    logController: new LogController({ disableRequestLogging: true }),
    routerOptions: { ignoreTrailingSlash: false, maxParamLength: MAX_PATH_PARAMETER_LENGTH },
    // Errors found while routing (an over-long or badly encoded path) skip the hooks, so the
    // request id is set here and the answer goes through the one error handler.
    frameworkErrors: (err, req, reply) => {
      reply.header('x-request-id', req.id)
      handleError(err, req, reply)
    },
  }).withTypeProvider<TypeBoxTypeProvider>()

  // Bodies are validated strictly (no coercion, unknown fields rejected); query strings and
  // path parameters arrive as text, so they are coerced to the schema's types. Body errors are
  // all collected so that one answer names every wrong field.
  const strict = new Ajv({ removeAdditional: false, coerceTypes: false, useDefaults: false, allErrors: true })
  const lenient = new Ajv({ removeAdditional: false, coerceTypes: 'array', useDefaults: true, allErrors: false })
  for (const ajv of [strict, lenient]) addFormats.default(ajv)
  app.setValidatorCompiler(({ schema, httpPart }) => {
    if (httpPart === 'body') return strict.compile(schema)
    const validate = lenient.compile(schema)
    // ajv coerces "1e309" to Infinity and lets it through numeric bounds; text turned into a
    // number must be a safe integer, or it would reach SQL as LIMIT/OFFSET Infinity.
    const checked = (data: unknown) => {
      const ok = validate(data)
      checked.errors = validate.errors ?? null
      if (!ok || data === null || typeof data !== 'object') return ok
      for (const [key, value] of Object.entries(data)) {
        if (typeof value === 'number' && !Number.isSafeInteger(value)) {
          checked.errors = [{ instancePath: `/${key}`, schemaPath: '', keyword: 'type', params: {}, message: 'must be an integer below 2^53' }]
          return false
        }
      }
      return true
    }
    checked.errors = null as ErrorObject[] | null
    return checked
  })
  app.setSerializerCompiler(({ schema, method, url, httpStatus }) =>
    COMPILED_SERIALIZER_ROUTES.has(`${method} ${url}`) && /^2/.test(httpStatus ?? '')
      ? fastJson(schema as Parameters<typeof fastJson>[0])
      : (data: unknown) => JSON.stringify(data),
  )
  // The error schemas every route refers to by `$id` (components of the document).
  for (const schema of SHARED_RESPONSE_SCHEMAS) app.addSchema(schema)

  // Before the routes: it collects each route's schemas as the route is added. The document is
  // built from the very schemas requests are validated with, and answers described with.
  app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: { title: 'ecsd', version: VERSION, description: 'Huawei Cloud ECS (groups and servers), OpenStack Compute v2.1 and the operator API of ecsd' },
    },
    // Shared schemas are components named by their `$id` (`#/components/schemas/HuaweiError`).
    refResolver: { buildLocalReference: (json, _base, _fragment, i) => (typeof json.$id === 'string' ? json.$id : `def-${i}`) },
  })

  app.decorateRequest('rawBody', undefined)
  app.decorateRequest('bodyProblem', undefined)
  app.decorateRequest('principal', undefined)

  let draining = false
  app.addHook('preClose', async () => {
    draining = true
  })
  app.addHook('onRequest', async (req, reply) => {
    reply.header('x-request-id', req.id)
    if (draining) {
      // Nothing was done: the client may send the request to another replica, on a new connection.
      reply.header('connection', 'close')
      throw new EcsError('Ecs.0000', 503, 'This ecsd process is shutting down and did not handle the request; retry it (another replica or in a moment).')
    }
  })
  app.addHook('onResponse', async (req, reply) => {
    services.metrics.httpDuration.observe(
      { method: req.method, route: req.routeOptions.url ?? 'unmatched', status_code: String(reply.statusCode) },
      reply.elapsedTime / 1000,
    )
    req.log.info({ method: req.method, url: req.url, status: reply.statusCode, ms: Math.round(reply.elapsedTime) }, 'request')
  })

  app.removeAllContentTypeParsers()
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (req, body: Buffer, done) => {
    req.rawBody = body
    if (body.length === 0) return done(null, undefined)
    const text = body.toString('utf8')
    if (jsonDepthExceeds(text, MAX_JSON_DEPTH)) {
      req.bodyProblem = `the request body nests objects or arrays deeper than ${MAX_JSON_DEPTH} levels`
      return done(null, undefined)
    }
    const unstorable = unstorableText({ bodyText: text })
    if (unstorable !== undefined) {
      req.bodyProblem = unstorable
      return done(null, undefined)
    }
    try {
      done(null, JSON.parse(text))
    } catch (err) {
      req.bodyProblem = `the request body is not valid JSON (${(err as Error).message})`
      done(null, undefined)
    }
  })
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (req, body: Buffer, done) => {
    req.rawBody = body
    if (body.length > 0) req.bodyProblem = `Content-Type "${req.headers['content-type'] ?? ''}" is not supported; send application/json`
    done(null, undefined)
  })

  app.setErrorHandler((err, req, reply) => handleError(err, req, reply))
  app.setNotFoundHandler((req) => {
    throw apiNotFound(req.method, req.url.split('?')[0] ?? req.url)
  })

  const { rateLimit: max, rateLimitWindowMs } = services.config
  if (max > 0) {
    // Counted per credential after authentication (preHandler), so one tenant's burst cannot
    // exhaust another's allowance; unauthenticated routes count per client address.
    app.register(rateLimit, {
      hook: 'preHandler',
      max,
      timeWindow: rateLimitWindowMs,
      keyGenerator: (req) => req.principal?.accessKey ?? `ip:${req.ip}`,
      errorResponseBuilder: (_req, ctx) =>
        new EcsError('Common.1503', 429, `Api flow control Error because this credential exceeded ${ctx.max} requests per ${rateLimitWindowMs} ms; retry after ${ctx.after}.`),
    })
  }

  const authenticated = async (req: FastifyRequest) => {
    req.principal = await authenticate(services.identity, req, (req.params as { project_id?: string }).project_id)
    const problem = req.bodyProblem ?? unstorableText({ params: req.params, query: req.query })
    if (problem !== undefined) throw invalidParameter(problem)
  }
  app.register(
    async (v1) => {
      v1.addHook('preValidation', authenticated)
      await v1.register(groupRoutes, { services })
      await v1.register(serverRoutes, { services })
      await v1.register(moveRoutes, { services })
      await v1.register(recycleBinRoutes, { services })
      await v1.register(serverAttributeRoutes, { services })
      await v1.register(serverOsRoutes, { services })
      await v1.register(nicRoutes, { services })
      await v1.register(volumeRoutes, { services })
      await v1.register(catalogueRoutes, { services })
    },
    { prefix: '/v1/:project_id' },
  )
  app.register(
    async (v2) => {
      v2.addHook('preValidation', authenticated)
      await v2.register(serverOsV2Routes, { services })
    },
    { prefix: '/v2/:project_id' },
  )
  app.register(
    async (v10) => {
      v10.addHook('preValidation', authenticated)
      await v10.register(serverMonitorRoutes, { services })
    },
    { prefix: '/v1.0' },
  )
  app.register(
    async (v11) => {
      v11.addHook('preValidation', authenticated)
      await v11.register(resizeV11Routes, { services })
      await v11.register(cloudServerV11Routes, { services })
    },
    { prefix: '/v1.1/:project_id' },
  )
  app.register(
    async (v3) => {
      v3.addHook('preValidation', authenticated)
      await v3.register(scheduledEventRoutes, { services })
      await v3.register(launchTemplateRoutes, { services })
    },
    { prefix: '/v3/:project_id' },
  )
  app.register(adminRoutes, { services, prefix: '/admin' })
  app.register(dashboardPage)
  app.register(consolePage, { services })
  app.register(agentRoutes, { services, prefix: '/agent/v1' })
  // Unauthenticated, as the routes it describes are no secret: the document and a page to read it.
  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger())
  app.register(swaggerUi, { routePrefix: '/docs', uiConfig: { url: '/openapi.json' } })
  // For Prometheus scrapers, unauthenticated like most scrape endpoints: it carries counts and
  // latencies by route pattern, no ids and no tenant data. In a plugin, so that it is added
  // after the document's collector and described there.
  app.register(async (scrape) => {
    scrape.get('/metrics', { schema: { response: { 200: PlainText('The metrics, in the Prometheus text format 0.0.4'), ...huaweiErrors } } }, async (_req, reply) =>
      reply.type(services.metrics.registry.contentType).send(await services.metrics.registry.metrics()))
  })
  app.register(identityRoutes, { services, prefix: '/v3' })
  app.register(openstackRoutes, { services })

  app.addHook('onClose', async () => {
    // A fence held by a stall fault would keep the monitor's round, and so this close, waiting.
    services.faults.close(['fence'])
    await services.hostMonitor.stop()
    await services.jobs.stop()
    // After the runner stopped: it records nothing for the steps this ends, and hands them on.
    services.faults.close()
    await services.identity.close()
  })
  return app
}

/** The application type, as `buildApp` makes it. */
export type App = ReturnType<typeof buildApp>

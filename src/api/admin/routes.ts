import type { ServerResponse } from 'node:http'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import { adminOnly, EcsError, invalidParameter } from '../../domain/errors.ts'
import { FAULT_MODES, FAULT_STEPS, MAX_FAULT_REASON_LENGTH, type Fault } from '../../domain/fault.ts'
import { audit } from '../../services/audit.ts'
import { IdentityError } from '../../services/identity/index.ts'
import type { Services } from '../../services/index.ts'
import { authenticate } from '../auth/authenticate.ts'
import { unstorableText } from '../json.ts'
import {
  AuditResponse, ConsoleAnswer, CredentialResponse, FaultResponse, ListCredentialsResponse, ListFaultsResponse, ListProjectsResponse, ProjectResponse, UserResponse,
} from '../schemas/admin-responses.ts'
import { huaweiErrors, JobAccepted, NoContent } from '../schemas/responses.ts'
import { eventAdminRoutes } from './events.ts'
import { fleetRoutes } from '../../dashboard/routes.ts'
import { hostAdminRoutes } from './hosts.ts'
import { credentialBody } from './views.ts'

const ProjectParams = Type.Object({ project_id: Type.String({ maxLength: 64 }) }, { additionalProperties: false })
const CreateProject = Type.Object(
  { project: Type.Object({ name: Type.String({ minLength: 1, maxLength: 255 }) }, { additionalProperties: false }) },
  { additionalProperties: false },
)
const CreateCredential = Type.Object(
  {
    credential: Type.Object(
      { admin: Type.Optional(Type.Boolean()), description: Type.Optional(Type.String({ maxLength: 255 })) },
      { additionalProperties: false },
    ),
  },
  { additionalProperties: false },
)
const CreateUser = Type.Object(
  {
    user: Type.Object(
      { name: Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9._@-]+$' }), password: Type.String({ minLength: 8, maxLength: 1024 }), admin: Type.Optional(Type.Boolean()) },
      { additionalProperties: false },
    ),
  },
  { additionalProperties: false },
)

const ServerParams = Type.Object({ server_id: Type.String({ minLength: 1, maxLength: 64 }) }, { additionalProperties: false })
const OperatorMigrate = Type.Object(
  {
    migrate: Type.Object(
      { live: Type.Optional(Type.Boolean()), host: Type.Optional(Type.String({ minLength: 1, maxLength: 255 })) },
      { additionalProperties: false },
    ),
  },
  { additionalProperties: false },
)

/** How often a followed console is read again. */
const CONSOLE_FOLLOW_MS = 1000

const ConsoleQuery = Type.Object(
  {
    offset: Type.Optional(Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER })),
    follow: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
)

const FaultParams = Type.Object({ fault_id: Type.String({ minLength: 1, maxLength: 64 }) }, { additionalProperties: false })
const CreateFault = Type.Object(
  {
    fault: Type.Object(
      {
        host: Type.Optional(Type.String({ minLength: 1, maxLength: 255 })),
        step: Type.Enum([...FAULT_STEPS]),
        mode: Type.Enum([...FAULT_MODES]),
        probability: Type.Optional(Type.Number({ exclusiveMinimum: 0, maximum: 1 })),
        reason: Type.Optional(Type.String({ minLength: 1, maxLength: MAX_FAULT_REASON_LENGTH })),
      },
      { additionalProperties: false },
    ),
  },
  { additionalProperties: false },
)

/** An injected fault as the admin API shows it; `host` null: every host. */
function faultBody(f: Fault) {
  return { id: f.id, host: f.hostName, step: f.step, mode: f.mode, probability: f.probability, reason: f.reason, created_at: f.createdAt }
}

function fromIdentityError(err: unknown): never {
  if (err instanceof IdentityError) {
    if (err.reason === 'not-found') throw new EcsError('Ecs.0005', 404, err.message)
    if (err.reason === 'conflict') throw new EcsError('Ecs.0005', 409, err.message)
    throw invalidParameter(err.message)
  }
  throw err
}

/**
 * Operator routes under /admin: signed like every other request, and only with an admin
 * credential (or an admin user's token). Secrets appear once, in the answer that creates them.
 */
export const adminRoutes: FastifyPluginAsyncTypebox<{ services: Services }> = async (app, { services }) => {
  const { identity } = services
  app.addHook('preValidation', async (req) => {
    req.principal = await authenticate(identity, req, undefined)
    if (!req.principal.admin) throw adminOnly(`${req.method} ${req.url.split('?')[0] ?? ''}`)
    const problem = req.bodyProblem ?? unstorableText({ params: req.params, query: req.query })
    if (problem !== undefined) throw invalidParameter(problem)
  })

  /** Every invariant checked against the database; 200 with the list (empty when all hold). */
  app.get('/audit', { schema: { response: { 200: AuditResponse, ...huaweiErrors } } }, async () => ({ violations: await audit(services.database.db) }))

  await app.register(hostAdminRoutes, { services })
  await app.register(eventAdminRoutes, { services })
  await app.register(fleetRoutes, { services })

  /**
   * An operator's migration of any server: `live` keeps it running (it must be ACTIVE); `host`
   * names the target, which still passes every placement filter. Answers the job.
   */
  app.post('/servers/:server_id/migrate', { schema: { params: ServerParams, body: OperatorMigrate, response: { 200: JobAccepted, ...huaweiErrors } } }, async (req) => {
    const { live, host } = req.body.migrate
    const accepted = await services.moves.operatorMigrate(req.params.server_id, { live: live ?? false, hostName: host })
    return { job_id: accepted.jobId }
  })

  // Followed consoles never end by themselves: a shutdown ends them, or it would wait for them.
  const following = new Set<ServerResponse>()
  let closing = false
  app.addHook('preClose', async () => {
    closing = true
    for (const res of following) res.end()
  })

  /**
   * A server's serial console from `offset` (default 0). As JSON, one piece and where the next
   * read starts; with `follow=true`, the log as plain text, streamed as it grows until the
   * client hangs up (`X-Console-Offset` says where it starts).
   */
  app.get('/servers/:server_id/console', { schema: { params: ServerParams, querystring: ConsoleQuery, response: { 200: ConsoleAnswer, ...huaweiErrors } } }, async (req, reply) => {
    const { server_id: serverId } = req.params
    const first = await services.consoles.read(serverId, req.query.offset ?? 0)
    if (req.query.follow !== true) {
      return {
        console: { server_id: first.serverId, host: first.hostName, offset: first.offset, next_offset: first.nextOffset, data: first.data, simulated: first.simulated },
      }
    }
    reply.hijack()
    const res = reply.raw
    res.writeHead(200, {
      'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store', 'x-console-offset': String(first.offset),
      'x-console-host': first.hostName, 'x-request-id': req.id,
    })
    res.write(first.data)
    let offset = first.nextOffset
    let host = first.hostName
    const gone = new Promise<void>((resolve) => res.once('close', resolve))
    let open = true
    void gone.then(() => (open = false))
    following.add(res)
    while (open && !closing) {
      await Promise.race([gone, new Promise((r) => setTimeout(r, CONSOLE_FOLLOW_MS).unref())])
      if (!open) break
      try {
        const next = await services.consoles.read(serverId, offset)
        // A server that moved has a new log on its new host: follow that one from its start.
        if (next.hostName !== host) {
          host = next.hostName
          const fresh = await services.consoles.read(serverId, 0)
          res.write(`\n[ecsd] ${serverId} now runs on host ${fresh.hostName}; its console there follows.\n`)
          res.write(fresh.data)
          offset = fresh.nextOffset
          continue
        }
        if (next.data !== '') res.write(next.data)
        offset = next.nextOffset
      } catch (err) {
        res.write(`\n[ecsd] the console ends here: ${err instanceof Error ? err.message : String(err)}\n`)
        break
      }
    }
    following.delete(res)
    res.end()
  })

  /** The injected faults of the simulated hosts, oldest first. */
  app.get('/faults', { schema: { response: { 200: ListFaultsResponse, ...huaweiErrors } } }, async () => ({ faults: (await services.faults.list()).map(faultBody) }))

  /** Injects a fault: the matching steps of every replica fail or stall from within a second on. */
  app.post('/faults', { schema: { body: CreateFault, response: { 201: FaultResponse, ...huaweiErrors } } }, async (req, reply) => {
    const fault = await services.faults.add(req.body.fault)
    return reply.code(201).send({ fault: faultBody(fault) })
  })

  /** Removes a fault; the steps it stalls go ahead. */
  app.delete('/faults/:fault_id', { schema: { params: FaultParams, response: { 204: NoContent('Removed'), ...huaweiErrors } } }, async (req, reply) => {
    await services.faults.remove(req.params.fault_id)
    return reply.code(204).send()
  })

  app.get('/projects', { schema: { response: { 200: ListProjectsResponse, ...huaweiErrors } } }, async () => ({ projects: (await identity.listProjects()).map((p) => ({ id: p.id, name: p.name, created_at: p.createdAt })) }))

  app.post('/projects', { schema: { body: CreateProject, response: { 201: ProjectResponse, ...huaweiErrors } } }, async (req, reply) => {
    const p = await identity.createProject(req.body.project.name).catch(fromIdentityError)
    return reply.code(201).send({ project: { id: p.id, name: p.name, created_at: p.createdAt } })
  })

  app.get('/projects/:project_id/credentials', { schema: { params: ProjectParams, response: { 200: ListCredentialsResponse, ...huaweiErrors } } }, async (req) => ({
    credentials: (await identity.listCredentials(req.params.project_id)).map(credentialBody),
  }))

  app.post('/projects/:project_id/credentials', { schema: { params: ProjectParams, body: CreateCredential, response: { 201: CredentialResponse, ...huaweiErrors } } }, async (req, reply) => {
    const { admin, description } = req.body.credential
    const c = await identity
      .createCredential(req.params.project_id, { ...(admin === undefined ? {} : { admin }), ...(description === undefined ? {} : { description }) })
      .catch(fromIdentityError)
    // The one and only time the secret leaves ecsd.
    return reply.code(201).header('cache-control', 'no-store').send({ credential: { ...credentialBody(c), secret: c.secretKey } })
  })

  app.delete('/credentials/:access_key', { schema: { params: Type.Object({ access_key: Type.String({ maxLength: 64 }) }, { additionalProperties: false }), response: { 204: NoContent('Revoked'), ...huaweiErrors } } }, async (req, reply) => {
    await identity.revokeCredential(req.params.access_key).catch(fromIdentityError)
    return reply.code(204).send()
  })

  app.post('/projects/:project_id/users', { schema: { params: ProjectParams, body: CreateUser, response: { 201: UserResponse, ...huaweiErrors } } }, async (req, reply) => {
    const { name, password, admin } = req.body.user
    const u = await identity.createUser(req.params.project_id, name, password, admin ?? false).catch(fromIdentityError)
    return reply.code(201).send({ user: { id: u.id, name: u.name, project_id: u.projectId } })
  })
}

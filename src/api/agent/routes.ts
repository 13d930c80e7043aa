import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import { hostAgentForbidden, invalidParameter } from '../../domain/errors.ts'
import type { Services } from '../../services/index.ts'
import { authenticate } from '../auth/authenticate.ts'
import { unstorableText } from '../json.ts'
import { ExpectedServersResponse, HeartbeatResponse, RegisterResponse, TasksResponse } from '../schemas/agent-responses.ts'
import { huaweiErrors, NoContent } from '../schemas/responses.ts'

const HostParams = Type.Object({ host_name: Type.String({ minLength: 1, maxLength: 255 }) }, { additionalProperties: false })
const TaskParams = Type.Object({ host_name: Type.String({ minLength: 1, maxLength: 255 }), task_id: Type.String({ minLength: 1, maxLength: 200 }) }, { additionalProperties: false })

/** How often a long-polling agent's request looks for work. */
const TASK_POLL_MS = 200

const Register = Type.Object(
  {
    agent: Type.Object(
      {
        /** `host:port` where other agents reach this one. */
        address: Type.String({ minLength: 3, maxLength: 255, pattern: '^[^\\s/]+:[0-9]{1,5}$' }),
        vcpus: Type.Optional(Type.Integer({ minimum: 1, maximum: 100_000 })),
        ram_mb: Type.Optional(Type.Integer({ minimum: 1, maximum: 1_000_000_000 })),
        fault_domain: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
      },
      { additionalProperties: false },
    ),
  },
  { additionalProperties: false },
)

const TaskPoll = Type.Object(
  {
    /** One per agent process start: tasks another session took and did not report come back. */
    session: Type.String({ minLength: 8, maxLength: 64, pattern: '^[A-Za-z0-9-]+$' }),
    wait: Type.Optional(Type.Integer({ minimum: 0, maximum: 30 })),
  },
  { additionalProperties: false },
)

const TaskOutcome = Type.Object(
  {
    state: Type.Enum(['done', 'failed']),
    result: Type.Optional(Type.Unknown()),
    error: Type.Optional(Type.String({ maxLength: 4000 })),
  },
  { additionalProperties: false },
)

/** A heartbeat's body: none, `{}`, or `{"fenced": true}` once the agent destroyed what it was told to. */
function fencedOf(body: unknown): boolean {
  if (body === undefined || body === null) return false
  if (typeof body !== 'object' || Array.isArray(body)) throw invalidParameter('a heartbeat body is a JSON object')
  const { fenced, ...rest } = body as { fenced?: unknown }
  const unknown = Object.keys(rest)
  if (unknown.length > 0) throw invalidParameter(`body: unknown field "${unknown[0]}"`)
  if (fenced !== undefined && typeof fenced !== 'boolean') throw invalidParameter('body/fenced must be a boolean')
  return fenced === true
}

/**
 * The host agents' API: each agent signs with its host's own credential (issued once by
 * `ecsd hosts add`), and that credential can report for that host and nothing else — a tenant's
 * or an operator's credential is refused here, and a host's credential is refused everywhere
 * else (it belongs to no project and is no operator).
 */
export const agentRoutes: FastifyPluginAsyncTypebox<{ services: Services }> = async (app, { services }) => {
  app.addHook('preValidation', async (req) => {
    req.principal = await authenticate(services.identity, req, undefined)
    const problem = req.bodyProblem ?? unstorableText({ params: req.params, query: req.query })
    if (problem !== undefined) throw invalidParameter(problem)
  })

  /**
   * A heartbeat. The answer says whether the host is up or fencing; while it is fencing it
   * lists the servers to keep — every other server the host still runs was evacuated and must
   * be destroyed — and the next heartbeat with `"fenced": true` brings the host back up.
   */
  app.post('/hosts/:host_name/heartbeat', { schema: { params: HostParams, response: { 200: HeartbeatResponse, ...huaweiErrors } } }, async (req) => {
    const name = req.params.host_name
    const hostId = await ownHost(req.principal?.hostId, name)
    const answer = await services.hosts.heartbeat(hostId, { fenced: fencedOf(req.body), fromAgent: true })
    return { host: { name, state: answer.state, ...(answer.fence ? { fence: { keep: answer.fence.keep } } : {}) } }
  })

  /**
   * An agent starting on its host: where other agents reach it (disks, live migrations), and
   * optionally the machine's capacity and fault domain, which replace the host record's. Capacity
   * may only grow past what the host's servers already take.
   */
  app.post('/hosts/:host_name/register', { schema: { params: HostParams, body: Register, response: { 200: RegisterResponse, ...huaweiErrors } } }, async (req) => {
    const name = req.params.host_name
    const hostId = await ownHost(req.principal?.hostId, name)
    const b = req.body.agent
    const host = await services.hosts.register(hostId, {
      address: b.address, vcpus: b.vcpus, ramMb: b.ram_mb, faultDomain: b.fault_domain,
    })
    return { host: { name, state: host.state, availability_zone: host.az, fault_domain: host.faultDomain, vcpus: host.vcpus, ram_mb: host.ramMb } }
  })

  /**
   * The agent's work: tasks of its host that are pending, or that an earlier run of the agent
   * (another `session`) took and did not report. Waits up to `wait` seconds for one to come.
   */
  // A long poll would hold a shutdown open for its whole wait: it answers at once instead.
  let closing = false
  app.addHook('preClose', async () => {
    closing = true
  })

  app.get('/hosts/:host_name/tasks', { schema: { params: HostParams, querystring: TaskPoll, response: { 200: TasksResponse, ...huaweiErrors } } }, async (req) => {
    const hostId = await ownHost(req.principal?.hostId, req.params.host_name)
    const deadline = Date.now() + (req.query.wait ?? 0) * 1000
    for (;;) {
      const tasks = await services.agentTasks.claim(hostId, req.query.session)
      if (tasks.length > 0 || Date.now() >= deadline || closing) {
        return { tasks: tasks.map((t) => ({ id: t.id, kind: t.kind, server_id: t.serverId, spec: t.spec })) }
      }
      await new Promise((r) => setTimeout(r, TASK_POLL_MS))
    }
  })

  /** A task's outcome; reporting it again changes nothing. */
  app.post('/hosts/:host_name/tasks/:task_id', { schema: { params: TaskParams, body: TaskOutcome, response: { 204: NoContent('Recorded'), ...huaweiErrors } } }, async (req, reply) => {
    const hostId = await ownHost(req.principal?.hostId, req.params.host_name)
    const b = req.body
    if (b.state === 'failed' && (b.error === undefined || b.error === '')) throw invalidParameter('a failed task needs an error')
    await services.agentTasks.complete(hostId, req.params.task_id, b.state === 'done' ? { state: 'done', result: b.result } : { state: 'failed', error: b.error! })
    return reply.code(204).send()
  })

  /** The servers the control plane puts on this host and how they should be, for the agent's reconciliation. */
  app.get('/hosts/:host_name/servers', { schema: { params: HostParams, response: { 200: ExpectedServersResponse, ...huaweiErrors } } }, async (req) => {
    const hostId = await ownHost(req.principal?.hostId, req.params.host_name)
    const servers = await services.agentTasks.expected(hostId)
    return { servers: servers.map((s) => ({ id: s.id, power: s.power, vcpus: s.vcpus, ram_mb: s.ramMb, image: s.image })) }
  })

  /** The host of this name, if the credential is its agent's; 403 otherwise (whether it exists or not). */
  async function ownHost(credentialHostId: string | undefined, name: string): Promise<string> {
    const host = await services.database.db.selectFrom('hosts').select('id').where('name', '=', name).executeTakeFirst()
    if (!host || credentialHostId !== host.id) throw hostAgentForbidden(name)
    return host.id
  }
}

import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import { hostAgentForbidden, invalidParameter } from '../../domain/errors.ts'
import type { Services } from '../../services/index.ts'
import { authenticate } from '../auth/authenticate.ts'
import { unstorableText } from '../json.ts'

const HostParams = Type.Object({ host_name: Type.String({ minLength: 1, maxLength: 255 }) }, { additionalProperties: false })

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
  app.post('/hosts/:host_name/heartbeat', { schema: { params: HostParams } }, async (req) => {
    const name = req.params.host_name
    const host = await services.database.db.selectFrom('hosts').select('id').where('name', '=', name).executeTakeFirst()
    if (!host || req.principal?.hostId !== host.id) throw hostAgentForbidden(name)
    const answer = await services.hosts.heartbeat(host.id, { fenced: fencedOf(req.body), fromAgent: true })
    return { host: { name, state: answer.state, ...(answer.fence ? { fence: { keep: answer.fence.keep } } : {}) } }
  })
}

import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { GroupPolicy } from '../../domain/group.ts'
import type { Services } from '../../services/index.ts'
import { NovaGroupReader } from '../../services/nova-groups.ts'
import {
  CreateServerGroupV21, CreateServerGroupV215, CreateServerGroupV264, ListServerGroupsQuery, ProjectOnlyParams, ServerGroupParams,
  type CreateServerGroupInput,
} from '../schemas/openstack.ts'
import { ListServerGroupsResponse, ServerGroupResponse } from '../schemas/openstack-responses.ts'
import { NoContent, novaErrors } from '../schemas/responses.ts'
import { callerOf, validBody } from './common.ts'
import { atLeast } from './microversion.ts'
import { serverGroupView } from './views.ts'

/**
 * `os-server-groups`: create, list, show, delete, in the shape of each microversion range
 * (`policies` before 2.64, `policy` + `rules` from 2.64, `project_id`/`user_id` from 2.13). The
 * groups are the v1 API's: one store, two views.
 */
export const serverGroupRoutes: FastifyPluginAsyncTypebox<{ services: Services }> = async (app, { services }) => {
  const reader = new NovaGroupReader(services.database.db, services.groups)

  app.post('/os-server-groups', { schema: { params: ProjectOnlyParams, response: { 200: ServerGroupResponse, ...novaErrors } } }, async (req) => {
    const caller = callerOf(req)
    const v = req.microversion
    const schema = atLeast(v, 2, 64) ? CreateServerGroupV264 : atLeast(v, 2, 15) ? CreateServerGroupV215 : CreateServerGroupV21
    const { server_group: g } = validBody<CreateServerGroupInput>(schema, req.body)
    const policy = (g.policy ?? g.policies![0]) as GroupPolicy
    const max = g.rules?.max_server_per_host
    const created = await services.groups.create(caller.projectId, g.name, policy, {
      // Nova coerces the digit string OpenStackClient sends ("2") to the integer it stores.
      ...(max === undefined ? {} : { maxServerPerHost: Number(max) }),
      userId: caller.userId,
    })
    return { server_group: serverGroupView({ ...created, projectId: caller.projectId }, v) }
  })

  app.get('/os-server-groups', { schema: { params: ProjectOnlyParams, querystring: ListServerGroupsQuery, response: { 200: ListServerGroupsResponse, ...novaErrors } } }, async (req) => {
    const caller = callerOf(req)
    // Only the presence of all_projects counts, and only for admins; anyone else gets their own
    // groups, not an error (Nova's legacy behaviour).
    const all = req.query.all_projects !== undefined && caller.admin
    const groups = await reader.list(all ? undefined : caller.projectId, req.query.limit, req.query.offset ?? 0)
    return { server_groups: groups.map((g) => serverGroupView(g, req.microversion)) }
  })

  app.get('/os-server-groups/:id', { schema: { params: ServerGroupParams, response: { 200: ServerGroupResponse, ...novaErrors } } }, async (req) => {
    const caller = callerOf(req)
    return { server_group: serverGroupView(await reader.show(caller.projectId, req.params.id, caller.admin), req.microversion) }
  })

  app.delete('/os-server-groups/:id', { schema: { params: ServerGroupParams, response: { 204: NoContent('Deleted'), ...novaErrors } } }, async (req, reply) => {
    const caller = callerOf(req)
    const owner = caller.admin ? ((await reader.ownerOf(req.params.id)) ?? caller.projectId) : caller.projectId
    await services.groups.delete(owner, req.params.id)
    return reply.code(204).send()
  })
}

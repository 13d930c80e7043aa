import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { invalidParameter } from '../../domain/errors.ts'
import type { Services } from '../../services/index.ts'
import { CreateGroupBody, GroupActionBody, GroupParams, ListGroupsQuery } from '../schemas/groups.ts'
import { ProjectParams } from '../schemas/common.ts'
import { GroupResponse, ListGroupsResponse } from '../schemas/huawei-responses.ts'
import { huaweiErrors, NoContent } from '../schemas/responses.ts'
import { projectOf } from './project.ts'
import { groupBody } from './views.ts'

/** ECS group routes: create, list, show, delete, and the add_member/remove_member action. */
export const groupRoutes: FastifyPluginAsyncTypebox<{ services: Services }> = async (app, { services }) => {
  const { groups } = services

  app.post('/cloudservers/os-server-groups', { schema: { params: ProjectParams, body: CreateGroupBody, response: { 200: GroupResponse, ...huaweiErrors } } }, async (req) => {
    const { name, policies, fault_domain } = req.body.server_group
    const policy = policies[0]
    if (policy !== 'anti-affinity') {
      throw invalidParameter(`server_group.policies: "${String(policy)}" is not supported; ECS groups support only "anti-affinity"`)
    }
    return { server_group: groupBody(await groups.create(projectOf(req), name, policy, { spreadFaultDomains: fault_domain?.spread === true })) }
  })

  app.get('/cloudservers/os-server-groups', { schema: { params: ProjectParams, querystring: ListGroupsQuery, response: { 200: ListGroupsResponse, ...huaweiErrors } } }, async (req) => {
    const page = await groups.list(projectOf(req), req.query.limit, req.query.marker)
    return {
      server_groups: page.groups.map(groupBody),
      ...(page.nextMarker === undefined ? {} : { page_info: { next_marker: page.nextMarker } }),
    }
  })

  app.get('/cloudservers/os-server-groups/:server_group_id', { schema: { params: GroupParams, response: { 200: GroupResponse, ...huaweiErrors } } }, async (req) => ({
    server_group: groupBody(await groups.show(projectOf(req), req.params.server_group_id)),
  }))

  app.delete('/cloudservers/os-server-groups/:server_group_id', { schema: { params: GroupParams, response: { 204: NoContent('Deleted'), ...huaweiErrors } } }, async (req, reply) => {
    await groups.delete(projectOf(req), req.params.server_group_id)
    return reply.code(204).send()
  })

  app.post(
    '/cloudservers/os-server-groups/:server_group_id/action',
    { schema: { params: GroupParams, body: GroupActionBody, response: { 200: NoContent('Done; the answer has no body'), ...huaweiErrors } } },
    async (req, reply) => {
      const projectId = projectOf(req)
      const groupId = req.params.server_group_id
      if (req.body.add_member) await groups.addMember(projectId, groupId, req.body.add_member.instance_uuid)
      else if (req.body.remove_member) await groups.removeMember(projectId, groupId, req.body.remove_member.instance_uuid)
      return reply.code(200).send()
    },
  )
}

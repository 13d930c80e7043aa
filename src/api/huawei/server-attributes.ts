import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { Services } from '../../services/index.ts'
import {
  addTags, deleteMetadata, deleteTags, projectTags, renameServers, serversByTag, setAutoTerminateTime, showMetadataOptions, showTags,
  updateMetadata, updateMetadataOptions, updateServer,
} from '../../services/server-attributes.ts'
import type { ServerRecord } from '../../services/servers.ts'
import { ProjectParams } from '../schemas/common.ts'
import { DryRunResponse } from '../schemas/huawei-responses.ts'
import { huaweiErrors, NoContent } from '../schemas/responses.ts'
import {
  BatchUpdateServersNameBody, BatchUpdateServersNameResponse, ListServersByTagBody, ListServersByTagResponse, ListServerTagsResponse,
  MetadataKeyParams, MetadataOptionsResponse, ServerTagsActionBody, ShowServerTagsResponse, UpdateAutoTerminateTimeBody,
  UpdateMetadataOptionsBody, UpdateServerBody, UpdateServerMetadataBody, UpdateServerMetadataResponse, UpdateServerResponse,
} from '../schemas/server-attributes.ts'
import { ServerParams } from '../schemas/servers.ts'
import { projectOf } from './project.ts'
import { serverBody } from './views.ts'

/**
 * `UpdateServerResult`: the server as `updateServer` answers it — the show view with the older
 * shapes of that answer (the image as its id, the flavor as id and links, addresses with a
 * numeric version).
 */
function updateServerBody(r: ServerRecord) {
  const s = serverBody(r)
  const addresses = s.addresses as Record<string, Array<{ version: string; addr: string }>>
  return {
    id: s.id,
    name: s.name,
    status: s.status,
    tenant_id: s.tenant_id,
    user_id: s.user_id,
    image: s.image.id,
    flavor: { id: s.flavor.id, links: [] },
    hostId: s.hostId,
    'OS-EXT-SRV-ATTR:hostname': s['OS-EXT-SRV-ATTR:hostname'],
    'OS-EXT-SRV-ATTR:user_data': s['OS-EXT-SRV-ATTR:user_data'],
    addresses: Object.fromEntries(Object.entries(addresses).map(([vpc, list]) => [vpc, list.map((a) => ({ version: Number(a.version), addr: a.addr }))])),
    metadata: s.metadata,
    tags: s.tags,
    created: s.created,
    updated: s.updated,
    progress: s.progress,
    links: [],
    accessIPv4: s.accessIPv4,
    accessIPv6: s.accessIPv6,
    locked: s.locked,
    description: s.description,
    'OS-DCF:diskConfig': s['OS-DCF:diskConfig'],
  }
}

/** A server's name, description, tags, metadata, metadata options and auto-terminate time (under /v1/{project_id}). */
export const serverAttributeRoutes: FastifyPluginAsyncTypebox<{ services: Services }> = async (app, { services }) => {
  const { database, servers } = services

  app.put('/cloudservers/:server_id', { schema: { params: ServerParams, body: UpdateServerBody, response: { 200: UpdateServerResponse, ...huaweiErrors } } }, async (req) => {
    const projectId = projectOf(req)
    const { name, description, hostname, user_data } = req.body.server
    await updateServer(database, projectId, req.params.server_id, { name, description, hostname, userData: user_data })
    return { server: updateServerBody(await servers.show(projectId, req.params.server_id)) }
  })

  app.put('/cloudservers/server-name', { schema: { params: ProjectParams, body: BatchUpdateServersNameBody, response: { 200: BatchUpdateServersNameResponse, 202: DryRunResponse, ...huaweiErrors } } }, async (req, reply) => {
    const dryRun = req.body.dry_run === true
    const renamed = await renameServers(database, projectOf(req), req.body.name, req.body.servers.map((s) => s.id), dryRun)
    if (dryRun) return reply.code(202).send({})
    return { response: renamed.map((id) => ({ id })) }
  })

  app.post('/cloudservers/:server_id/tags/action', { schema: { params: ServerParams, body: ServerTagsActionBody, response: { 204: NoContent('Done'), ...huaweiErrors } } }, async (req, reply) => {
    const change = req.body.action === 'create' ? addTags : deleteTags
    await change(database, projectOf(req), req.params.server_id, req.body.tags)
    return reply.code(204).send()
  })

  app.get('/cloudservers/tags', { schema: { params: ProjectParams, response: { 200: ListServerTagsResponse, ...huaweiErrors } } }, async (req) => ({
    tags: await projectTags(database, projectOf(req)),
  }))

  app.get('/cloudservers/:server_id/tags', { schema: { params: ServerParams, response: { 200: ShowServerTagsResponse, ...huaweiErrors } } }, async (req) => ({
    tags: await showTags(database, projectOf(req), req.params.server_id),
  }))

  app.post('/cloudservers/resource_instances/action', { schema: { params: ProjectParams, body: ListServersByTagBody, response: { 200: ListServersByTagResponse, ...huaweiErrors } } }, async (req) => {
    const b = req.body
    const countOnly = b.action === 'count'
    const found = await serversByTag(database, projectOf(req), {
      tags: b.tags ?? [], notTags: b.not_tags ?? [], name: b.matches?.[0]?.value, limit: b.limit, offset: b.offset,
    }, countOnly)
    if (countOnly) return { total_count: found.total }
    return {
      resources: found.servers.map((s) => ({ resource_id: s.id, resource_detail: '', tags: s.tags, resource_name: s.name })),
      total_count: found.total,
    }
  })

  app.post('/cloudservers/:server_id/metadata', { schema: { params: ServerParams, body: UpdateServerMetadataBody, response: { 200: UpdateServerMetadataResponse, ...huaweiErrors } } }, async (req) => ({
    metadata: await updateMetadata(database, projectOf(req), req.params.server_id, req.body.metadata),
  }))

  app.delete('/cloudservers/:server_id/metadata/:key', { schema: { params: MetadataKeyParams, response: { 204: NoContent('Deleted'), ...huaweiErrors } } }, async (req, reply) => {
    await deleteMetadata(database, projectOf(req), req.params.server_id, req.params.key)
    return reply.code(204).send()
  })

  app.get('/cloudservers/:server_id/metadata-options', { schema: { params: ServerParams, response: { 200: MetadataOptionsResponse, ...huaweiErrors } } }, async (req) => {
    const o = await showMetadataOptions(database, projectOf(req), req.params.server_id)
    return { http_endpoint: o.httpEndpoint, http_tokens: o.httpTokens }
  })

  app.put('/cloudservers/:server_id/metadata-options', { schema: { params: ServerParams, body: UpdateMetadataOptionsBody, response: { 200: NoContent('Done; the answer has no body'), ...huaweiErrors } } }, async (req, reply) => {
    await updateMetadataOptions(database, projectOf(req), req.params.server_id, req.body)
    return reply.code(200).send()
  })

  app.post(
    '/cloudservers/:server_id/actions/update-auto-terminate-time',
    { schema: { params: ServerParams, body: UpdateAutoTerminateTimeBody, response: { 200: NoContent('Done; the answer has no body'), ...huaweiErrors } } },
    async (req, reply) => {
      await setAutoTerminateTime(database, projectOf(req), req.params.server_id, req.body.auto_terminate_time)
      return reply.code(200).send()
    },
  )
}

import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { invalidParameter } from '../../domain/errors.ts'
import type { Static } from 'typebox'
import type { CreateResources } from '../../services/server-resources.ts'
import type { CreateServersInput } from '../../services/servers.ts'
import type { Services } from '../../services/index.ts'
import { listFlavors, projectLimits } from '../../services/catalogue.ts'
import { showJob } from '../../services/jobs.ts'
import { listOfIds, parseTagFilter } from '../../services/server-filters.ts'
import { ProjectParams } from '../schemas/common.ts'
import {
  CreateServersResponse, DryRunResponse, JobResponse, LimitsResponse, ListFlavorsResponse, ListServersResponse, ShowServerResponse,
} from '../schemas/huawei-responses.ts'
import { huaweiErrors, JobAccepted } from '../schemas/responses.ts'
import {
  CreateServersBody, DeleteServersBody, JobParams, ListFlavorsQuery, ListServersQuery, ServerActionBody, ServerParams,
} from '../schemas/servers.ts'
import { projectOf } from './project.ts'
import { flavorBody, jobBody, limitsBody, serverBody } from './views.ts'

/**
 * What a create request (`createPostPaidServers`, `createServers`) asks the server service for:
 * placement's part and every server's resources.
 */
export function createInputOf(body: Static<typeof CreateServersBody>, clientToken: string | string[] | undefined): CreateServersInput {
  const s = body.server
  return {
    name: s.name,
    flavorRef: s.flavorRef,
    imageRef: s.imageRef,
    vpcId: s.vpcid,
    count: s.count ?? 1,
    availabilityZone: s.availability_zone,
    groupId: s['os:scheduler_hints']?.group,
    dedicatedHostId: s['os:scheduler_hints']?.dedicated_host_id,
    tenancy: s['os:scheduler_hints']?.tenancy,
    metadata: s.metadata ?? {},
    clientToken: typeof clientToken === 'string' && clientToken !== '' ? clientToken : undefined,
    dryRun: body.dry_run === true,
    resources: {
      nics: s.nics,
      rootVolume: s.root_volume,
      dataVolumes: (s.data_volumes ?? []) as Array<Record<string, unknown>>,
      serverTags: (s.server_tags ?? []) as Array<{ key: string; value?: string }>,
      legacyTags: s.tags ?? [],
      adminPass: s.adminPass,
      keyName: s.key_name,
      userData: s.user_data,
      description: s.description,
      metadataOptions: s.metadata_options as CreateResources['metadataOptions'],
      serialConsoleOptions: s.serial_console_options as CreateResources['serialConsoleOptions'],
      autoTerminateTime: s.auto_terminate_time,
    },
  }
}

/** Server lifecycle, jobs, flavors and limits routes. */
export const serverRoutes: FastifyPluginAsyncTypebox<{ services: Services }> = async (app, { services }) => {
  const { servers, database, quotas } = services

  app.post('/cloudservers', { schema: { params: ProjectParams, body: CreateServersBody, response: { 200: CreateServersResponse, 202: DryRunResponse, ...huaweiErrors } } }, async (req, reply) => {
    const accepted = await servers.create(projectOf(req), createInputOf(req.body, req.headers['x-client-token']))
    if (req.body.dry_run === true) return reply.code(202).send({})
    return { job_id: accepted.jobId, serverIds: accepted.serverIds }
  })

  app.get('/cloudservers/detail', { schema: { params: ProjectParams, querystring: ListServersQuery, response: { 200: ListServersResponse, ...huaweiErrors } } }, async (req) => {
    const q = req.query
    const page = await servers.list(projectOf(req), {
      offset: q.offset ?? 1,
      limit: q.limit ?? 25,
      status: q.status,
      name: q.name,
      flavor: q.flavor,
      marker: q.marker,
      enterpriseProjectId: q.enterprise_project_id,
      ip: q.ip,
      ipEq: q.ip_eq,
      tags: q.tags === undefined ? undefined : parseTagFilter(q.tags),
      notTags: q['not-tags'] === undefined ? undefined : parseTagFilter(q['not-tags']),
      reservationId: q.reservation_id,
      serverIds: q.server_id === undefined ? undefined : listOfIds(q.server_id),
    })
    return { count: page.total, servers: page.servers.map(serverBody) }
  })

  app.get('/cloudservers/flavors', { schema: { params: ProjectParams, querystring: ListFlavorsQuery, response: { 200: ListFlavorsResponse, ...huaweiErrors } } }, async (req) => {
    const { availability_zone: zone, flavor_id: flavorId, limit = 1000, marker } = req.query
    const flavors = (await listFlavors(database.db, zone)).filter((f) => flavorId === undefined || f.id === flavorId)
    // The catalogue is small: a page is a slice of the listed order, after the marker's flavor.
    const start = marker === undefined ? 0 : flavors.findIndex((f) => f.id === marker) + 1
    if (start === 0 && marker !== undefined) throw invalidParameter(`marker ${marker} is not a flavor of this list`)
    const zones = await database.db.selectFrom('hosts').select('az').distinct().orderBy('az').execute()
    return { flavors: flavors.slice(start, start + limit).map((f) => flavorBody(f, zones.map((z) => z.az))) }
  })

  app.get('/cloudservers/limits', { schema: { params: ProjectParams, response: { 200: LimitsResponse, ...huaweiErrors } } }, async (req) =>
    limitsBody(await projectLimits(database.db, projectOf(req), quotas)),
  )

  app.get('/cloudservers/:server_id', { schema: { params: ServerParams, response: { 200: ShowServerResponse, ...huaweiErrors } } }, async (req) => ({
    server: serverBody(await servers.show(projectOf(req), req.params.server_id)),
  }))

  app.post('/cloudservers/action', { schema: { params: ProjectParams, body: ServerActionBody, response: { 200: JobAccepted, ...huaweiErrors } } }, async (req) => {
    const projectId = projectOf(req)
    const { 'os-start': start, 'os-stop': stop, reboot } = req.body
    const ids = (list: Array<{ id: string }>) => list.map((s) => s.id)
    const accepted = start
      ? await servers.start(projectId, ids(start.servers))
      : reboot
        ? await servers.reboot(projectId, ids(reboot.servers), reboot.type)
        : await servers.stop(projectId, ids(stop!.servers))
    return { job_id: accepted.jobId }
  })

  app.post('/cloudservers/delete', { schema: { params: ProjectParams, body: DeleteServersBody, response: { 200: JobAccepted, ...huaweiErrors } } }, async (req) => {
    const accepted = await servers.delete(projectOf(req), req.body.servers.map((s) => s.id))
    return { job_id: accepted.jobId }
  })

  app.get('/jobs/:job_id', { schema: { params: JobParams, response: { 200: JobResponse, ...huaweiErrors } } }, async (req) =>
    jobBody(await showJob(database.db, projectOf(req), req.params.job_id)),
  )
}

import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { FastifyRequest } from 'fastify'
import { invalidParameter } from '../../domain/errors.ts'
import { flavorCapacity, listResizeFlavors } from '../../services/catalogue.ts'
import type { Services } from '../../services/index.ts'
import { ProjectParams } from '../schemas/common.ts'
import {
  BatchResizeServersBody, FlavorParams, ListResizeFlavorsQuery, MigrateServerBody, ResizePostPaidServerBody, ResizeServerBody,
} from '../schemas/moves.ts'
import { ServerParams } from '../schemas/servers.ts'
import { DryRunResponse, FlavorResourcesResponse, ListResizeFlavorsResponse } from '../schemas/huawei-responses.ts'
import { huaweiErrors, JobAccepted } from '../schemas/responses.ts'
import { projectOf } from './project.ts'
import { resizeFlavorBody } from './views.ts'

/** Operations without a request body accept none (an empty JSON object is tolerated). */
export function assertNoBody(req: FastifyRequest): void {
  const body = req.body
  if (body === undefined || body === null) return
  if (typeof body === 'object' && !Array.isArray(body) && Object.keys(body).length === 0) return
  throw invalidParameter(`${req.method} ${req.routeOptions.url ?? ''} takes no request body`)
}

/**
 * Resize, migration and redeploy under /v1/{project_id}, and the read-only resize helpers
 * (`resize_flavors`, a flavor's capacity). `resizeServer` itself lives under /v1.1: see
 * `resizeV11Routes`.
 */
export const moveRoutes: FastifyPluginAsyncTypebox<{ services: Services }> = async (app, { services }) => {
  const { moves, database, config } = services

  app.post('/cloudservers/:server_id/resize', { schema: { params: ServerParams, body: ResizePostPaidServerBody, response: { 200: JobAccepted, 202: DryRunResponse, ...huaweiErrors } } }, async (req, reply) => {
    const { flavorRef, mode } = req.body.resize
    const dryRun = req.body.dry_run === true
    const accepted = await moves.resize(projectOf(req), [req.params.server_id], { flavorRef, mode, dryRun }, false)
    if (dryRun) return reply.code(202).send({})
    return { job_id: accepted.jobId }
  })

  app.post('/cloudservers/batch-resize', { schema: { params: ProjectParams, body: BatchResizeServersBody, response: { 200: JobAccepted, ...huaweiErrors } } }, async (req) => {
    const { flavorRef, mode, servers } = req.body.resize
    const accepted = await moves.resize(projectOf(req), servers.map((s) => s.id), { flavorRef, mode, dryRun: false }, true)
    return { job_id: accepted.jobId }
  })

  app.post('/cloudservers/:server_id/migrate', { schema: { params: ServerParams, body: MigrateServerBody, response: { 200: JobAccepted, ...huaweiErrors } } }, async (req) => {
    const target = req.body.migrate?.dedicated_host_id ?? null
    return { job_id: (await moves.migrate(projectOf(req), req.params.server_id, target)).jobId }
  })

  app.post('/cloudservers/:server_id/actions/redeploy', { schema: { params: ServerParams, response: { 200: JobAccepted, ...huaweiErrors } } }, async (req) => {
    assertNoBody(req)
    return { job_id: (await moves.redeploy(projectOf(req), req.params.server_id)).jobId }
  })

  app.get('/cloudservers/resize_flavors', { schema: { params: ProjectParams, querystring: ListResizeFlavorsQuery, response: { 200: ListResizeFlavorsResponse, ...huaweiErrors } } }, async (req) => {
    const q = req.query
    const flavors = await listResizeFlavors(database.db, projectOf(req), {
      instanceUuid: q.instance_uuid,
      sourceFlavorId: q.source_flavor_id,
      sourceFlavorName: q.source_flavor_name,
      sortKey: q.sort_key ?? 'flavorid',
      sortDir: q.sort_dir ?? 'asc',
      limit: q.limit ?? 1000,
      marker: q.marker,
    })
    const zones = await database.db.selectFrom('hosts').select('az').distinct().orderBy('az').execute()
    return { flavors: flavors.map((f) => resizeFlavorBody(f, zones.map((z) => z.az))) }
  })

  app.get('/cloudservers/flavors/:flavor_id/resources', { schema: { params: FlavorParams, response: { 200: FlavorResourcesResponse, ...huaweiErrors } } }, async (req) => ({
    resources: (await flavorCapacity(database.db, req.params.flavor_id)).map((c) => ({
      region_id: config.region,
      availability_zone: c.availabilityZone,
      prefer: c.prefer,
    })),
  }))
}

/** `resizeServer`: `POST /v1.1/{project_id}/cloudservers/{server_id}/resize`. */
export const resizeV11Routes: FastifyPluginAsyncTypebox<{ services: Services }> = async (app, { services }) => {
  app.post('/cloudservers/:server_id/resize', { schema: { params: ServerParams, body: ResizeServerBody, response: { 200: JobAccepted, 202: DryRunResponse, ...huaweiErrors } } }, async (req, reply) => {
    const { flavorRef, mode, dedicated_host_id } = req.body.resize
    const dryRun = req.body.dry_run === true
    const accepted = await services.moves.resize(projectOf(req), [req.params.server_id], { flavorRef, mode, dedicatedHostId: dedicated_host_id, dryRun }, false)
    if (dryRun) return reply.code(202).send({})
    return { job_id: accepted.jobId }
  })
}

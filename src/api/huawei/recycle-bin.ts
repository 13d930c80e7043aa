import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { Services } from '../../services/index.ts'
import { ProjectParams } from '../schemas/common.ts'
import { ListRecycleBinServersQuery, UpdateRecycleBinBody, UpdateRecycleBinPolicyBody } from '../schemas/moves.ts'
import { ServerParams } from '../schemas/servers.ts'
import { RecycleBinResponse, RecycleBinServersResponse } from '../schemas/huawei-responses.ts'
import { EmptyObject, huaweiErrors, JobAccepted, NoContent } from '../schemas/responses.ts'
import { assertNoBody } from './moves.ts'
import { projectOf } from './project.ts'
import { serverBody } from './views.ts'

/** The recycle bin: its switch and policy, the servers in it, revert and delete for good. */
export const recycleBinRoutes: FastifyPluginAsyncTypebox<{ services: Services }> = async (app, { services }) => {
  const { recycleBin } = services

  app.get('/recycle-bin', { schema: { params: ProjectParams, response: { 200: RecycleBinResponse, ...huaweiErrors } } }, async (req) => {
    const bin = await recycleBin.show(projectOf(req))
    // Flat, as the SDK's model and the API page's example have it.
    return {
      project_id: bin.projectId,
      switch: bin.on ? 'on' : 'off',
      policy: { recycle_threshold_day: bin.recycleThresholdDay, retention_hour: bin.retentionHour },
    }
  })

  app.put('/recycle-bin', { schema: { params: ProjectParams, body: UpdateRecycleBinBody, response: { 200: NoContent('Done; the answer has no body'), ...huaweiErrors } } }, async (req, reply) => {
    await recycleBin.setSwitch(projectOf(req), req.body.recycle_bin.switch === 'on')
    return reply.code(200).send()
  })

  app.put('/recycle-bin/policy', { schema: { params: ProjectParams, body: UpdateRecycleBinPolicyBody, response: { 200: EmptyObject, ...huaweiErrors } } }, async (req) => {
    await recycleBin.setPolicy(projectOf(req), req.body.policy.recycle_threshold_day, req.body.policy.retention_hour)
    return {}
  })

  app.get('/recycle-bin/cloudservers', { schema: { params: ProjectParams, querystring: ListRecycleBinServersQuery, response: { 200: RecycleBinServersResponse, ...huaweiErrors } } }, async (req) => {
    const q = req.query
    const limit = q.limit ?? 25
    const servers = await recycleBin.list(projectOf(req), {
      limit,
      // A 1-based page number, as Huawei documents it (0 is the first page too), not a count.
      offset: (Math.max(1, q.offset ?? 1) - 1) * limit,
      marker: q.marker,
      name: q.name,
      availabilityZone: q.availability_zone,
    })
    return { servers: servers.map(serverBody) }
  })

  app.post('/recycle-bin/cloudservers/:server_id/actions/revert', { schema: { params: ServerParams, response: { 200: JobAccepted, ...huaweiErrors } } }, async (req) => {
    assertNoBody(req)
    return { job_id: (await recycleBin.revert(projectOf(req), req.params.server_id)).jobId }
  })

  app.delete('/recycle-bin/cloudservers/:server_id', { schema: { params: ServerParams, response: { 200: JobAccepted, ...huaweiErrors } } }, async (req) => ({
    job_id: (await recycleBin.deleteForGood(projectOf(req), req.params.server_id)).jobId,
  }))
}

import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { Services } from '../../services/index.ts'
import { ProjectParams } from '../schemas/common.ts'
import { ListRecycleBinServersQuery, UpdateRecycleBinBody, UpdateRecycleBinPolicyBody } from '../schemas/moves.ts'
import { ServerParams } from '../schemas/servers.ts'
import { assertNoBody } from './moves.ts'
import { projectOf } from './project.ts'
import { serverBody } from './views.ts'

/** The recycle bin: its switch and policy, the servers in it, revert and delete for good. */
export const recycleBinRoutes: FastifyPluginAsyncTypebox<{ services: Services }> = async (app, { services }) => {
  const { recycleBin } = services

  app.get('/recycle-bin', { schema: { params: ProjectParams } }, async (req) => {
    const bin = await recycleBin.show(projectOf(req))
    // Flat, as the SDK's model and the API page's example have it.
    return {
      project_id: bin.projectId,
      switch: bin.on ? 'on' : 'off',
      policy: { recycle_threshold_day: bin.recycleThresholdDay, retention_hour: bin.retentionHour },
    }
  })

  app.put('/recycle-bin', { schema: { params: ProjectParams, body: UpdateRecycleBinBody } }, async (req, reply) => {
    await recycleBin.setSwitch(projectOf(req), req.body.recycle_bin.switch === 'on')
    return reply.code(200).send()
  })

  app.put('/recycle-bin/policy', { schema: { params: ProjectParams, body: UpdateRecycleBinPolicyBody } }, async (req) => {
    await recycleBin.setPolicy(projectOf(req), req.body.policy.recycle_threshold_day, req.body.policy.retention_hour)
    return {}
  })

  app.get('/recycle-bin/cloudservers', { schema: { params: ProjectParams, querystring: ListRecycleBinServersQuery } }, async (req) => {
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

  app.post('/recycle-bin/cloudservers/:server_id/actions/revert', { schema: { params: ServerParams } }, async (req) => {
    assertNoBody(req)
    return { job_id: (await recycleBin.revert(projectOf(req), req.params.server_id)).jobId }
  })

  app.delete('/recycle-bin/cloudservers/:server_id', { schema: { params: ServerParams } }, async (req) => ({
    job_id: (await recycleBin.deleteForGood(projectOf(req), req.params.server_id)).jobId,
  }))
}

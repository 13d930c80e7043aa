import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { Services } from '../../services/index.ts'
import { VolumeService, type BlockDevice } from '../../services/volumes.ts'
import { DryRunResponse } from '../schemas/huawei-responses.ts'
import { huaweiErrors, JobAccepted, NoContent } from '../schemas/responses.ts'
import { ServerParams } from '../schemas/servers.ts'
import {
  AppendableVolumeQuotaResponse, AttachVolumeBody, BatchAttachVolumesBody, BatchDetachVolumesBody, BlockDeviceResponse, BlockDevicesResponse,
  DetachVolumeQuery, ServerVolumeParams, UpdateBlockDeviceBody, VolumeAttachmentsResponse, VolumeParams,
} from '../schemas/volumes.ts'
import { projectOf } from './project.ts'

/** A block device as `ServerBlockDevice` words it; a data disk's boot index reads -1. */
function blockDeviceBody(d: BlockDevice) {
  return {
    id: d.volumeId, volumeId: d.volumeId, serverId: d.serverId, device: d.device, bootIndex: d.bootIndex ?? -1, size: d.sizeGb, bus: d.bus, pciAddress: d.pciAddress,
  }
}

/**
 * Volumes attached to servers (under /v1/{project_id}): attach and detach, one server or a batch
 * (shared disks), the block-device reads and the release policy of a data disk. Changes are
 * done when the answer leaves; their job reads SUCCESS with one sub-job per server.
 */
export const volumeRoutes: FastifyPluginAsyncTypebox<{ services: Services }> = async (app, { services }) => {
  const volumes = new VolumeService({ database: services.database, jobs: services.jobs })

  app.post('/cloudservers/:server_id/attachvolume', {
    schema: { params: ServerParams, body: AttachVolumeBody, response: { 200: JobAccepted, 202: DryRunResponse, ...huaweiErrors } },
  }, async (req, reply) => {
    const a = req.body.volumeAttachment
    const dryRun = req.body.dry_run === true
    const jobId = await volumes.attach(projectOf(req), req.params.server_id, { volumeId: a.volumeId, device: a.device, count: a.count ?? 1, dryRun })
    if (jobId === undefined) return reply.code(202).send({})
    return { job_id: jobId }
  })

  app.delete('/cloudservers/:server_id/detachvolume/:volume_id', {
    schema: { params: ServerVolumeParams, querystring: DetachVolumeQuery, response: { 200: JobAccepted, ...huaweiErrors } },
  }, async (req) => ({ job_id: await volumes.detach(projectOf(req), req.params.volume_id, [req.params.server_id]) }))

  app.post('/batchaction/detachvolumes/:volume_id', {
    schema: { params: VolumeParams, body: BatchDetachVolumesBody, response: { 200: JobAccepted, ...huaweiErrors } },
  }, async (req) => ({ job_id: await volumes.detach(projectOf(req), req.params.volume_id, req.body.serverinfo) }))

  app.post('/batchaction/attachvolumes/:volume_id', {
    schema: { params: VolumeParams, body: BatchAttachVolumesBody, response: { 200: JobAccepted, ...huaweiErrors } },
  }, async (req) => ({
    job_id: await volumes.attachShared(projectOf(req), req.params.volume_id, req.body.serverinfo.map((s) => ({ serverId: s.server_id, device: s.device }))),
  }))

  app.get('/cloudservers/:server_id/block_device', {
    schema: { params: ServerParams, response: { 200: BlockDevicesResponse, ...huaweiErrors } },
  }, async (req) => {
    const { devices, free } = await volumes.list(projectOf(req), req.params.server_id)
    return { attachableQuantity: { free_scsi: free, free_blk: free, free_disk: free }, volumeAttachments: devices.map(blockDeviceBody) }
  })

  app.get('/cloudservers/:server_id/block_device/:volume_id', {
    schema: { params: ServerVolumeParams, response: { 200: BlockDeviceResponse, ...huaweiErrors } },
  }, async (req) => ({ volumeAttachment: blockDeviceBody(await volumes.show(projectOf(req), req.params.server_id, req.params.volume_id)) }))

  app.put('/cloudservers/:server_id/block_device/:volume_id', {
    schema: { params: ServerVolumeParams, body: UpdateBlockDeviceBody, response: { 200: NoContent('Updated; the answer has no body'), ...huaweiErrors } },
  }, async (req, reply) => {
    await volumes.updateDeleteOnTermination(projectOf(req), req.params.server_id, req.params.volume_id, req.body.block_device.delete_on_termination)
    return reply.code(200).send()
  })

  app.get('/cloudservers/:server_id/os-volume_attachments', {
    schema: { params: ServerParams, response: { 200: VolumeAttachmentsResponse, ...huaweiErrors } },
  }, async (req) => ({
    volumeAttachments: (await volumes.list(projectOf(req), req.params.server_id)).devices.map((d) => ({ id: d.volumeId, volumeId: d.volumeId, serverId: d.serverId, device: d.device })),
  }))

  app.get('/cloudservers/:server_id/appendvolumequota', {
    schema: { params: ServerParams, response: { 200: AppendableVolumeQuotaResponse, ...huaweiErrors } },
  }, async (req) => {
    const { free } = await volumes.list(projectOf(req), req.params.server_id)
    return { free_scsi: free, free_blk: free, count: free }
  })
}

import assert from 'node:assert/strict'
import type { OperationChecks, OperationContext, Wire } from './types.ts'

/** A new server with data disks (`shared` ones are multi-attach), through the SDK's create model. */
function serverWithDisks(c: OperationContext, disks: Array<{ shared?: boolean; keep?: boolean }>): Promise<string> {
  return c.server({
    dataVolumes: disks.map((d) => {
      const volume = new c.ecs.PostPaidServerDataVolume('SSD', 10)
      if (d.shared === true) volume.withMultiattach(true)
      if (d.keep === true) volume.withDeleteOnTermination(false)
      return volume
    }),
  })
}

async function blockDevices(c: OperationContext, serverId: string): Promise<Wire> {
  const r = await c.client['listServerBlockDevices']!(new c.ecs.ListServerBlockDevicesRequest(serverId))
  assert.equal(r.httpStatusCode, 200, `listServerBlockDevices ${serverId}`)
  return r
}

/** The volume at `device` of a server, read through listServerBlockDevices. */
async function volumeAt(c: OperationContext, serverId: string, device: string): Promise<string> {
  const found = ((await blockDevices(c, serverId))['volumeAttachments'] as Wire[]).find((d) => d['device'] === device)
  assert.ok(found, `${serverId} has ${device}`)
  return String(found['volumeId'])
}

const devicesOf = async (c: OperationContext, serverId: string): Promise<string[]> =>
  ((await blockDevices(c, serverId))['volumeAttachments'] as Wire[]).map((d) => `${String(d['device'])}=${String(d['volumeId'])}`)

function detach(c: OperationContext, serverId: string, volumeId: string) {
  return c.client['detachServerVolume']!(new c.ecs.DetachServerVolumeRequest(serverId, volumeId).withDeleteFlag('0'))
}

function attach(c: OperationContext, serverId: string, option: InstanceType<OperationContext['ecs']['AttachServerVolumeOption']>, dryRun = false) {
  return c.client['attachServerVolume']!(new c.ecs.AttachServerVolumeRequest(serverId).withBody(new c.ecs.AttachServerVolumeRequestBody(option).withDryRun(dryRun)))
}

/** SDK checks of volumes and block devices. */
export const checks: OperationChecks = {
  attachServerVolume: async (c) => {
    const from = await serverWithDisks(c, [{}])
    const to = await c.server()
    const disk = await volumeAt(c, from, '/dev/vdb')
    await c.refused(attach(c, to, new c.ecs.AttachServerVolumeOption(disk)), 400, 'Ecs.0103', 'a disk another server has')
    await c.job((await detach(c, from, disk))['job_id'] as string, 'detachServerVolume')
    const dry = await attach(c, to, new c.ecs.AttachServerVolumeOption(disk).withDevice('/dev/vdc'), true)
    assert.equal(dry.httpStatusCode, 202)
    const r = await attach(c, to, new c.ecs.AttachServerVolumeOption(disk).withDevice('/dev/vdc'))
    const job = await c.job(r['job_id'] as string, 'attachServerVolume')
    assert.equal(job.job_type, 'attachVolume')
    assert.deepEqual((await devicesOf(c, to)).slice(1), [`/dev/vdc=${disk}`])
  },
  detachServerVolume: async (c) => {
    const id = await serverWithDisks(c, [{}])
    const [system, disk] = ((await blockDevices(c, id))['volumeAttachments'] as Wire[]).map((d) => String(d['volumeId']))
    await c.refused(detach(c, id, system!), 400, 'Ecs.0100', 'the system disk of a running server')
    const job = await c.job((await detach(c, id, disk!))['job_id'] as string, 'detachServerVolume')
    assert.deepEqual(job.entities.sub_jobs?.map((s) => [s.status, s.entities.server_id]), [['SUCCESS', id]])
    assert.deepEqual(await devicesOf(c, id), [`/dev/vda=${system}`])
    await c.refused(detach(c, id, disk!), 400, 'Ecs.0111', 'a disk no longer attached')
  },
  batchAttachSharableVolumes: async (c) => {
    const owner = await serverWithDisks(c, [{ shared: true }])
    const other = await c.server()
    const shared = await volumeAt(c, owner, '/dev/vdb')
    const r = await c.client['batchAttachSharableVolumes']!(
      new c.ecs.BatchAttachSharableVolumesRequest(shared).withBody(
        new c.ecs.BatchAttachSharableVolumesRequestBody([new c.ecs.BatchAttachSharableVolumesOption(other).withDevice('/dev/vdd')]),
      ),
    )
    await c.job(r['job_id'] as string, 'batchAttachSharableVolumes')
    assert.equal(await volumeAt(c, other, '/dev/vdd'), shared)
    assert.equal(await volumeAt(c, owner, '/dev/vdb'), shared)
  },
  batchDetachVolumes: async (c) => {
    const id = await serverWithDisks(c, [{}])
    const disk = await volumeAt(c, id, '/dev/vdb')
    const r = await c.client['batchDetachVolumes']!(new c.ecs.BatchDetachVolumesRequest(disk).withBody(new c.ecs.VolumeBatchDetachRequest([id])))
    const job = await c.job(r['job_id'] as string, 'batchDetachVolumes')
    assert.equal(job.job_type, 'detachVolume')
    assert.equal((await devicesOf(c, id)).length, 1)
  },
  listServerBlockDevices: async (c) => {
    const id = await serverWithDisks(c, [{}, { shared: true }])
    const r = await blockDevices(c, id)
    assert.deepEqual(r['attachableQuantity'], { free_scsi: 21, free_blk: 21, free_disk: 21 })
    assert.deepEqual((r['volumeAttachments'] as Wire[]).map((d) => [d['device'], d['bootIndex'], d['size'], d['serverId'], d['id'] === d['volumeId']]), [
      ['/dev/vda', 0, 40, id, true], ['/dev/vdb', -1, 10, id, true], ['/dev/vdc', -1, 10, id, true],
    ])
  },
  showServerBlockDevice: async (c) => {
    const id = await c.sharedServer()
    const [system] = (await blockDevices(c, id))['volumeAttachments'] as Wire[]
    const r = await c.client['showServerBlockDevice']!(new c.ecs.ShowServerBlockDeviceRequest(id, String(system!['volumeId'])))
    assert.equal(r.httpStatusCode, 200)
    assert.deepEqual(r['volumeAttachment'], system)
    await c.refused(c.client['showServerBlockDevice']!(new c.ecs.ShowServerBlockDeviceRequest(id, 'no-such-volume')), 404, 'Ecs.0111', 'a volume the server does not have')
  },
  updateServerBlockDevice: async (c) => {
    const id = await serverWithDisks(c, [{}])
    const [system, disk] = ((await blockDevices(c, id))['volumeAttachments'] as Wire[]).map((d) => String(d['volumeId']))
    const update = (volumeId: string, value: boolean) =>
      c.client['updateServerBlockDevice']!(new c.ecs.UpdateServerBlockDeviceRequest(id, volumeId).withBody(new c.ecs.UpdateServerBlockDeviceReq(new c.ecs.UpdateServerBlockDeviceOption(value))))
    await c.refused(update(system!, false), 400, 'Ecs.0617', 'the system disk')
    const r = await update(disk!, false)
    assert.equal(r.httpStatusCode, 200)
    const shown = await c.client['showServer']!(new c.ecs.ShowServerRequest(id))
    const attached = (shown['server'] as Wire)['os-extended-volumes:volumes_attached'] as Wire[]
    assert.deepEqual(attached.map((v) => [v['id'], v['delete_on_termination']]), [[system, 'true'], [disk, 'false']])
  },
  listServerVolumeAttachments: async (c) => {
    const id = await c.sharedServer()
    const r = await c.client['listServerVolumeAttachments']!(new c.ecs.ListServerVolumeAttachmentsRequest(id))
    assert.equal(r.httpStatusCode, 200)
    const system = await volumeAt(c, id, '/dev/vda')
    assert.deepEqual(r['volumeAttachments'], [{ id: system, volumeId: system, serverId: id, device: '/dev/vda' }])
  },
  showAppendableVolumeQuota: async (c) => {
    const r = await c.client['showAppendableVolumeQuota']!(new c.ecs.ShowAppendableVolumeQuotaRequest(await c.sharedServer()))
    assert.equal(r.httpStatusCode, 200)
    assert.deepEqual({ free_scsi: r['free_scsi'], free_blk: r['free_blk'], count: r['count'] }, { free_scsi: 23, free_blk: 23, count: 23 })
  },
}

import { v1, waitForJob } from '../../helper.ts'
import type { Case, World } from './world.ts'

/** A new server with one data disk, and that disk's volume id. */
async function serverWithDisk(w: World): Promise<{ server: string; disk: string }> {
  const server = await w.server({ data_volumes: [{ volumetype: 'SSD', size: 10 }] })
  const devices = await w.ok<{ volumeAttachments: Array<{ volumeId: string; device: string }> }>({ method: 'GET', url: v1(`/cloudservers/${server}/block_device`) })
  return { server, disk: devices.volumeAttachments.find((d) => d.device === '/dev/vdb')!.volumeId }
}

/** A server with a data disk that cases only read (or whose disk's release policy they set). */
function sharedServerWithDisk(w: World): Promise<{ server: string; disk: string }> {
  return w.once('volume-server', () => serverWithDisk(w))
}

/** Waits for the job an accepted answer names. */
async function settled(w: World, body: string): Promise<void> {
  await waitForJob(w.app, (JSON.parse(body) as { job_id: string }).job_id)
}

/** Cases of the operations on volumes and block devices. */
export const volumeCases: Record<string, Case> = {
  'POST /v1/{project_id}/cloudservers/{server_id}/attachvolume': async (w, send) => {
    const { server, disk } = await serverWithDisk(w)
    await w.ok({ method: 'DELETE', url: v1(`/cloudservers/${server}/detachvolume/${disk}`) })
    await send({ method: 'POST', url: v1(`/cloudservers/${server}/attachvolume`), body: { volumeAttachment: { count: 2 }, dry_run: true } })
    await settled(w, (await send({ method: 'POST', url: v1(`/cloudservers/${server}/attachvolume`), body: { volumeAttachment: { volumeId: disk, device: '/dev/vdc' } } })).body)
  },
  'DELETE /v1/{project_id}/cloudservers/{server_id}/detachvolume/{volume_id}': async (w, send) => {
    const { server, disk } = await serverWithDisk(w)
    await settled(w, (await send({ method: 'DELETE', url: v1(`/cloudservers/${server}/detachvolume/${disk}?delete_flag=0`) })).body)
  },
  'POST /v1/{project_id}/batchaction/detachvolumes/{volume_id}': async (w, send) => {
    const { server, disk } = await serverWithDisk(w)
    await settled(w, (await send({ method: 'POST', url: v1(`/batchaction/detachvolumes/${disk}`), body: { serverinfo: [server] } })).body)
  },
  'POST /v1/{project_id}/batchaction/attachvolumes/{volume_id}': async (w, send) => {
    const owner = await w.server({ data_volumes: [{ volumetype: 'SSD', size: 10, multiattach: true }] })
    const other = await w.server()
    const devices = await w.ok<{ volumeAttachments: Array<{ volumeId: string; device: string }> }>({ method: 'GET', url: v1(`/cloudservers/${owner}/block_device`) })
    const shared = devices.volumeAttachments.find((d) => d.device === '/dev/vdb')!.volumeId
    await settled(w, (await send({ method: 'POST', url: v1(`/batchaction/attachvolumes/${shared}`), body: { serverinfo: [{ server_id: other, device: '/dev/vdb' }] } })).body)
  },
  'GET /v1/{project_id}/cloudservers/{server_id}/block_device': async (w, send) => {
    await send({ method: 'GET', url: v1(`/cloudservers/${(await sharedServerWithDisk(w)).server}/block_device`) })
  },
  'GET /v1/{project_id}/cloudservers/{server_id}/block_device/{volume_id}': async (w, send) => {
    const { server, disk } = await sharedServerWithDisk(w)
    await send({ method: 'GET', url: v1(`/cloudservers/${server}/block_device/${disk}`) })
  },
  'PUT /v1/{project_id}/cloudservers/{server_id}/block_device/{volume_id}': async (w, send) => {
    const { server, disk } = await sharedServerWithDisk(w)
    await send({ method: 'PUT', url: v1(`/cloudservers/${server}/block_device/${disk}`), body: { block_device: { delete_on_termination: false } } })
  },
  'GET /v1/{project_id}/cloudservers/{server_id}/os-volume_attachments': async (w, send) => {
    await send({ method: 'GET', url: v1(`/cloudservers/${(await sharedServerWithDisk(w)).server}/os-volume_attachments`) })
  },
  'GET /v1/{project_id}/cloudservers/{server_id}/appendvolumequota': async (w, send) => {
    await send({ method: 'GET', url: v1(`/cloudservers/${await w.sharedServer()}/appendvolumequota`) })
  },
}

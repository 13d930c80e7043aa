import { call, createServers, showServer, v1, waitForJob } from '../../helper.ts'
import type { RouteArea } from './routes.ts'

/** Routes of volumes and block devices. */
export const area: RouteArea = {
  routes: [
    { method: 'POST', path: (i) => `/cloudservers/${i.server}/attachvolume`, body: (i) => ({ volumeAttachment: { volumeId: i.volume, device: '/dev/vdc' } }) },
    { method: 'POST', path: (i) => `/cloudservers/${i.server}/attachvolume`, body: () => ({ volumeAttachment: { count: 1, 'hw:passthrough': 'true' }, dry_run: true }) },
    { method: 'DELETE', path: (i) => `/cloudservers/${i.server}/detachvolume/${i.volume}` },
    { method: 'POST', path: (i) => `/batchaction/detachvolumes/${i.volume}`, body: (i) => ({ serverinfo: [i.server] }) },
    { method: 'POST', path: (i) => `/batchaction/attachvolumes/${i.volume}`, body: (i) => ({ serverinfo: [{ server_id: i.server, device: '/dev/vdd' }] }) },
    { method: 'GET', path: (i) => `/cloudservers/${i.server}/block_device` },
    { method: 'GET', path: (i) => `/cloudservers/${i.server}/block_device/${i.volume}` },
    { method: 'PUT', path: (i) => `/cloudservers/${i.server}/block_device/${i.volume}`, body: () => ({ block_device: { delete_on_termination: false } }) },
    { method: 'GET', path: (i) => `/cloudservers/${i.server}/os-volume_attachments` },
    { method: 'GET', path: (i) => `/cloudservers/${i.server}/appendvolumequota` },
  ],
  queryKeys: ['delete_flag'],
  /** A shared data disk attached to the fixture server (made with a server of its zone, then moved over). */
  setup: async ({ app, server }) => {
    const az = String((await showServer(app, server))['OS-EXT-AZ:availability_zone'])
    const [donor] = await createServers(app, { name: 'fuzz-disk-donor', availability_zone: az, data_volumes: [{ volumetype: 'SSD', size: 10, multiattach: true }] })
    const devices = (await call(app, { method: 'GET', url: v1(`/cloudservers/${donor}/block_device`) })).json<{ volumeAttachments: Array<{ volumeId: string; device: string }> }>()
    const volume = devices.volumeAttachments.find((d) => d.device === '/dev/vdb')!.volumeId
    const attached = await call(app, { method: 'POST', url: v1(`/batchaction/attachvolumes/${volume}`), body: { serverinfo: [{ server_id: server }] } })
    if (attached.statusCode !== 200) throw new Error(`fuzz fixture: attach failed: ${attached.statusCode} ${attached.body}`)
    await waitForJob(app, attached.json<{ job_id: string }>().job_id)
    return { volume }
  },
}

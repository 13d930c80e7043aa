import { v1, waitForJob } from '../../helper.ts'
import type { Case, World } from './world.ts'

/** The port ids of a server's NICs, primary first. */
async function ports(w: World, server: string): Promise<string[]> {
  const list = await w.ok<{ interfaceAttachments: Array<{ port_id: string }> }>({ method: 'GET', url: v1(`/cloudservers/${server}/os-interface`) })
  return list.interfaceAttachments.map((a) => a.port_id)
}

/** Waits for the job an accepted answer names. */
async function settled(w: World, body: string): Promise<void> {
  await waitForJob(w.app, (JSON.parse(body) as { job_id: string }).job_id)
}

/** Cases of the operations on NICs, virtual IPs, VPC changes. */
export const nicCases: Record<string, Case> = {
  'POST /v1/{project_id}/cloudservers/{server_id}/nics': async (w, send) => {
    const server = await w.server()
    await settled(w, (await send({ method: 'POST', url: v1(`/cloudservers/${server}/nics`), body: { nics: [{ subnet_id: 'subnet-2', security_groups: [{ id: 'sg' }] }] } })).body)
  },
  'POST /v1/{project_id}/cloudservers/{server_id}/nics/delete': async (w, send) => {
    const server = await w.server({ nics: [{ subnet_id: 'subnet-1' }, { subnet_id: 'subnet-2' }] })
    const [, extension] = await ports(w, server)
    await settled(w, (await send({ method: 'POST', url: v1(`/cloudservers/${server}/nics/delete`), body: { nics: [{ id: extension }] } })).body)
  },
  'GET /v1/{project_id}/cloudservers/{server_id}/os-interface': async (w, send) => {
    await send({ method: 'GET', url: v1(`/cloudservers/${await w.sharedServer()}/os-interface`) })
  },
  'GET /v1/{project_id}/cloudservers/{server_id}/os-interface_extension': async (w, send) => {
    await send({ method: 'GET', url: v1(`/cloudservers/${await w.sharedServer()}/os-interface_extension`) })
  },
  'PUT /v1/{project_id}/cloudservers/{server_id}/os-interface/{port_id}': async (w, send) => {
    const server = await w.server()
    const [port] = await ports(w, server)
    await send({ method: 'PUT', url: v1(`/cloudservers/${server}/os-interface/${port}`), body: { interface_attachment: { delete_on_termination: false } } })
  },
  'POST /v1/{project_id}/cloudservers/{server_id}/os-interface/{port_id}/change-network-interface': async (w, send) => {
    const server = await w.stoppedServer()
    const [port] = await ports(w, server)
    await send({ method: 'POST', url: v1(`/cloudservers/${server}/os-interface/${port}/change-network-interface`), body: { subnet_id: 'subnet-1', ip_address: '' } })
  },
  'PUT /v1/{project_id}/cloudservers/nics/{nic_id}': async (w, send) => {
    const server = await w.server({ nics: [{ subnet_id: 'subnet-vip' }] })
    const [port] = await ports(w, server)
    const vip = (await w.ok<{ interfaceAttachments: Array<{ fixed_ips: Array<{ ip_address: string }> }> }>({ method: 'GET', url: v1(`/cloudservers/${server}/os-interface`) }))
      .interfaceAttachments[0]!.fixed_ips[0]!.ip_address.replace(/\.\d+$/, '.200')
    await send({ method: 'PUT', url: v1(`/cloudservers/nics/${port}`), body: { nic: { subnet_id: 'subnet-vip', ip_address: vip, reverse_binding: true } } })
    await send({ method: 'PUT', url: v1(`/cloudservers/nics/${port}`), body: { nic: { subnet_id: '', ip_address: '' } } })
  },
  'POST /v1/{project_id}/cloudservers/{server_id}/changevpc': async (w, send) => {
    const server = await w.stoppedServer()
    await settled(w, (await send({ method: 'POST', url: v1(`/cloudservers/${server}/changevpc`), body: { vpc_id: w.unique('vpc'), nic: { subnet_id: 'subnet-9' } } })).body)
  },
}

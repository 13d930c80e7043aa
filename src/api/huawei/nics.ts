import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { invalidParameter } from '../../domain/errors.ts'
import type { Services } from '../../services/index.ts'
import { NicService, type ServerNics } from '../../services/nics.ts'
import { loadVolumes, MAX_DISKS_PER_SERVER } from '../../services/volumes.ts'
import {
  BatchAddServerNicsBody, BatchDeleteServerNicsBody, ChangeServerNetworkInterfaceBody, ChangeServerNetworkInterfaceResponse, ChangeVpcBody,
  ListServerInterfacesResponse, NicParams, PortParams, ServerVirtualIpBody, ServerVirtualIpResponse, ShowServerAttachableNicNumResponse,
  UpdateServerInterfaceBody,
} from '../schemas/nics.ts'
import { huaweiErrors, JobAccepted, NoContent } from '../schemas/responses.ts'
import { ServerParams } from '../schemas/servers.ts'
import { projectOf } from './project.ts'

/** A NIC as `interfaceAttachments` lists it; `index` is its place among the server's NICs. */
function interfaceBody(s: ServerNics, index: number) {
  const n = s.nics[index]!
  return {
    port_state: s.portState,
    fixed_ips: [{ subnet_id: n.subnetId, ip_address: n.ipAddress }],
    net_id: n.netId,
    port_id: n.portId,
    mac_addr: n.macAddr,
    delete_on_termination: n.deleteOnTermination,
    driver_mode: 'virtio',
    // No bandwidth floor in the simulation; one queue per vCPU, as virtio-net multiqueue sets up, up to 8.
    min_rate: 0,
    multiqueue_num: Math.min(8, s.vcpus),
    // Virtio NICs follow the system disk on the PCI bus, in attachment order.
    pci_address: `0000:00:${(3 + index).toString(16).padStart(2, '0')}.0`,
  }
}

/**
 * A server's NICs, virtual IPs and VPC (under /v1/{project_id}). `PUT /cloudservers/nics/{nic_id}`
 * names a NIC, not a server: the router prefers its literal `nics` segment to `{server_id}`.
 */
export const nicRoutes: FastifyPluginAsyncTypebox<{ services: Services }> = async (app, { services }) => {
  const nics = new NicService({ database: services.database, jobs: services.jobs })

  app.post('/cloudservers/:server_id/nics', { schema: { params: ServerParams, body: BatchAddServerNicsBody, response: { 200: JobAccepted, ...huaweiErrors } } }, async (req) => {
    const wanted = req.body.nics.map((n) => ({ subnetId: n.subnet_id, portId: n.port_id, ipAddress: n.ip_address, ipv6Enable: n.ipv6_enable }))
    return { job_id: (await nics.add(projectOf(req), req.params.server_id, wanted)).jobId }
  })

  app.post('/cloudservers/:server_id/nics/delete', { schema: { params: ServerParams, body: BatchDeleteServerNicsBody, response: { 200: JobAccepted, ...huaweiErrors } } }, async (req) => {
    return { job_id: (await nics.remove(projectOf(req), req.params.server_id, req.body.nics.map((n) => n.id))).jobId }
  })

  app.get('/cloudservers/:server_id/os-interface', { schema: { params: ServerParams, response: { 200: ListServerInterfacesResponse, ...huaweiErrors } } }, async (req) => {
    const s = await nics.list(projectOf(req), req.params.server_id)
    return { attachableQuantity: { free_nic: s.freeNic }, interfaceAttachments: s.nics.map((_, i) => interfaceBody(s, i)) }
  })

  app.get('/cloudservers/:server_id/os-interface_extension', { schema: { params: ServerParams, response: { 200: ShowServerAttachableNicNumResponse, ...huaweiErrors } } }, async (req) => {
    const s = await nics.list(projectOf(req), req.params.server_id)
    const disks = (await loadVolumes(services.database.db, [req.params.server_id])).get(req.params.server_id)?.length ?? 0
    const freeDisks = Math.max(0, MAX_DISKS_PER_SERVER - disks)
    return {
      // ecsd simulates no EFI NICs; its disk limit does not depend on the bus.
      attachableQuantity: { free_efi_nic: 0, free_scsi: freeDisks, free_blk: freeDisks, free_disk: freeDisks, free_nic: s.freeNic },
      interfaceAttachments: s.nics.map((n, i) => ({ ...interfaceBody(s, i), preserve_on_delete: !n.deleteOnTermination })),
    }
  })

  app.put('/cloudservers/:server_id/os-interface/:port_id', { schema: { params: PortParams, body: UpdateServerInterfaceBody, response: { 200: NoContent('Updated; the answer has no body'), ...huaweiErrors } } }, async (req, reply) => {
    await nics.update(projectOf(req), req.params.server_id, req.params.port_id, req.body.interface_attachment.delete_on_termination)
    return reply.code(200).send()
  })

  app.post('/cloudservers/:server_id/os-interface/:port_id/change-network-interface', {
    schema: { params: PortParams, body: ChangeServerNetworkInterfaceBody, response: { 200: ChangeServerNetworkInterfaceResponse, ...huaweiErrors } },
  }, async (req) => {
    const { subnet_id, ip_address, ipv6_address } = req.body
    if (ipv6_address !== undefined) throw invalidParameter('ipv6_address: the simulated subnets of ecsd have no IPv6 range; change ip_address')
    if (ip_address === undefined) throw invalidParameter('ip_address is required: a new IPv4 address, or "" to have one assigned')
    if (subnet_id === undefined) throw invalidParameter('subnet_id is required to change an IPv4 address: the NIC\'s subnet')
    const changed = await nics.changeAddress(projectOf(req), req.params.server_id, req.params.port_id, subnet_id, ip_address)
    return { id: changed.portId, subnet_id: changed.subnetId, ip_address: changed.ipAddress }
  })

  app.put('/cloudservers/nics/:nic_id', { schema: { params: NicParams, body: ServerVirtualIpBody, response: { 200: ServerVirtualIpResponse, ...huaweiErrors } } }, async (req) => {
    const { subnet_id, ip_address, reverse_binding } = req.body.nic
    if (ip_address === '' && subnet_id === '') return { port_id: await nics.disassociateVirtualIps(projectOf(req), req.params.nic_id) }
    if (ip_address === '' || subnet_id === '') throw invalidParameter('nic.subnet_id and nic.ip_address are both set (bind a virtual IP) or both "" (unbind the NIC\'s virtual IPs)')
    return { port_id: await nics.associateVirtualIp(projectOf(req), req.params.nic_id, subnet_id, ip_address, reverse_binding ?? false) }
  })

  app.post('/cloudservers/:server_id/changevpc', { schema: { params: ServerParams, body: ChangeVpcBody, response: { 200: JobAccepted, ...huaweiErrors } } }, async (req) => {
    const { vpc_id, nic } = req.body
    const accepted = await nics.changeVpc(projectOf(req), req.params.server_id, { vpcId: vpc_id, subnetId: nic.subnet_id, portId: nic.port_id, ipAddress: nic.ip_address })
    return { job_id: accepted.jobId }
  })
}

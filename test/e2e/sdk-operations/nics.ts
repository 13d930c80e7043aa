import assert from 'node:assert/strict'
import type { OperationChecks, OperationContext, Wire } from './types.ts'

/** A server of its own on a subnet of its own, so that its addresses are known: the first is `.0.2`. */
async function serverOn(c: OperationContext, subnetId: string, stopped = false): Promise<string> {
  const fields = { nics: [new c.ecs.PostPaidServerNic().withSubnetId(subnetId)] }
  return stopped ? c.stoppedServer(fields) : c.server(fields)
}

async function interfaces(c: OperationContext, serverId: string): Promise<Wire> {
  const r = await c.client['listServerInterfaces']!(new c.ecs.ListServerInterfacesRequest(serverId))
  assert.equal(r.httpStatusCode, 200, `listServerInterfaces ${serverId}`)
  return r
}

const ports = async (c: OperationContext, serverId: string): Promise<string[]> =>
  ((await interfaces(c, serverId))['interfaceAttachments'] as Wire[]).map((a) => String(a['port_id']))

const addressesOf = async (c: OperationContext, serverId: string): Promise<string[]> =>
  ((await interfaces(c, serverId))['interfaceAttachments'] as Wire[]).map((a) => String((a['fixed_ips'] as Wire[])[0]!['ip_address']))

/** The `.0.n` address of the subnet a server's first NIC is on (the subnets are /16s). */
const sibling = (ip: string, last: number) => ip.replace(/\.\d+\.\d+$/, `.0.${last}`)

function addNics(c: OperationContext, serverId: string, ...options: Wire[]) {
  return c.client['batchAddServerNics']!(new c.ecs.BatchAddServerNicsRequest(serverId).withBody(new c.ecs.BatchAddServerNicsRequestBody(options as never)))
}

/** SDK checks of NICs, virtual IPs, VPC changes. */
export const checks: OperationChecks = {
  batchAddServerNics: async (c) => {
    const id = await serverOn(c, c.unique('sdk-subnet'))
    const r = await addNics(c, id, new c.ecs.BatchAddServerNicOption().withSubnetId(c.unique('sdk-subnet')).withSecurityGroups([new c.ecs.ServerNicSecurityGroup().withId('sg')]))
    await c.job(r['job_id'] as string, 'batchAddServerNics')
    const list = await interfaces(c, id)
    assert.equal((list['interfaceAttachments'] as Wire[]).length, 2)
    assert.equal((list['attachableQuantity'] as Wire)['free_nic'], 0)
    await c.refused(addNics(c, id, new c.ecs.BatchAddServerNicOption().withSubnetId('sdk-one-too-many')), 400, 'Ecs.0050', 'a third NIC on a 2-NIC flavor')
  },
  batchDeleteServerNics: async (c) => {
    const id = await serverOn(c, c.unique('sdk-subnet'))
    await c.job((await addNics(c, id, new c.ecs.BatchAddServerNicOption().withSubnetId(c.unique('sdk-subnet'))))['job_id'] as string, 'add a NIC to delete')
    const [primary, extension] = await ports(c, id)
    const remove = (port: string) => c.client['batchDeleteServerNics']!(
      new c.ecs.BatchDeleteServerNicsRequest(id).withBody(new c.ecs.BatchDeleteServerNicsRequestBody([new c.ecs.BatchDeleteServerNicOption(port)])),
    )
    await c.refused(remove(primary!), 400, 'Ecs.0005', 'the primary NIC')
    await c.job((await remove(extension!))['job_id'] as string, 'batchDeleteServerNics')
    assert.deepEqual(await ports(c, id), [primary])
  },
  listServerInterfaces: async (c) => {
    const subnet = c.unique('sdk-subnet')
    const id = await serverOn(c, subnet)
    const [nic] = (await interfaces(c, id))['interfaceAttachments'] as Wire[]
    assert.equal(nic!['net_id'], subnet)
    assert.equal(nic!['delete_on_termination'], true)
    assert.match(String(nic!['mac_addr']), /^fa:16:3e(:[0-9a-f]{2}){3}$/)
    const server = (await c.client['showServer']!(new c.ecs.ShowServerRequest(id)))['server'] as Wire
    const addresses = Object.values(server['addresses'] as Record<string, Wire[]>).flat()
    assert.deepEqual(addresses.map((a) => a['OS-EXT-IPS:port_id']), [nic!['port_id']])
    assert.deepEqual(addresses.map((a) => a['addr']), [(nic!['fixed_ips'] as Wire[])[0]!['ip_address']])
  },
  updateServerInterface: async (c) => {
    const id = await serverOn(c, c.unique('sdk-subnet'))
    const [port] = await ports(c, id)
    const r = await c.client['updateServerInterface']!(
      new c.ecs.UpdateServerInterfaceRequest(id, port).withBody(new c.ecs.UpdateNicInfoRequestBody(new c.ecs.InterfaceAttachment().withDeleteOnTermination(false))),
    )
    assert.equal(r.httpStatusCode, 200)
    assert.equal(((await interfaces(c, id))['interfaceAttachments'] as Wire[])[0]!['delete_on_termination'], false)
  },
  changeServerNetworkInterface: async (c) => {
    const subnet = c.unique('sdk-subnet')
    const id = await serverOn(c, subnet, true)
    const [port] = await ports(c, id)
    const [before] = await addressesOf(c, id)
    const wanted = sibling(before!, 77)
    const r = await c.client['changeServerNetworkInterface']!(
      new c.ecs.ChangeServerNetworkInterfaceRequest().withServerId(id).withPortId(port!).withBody(new c.ecs.ChangeServerNetworkInterfaceRequestBody().withSubnetId(subnet).withIpAddress(wanted)),
    )
    assert.deepEqual({ id: r['id'], subnet_id: r['subnet_id'], ip_address: r['ip_address'] }, { id: port, subnet_id: subnet, ip_address: wanted })
    assert.deepEqual(await addressesOf(c, id), [wanted])
  },
  showServerAttachableNicNum: async (c) => {
    const id = await serverOn(c, c.unique('sdk-subnet'))
    const r = await c.client['showServerAttachableNicNum']!(new c.ecs.ShowServerAttachableNicNumRequest(id))
    assert.equal(r.httpStatusCode, 200)
    const quantity = r['attachableQuantity'] as Wire
    assert.equal(quantity['free_nic'], 1)
    assert.equal(typeof quantity['free_disk'], 'number')
    assert.equal(((r['interfaceAttachments'] as Wire[])[0]!)['preserve_on_delete'], false)
  },
  associateServerVirtualIp: async (c) => {
    const subnet = c.unique('sdk-subnet')
    const id = await serverOn(c, subnet)
    const [port] = await ports(c, id)
    const [ip] = await addressesOf(c, id)
    const vip = sibling(ip!, 200)
    const r = await c.client['associateServerVirtualIp']!(
      new c.ecs.AssociateServerVirtualIpRequest(port).withBody(new c.ecs.AssociateServerVirtualIpRequestBody(new c.ecs.AssociateServerVirtualIpOption(subnet, vip).withReverseBinding(true))),
    )
    assert.equal(r['port_id'], port)
    // The virtual IP holds its address: no NIC of the subnet can have it.
    await c.refused(addNics(c, id, new c.ecs.BatchAddServerNicOption().withSubnetId(subnet).withIpAddress(vip)), 400, 'Ecs.0010', 'a NIC at the virtual IP')
  },
  disassociateServerVirtualIp: async (c) => {
    const subnet = c.unique('sdk-subnet')
    const id = await serverOn(c, subnet)
    const [port] = await ports(c, id)
    const [ip] = await addressesOf(c, id)
    await c.client['associateServerVirtualIp']!(
      new c.ecs.AssociateServerVirtualIpRequest(port).withBody(new c.ecs.AssociateServerVirtualIpRequestBody(new c.ecs.AssociateServerVirtualIpOption(subnet, sibling(ip!, 201)))),
    )
    const r = await c.client['disassociateServerVirtualIp']!(
      new c.ecs.DisassociateServerVirtualIpRequest(port).withBody(new c.ecs.DisassociateServerVirtualIpRequestBody(new c.ecs.DisassociateServerVirtualIpOption('', ''))),
    )
    assert.equal(r['port_id'], port)
    // The NIC stays; the virtual IP stays a VPC resource, its address reserved.
    assert.deepEqual(await ports(c, id), [port])
    await c.refused(addNics(c, id, new c.ecs.BatchAddServerNicOption().withSubnetId(subnet).withIpAddress(sibling(ip!, 201))), 400, 'Ecs.0010', 'a NIC at the unbound virtual IP')
  },
  changeVpc: async (c) => {
    const id = await serverOn(c, c.unique('sdk-subnet'), true)
    const [old] = await ports(c, id)
    const vpc = c.unique('sdk-vpc')
    const subnet = c.unique('sdk-subnet')
    const r = await c.client['changeVpc']!(new c.ecs.ChangeVpcRequest(id).withBody(new c.ecs.ChangeVpcRequestBody(vpc, new c.ecs.ChangeVpcNicBody().withSubnetId(subnet))))
    await c.job(r['job_id'] as string, 'changeVpc')
    const server = (await c.client['showServer']!(new c.ecs.ShowServerRequest(id)))['server'] as Wire
    assert.equal((server['metadata'] as Wire)['vpc_id'], vpc)
    assert.deepEqual(Object.keys(server['addresses'] as Wire), [vpc])
    const [nic] = (await interfaces(c, id))['interfaceAttachments'] as Wire[]
    assert.equal(nic!['net_id'], subnet)
    assert.notEqual(nic!['port_id'], old)
  },
}

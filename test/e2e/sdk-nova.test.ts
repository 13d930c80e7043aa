/**
 * End-to-end: a real ecsd process driven ONLY through the official Huawei Cloud Node SDK's 18
 * `nova*` operations (the OpenStack Compute API Huawei serves beside its own): versions, zones,
 * flavor extra specs, key pairs, servers booted into an ECS group with Nova's multi-create and
 * reservation id, security groups, interfaces, and delete. Field names are the SDK models'.
 */
import { describe, before } from 'node:test'
import assert from 'node:assert/strict'
import { DEMO } from '../../src/services/demo.ts'
import { IMAGES } from '../../src/services/images.ts'
import { json, sdkError, sdkStory, sleep, sorted, POLL_MS } from './story.ts'
import type { Ecs, GroupWire, Req, Sdk, StoryApi } from './story.ts'

// ---------------------------------------------------------------------------------------------
// Wire shapes, as the SDK's Nova models name them.

interface NovaLinkWire { rel: string; href: string }
interface NovaServerWire {
  id: string
  name: string
  status: string
  hostId: string
  tenant_id: string
  flavor: { id?: string; vcpus?: number; original_name?: string }
  image: { id: string } | ''
  security_groups?: Array<{ name: string }>
  addresses: Record<string, Array<{ addr: string; version: number; 'OS-EXT-IPS-MAC:mac_addr': string }>>
  'OS-EXT-STS:task_state': string | null
  'OS-EXT-STS:vm_state': string
  'OS-EXT-AZ:availability_zone': string
  server_groups?: string[]
  fault?: { code: number; message: string }
}
interface InterfaceWire { port_id: string; net_id: string; mac_addr: string; port_state: string; fixed_ips: Array<{ ip_address: string; subnet_id: string }> }

/** The `nova*` calls of `EcsClient`, with the responses as they really arrive. */
interface NovaApi extends StoryApi {
  novaListVersions(r: Req<'NovaListVersionsRequest'>): Promise<Sdk & { versions: Array<{ id: string; status: string; version: string; min_version: string; links: NovaLinkWire[] }> }>
  novaShowVersion(r: Req<'NovaShowVersionRequest'>): Promise<Sdk & { version: { id: string; version: string; min_version: string; 'media-types': unknown[] } }>
  novaListAvailabilityZones(r: Req<'NovaListAvailabilityZonesRequest'>): Promise<Sdk & { availabilityZoneInfo: Array<{ zoneName: string; zoneState: { available: boolean }; hosts: null }> }>
  novaShowFlavorExtraSpecs(r: Req<'NovaShowFlavorExtraSpecsRequest'>): Promise<Sdk & { extra_specs: Record<string, string> }>
  novaCreateKeypair(r: Req<'NovaCreateKeypairRequest'>): Promise<Sdk & { keypair: { name: string; public_key: string; private_key?: string; fingerprint: string; user_id: string; type?: string } }>
  novaListKeypairs(r: Req<'NovaListKeypairsRequest'>): Promise<Sdk & { keypairs: Array<{ keypair: { name: string; fingerprint: string; public_key: string } }> }>
  novaShowKeypair(r: Req<'NovaShowKeypairRequest'>): Promise<Sdk & { keypair: { name: string; id: number; deleted: boolean; created_at: string; fingerprint: string } }>
  novaDeleteKeypair(r: Req<'NovaDeleteKeypairRequest'>): Promise<Sdk>
  novaCreateServers(r: Req<'NovaCreateServersRequest'>): Promise<Sdk & { server?: { id: string; links: NovaLinkWire[]; adminPass: string; security_groups: Array<{ name: string }> }; reservation_id?: string }>
  novaListServers(r: Req<'NovaListServersRequest'>): Promise<Sdk & { servers: Array<{ id: string; name: string; links: NovaLinkWire[] }> }>
  novaListServersDetails(r: Req<'NovaListServersDetailsRequest'>): Promise<Sdk & { servers: NovaServerWire[] }>
  novaShowServer(r: Req<'NovaShowServerRequest'>): Promise<Sdk & { server: NovaServerWire }>
  novaDeleteServer(r: Req<'NovaDeleteServerRequest'>): Promise<Sdk>
  novaAssociateSecurityGroup(r: Req<'NovaAssociateSecurityGroupRequest'>): Promise<Sdk>
  novaDisassociateSecurityGroup(r: Req<'NovaDisassociateSecurityGroupRequest'>): Promise<Sdk>
  novaListServerSecurityGroups(r: Req<'NovaListServerSecurityGroupsRequest'>): Promise<Sdk & { security_groups: Array<{ id: string; name: string; tenant_id: string; rules: unknown[] }> }>
  novaAttachInterface(r: Req<'NovaAttachInterfaceRequest'>): Promise<Sdk & { interfaceAttachment: InterfaceWire }>
  novaShowServerInterface(r: Req<'NovaShowServerInterfaceRequest'>): Promise<Sdk & { interfaceAttachment: InterfaceWire }>
}

const IMAGE = IMAGES[0]!.id
const SERVER_TIMEOUT_MS = 20_000

describe('the OpenStack Compute API through the official Huawei Cloud SDK (nova* operations)', () => {
  const story = sdkStory<NovaApi>({ dirPrefix: 'ecsd-e2e-nova', ecsdArgs: ['--driver-latency-ms', '20'] })
  const { step } = story
  let ecs: Ecs
  let client: NovaApi
  before(() => ({ ecs, client } = story.started()))

  /** Polls novaShowServer until the server has left BUILD and its task; returns it. */
  const settled = async (id: string): Promise<NovaServerWire> => {
    const deadline = Date.now() + SERVER_TIMEOUT_MS
    for (;;) {
      const r = await client.novaShowServer(new ecs.NovaShowServerRequest(id).withOpenStackAPIVersion('compute 2.71'))
      assert.equal(r.httpStatusCode, 200)
      if (r.server.status !== 'BUILD' && r.server['OS-EXT-STS:task_state'] === null) return r.server
      if (Date.now() > deadline) assert.fail(`server ${id} still ${r.server.status} after ${SERVER_TIMEOUT_MS} ms`)
      await sleep(POLL_MS)
    }
  }

  let group: GroupWire
  let reservation = ''
  let serverIds: string[] = []
  let keypairName = ''
  let portId = ''

  step('novaListVersions and novaShowVersion: v2.1, microversions 2.1 to 2.71', async () => {
    const list = await client.novaListVersions(new ecs.NovaListVersionsRequest())
    assert.equal(list.httpStatusCode, 200)
    assert.deepEqual(list.versions.map((v) => [v.id, v.status, v.min_version, v.version]), [['v2.1', 'CURRENT', '2.1', '2.71']])
    const one = await client.novaShowVersion(new ecs.NovaShowVersionRequest('v2.1'))
    assert.equal(one.httpStatusCode, 200)
    assert.equal(one.version.id, 'v2.1')
    assert.equal(one.version.version, '2.71')
    assert.ok(one.version['media-types'].length > 0)
  })

  step('novaListAvailabilityZones and novaShowFlavorExtraSpecs', async () => {
    const zones = await client.novaListAvailabilityZones(new ecs.NovaListAvailabilityZonesRequest())
    assert.deepEqual(zones.availabilityZoneInfo, [
      { zoneName: 'az1', zoneState: { available: true }, hosts: null },
      { zoneName: 'az2', zoneState: { available: true }, hosts: null },
    ])
    const specs = await client.novaShowFlavorExtraSpecs(new ecs.NovaShowFlavorExtraSpecsRequest('s6.small.1'))
    assert.equal(specs.extra_specs['ecs:virtualization_env_types'], 'CloudCompute')
    const missing = await sdkError(client.novaShowFlavorExtraSpecs(new ecs.NovaShowFlavorExtraSpecsRequest('no-such-flavor')), 'unknown flavor')
    assert.equal(Number(missing.httpStatusCode), 404)
  })

  step('novaCreateKeypair (generated), novaListKeypairs, novaShowKeypair', async () => {
    keypairName = 'sdk-key'
    const created = await client.novaCreateKeypair(new ecs.NovaCreateKeypairRequest()
      .withOpenStackAPIVersion('compute 2.2')
      .withBody(new ecs.NovaCreateKeypairRequestBody(new ecs.NovaCreateKeypairOption(keypairName).withType('ssh'))))
    assert.equal(created.httpStatusCode, 201)
    assert.equal(created.keypair.name, keypairName)
    assert.equal(created.keypair.type, 'ssh')
    assert.match(created.keypair.private_key ?? '', /PRIVATE KEY/)
    const list = await client.novaListKeypairs(new ecs.NovaListKeypairsRequest())
    assert.deepEqual(list.keypairs.map((k) => k.keypair.name), [keypairName])
    assert.equal(list.keypairs[0]!.keypair.fingerprint, created.keypair.fingerprint)
    const shown = await client.novaShowKeypair(new ecs.NovaShowKeypairRequest(keypairName))
    assert.equal(shown.keypair.deleted, false)
    assert.equal(typeof shown.keypair.id, 'number')
    assert.ok(!Number.isNaN(Date.parse(`${shown.keypair.created_at}Z`)), shown.keypair.created_at)
    const again = await sdkError(client.novaCreateKeypair(new ecs.NovaCreateKeypairRequest().withBody(new ecs.NovaCreateKeypairRequestBody(new ecs.NovaCreateKeypairOption(keypairName)))), 'duplicate key pair')
    assert.equal(Number(again.httpStatusCode), 409)
  })

  step('novaCreateServers into an ECS group (multi-create, reservation id): members on distinct hosts', async () => {
    const g = await client.createServerGroup(new ecs.CreateServerGroupRequest().withBody(
      new ecs.CreateServerGroupRequestBody().withServerGroup(new ecs.CreateServerGroupOption('nova-web', ['anti-affinity' as never]))))
    group = g.server_group
    const server = new ecs.NovaCreateServersOption('s6.small.1', 'nova-web', [new ecs.NovaServerNetwork()])
      .withImageRef(IMAGE)
      .withKeyName(keypairName)
      .withAvailabilityZone('az1')
      .withMinCount(3)
      .withMaxCount(3)
      .withReturnReservationId(true)
      .withSecurityGroups([new ecs.NovaServerSecurityGroup().withName('default')])
    const created = await client.novaCreateServers(new ecs.NovaCreateServersRequest()
      .withOpenStackAPIVersion('compute 2.71')
      .withBody(new ecs.NovaCreateServersRequestBody(server).withOsSchedulerHints(new ecs.NovaCreateServersSchedulerHint().withGroup(group.id))))
    assert.equal(created.httpStatusCode, 202)
    reservation = created.reservation_id ?? ''
    assert.match(reservation, /^r-[0-9a-f]{8}$/, json(created))
    const brief = await client.novaListServers(new ecs.NovaListServersRequest().withReservationId(reservation))
    assert.equal(brief.httpStatusCode, 200)
    assert.deepEqual(brief.servers.map((s) => s.name).sort(), ['nova-web-1', 'nova-web-2', 'nova-web-3'])
    serverIds = brief.servers.map((s) => s.id)
    const servers = await Promise.all(serverIds.map(settled))
    assert.ok(servers.every((s) => s.status === 'ACTIVE'), json(servers.map((s) => s.status)))
    assert.equal(new Set(servers.map((s) => s.hostId)).size, 3, 'distinct hostIds: distinct hosts')
    assert.ok(servers.every((s) => json(s.server_groups) === json([group.id])))
    // The v1 API sees the same members in the same group.
    const shown = await client.showServerGroup(new ecs.ShowServerGroupRequest(group.id))
    assert.deepEqual(sorted(shown.server_group.members), sorted(serverIds))
  })

  step('novaListServersDetails filters by reservation_id; novaShowServer in the 2.1 shape', async () => {
    const detail = await client.novaListServersDetails(new ecs.NovaListServersDetailsRequest().withReservationId(reservation).withOpenStackAPIVersion('compute 2.47'))
    assert.equal(detail.servers.length, 3)
    assert.ok(detail.servers.every((s) => s.flavor.original_name === 's6.small.1' && s.flavor.vcpus === 1))
    const old = await client.novaShowServer(new ecs.NovaShowServerRequest(serverIds[0]!))
    assert.deepEqual(old.server.flavor.id, 's6.small.1')
    assert.equal(old.server.server_groups, undefined, 'server_groups from 2.71 only')
    assert.equal(old.server['OS-EXT-AZ:availability_zone'], 'az1')
    assert.equal(Object.values(old.server.addresses).flat().length, 1)
    const missing = await sdkError(client.novaShowServer(new ecs.NovaShowServerRequest(crypto.randomUUID())), 'unknown server')
    assert.equal(Number(missing.httpStatusCode), 404)
  })

  step('novaAssociateSecurityGroup, novaListServerSecurityGroups, novaDisassociateSecurityGroup', async () => {
    const id = serverIds[0]!
    const added = await client.novaAssociateSecurityGroup(new ecs.NovaAssociateSecurityGroupRequest(id)
      .withBody(new ecs.NovaAssociateSecurityGroupRequestBody(new ecs.NovaAddSecurityGroupOption('web'))))
    assert.equal(added.httpStatusCode, 202)
    const list = await client.novaListServerSecurityGroups(new ecs.NovaListServerSecurityGroupsRequest(id))
    assert.deepEqual(list.security_groups.map((g) => g.name), ['default', 'web'])
    assert.ok(list.security_groups.every((g) => g.tenant_id === DEMO.projectId))
    const removed = await client.novaDisassociateSecurityGroup(new ecs.NovaDisassociateSecurityGroupRequest(id)
      .withBody(new ecs.NovaDisassociateSecurityGroupRequestBody(new ecs.NovaRemoveSecurityGroupOption('default'))))
    assert.equal(removed.httpStatusCode, 202)
    const after = await client.novaListServerSecurityGroups(new ecs.NovaListServerSecurityGroupsRequest(id))
    assert.deepEqual(after.security_groups.map((g) => g.name), ['web'])
  })

  step('novaAttachInterface and novaShowServerInterface', async () => {
    const id = serverIds[1]!
    const attached = await client.novaAttachInterface(new ecs.NovaAttachInterfaceRequest(id).withBody(
      new ecs.NovaAttachInterfaceRequestBody(new ecs.NovaAttachInterfaceOption().withFixedIps([new ecs.NovaAttachInterfaceFixedIp().withIpAddress('192.168.10.20')]))))
    assert.equal(attached.httpStatusCode, 200)
    portId = attached.interfaceAttachment.port_id
    assert.equal(attached.interfaceAttachment.fixed_ips[0]!.ip_address, '192.168.10.20')
    const shown = await client.novaShowServerInterface(new ecs.NovaShowServerInterfaceRequest(portId, id))
    assert.deepEqual(shown.interfaceAttachment, attached.interfaceAttachment)
    const server = await settled(id)
    assert.equal(Object.values(server.addresses).flat().length, 2)
  })

  step('novaDeleteServer and novaDeleteKeypair: the servers leave the group, the key pair is gone', async () => {
    for (const id of serverIds) {
      const r = await client.novaDeleteServer(new ecs.NovaDeleteServerRequest(id))
      assert.equal(r.httpStatusCode, 204)
    }
    const deadline = Date.now() + SERVER_TIMEOUT_MS
    for (;;) {
      const left = await client.novaListServers(new ecs.NovaListServersRequest().withReservationId(reservation))
      if (left.servers.length === 0) break
      if (Date.now() > deadline) assert.fail(`servers still listed: ${json(left.servers)}`)
      await sleep(POLL_MS)
    }
    const shown = await client.showServerGroup(new ecs.ShowServerGroupRequest(group.id))
    assert.deepEqual(shown.server_group.members, [])
    const deleted = await client.novaDeleteKeypair(new ecs.NovaDeleteKeypairRequest(keypairName))
    assert.ok(deleted.httpStatusCode >= 200 && deleted.httpStatusCode < 300)
    const gone = await sdkError(client.novaShowKeypair(new ecs.NovaShowKeypairRequest(keypairName)), 'deleted key pair')
    assert.equal(Number(gone.httpStatusCode), 404)
  })
})

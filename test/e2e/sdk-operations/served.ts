/**
 * SDK checks of the operations served before the whole SDK was: groups, create/start/stop/
 * reboot/delete, jobs, flavors, limits, moves, the recycle bin, scheduled events, OpenStack.
 * One round trip each; the depth is in the stories (sdk.test.ts, sdk-moves.test.ts,
 * sdk-events.test.ts, sdk-nova.test.ts).
 */
import assert from 'node:assert/strict'
import { generateKeyPairSync, randomUUID } from 'node:crypto'
import { IMAGES } from '../../../src/services/images.ts'
import { json, sorted } from '../story.ts'
import type { OperationChecks, OperationContext, Wire } from './types.ts'

/** The flavor the context's servers have, and the one the resize checks grow them to. */
const SMALL = 's6.small.1'
const BIGGER = 's6.medium.2'
/** The zone the context's servers run in, and the one the checks that take a host out of placement use. */
const ZONE = 'az1'
const OTHER_ZONE = 'az2'
const HOUR_MS = 3_600_000
const DAY_MS = 24 * HOUR_MS

/** A host as the operator API shows it. */
interface HostWire {
  id: string
  name: string
  availability_zone: string
  admin_state: string
  dedicated_to: string | null
  servers: number
  moving_out: number
}

/**
 * An OpenSSH public key line the key pair checks import: importing is instant where generating an
 * RSA key pair takes ecsd a few hundred milliseconds, so only the create check has one generated.
 */
const PUBLIC_KEY = (() => {
  const raw = Buffer.from(String(generateKeyPairSync('ed25519').publicKey.export({ format: 'jwk' }).x), 'base64url')
  const field = (bytes: Buffer) => Buffer.concat([Buffer.from([0, 0, 0, bytes.length]), bytes])
  return `ssh-ed25519 ${Buffer.concat([field(Buffer.from('ssh-ed25519')), field(raw)]).toString('base64')} sdk-operations`
})()

/** `yyyy-MM-ddTHH:mm:ssZ` of a time `offsetMs` from now, the scheduled events' time format. */
const at = (offsetMs: number) => `${new Date(Date.now() + offsetMs).toISOString().slice(0, 19)}Z`

// ---------------------------------------------------------------------------------------------
// Reading back through the SDK.

async function showServer(c: OperationContext, id: string): Promise<Wire> {
  const r = await c.client['showServer']!(new c.ecs.ShowServerRequest(id))
  assert.equal(r.httpStatusCode, 200, `showServer ${id}`)
  return r['server'] as Wire
}

const hostOf = async (c: OperationContext, id: string): Promise<string> => String((await showServer(c, id))['OS-EXT-SRV-ATTR:host'])

async function showGroup(c: OperationContext, id: string): Promise<Wire> {
  const r = await c.client['showServerGroup']!(new c.ecs.ShowServerGroupRequest(id))
  assert.equal(r.httpStatusCode, 200, `showServerGroup ${id}`)
  return r['server_group'] as Wire
}

async function limits(c: OperationContext): Promise<Record<string, number>> {
  const r = await c.client['showServerLimits']!(new c.ecs.ShowServerLimitsRequest())
  assert.equal(r.httpStatusCode, 200)
  return r['absolute'] as Record<string, number>
}

async function recycleBin(c: OperationContext): Promise<Wire> {
  const r = await c.client['showRecycleBin']!(new c.ecs.ShowRecycleBinRequest())
  assert.equal(r.httpStatusCode, 200)
  return r
}

async function binnedIds(c: OperationContext): Promise<string[]> {
  const r = await c.client['listRecycleBinServers']!(new c.ecs.ListRecycleBinServersRequest())
  assert.equal(r.httpStatusCode, 200)
  return sorted((r['servers'] as Wire[]).map((s) => String(s['id'])))
}

async function eventOf(c: OperationContext, serverId: string): Promise<Wire> {
  const r = await c.client['listScheduledEvents']!(new c.ecs.ListScheduledEventsRequest().withInstanceId([serverId]))
  assert.equal(r.httpStatusCode, 200)
  const events = r['events'] as Wire[]
  assert.equal(events.length, 1, `one event for ${serverId}: ${json(events)}`)
  return events[0]!
}

async function securityGroupNames(c: OperationContext, serverId: string): Promise<string[]> {
  const r = await c.client['novaListServerSecurityGroups']!(new c.ecs.NovaListServerSecurityGroupsRequest(serverId))
  assert.equal(r.httpStatusCode, 200)
  return (r['security_groups'] as Wire[]).map((g) => String(g['name']))
}

async function showKeypair(c: OperationContext, name: string): Promise<Wire> {
  const r = await c.client['novaShowKeypair']!(new c.ecs.NovaShowKeypairRequest(name))
  assert.equal(r.httpStatusCode, 200, `novaShowKeypair ${name}`)
  return r['keypair'] as Wire
}

// ---------------------------------------------------------------------------------------------
// Writing through the SDK.

const serverIds = (c: OperationContext, ids: readonly string[]) => ids.map((id) => new c.ecs.ServerId(id))

async function createGroup(c: OperationContext): Promise<Wire> {
  const r = await c.client['createServerGroup']!(
    new c.ecs.CreateServerGroupRequest().withBody(
      new c.ecs.CreateServerGroupRequestBody().withServerGroup(new c.ecs.CreateServerGroupOption(c.unique('sdk-op-group'), ['anti-affinity' as never])),
    ),
  )
  assert.equal(r.httpStatusCode, 200, `createServerGroup: ${json(r)}`)
  return r['server_group'] as Wire
}

/** A new ACTIVE server in the group. */
const memberOf = (c: OperationContext, groupId: string) => c.server({ osSchedulerHints: new c.ecs.PostPaidServerSchedulerHints().withGroup(groupId) })

async function deleteServers(c: OperationContext, ids: readonly string[]): Promise<void> {
  const r = await c.client['deleteServers']!(new c.ecs.DeleteServersRequest().withBody(new c.ecs.DeleteServersRequestBody().withServers(serverIds(c, ids))))
  assert.equal(r.httpStatusCode, 200)
  await c.job(r['job_id'] as string, `delete ${json(ids)}`)
}

function migrate(c: OperationContext, id: string, dedicatedHostId: string | null) {
  // `{"migrate": null}` is the documented request for "back to the shared pool".
  const option = dedicatedHostId === null ? null : new c.ecs.MigrateServerOption().withDedicatedHostId(dedicatedHostId)
  return c.client['migrateServer']!(new c.ecs.MigrateServerRequest(id).withBody(new c.ecs.MigrateServerRequestBody().withMigrate(option as never)))
}

async function switchRecycleBin(c: OperationContext, state: 'on' | 'off'): Promise<void> {
  const r = await c.client['updateRecycleBin']!(
    new c.ecs.UpdateRecycleBinRequest().withBody(new c.ecs.UpdateRecycleBinReq().withRecycleBin(new c.ecs.UpdateRecycleBinOption().withSwitch(state))),
  )
  assert.equal(r.httpStatusCode, 200)
}

/**
 * Runs `use` with a server of the demo project in the recycle bin (aged past the threshold,
 * deleted with the bin on); afterwards deletes whatever is left in the bin for good and switches
 * the bin off again, as the later checks expect it.
 */
async function withBinnedServer(c: OperationContext, use: (binned: string) => Promise<void>): Promise<void> {
  const id = await c.server()
  await c.ageServers([id], 30)
  await switchRecycleBin(c, 'on')
  try {
    await deleteServers(c, [id])
    await use(id)
  } finally {
    for (const left of await binnedIds(c)) {
      const r = await c.client['deleteRecycleBinServer']!(new c.ecs.DeleteRecycleBinServerRequest(left))
      await c.job(r['job_id'] as string, `delete ${left} for good`)
    }
    await switchRecycleBin(c, 'off')
  }
}

/**
 * Runs `use` with a running server of its own in `OTHER_ZONE` whose host an operator has planned
 * to service in two days (so its scheduled event is `inquiring`); afterwards enables the host
 * again, which cancels what is still open and gives the host back to placement.
 */
async function withScheduledEvent(c: OperationContext, use: (event: Wire, serverId: string, host: string) => Promise<void>): Promise<void> {
  const id = await c.server({ availabilityZone: OTHER_ZONE })
  const host = await hostOf(c, id)
  await c.admin('POST', `/admin/hosts/${host}/action`, { maintenance: { not_before: at(0), deadline: at(2 * DAY_MS) } })
  try {
    await use(await eventOf(c, id), id, host)
  } finally {
    await c.admin('POST', `/admin/hosts/${host}/action`, { enable: {} })
  }
}

/**
 * Runs `use` with a host of `OTHER_ZONE` that nothing runs on, dedicated to the demo project
 * for the time being (the operator route, as the API has no call for it).
 */
async function withDedicatedHost(c: OperationContext, use: (host: HostWire) => Promise<void>): Promise<void> {
  const { hosts } = (await c.admin('GET', '/admin/hosts')) as { hosts: HostWire[] }
  const free = hosts.find((h) => h.availability_zone === OTHER_ZONE && h.admin_state === 'enabled' && h.dedicated_to === null && h.servers === 0 && h.moving_out === 0)
  assert.ok(free, `an empty host in ${OTHER_ZONE}: ${json(hosts.map((h) => [h.name, h.servers]))}`)
  await c.admin('PUT', `/admin/hosts/${free.name}`, { host: { dedicated_to: c.projectId } })
  try {
    await use(free)
  } finally {
    await c.admin('PUT', `/admin/hosts/${free.name}`, { host: { dedicated_to: null } })
  }
}

/** A new key pair of the demo project: generated by ecsd, or `PUBLIC_KEY` imported. */
async function createKeypair(c: OperationContext, how: 'generated' | 'imported'): Promise<Wire> {
  const name = c.unique('sdk-op-key')
  const option = new c.ecs.NovaCreateKeypairOption(name)
  if (how === 'imported') option.withPublicKey(PUBLIC_KEY)
  const r = await c.client['novaCreateKeypair']!(new c.ecs.NovaCreateKeypairRequest().withBody(new c.ecs.NovaCreateKeypairRequestBody(option)))
  assert.equal(r.httpStatusCode, 200, `novaCreateKeypair at 2.1: ${json(r)}`)
  const keypair = r['keypair'] as Wire
  assert.equal(keypair['name'], name)
  return keypair
}

async function associateSecurityGroup(c: OperationContext, serverId: string, name: string): Promise<void> {
  const r = await c.client['novaAssociateSecurityGroup']!(
    new c.ecs.NovaAssociateSecurityGroupRequest(serverId).withBody(new c.ecs.NovaAssociateSecurityGroupRequestBody(new c.ecs.NovaAddSecurityGroupOption(name))),
  )
  assert.equal(r.httpStatusCode, 202)
}

async function attachInterface(c: OperationContext, serverId: string): Promise<Wire> {
  const r = await c.client['novaAttachInterface']!(
    new c.ecs.NovaAttachInterfaceRequest(serverId).withBody(new c.ecs.NovaAttachInterfaceRequestBody(new c.ecs.NovaAttachInterfaceOption())),
  )
  assert.equal(r.httpStatusCode, 200, `novaAttachInterface: ${json(r)}`)
  return r['interfaceAttachment'] as Wire
}

// ---------------------------------------------------------------------------------------------

/** SDK checks of the operations served before the whole SDK was: groups, create/start/stop/delete, jobs, flavors, limits, moves, the recycle bin, scheduled events, OpenStack. */
export const checks: OperationChecks = {
  // ---- groups ---------------------------------------------------------------------------------
  async createServerGroup(c) {
    const created = await createGroup(c)
    assert.deepEqual(created['policies'], ['anti-affinity'])
    const shown = await showGroup(c, String(created['id']))
    assert.deepEqual([shown['name'], shown['policies'], shown['members']], [created['name'], ['anti-affinity'], []])
  },

  async showServerGroup(c) {
    const group = await createGroup(c)
    const member = await memberOf(c, String(group['id']))
    const shown = await showGroup(c, String(group['id']))
    assert.deepEqual([shown['id'], shown['name'], shown['members']], [group['id'], group['name'], [member]])
    await c.refused(c.client['showServerGroup']!(new c.ecs.ShowServerGroupRequest(randomUUID())), 404, 'Ecs.0313', 'an unknown group')
  },

  async listServerGroups(c) {
    const group = await createGroup(c)
    const r = await c.client['listServerGroups']!(new c.ecs.ListServerGroupsRequest())
    assert.equal(r.httpStatusCode, 200)
    const listed = (r['server_groups'] as Wire[]).find((g) => g['id'] === group['id'])
    assert.ok(listed, `the new group is listed: ${json(r)}`)
    assert.deepEqual([listed['name'], listed['policies'], listed['members']], [group['name'], ['anti-affinity'], []])
  },

  async deleteServerGroup(c) {
    const id = String((await createGroup(c))['id'])
    const r = await c.client['deleteServerGroup']!(new c.ecs.DeleteServerGroupRequest(id))
    assert.equal(r.httpStatusCode, 204)
    await c.refused(c.client['showServerGroup']!(new c.ecs.ShowServerGroupRequest(id)), 404, 'Ecs.0313', 'the deleted group')
  },

  async addServerGroupMember(c) {
    const groupId = String((await createGroup(c))['id'])
    const first = await memberOf(c, groupId)
    const joining = await c.stoppedServer()
    const r = await c.client['addServerGroupMember']!(
      new c.ecs.AddServerGroupMemberRequest(groupId).withBody(new c.ecs.AddServerGroupMemberRequestBody(new c.ecs.ServerGroupMember(joining))),
    )
    assert.equal(r.httpStatusCode, 200)
    assert.deepEqual(sorted((await showGroup(c, groupId))['members'] as string[]), sorted([first, joining]))
    assert.notEqual(await hostOf(c, joining), await hostOf(c, first), 'the new member runs away from the other member')
    assert.deepEqual((await showServer(c, joining))['os:scheduler_hints'], { group: [groupId] })
  },

  async deleteServerGroupMember(c) {
    const groupId = String((await createGroup(c))['id'])
    const member = await memberOf(c, groupId)
    const host = await hostOf(c, member)
    const r = await c.client['deleteServerGroupMember']!(
      new c.ecs.DeleteServerGroupMemberRequest(groupId).withBody(new c.ecs.DeleteServerGroupMemberRequestBody(new c.ecs.ServerGroupMember(member))),
    )
    assert.equal(r.httpStatusCode, 200)
    assert.deepEqual((await showGroup(c, groupId))['members'], [])
    const server = await showServer(c, member)
    assert.deepEqual([server['OS-EXT-SRV-ATTR:host'], server['status']], [host, 'ACTIVE'], 'removing a member moves nothing')
  },

  // ---- servers and jobs -----------------------------------------------------------------------
  async createPostPaidServers(c) {
    const name = c.unique('sdk-op-create')
    const server = new c.ecs.PostPaidServer()
      .withImageRef('img-ubuntu-22.04')
      .withFlavorRef(SMALL)
      .withName(name)
      .withVpcid('vpc-e2e')
      .withNics([new c.ecs.PostPaidServerNic().withSubnetId('subnet-e2e')])
      .withRootVolume(new c.ecs.PostPaidServerRootVolume().withVolumetype('SSD'))
      .withCount(2)
      .withAvailabilityZone(ZONE)
    const r = await c.client['createPostPaidServers']!(new c.ecs.CreatePostPaidServersRequest().withBody(new c.ecs.CreatePostPaidServersRequestBody().withServer(server)))
    assert.equal(r.httpStatusCode, 200)
    const ids = r['serverIds'] as string[]
    assert.equal(ids.length, 2, json(r))
    await c.job(r['job_id'] as string, 'createPostPaidServers')
    const shown = await Promise.all(ids.map((id) => showServer(c, id)))
    assert.deepEqual(
      shown.map((s) => [s['name'], s['status'], (s['flavor'] as Wire)['id'], s['OS-EXT-AZ:availability_zone']]),
      [[`${name}-0001`, 'ACTIVE', SMALL, ZONE], [`${name}-0002`, 'ACTIVE', SMALL, ZONE]],
    )
  },

  async showServer(c) {
    const id = await c.sharedServer()
    const server = await showServer(c, id)
    assert.deepEqual(
      [server['id'], server['name'], server['status'], (server['flavor'] as Wire)['id'], server['OS-EXT-AZ:availability_zone']],
      [id, 'sdk-op-shared', 'ACTIVE', SMALL, ZONE],
    )
    await c.refused(c.client['showServer']!(new c.ecs.ShowServerRequest(randomUUID())), 404, 'Ecs.0114', 'an unknown server')
  },

  async listServersDetails(c) {
    const id = await c.sharedServer()
    const r = await c.client['listServersDetails']!(new c.ecs.ListServersDetailsRequest().withName('sdk-op-shared').withLimit(10))
    assert.equal(r.httpStatusCode, 200)
    const servers = r['servers'] as Wire[]
    assert.deepEqual(servers.map((s) => [s['id'], s['status']]), [[id, 'ACTIVE']])
    assert.equal(r['count'], 1)
  },

  async batchStartServers(c) {
    const id = await c.stoppedServer()
    const r = await c.client['batchStartServers']!(
      new c.ecs.BatchStartServersRequest().withBody(new c.ecs.BatchStartServersRequestBody().withOsStart(new c.ecs.BatchStartServersOption().withServers(serverIds(c, [id])))),
    )
    assert.equal(r.httpStatusCode, 200)
    assert.equal((await c.job(r['job_id'] as string, 'batchStartServers')).job_type, 'batchStartServer')
    assert.equal((await showServer(c, id))['status'], 'ACTIVE')
  },

  async batchStopServers(c) {
    const id = await c.server()
    const r = await c.client['batchStopServers']!(
      new c.ecs.BatchStopServersRequest().withBody(new c.ecs.BatchStopServersRequestBody().withOsStop(new c.ecs.BatchStopServersOption().withServers(serverIds(c, [id])))),
    )
    assert.equal(r.httpStatusCode, 200)
    assert.equal((await c.job(r['job_id'] as string, 'batchStopServers')).job_type, 'batchStopServer')
    assert.equal((await showServer(c, id))['status'], 'SHUTOFF')
  },

  async batchRebootServers(c) {
    const id = await c.server()
    const host = await hostOf(c, id)
    const r = await c.client['batchRebootServers']!(
      new c.ecs.BatchRebootServersRequest().withBody(new c.ecs.BatchRebootServersRequestBody().withReboot(new c.ecs.BatchRebootSeversOption(serverIds(c, [id]), 'SOFT'))),
    )
    assert.equal(r.httpStatusCode, 200)
    assert.equal((await c.job(r['job_id'] as string, 'batchRebootServers')).job_type, 'batchRebootServer')
    const server = await showServer(c, id)
    assert.deepEqual([server['status'], server['OS-EXT-SRV-ATTR:host']], ['ACTIVE', host], 'a reboot moves nothing')
  },

  async deleteServers(c) {
    const id = await c.server()
    await deleteServers(c, [id])
    await c.refused(c.client['showServer']!(new c.ecs.ShowServerRequest(id)), 404, 'Ecs.0114', 'the deleted server')
  },

  async showJob(c) {
    const id = await c.sharedServer()
    const r = await c.client['batchStartServers']!(
      new c.ecs.BatchStartServersRequest().withBody(new c.ecs.BatchStartServersRequestBody().withOsStart(new c.ecs.BatchStartServersOption().withServers(serverIds(c, [id])))),
    )
    const jobId = r['job_id'] as string
    await c.job(jobId, 'start of a running server')
    const job = await c.client['showJob']!(new c.ecs.ShowJobRequest(jobId))
    assert.equal(job.httpStatusCode, 200)
    assert.deepEqual([job['job_id'], job['job_type'], job['status']], [jobId, 'batchStartServer', 'SUCCESS'])
    const subJobs = (job['entities'] as Wire)['sub_jobs'] as Wire[]
    assert.deepEqual(subJobs.map((s) => [s['job_type'], s['status'], (s['entities'] as Wire)['server_id']]), [['startSingleServer', 'SUCCESS', id]])
    await c.refused(c.client['showJob']!(new c.ecs.ShowJobRequest(randomUUID().replaceAll('-', ''))), 404, 'Common.0011', 'an unknown job')
  },

  async listFlavors(c) {
    const r = await c.client['listFlavors']!(new c.ecs.ListFlavorsRequest().withAvailabilityZone(ZONE))
    assert.equal(r.httpStatusCode, 200)
    const small = (r['flavors'] as Wire[]).find((f) => f['id'] === SMALL)
    assert.ok(small, `${SMALL} is listed in ${ZONE}: ${json(r)}`)
    assert.equal((small['os_extra_specs'] as Wire)['ecs:virtualization_env_types'], 'CloudCompute')
    assert.deepEqual([small['vcpus'], small['ram']], ['1', 1024])
    // One flavor by id; and pages: `limit` after `marker` continue where the previous page ended.
    const one = await c.client['listFlavors']!(new c.ecs.ListFlavorsRequest().withFlavorId(SMALL))
    assert.deepEqual((one['flavors'] as Wire[]).map((f) => f['id']), [SMALL])
    const all = (r['flavors'] as Wire[]).map((f) => f['id'])
    const first = await c.client['listFlavors']!(new c.ecs.ListFlavorsRequest().withAvailabilityZone(ZONE).withLimit(2))
    const next = await c.client['listFlavors']!(new c.ecs.ListFlavorsRequest().withAvailabilityZone(ZONE).withLimit(2).withMarker(all[1]))
    assert.deepEqual([...(first['flavors'] as Wire[]), ...(next['flavors'] as Wire[])].map((f) => f['id']), all.slice(0, 4))
  },

  async showServerLimits(c) {
    const before = await limits(c)
    await c.server()
    const after = await limits(c)
    assert.deepEqual(
      [after['totalInstancesUsed'], after['totalCoresUsed'], after['totalRAMUsed']],
      [before['totalInstancesUsed']! + 1, before['totalCoresUsed']! + 1, before['totalRAMUsed']! + 1024],
      `a ${SMALL} server counts: ${json(after)}`,
    )
    assert.ok(after['maxTotalInstances']! >= after['totalInstancesUsed']!, json(after))
  },

  // ---- moves ----------------------------------------------------------------------------------
  async resizePostPaidServer(c) {
    const id = await c.stoppedServer()
    const r = await c.client['resizePostPaidServer']!(
      new c.ecs.ResizePostPaidServerRequest(id).withBody(new c.ecs.ResizePostPaidServerRequestBody().withResize(new c.ecs.ResizePostPaidServerOption().withFlavorRef(BIGGER))),
    )
    assert.equal(r.httpStatusCode, 200)
    assert.equal((await c.job(r['job_id'] as string, 'resizePostPaidServer')).job_type, 'resizeServer')
    const server = await showServer(c, id)
    assert.deepEqual([(server['flavor'] as Wire)['id'], server['status']], [BIGGER, 'SHUTOFF'])
  },

  async resizeServer(c) {
    const id = await c.server()
    const r = await c.client['resizeServer']!(
      new c.ecs.ResizeServerRequest(id).withBody(
        new c.ecs.ResizeServerRequestBody().withResize(new c.ecs.ResizePrePaidServerOption().withFlavorRef(BIGGER).withMode('withStopServer')),
      ),
    )
    assert.equal(r.httpStatusCode, 200)
    await c.job(r['job_id'] as string, 'resizeServer with withStopServer')
    const server = await showServer(c, id)
    assert.deepEqual([(server['flavor'] as Wire)['id'], server['status']], [BIGGER, 'ACTIVE'], 'resized and started again')
  },

  async batchResizeServers(c) {
    const ids = [await c.stoppedServer(), await c.stoppedServer()]
    const r = await c.client['batchResizeServers']!(
      new c.ecs.BatchResizeServersRequest().withBody(new c.ecs.BatchResizeServersReq().withResize(new c.ecs.BatchResizeServersOption(BIGGER, serverIds(c, ids)))),
    )
    assert.equal(r.httpStatusCode, 200)
    const job = await c.job(r['job_id'] as string, 'batchResizeServers')
    assert.deepEqual(sorted((job.entities.sub_jobs ?? []).map((s) => s.entities.server_id ?? '')), sorted(ids))
    for (const id of ids) assert.equal(((await showServer(c, id))['flavor'] as Wire)['id'], BIGGER, `${id} flavor`)
  },

  async listResizeFlavors(c) {
    const id = await c.sharedServer()
    const r = await c.client['listResizeFlavors']!(new c.ecs.ListResizeFlavorsRequest().withInstanceUuid(id))
    assert.equal(r.httpStatusCode, 200)
    const flavors = r['flavors'] as Wire[]
    const offered = flavors.map((f) => String(f['id']))
    assert.ok(offered.includes(BIGGER) && !offered.includes(SMALL), `KVM flavors on sale but its own: ${json(offered)}`)
    for (const f of flavors) assert.equal((f['extra_specs'] as Wire)['ecs:virtualization_env_types'], 'CloudCompute', `${String(f['id'])} extra_specs`)
  },

  async showFlavorCapacity(c) {
    const r = await c.client['showFlavorCapacity']!(new c.ecs.ShowFlavorCapacityRequest(SMALL))
    assert.equal(r.httpStatusCode, 200)
    const zones = new Map((r['resources'] as Wire[]).map((z) => [z['availability_zone'], z['prefer']]))
    assert.equal(zones.get(ZONE), true, `${SMALL} has room in ${ZONE}: ${json(r)}`)
  },

  async migrateServer(c) {
    await withDedicatedHost(c, async (dedicated) => {
      const id = await c.stoppedServer({ availabilityZone: OTHER_ZONE })
      const onto = await migrate(c, id, dedicated.id)
      assert.equal(onto.httpStatusCode, 200)
      assert.equal((await c.job(onto['job_id'] as string, 'migrateServer onto a dedicated host')).job_type, 'migrateServer')
      assert.equal(await hostOf(c, id), dedicated.name)
      await c.job((await migrate(c, id, null))['job_id'] as string, 'migrateServer back to the shared pool')
      const back = await showServer(c, id)
      assert.notEqual(back['OS-EXT-SRV-ATTR:host'], dedicated.name)
      assert.deepEqual([back['status'], back['OS-EXT-AZ:availability_zone']], ['SHUTOFF', OTHER_ZONE])
    })
  },

  async executeServerRedeploy(c) {
    const id = await c.server()
    const host = await hostOf(c, id)
    const r = await c.client['executeServerRedeploy']!(new c.ecs.ExecuteServerRedeployRequest(id))
    assert.equal(r.httpStatusCode, 200)
    assert.equal((await c.job(r['job_id'] as string, 'executeServerRedeploy')).job_type, 'redeployServer')
    const server = await showServer(c, id)
    assert.notEqual(server['OS-EXT-SRV-ATTR:host'], host, 'redeployed to another host')
    assert.equal(server['status'], 'ACTIVE')
  },

  // ---- the recycle bin ------------------------------------------------------------------------
  async showRecycleBin(c) {
    const bin = await recycleBin(c)
    assert.equal(bin['project_id'], c.projectId)
    assert.equal(bin['switch'], 'off')
    const policy = bin['policy'] as Wire
    assert.ok(Number.isInteger(policy['recycle_threshold_day']) && Number.isInteger(policy['retention_hour']), json(bin))
  },

  async updateRecycleBin(c) {
    await switchRecycleBin(c, 'on')
    assert.equal((await recycleBin(c))['switch'], 'on')
    await switchRecycleBin(c, 'off')
    assert.equal((await recycleBin(c))['switch'], 'off')
  },

  async updateRecycleBinPolicy(c) {
    const update = (retentionHour: number, thresholdDay: number) =>
      c.client['updateRecycleBinPolicy']!(
        new c.ecs.UpdateRecycleBinPolicyRequest().withBody(new c.ecs.UpdateRecycleBinPolicyReq().withPolicy(new c.ecs.UpdateRecycleBinPolicyOption(retentionHour, thresholdDay))),
      )
    const original = (await recycleBin(c))['policy'] as { retention_hour: number; recycle_threshold_day: number }
    assert.equal((await update(48, 2)).httpStatusCode, 200)
    assert.deepEqual((await recycleBin(c))['policy'], { recycle_threshold_day: 2, retention_hour: 48 })
    await update(original.retention_hour, original.recycle_threshold_day)
    assert.deepEqual((await recycleBin(c))['policy'], original)
  },

  async listRecycleBinServers(c) {
    await withBinnedServer(c, async (binned) => {
      const r = await c.client['listRecycleBinServers']!(new c.ecs.ListRecycleBinServersRequest().withLimit(10))
      assert.equal(r.httpStatusCode, 200)
      assert.deepEqual((r['servers'] as Wire[]).map((s) => [s['id'], s['status']]), [[binned, 'SHUTOFF']])
      await c.refused(c.client['showServer']!(new c.ecs.ShowServerRequest(binned)), 404, 'Ecs.0114', 'a binned server')
    })
  },

  async revertRecycleBinServer(c) {
    await withBinnedServer(c, async (binned) => {
      const r = await c.client['revertRecycleBinServer']!(new c.ecs.RevertRecycleBinServerRequest(binned))
      assert.equal(r.httpStatusCode, 200)
      assert.equal((await c.job(r['job_id'] as string, 'revertRecycleBinServer')).job_type, 'revertRecycleBinServer')
      assert.equal((await showServer(c, binned))['status'], 'SHUTOFF')
      assert.deepEqual(await binnedIds(c), [])
    })
  },

  async deleteRecycleBinServer(c) {
    await withBinnedServer(c, async (binned) => {
      const used = (await limits(c))['totalInstancesUsed']!
      const r = await c.client['deleteRecycleBinServer']!(new c.ecs.DeleteRecycleBinServerRequest(binned))
      assert.equal(r.httpStatusCode, 200)
      assert.equal((await c.job(r['job_id'] as string, 'deleteRecycleBinServer')).job_type, 'deleteRecycleBinServer')
      assert.deepEqual(await binnedIds(c), [])
      assert.equal((await limits(c))['totalInstancesUsed'], used - 1, 'deleted for good, it no longer counts')
      await c.refused(c.client['revertRecycleBinServer']!(new c.ecs.RevertRecycleBinServerRequest(binned)), 404, 'Ecs.0114', 'revert of a server deleted for good')
    })
  },

  // ---- scheduled events -----------------------------------------------------------------------
  async listScheduledEvents(c) {
    await withScheduledEvent(c, async (event, serverId) => {
      assert.deepEqual([event['instance_id'], event['type'], event['state']], [serverId, 'instance-migrate', 'inquiring'])
      const r = await c.client['listScheduledEvents']!(new c.ecs.ListScheduledEventsRequest().withId(String(event['id'])).withState(['inquiring']))
      assert.deepEqual((r['events'] as Wire[]).map((e) => e['id']), [event['id']])
    })
  },

  async updateScheduledEvent(c) {
    await withScheduledEvent(c, async (event, serverId) => {
      const notBefore = at(DAY_MS)
      const r = await c.client['updateScheduledEvent']!(new c.ecs.UpdateScheduledEventRequest(String(event['id'])).withBody(new c.ecs.ScheduledEventUpdateBody(notBefore)))
      assert.equal(r.httpStatusCode, 200)
      const updated = await eventOf(c, serverId)
      assert.deepEqual([updated['not_before'], updated['state']], [notBefore, 'inquiring'])
    })
  },

  async acceptScheduledEvent(c) {
    await withScheduledEvent(c, async (event, serverId, host) => {
      const r = await c.client['acceptScheduledEvent']!(new c.ecs.AcceptScheduledEventRequest(String(event['id'])).withBody(new c.ecs.ScheduledEventAcceptBody()))
      assert.equal(r.httpStatusCode, 200)
      const ended = await c.until(() => eventOf(c, serverId), (e) => e['state'] === 'completed' || e['state'] === 'failed', 'the accepted event')
      assert.equal(ended['state'], 'completed', json(ended))
      const server = await showServer(c, serverId)
      assert.notEqual(server['OS-EXT-SRV-ATTR:host'], host, 'moved off the host under maintenance')
      assert.equal(server['status'], 'ACTIVE', 'moved live')
    })
  },

  // ---- OpenStack Compute (v2.1) ---------------------------------------------------------------
  async novaListVersions(c) {
    const r = await c.client['novaListVersions']!(new c.ecs.NovaListVersionsRequest())
    assert.equal(r.httpStatusCode, 200)
    assert.deepEqual((r['versions'] as Wire[]).map((v) => [v['id'], v['status'], v['version']]), [['v2.1', 'CURRENT', '2.71']])
  },

  async novaShowVersion(c) {
    const r = await c.client['novaShowVersion']!(new c.ecs.NovaShowVersionRequest('v2.1'))
    assert.equal(r.httpStatusCode, 200)
    const version = r['version'] as Wire
    assert.deepEqual([version['id'], version['min_version'], version['version']], ['v2.1', '2.1', '2.71'])
  },

  async novaListAvailabilityZones(c) {
    const r = await c.client['novaListAvailabilityZones']!(new c.ecs.NovaListAvailabilityZonesRequest())
    assert.equal(r.httpStatusCode, 200)
    const zones = r['availabilityZoneInfo'] as Wire[]
    for (const zone of [ZONE, OTHER_ZONE]) {
      const found = zones.find((z) => z['zoneName'] === zone)
      assert.deepEqual(found?.['zoneState'], { available: true }, `${zone} in ${json(zones)}`)
    }
  },

  async novaShowFlavorExtraSpecs(c) {
    const r = await c.client['novaShowFlavorExtraSpecs']!(new c.ecs.NovaShowFlavorExtraSpecsRequest(SMALL))
    assert.equal(r.httpStatusCode, 200)
    const flavors = await c.client['listFlavors']!(new c.ecs.ListFlavorsRequest())
    const v1 = (flavors['flavors'] as Wire[]).find((f) => f['id'] === SMALL)
    assert.deepEqual(r['extra_specs'], v1?.['os_extra_specs'], 'the v1 API\'s os_extra_specs')
  },

  async novaCreateKeypair(c) {
    const created = await createKeypair(c, 'generated')
    assert.match(String(created['private_key']), /PRIVATE KEY/, 'a generated key pair shows its private key once')
    const shown = await showKeypair(c, String(created['name']))
    assert.deepEqual([shown['fingerprint'], shown['public_key']], [created['fingerprint'], created['public_key']])
  },

  async novaListKeypairs(c) {
    const created = await createKeypair(c, 'imported')
    const r = await c.client['novaListKeypairs']!(new c.ecs.NovaListKeypairsRequest())
    assert.equal(r.httpStatusCode, 200)
    const listed = (r['keypairs'] as Wire[]).map((k) => k['keypair'] as Wire).find((k) => k['name'] === created['name'])
    assert.equal(listed?.['fingerprint'], created['fingerprint'], json(r))
  },

  async novaShowKeypair(c) {
    const created = await createKeypair(c, 'imported')
    const shown = await showKeypair(c, String(created['name']))
    assert.deepEqual([shown['name'], shown['fingerprint'], shown['deleted']], [created['name'], created['fingerprint'], false])
  },

  async novaDeleteKeypair(c) {
    const name = String((await createKeypair(c, 'imported'))['name'])
    const r = await c.client['novaDeleteKeypair']!(new c.ecs.NovaDeleteKeypairRequest(name))
    assert.ok(r.httpStatusCode >= 200 && r.httpStatusCode < 300, `novaDeleteKeypair answered ${r.httpStatusCode}`)
    const gone = await c.rejection(c.client['novaShowKeypair']!(new c.ecs.NovaShowKeypairRequest(name)), 'the deleted key pair')
    assert.equal(Number(gone.httpStatusCode), 404)
  },

  async novaCreateServers(c) {
    const name = c.unique('sdk-op-nova')
    const server = new c.ecs.NovaCreateServersOption(SMALL, name, [new c.ecs.NovaServerNetwork()]).withImageRef(IMAGES[0]!.id).withAvailabilityZone(ZONE)
    const r = await c.client['novaCreateServers']!(new c.ecs.NovaCreateServersRequest().withOpenStackAPIVersion('compute 2.71').withBody(new c.ecs.NovaCreateServersRequestBody(server)))
    assert.equal(r.httpStatusCode, 202)
    const id = String((r['server'] as Wire)['id'])
    const show = async () => (await c.client['novaShowServer']!(new c.ecs.NovaShowServerRequest(id)))['server'] as Wire
    const built = await c.until(show, (s) => s['status'] !== 'BUILD' && s['OS-EXT-STS:task_state'] === null, `novaCreateServers ${id}`)
    assert.deepEqual([built['name'], built['status'], built['OS-EXT-AZ:availability_zone']], [name, 'ACTIVE', ZONE])
  },

  async novaListServers(c) {
    const id = await c.sharedServer()
    const r = await c.client['novaListServers']!(new c.ecs.NovaListServersRequest().withName('sdk-op-shared'))
    assert.equal(r.httpStatusCode, 200)
    assert.deepEqual((r['servers'] as Wire[]).map((s) => [s['id'], s['name']]), [[id, 'sdk-op-shared']], 'a server of the v1 API')
  },

  async novaListServersDetails(c) {
    const id = await c.sharedServer()
    const r = await c.client['novaListServersDetails']!(new c.ecs.NovaListServersDetailsRequest().withName('sdk-op-shared'))
    assert.equal(r.httpStatusCode, 200)
    assert.deepEqual((r['servers'] as Wire[]).map((s) => [s['id'], s['status'], s['OS-EXT-AZ:availability_zone']]), [[id, 'ACTIVE', ZONE]])
  },

  async novaShowServer(c) {
    const id = await c.sharedServer()
    const r = await c.client['novaShowServer']!(new c.ecs.NovaShowServerRequest(id))
    assert.equal(r.httpStatusCode, 200)
    const server = r['server'] as Wire
    assert.deepEqual([server['id'], server['name'], server['status'], (server['flavor'] as Wire)['id']], [id, 'sdk-op-shared', 'ACTIVE', SMALL])
    const missing = await c.rejection(c.client['novaShowServer']!(new c.ecs.NovaShowServerRequest(randomUUID())), 'an unknown server')
    assert.equal(Number(missing.httpStatusCode), 404)
  },

  async novaDeleteServer(c) {
    const id = await c.server()
    const r = await c.client['novaDeleteServer']!(new c.ecs.NovaDeleteServerRequest(id))
    assert.equal(r.httpStatusCode, 204)
    const listed = async () => (await c.client['novaListServers']!(new c.ecs.NovaListServersRequest().withLimit(1000)))['servers'] as Wire[]
    await c.until(listed, (servers) => !servers.some((s) => s['id'] === id), `${id} leaves the list`)
    await c.refused(c.client['showServer']!(new c.ecs.ShowServerRequest(id)), 404, 'Ecs.0114', 'the server deleted on the OpenStack API')
  },

  async novaAssociateSecurityGroup(c) {
    const id = await c.server()
    await associateSecurityGroup(c, id, 'sdk-op-web')
    assert.ok((await securityGroupNames(c, id)).includes('sdk-op-web'))
  },

  async novaDisassociateSecurityGroup(c) {
    const id = await c.server()
    await associateSecurityGroup(c, id, 'sdk-op-web')
    const r = await c.client['novaDisassociateSecurityGroup']!(
      new c.ecs.NovaDisassociateSecurityGroupRequest(id).withBody(new c.ecs.NovaDisassociateSecurityGroupRequestBody(new c.ecs.NovaRemoveSecurityGroupOption('sdk-op-web'))),
    )
    assert.equal(r.httpStatusCode, 202)
    assert.ok(!(await securityGroupNames(c, id)).includes('sdk-op-web'))
  },

  async novaListServerSecurityGroups(c) {
    const id = await c.server()
    const before = await securityGroupNames(c, id)
    await associateSecurityGroup(c, id, 'sdk-op-db')
    const r = await c.client['novaListServerSecurityGroups']!(new c.ecs.NovaListServerSecurityGroupsRequest(id))
    const groups = r['security_groups'] as Wire[]
    assert.deepEqual(sorted(groups.map((g) => String(g['name']))), sorted([...before, 'sdk-op-db']))
    assert.ok(groups.every((g) => g['tenant_id'] === c.projectId), json(groups))
  },

  async novaAttachInterface(c) {
    const id = await c.server()
    const attached = await attachInterface(c, id)
    const r = await c.client['novaShowServer']!(new c.ecs.NovaShowServerRequest(id))
    const addresses = Object.values((r['server'] as Wire)['addresses'] as Record<string, Wire[]>).flat()
    assert.ok(addresses.some((a) => a['OS-EXT-IPS-MAC:mac_addr'] === attached['mac_addr']), `the new port's MAC among ${json(addresses)}`)
  },

  async novaShowServerInterface(c) {
    const id = await c.server()
    const attached = await attachInterface(c, id)
    const r = await c.client['novaShowServerInterface']!(new c.ecs.NovaShowServerInterfaceRequest(String(attached['port_id']), id))
    assert.equal(r.httpStatusCode, 200)
    assert.deepEqual(r['interfaceAttachment'], attached)
  },
}

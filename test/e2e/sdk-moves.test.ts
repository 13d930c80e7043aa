/**
 * End-to-end: the REAL ecsd process (spawned from src/main.ts, SQLite in a temp dir, driver
 * latency 20 ms) driven ONLY through the official Huawei Cloud Node SDK
 * (`@huaweicloud/huaweicloud-sdk-ecs` + `-core`) for every operation that changes a server's
 * host or size, and for the recycle bin: reboot → resize flavors and flavor capacity → resize
 * (v1, v1.1, batch) → migrate between dedicated hosts and the pool → redeploy → recycle bin
 * (settings, delete into it, list, revert, delete for good). An anti-affinity group is checked
 * after every move: its members never share a host.
 *
 * Three set-up steps are not SDK operations, because the API has none for them: dedicating
 * hosts to the project (the operator route `PUT /admin/hosts/{name}`), ageing a server past the
 * recycle bin's threshold (its `created_at` in the process's SQLite file), and the final audit
 * (`GET /admin/audit`).
 *
 * The steps share state and run in order; once a step fails the following ones are skipped
 * (with the name of the failed step) instead of failing with confusing follow-on errors.
 */
import { describe, before } from 'node:test'
import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import path from 'node:path'
import { DEMO, DEMO_FLEET } from '../../src/services/demo.ts'
import { Database } from '../../src/store/database.ts'
import { jobEnd, json, sdkError, sdkStory, sorted, storyServer } from './story.ts'
import type { Ecs, JobWire, Req, Sdk, SdkError, ServerWire, StoryApi } from './story.ts'

const DAY_MS = 86_400_000
/** Every story server runs in this zone; the demo has `DEMO_FLEET.hostsPerZone` hosts in it. */
const ZONE = 'az1'
/** Takes a whole demo host's RAM: it fits only on an empty host. */
const WHOLE_HOST = 'm6.4xlarge.8'

// ---------------------------------------------------------------------------------------------
// Wire shapes beyond the shared ones (./story.ts).

interface ResizeFlavorWire {
  id: string
  vcpus: string
  ram: number
  extra_specs: Record<string, string>
  instance_quota: object
}
interface FlavorCapacityWire {
  region_id: string
  availability_zone: string
  prefer: boolean
}
interface RecycleBinWire {
  project_id: string
  switch: string
  policy: { recycle_threshold_day: number; retention_hour: number }
}
interface HostWire {
  id: string
  name: string
  dedicated_to: string | null
}

/** The subset of `EcsClient` this test uses, with the responses as they really arrive. */
interface EcsApi extends StoryApi {
  // The operations under test.
  batchRebootServers(r: Req<'BatchRebootServersRequest'>): Promise<Sdk & { job_id: string }>
  resizePostPaidServer(r: Req<'ResizePostPaidServerRequest'>): Promise<Sdk & { job_id?: string }>
  resizeServer(r: Req<'ResizeServerRequest'>): Promise<Sdk & { job_id?: string; order_id?: string }>
  batchResizeServers(r: Req<'BatchResizeServersRequest'>): Promise<Sdk & { job_id: string }>
  listResizeFlavors(r: Req<'ListResizeFlavorsRequest'>): Promise<Sdk & { flavors: ResizeFlavorWire[] }>
  showFlavorCapacity(r: Req<'ShowFlavorCapacityRequest'>): Promise<Sdk & { resources: FlavorCapacityWire[] }>
  migrateServer(r: Req<'MigrateServerRequest'>): Promise<Sdk & { job_id: string }>
  executeServerRedeploy(r: Req<'ExecuteServerRedeployRequest'>): Promise<Sdk & { job_id: string }>
  showRecycleBin(r: Req<'ShowRecycleBinRequest'>): Promise<Sdk & RecycleBinWire>
  updateRecycleBin(r: Req<'UpdateRecycleBinRequest'>): Promise<Sdk>
  updateRecycleBinPolicy(r: Req<'UpdateRecycleBinPolicyRequest'>): Promise<Sdk>
  listRecycleBinServers(r: Req<'ListRecycleBinServersRequest'>): Promise<Sdk & { servers: ServerWire[] }>
  revertRecycleBinServer(r: Req<'RevertRecycleBinServerRequest'>): Promise<Sdk & { job_id: string }>
  deleteRecycleBinServer(r: Req<'DeleteRecycleBinServerRequest'>): Promise<Sdk & { job_id: string }>
}

describe('moves and the recycle bin end to end through the official Huawei Cloud SDK', () => {
  const story = sdkStory<EcsApi>({ dirPrefix: 'ecsd-e2e-moves', ecsdArgs: ['--driver-latency-ms', '20'] })
  const { step, admin, assertSdkError } = story
  let ecs: Ecs
  let client: EcsApi
  // Hooks run in the order they are registered: the story's own `before` has started it by now.
  before(() => ({ ecs, client } = story.started()))

  // ---- set-up outside the SDK: the operator API and the database file -----------------------
  const dedicate = async (hostName: string, projectId: string | null): Promise<HostWire> => {
    const { host } = (await admin('PUT', `/admin/hosts/${hostName}`, { host: { dedicated_to: projectId } })) as { host: HostWire }
    assert.equal(host.dedicated_to, projectId, `host ${hostName} dedication`)
    return host
  }
  /** Makes servers look `days` old in the process's own database, so the recycle bin takes them. */
  const age = async (ids: readonly string[], days: number) => {
    const database = Database.sqlite({ file: path.join(story.started().dataDir, 'ecsd.sqlite') })
    try {
      const created = new Date(Date.now() - days * DAY_MS).toISOString()
      const r = await database.db.updateTable('servers').set({ created_at: created }).where('id', 'in', [...ids]).executeTakeFirst()
      assert.equal(Number(r.numUpdatedRows), ids.length, 'every server to age exists')
    } finally {
      await database.close()
    }
  }

  // ---- SDK helpers ------------------------------------------------------------------------
  const showServer = async (id: string): Promise<ServerWire> => {
    const r = await client.showServer(new ecs.ShowServerRequest(id))
    assert.equal(r.httpStatusCode, 200, `showServer ${id}`)
    assert.equal(r.server.id, id)
    return r.server
  }
  const hostOf = async (id: string) => (await showServer(id))['OS-EXT-SRV-ATTR:host']
  const groupMembers = async (id: string): Promise<string[]> => {
    const r = await client.showServerGroup(new ecs.ShowServerGroupRequest(id))
    assert.equal(r.httpStatusCode, 200, `showServerGroup ${id}`)
    return sorted(r.server_group.members)
  }
  const limits = async () => {
    const r = await client.showServerLimits(new ecs.ShowServerLimitsRequest())
    assert.equal(r.httpStatusCode, 200)
    return r.absolute
  }

  /** Polls showJob every ~20 ms until it ends; fails unless it ends `expected`. */
  const waitForJob = async (jobId: string | undefined, what: string, expected = 'SUCCESS'): Promise<JobWire> => {
    const job = await jobEnd(client, ecs, jobId, what)
    assert.equal(job.status, expected, `${what}: job ${jobId} ended ${job.status}: ${json(job)}`)
    return job
  }

  const serverIds = (ids: readonly string[]) => ids.map((id) => new ecs.ServerId(id))

  const createGroup = async (name: string): Promise<string> => {
    const r = await client.createServerGroup(
      new ecs.CreateServerGroupRequest().withBody(
        new ecs.CreateServerGroupRequestBody().withServerGroup(new ecs.CreateServerGroupOption().withName(name).withPolicies(['anti-affinity'])),
      ),
    )
    assert.equal(r.httpStatusCode, 200)
    return r.server_group.id
  }

  const createServers = async (name: string, count: number, groupId: string): Promise<string[]> => {
    const server = storyServer(ecs, name, count, ZONE, groupId)
    const r = await client.createPostPaidServers(
      new ecs.CreatePostPaidServersRequest().withBody(new ecs.CreatePostPaidServersRequestBody().withServer(server)),
    )
    assert.equal(r.httpStatusCode, 200)
    assert.equal(r.serverIds.length, count, `createPostPaidServers: serverIds ${json(r.serverIds)}`)
    await waitForJob(r.job_id, `create ${count} × ${name}`)
    return r.serverIds
  }

  const stop = async (ids: readonly string[]) => {
    const r = await client.batchStopServers(
      new ecs.BatchStopServersRequest().withBody(
        new ecs.BatchStopServersRequestBody().withOsStop(new ecs.BatchStopServersOption().withServers(serverIds(ids))),
      ),
    )
    await waitForJob(r.job_id, 'batch stop')
  }
  const start = async (ids: readonly string[]) => {
    const r = await client.batchStartServers(
      new ecs.BatchStartServersRequest().withBody(
        new ecs.BatchStartServersRequestBody().withOsStart(new ecs.BatchStartServersOption().withServers(serverIds(ids))),
      ),
    )
    await waitForJob(r.job_id, 'batch start')
  }
  const deleteServers = async (ids: readonly string[]) => {
    const r = await client.deleteServers(new ecs.DeleteServersRequest().withBody(new ecs.DeleteServersRequestBody().withServers(serverIds(ids))))
    assert.equal(r.httpStatusCode, 200)
    await waitForJob(r.job_id, `delete ${json(ids)}`)
  }

  const reboot = (ids: readonly string[], type: 'SOFT' | 'HARD') =>
    client.batchRebootServers(
      new ecs.BatchRebootServersRequest().withBody(
        new ecs.BatchRebootServersRequestBody().withReboot(new ecs.BatchRebootSeversOption().withServers(serverIds(ids)).withType(type)),
      ),
    )
  const resizePostPaid = (id: string, flavorRef: string, options: { mode?: string; dryRun?: boolean } = {}) => {
    const option = new ecs.ResizePostPaidServerOption().withFlavorRef(flavorRef)
    if (options.mode !== undefined) option.withMode(options.mode)
    const body = new ecs.ResizePostPaidServerRequestBody().withResize(option)
    if (options.dryRun !== undefined) body.withDryRun(options.dryRun)
    return client.resizePostPaidServer(new ecs.ResizePostPaidServerRequest(id).withBody(body))
  }
  const resizeV11 = (id: string, flavorRef: string, mode?: string) => {
    const option = new ecs.ResizePrePaidServerOption().withFlavorRef(flavorRef)
    if (mode !== undefined) option.withMode(mode)
    return client.resizeServer(new ecs.ResizeServerRequest(id).withBody(new ecs.ResizeServerRequestBody().withResize(option)))
  }
  const migrate = (id: string, dedicatedHostId: string | null) =>
    client.migrateServer(
      new ecs.MigrateServerRequest(id).withBody(
        // `{"migrate": null}` is the documented request for "back to the shared pool".
        new ecs.MigrateServerRequestBody().withMigrate(
          (dedicatedHostId === null ? null : new ecs.MigrateServerOption().withDedicatedHostId(dedicatedHostId)) as Req<'MigrateServerOption'>,
        ),
      ),
    )
  const redeploy = (id: string) => client.executeServerRedeploy(new ecs.ExecuteServerRedeployRequest(id))
  const capacity = async (flavorId: string): Promise<Map<string, boolean>> => {
    const r = await client.showFlavorCapacity(new ecs.ShowFlavorCapacityRequest(flavorId))
    assert.equal(r.httpStatusCode, 200)
    for (const c of r.resources) assert.ok(typeof c.region_id === 'string' && c.region_id !== '', `region_id in ${json(c)}`)
    return new Map(r.resources.map((c) => [c.availability_zone, c.prefer]))
  }
  const showBin = async (): Promise<RecycleBinWire> => {
    const r = await client.showRecycleBin(new ecs.ShowRecycleBinRequest())
    assert.equal(r.httpStatusCode, 200)
    return r
  }
  const switchBin = (on: boolean) =>
    client.updateRecycleBin(
      new ecs.UpdateRecycleBinRequest().withBody(new ecs.UpdateRecycleBinReq().withRecycleBin(new ecs.UpdateRecycleBinOption().withSwitch(on ? 'on' : 'off'))),
    )
  const binList = async (request = new ecs.ListRecycleBinServersRequest()): Promise<ServerWire[]> => {
    const r = await client.listRecycleBinServers(request)
    assert.equal(r.httpStatusCode, 200)
    return r.servers
  }
  const binIds = async (request?: Req<'ListRecycleBinServersRequest'>) => sorted((await binList(request)).map((s) => s.id))

  const expectRejected = async (p: Promise<unknown>, status: number, code: string, what: string): Promise<SdkError> => {
    const err = await sdkError(p, what)
    assertSdkError(err, status, code, what)
    return err
  }

  /** The group's members, each on its own host; returns member → host. */
  const assertGroupSpread = async (groupId: string, what: string): Promise<Map<string, string>> => {
    const members = await groupMembers(groupId)
    const hosts = new Map<string, string>()
    for (const id of members) hosts.set(id, await hostOf(id))
    for (const h of hosts.values()) assert.ok(typeof h === 'string' && h !== '', `${what}: a member has no OS-EXT-SRV-ATTR:host: ${json([...hosts])}`)
    assert.equal(new Set(hosts.values()).size, members.length, `${what}: members share a host: ${json([...hosts])}`)
    return hosts
  }

  // ---- shared story state -----------------------------------------------------------------
  let groupId = '' // the anti-affinity group under test
  let members: string[] = [] // its three original members, in creation order
  let fillerGroupId = '' // a second group whose members take every host of the zone
  let fillers: string[] = []
  let bigHost = '' // where members[0] went when it grew to a whole host

  // ---- the story --------------------------------------------------------------------------
  step('showRecycleBin: off by default, threshold 7 days, retention 168 hours', async () => {
    const bin = await showBin()
    assert.equal(bin.project_id, DEMO.projectId)
    assert.equal(bin.switch, 'off')
    assert.deepEqual(bin.policy, { recycle_threshold_day: 7, retention_hour: 168 })
  })

  step('listResizeFlavors: compatible flavors on sale, without the source, sorted and paged', async () => {
    const r = await client.listResizeFlavors(new ecs.ListResizeFlavorsRequest().withSourceFlavorId('s6.large.2'))
    assert.equal(r.httpStatusCode, 200)
    assert.deepEqual(r.flavors.map((f) => f.id), ['c7.2xlarge.4', 'm6.4xlarge.8', 's6.medium.2', 's6.small.1', 's6.xlarge.2'], 'KVM, on sale, not s6.large.2 itself')
    for (const f of r.flavors) {
      assert.equal(f.extra_specs['ecs:virtualization_env_types'], 'CloudCompute', `flavor ${f.id} extra_specs`)
      assert.equal(typeof f.vcpus, 'string', `flavor ${f.id} vcpus`)
      assert.equal(typeof f.ram, 'number', `flavor ${f.id} ram`)
    }
    const biggest = await client.listResizeFlavors(new ecs.ListResizeFlavorsRequest().withSourceFlavorId('s6.large.2').withSortKey('memory_mb').withSortDir('desc').withLimit(2))
    assert.deepEqual(biggest.flavors.map((f) => f.id), [WHOLE_HOST, 'c7.2xlarge.4'])
    const next = await client.listResizeFlavors(new ecs.ListResizeFlavorsRequest().withSourceFlavorId('s6.large.2').withSortKey('memory_mb').withSortDir('desc').withLimit(2).withMarker('c7.2xlarge.4'))
    assert.deepEqual(next.flavors.map((f) => f.id), ['s6.xlarge.2', 's6.medium.2'])
    const xen = await client.listResizeFlavors(new ecs.ListResizeFlavorsRequest().withSourceFlavorName('s3.small.1'))
    assert.deepEqual(xen.flavors.map((f) => f.id), ['s3.large.2'], 'Xen stays Xen')
  })

  step('creates a group of 3 members, and a filler group of 8 that takes every host of the zone', async () => {
    groupId = await createGroup('e2e-moves')
    members = await createServers('e2e-member', 3, groupId)
    await assertGroupSpread(groupId, 'the new members')
    fillerGroupId = await createGroup('e2e-filler')
    fillers = await createServers('e2e-filler', DEMO_FLEET.hostsPerZone, fillerGroupId)
    const fillerHosts = await assertGroupSpread(fillerGroupId, 'the fillers')
    assert.equal(fillerHosts.size, DEMO_FLEET.hostsPerZone)

    const whole = await capacity(WHOLE_HOST)
    assert.equal(whole.get(ZONE), false, `no host of ${ZONE} is empty: ${json([...whole])}`)
    assert.equal(whole.get('az2'), true, `az2 is empty: ${json([...whole])}`)
    const small = await capacity('s6.large.2')
    assert.deepEqual([...small], [[ZONE, true], ['az2', true]])
  })

  step('batchRebootServers: SOFT and HARD reboots keep every host; a stopped server is refused with Ecs.0100', async () => {
    const hosts = await assertGroupSpread(groupId, 'before the reboots')
    const soft = await reboot(members, 'SOFT')
    assert.equal(soft.httpStatusCode, 200)
    const job = await waitForJob(soft.job_id, 'soft reboot')
    assert.equal(job.job_type, 'batchRebootServer')
    assert.equal(job.entities.sub_jobs_total, members.length)
    const hard = await reboot([members[0]!], 'HARD')
    await waitForJob(hard.job_id, 'hard reboot')
    for (const id of members) assert.equal((await showServer(id)).status, 'ACTIVE', `${id} runs after the reboots`)
    assert.deepEqual(await assertGroupSpread(groupId, 'after the reboots'), hosts, 'a reboot moves nothing')

    await stop(members)
    await expectRejected(reboot([members[0]!], 'SOFT'), 400, 'Ecs.0100', 'reboot of a stopped server')
  })

  step('resizePostPaidServer: a member resized to a flavor that no longer fits its host moves to a host no other member uses', async () => {
    const before = await assertGroupSpread(groupId, 'before the resize')
    // Free exactly one host of the zone: the one of a filler that shares no host with a member.
    const memberHosts = new Set(before.values())
    let leaver: string | undefined
    for (const id of fillers) if (!memberHosts.has(await hostOf(id))) leaver = id
    assert.ok(leaver, 'a filler runs away from every member')
    bigHost = await hostOf(leaver)
    await deleteServers([leaver])
    fillers = fillers.filter((id) => id !== leaver)
    assert.equal((await capacity(WHOLE_HOST)).get(ZONE), true, `${bigHost} is empty now`)

    const target = members[0]!
    const offered = await client.listResizeFlavors(new ecs.ListResizeFlavorsRequest().withInstanceUuid(target))
    assert.ok(offered.flavors.some((f) => f.id === WHOLE_HOST), `listResizeFlavors for ${target} offers ${WHOLE_HOST}: ${json(offered.flavors.map((f) => f.id))}`)

    const dry = await resizePostPaid(target, WHOLE_HOST, { dryRun: true })
    assert.equal(dry.httpStatusCode, 202, `dry run: ${json(dry)}`)
    assert.equal((await showServer(target)).flavor.id, 's6.large.2', 'a dry run changes nothing')

    const r = await resizePostPaid(target, WHOLE_HOST)
    assert.equal(r.httpStatusCode, 200)
    const job = await waitForJob(r.job_id, 'resize to a whole host')
    assert.equal(job.job_type, 'resizeServer')
    const resized = await showServer(target)
    assert.equal(resized.flavor.id, WHOLE_HOST)
    assert.deepEqual([resized.flavor.vcpus, resized.flavor.ram], ['16', '131072'])
    assert.equal(resized.status, 'SHUTOFF', 'a stopped server stays stopped')
    assert.equal(resized['OS-EXT-SRV-ATTR:host'], bigHost, 'moved to the one empty host')
    assert.notEqual(bigHost, before.get(target))
    const after = await assertGroupSpread(groupId, 'after the resize')
    for (const [id, host] of after) if (id !== target) assert.equal(host, before.get(id), `member ${id} did not move`)
    assert.equal((await capacity(WHOLE_HOST)).get(ZONE), false, 'the empty host is taken')
  })

  step('batchResizeServers: two stopped members grow in place', async () => {
    const before = await assertGroupSpread(groupId, 'before the batch resize')
    const pair = [members[1]!, members[2]!]
    const r = await client.batchResizeServers(
      new ecs.BatchResizeServersRequest().withBody(
        new ecs.BatchResizeServersReq().withResize(new ecs.BatchResizeServersOption().withFlavorRef('s6.xlarge.2').withServers(serverIds(pair))),
      ),
    )
    assert.equal(r.httpStatusCode, 200)
    const job = await waitForJob(r.job_id, 'batch resize')
    assert.equal(job.job_type, 'batchResizeServers')
    assert.deepEqual(sorted((job.entities.sub_jobs ?? []).map((s) => s.entities.server_id ?? '')), sorted(pair))
    for (const id of pair) {
      const s = await showServer(id)
      assert.equal(s.flavor.id, 's6.xlarge.2', `${id} flavor`)
      assert.equal(s.status, 'SHUTOFF')
    }
    assert.deepEqual(await assertGroupSpread(groupId, 'after the batch resize'), before, 'the hosts had room: nobody moved')
  })

  step('resizeServer (v1.1) with mode=withStopServer: a running member is resized and comes back ACTIVE', async () => {
    const target = members[1]!
    await start([target])
    const host = await hostOf(target)
    await expectRejected(resizePostPaid(target, 'c7.2xlarge.4'), 400, 'Ecs.0100', 'resize of a running server without withStopServer')
    assert.equal((await showServer(target)).flavor.id, 's6.xlarge.2')

    const r = await resizeV11(target, 'c7.2xlarge.4', 'withStopServer')
    assert.equal(r.httpStatusCode, 200)
    await waitForJob(r.job_id, 'resize with withStopServer')
    const s = await showServer(target)
    assert.equal(s.status, 'ACTIVE', 'started again after the resize')
    assert.equal(s.flavor.id, 'c7.2xlarge.4')
    assert.equal(s['OS-EXT-SRV-ATTR:host'], host, 'its host had room for the growth')
    await assertGroupSpread(groupId, 'after the running resize')
  })

  step('migrateServer: onto a dedicated host another member uses is refused with Ecs.0319; onto a free one and back to the pool', async () => {
    const hosts = await assertGroupSpread(groupId, 'before the migrations')
    const mover = members[2]!
    const taken = await dedicate(hosts.get(members[1]!)!, DEMO.projectId)
    const memberHosts = new Set(hosts.values())
    let freeName: string | undefined
    for (const id of fillers) if (!memberHosts.has(await hostOf(id))) freeName = await hostOf(id)
    assert.ok(freeName, 'a host of the zone with no member on it')
    const free = await dedicate(freeName, DEMO.projectId)

    const refused = await expectRejected(migrate(mover, taken.id), 400, 'Ecs.0319', 'migration onto the dedicated host of another member')
    assert.match(refused.errorMsg ?? '', /AntiAffinity/, 'the diagnosis names the group filter')
    assert.equal(await hostOf(mover), hosts.get(mover), 'the refused migration moved nothing')
    await expectRejected(migrate(mover, null), 400, 'Ecs.0005', 'back to the pool from the shared pool')

    const onto = await migrate(mover, free.id)
    assert.equal(onto.httpStatusCode, 200)
    const job = await waitForJob(onto.job_id, 'migration onto a free dedicated host')
    assert.equal(job.job_type, 'migrateServer')
    assert.equal(await hostOf(mover), free.name)
    await assertGroupSpread(groupId, 'on the dedicated host')

    await waitForJob((await migrate(mover, null)).job_id, 'migration back to the shared pool')
    const back = await showServer(mover)
    assert.equal(back.status, 'SHUTOFF')
    assert.ok(![free.name, taken.name].includes(back['OS-EXT-SRV-ATTR:host']), `back in the shared pool, not on ${back['OS-EXT-SRV-ATTR:host']}`)
    assert.equal(back['OS-EXT-AZ:availability_zone'], ZONE)
    await assertGroupSpread(groupId, 'back in the pool')

    await dedicate(taken.name, null)
    await dedicate(free.name, null)
  })

  step('executeServerRedeploy: every member redeployed at once, each to a new host, the group still spread', async () => {
    // First back to a small flavor (in place), so that the member fits hosts that run something.
    const shrink = await resizeV11(members[0]!, 's6.large.2')
    await waitForJob(shrink.job_id, 'resize back to s6.large.2')
    assert.equal(await hostOf(members[0]!), bigHost, 'a shrink stays in place')

    const before = await assertGroupSpread(groupId, 'before the redeploys')
    const accepted = await Promise.all(members.map((id) => redeploy(id)))
    const jobs = await Promise.all(accepted.map((r, i) => waitForJob(r.job_id, `redeploy of ${members[i]}`)))
    for (const job of jobs) assert.equal(job.job_type, 'redeployServer')
    const after = await assertGroupSpread(groupId, 'after the redeploys')
    for (const id of members) assert.notEqual(after.get(id), before.get(id), `member ${id} moved to another host`)
    assert.equal((await showServer(members[1]!)).status, 'ACTIVE', 'a running member runs again')
    for (const id of [members[0]!, members[2]!]) assert.equal((await showServer(id)).status, 'SHUTOFF', `stopped member ${id} stays stopped`)
  })

  step('updateRecycleBinPolicy and updateRecycleBin: threshold 1 day, retention 24 hours, switched on', async () => {
    await expectRejected(
      client.updateRecycleBinPolicy(
        new ecs.UpdateRecycleBinPolicyRequest().withBody(new ecs.UpdateRecycleBinPolicyReq().withPolicy(new ecs.UpdateRecycleBinPolicyOption(721, 1))),
      ),
      400, 'Ecs.0005', 'a retention beyond 720 hours',
    )
    const policy = await client.updateRecycleBinPolicy(
      new ecs.UpdateRecycleBinPolicyRequest().withBody(new ecs.UpdateRecycleBinPolicyReq().withPolicy(new ecs.UpdateRecycleBinPolicyOption().withRetentionHour(24).withRecycleThresholdDay(1))),
    )
    assert.equal(policy.httpStatusCode, 200)
    const on = await switchBin(true)
    assert.equal(on.httpStatusCode, 200)
    const bin = await showBin()
    assert.equal(bin.switch, 'on')
    assert.deepEqual(bin.policy, { recycle_threshold_day: 1, retention_hour: 24 })
  })

  step('deleteServers of a member older than the threshold puts it in the recycle bin: hidden, listed, out of its group, still counted', async () => {
    const binned = members[0]!
    const host = await hostOf(binned)
    const used = (await limits())['totalInstancesUsed']
    await age([binned], 30)
    await deleteServers([binned])

    const gone = await sdkError(client.showServer(new ecs.ShowServerRequest(binned)), 'showServer of a binned server')
    assertSdkError(gone, 404, 'Ecs.0114', 'showServer of a binned server')
    const list = await client.listServersDetails(new ecs.ListServersDetailsRequest().withLimit(100))
    assert.ok(!list.servers.some((s) => s.id === binned), 'listServersDetails hides it')
    const inBin = await binList()
    assert.deepEqual(inBin.map((s) => s.id), [binned])
    assert.equal(inBin[0]!.status, 'SHUTOFF')
    assert.equal(inBin[0]!['OS-EXT-SRV-ATTR:host'], host, 'the bin shows where it last ran')
    assert.deepEqual(await binIds(new ecs.ListRecycleBinServersRequest().withName('e2e-member').withAvailabilityZone(ZONE).withLimit(10).withOffset('1').withExpectFields('metadata')), [binned])
    assert.deepEqual(await binIds(new ecs.ListRecycleBinServersRequest().withAvailabilityZone('az2')), [])
    assert.deepEqual(await binIds(new ecs.ListRecycleBinServersRequest().withName('e2e-filler')), [])
    assert.ok(!(await groupMembers(groupId)).includes(binned), 'it left its group')
    assert.equal((await limits())['totalInstancesUsed'], used, 'it still counts against the quota')
  })

  step('revertRecycleBinServer onto a taken host: Ecs.0319 while the group holds every host, re-placed once one is free', async () => {
    const binned = members[0]!
    const oldHost = (await binList())[0]!['OS-EXT-SRV-ATTR:host']
    const stayed = [members[1]!, members[2]!]
    // New members take every host of the zone the group does not hold: the old host too.
    const fresh = await createServers('e2e-newcomer', DEMO_FLEET.hostsPerZone - stayed.length, groupId)
    const hosts = await assertGroupSpread(groupId, 'with the newcomers')
    assert.equal(hosts.size, DEMO_FLEET.hostsPerZone)
    const squatter = fresh.find((id) => hosts.get(id) === oldHost)
    assert.ok(squatter, `a newcomer took the old host ${oldHost}: ${json([...hosts])}`)

    const refused = await expectRejected(client.revertRecycleBinServer(new ecs.RevertRecycleBinServerRequest(binned)), 400, 'Ecs.0319', 'revert while the group holds every host')
    assert.match(refused.errorMsg ?? '', /AntiAffinity/)
    assert.deepEqual(await binIds(), [binned], 'still in the bin')

    // A newcomer leaves (too young for the bin): its host is the only one the group does not hold.
    const leaver = fresh.find((id) => id !== squatter)!
    const freed = hosts.get(leaver)!
    await deleteServers([leaver])
    assert.deepEqual(await binIds(), [binned], 'a young server is deleted for good')

    const r = await client.revertRecycleBinServer(new ecs.RevertRecycleBinServerRequest(binned))
    assert.equal(r.httpStatusCode, 200)
    const job = await waitForJob(r.job_id, 'revert')
    assert.equal(job.job_type, 'revertRecycleBinServer')
    const back = await showServer(binned)
    assert.equal(back.status, 'SHUTOFF')
    assert.equal(back['OS-EXT-SRV-ATTR:host'], freed, 're-placed on the one host its group does not hold')
    assert.notEqual(freed, oldHost)
    assert.deepEqual(back['os:scheduler_hints'].group, [groupId], 'it rejoined its group')
    assert.equal(await hostOf(squatter), oldHost, 'the newcomer keeps the old host')
    assert.deepEqual(await binIds(), [])
    const spread = await assertGroupSpread(groupId, 'after the revert')
    assert.equal(spread.size, DEMO_FLEET.hostsPerZone)

    await expectRejected(client.revertRecycleBinServer(new ecs.RevertRecycleBinServerRequest(binned)), 400, 'Ecs.0100', 'revert of a server not in the bin')
    await expectRejected(client.deleteRecycleBinServer(new ecs.DeleteRecycleBinServerRequest(randomUUID())), 404, 'Ecs.0114', 'delete for good of an unknown server')
  })

  step('deleteRecycleBinServer deletes a binned server for good; the bin switches off once it is empty', async () => {
    const doomed = fillers[0]!
    await age([doomed], 30)
    await deleteServers([doomed])
    assert.deepEqual(await binIds(), [doomed])
    const used = (await limits())['totalInstancesUsed'] as number
    await expectRejected(switchBin(false), 400, 'Ecs.0005', 'switching off a bin that holds a server')
    assert.equal((await showBin()).switch, 'on')

    const r = await client.deleteRecycleBinServer(new ecs.DeleteRecycleBinServerRequest(doomed))
    assert.equal(r.httpStatusCode, 200)
    const job = await waitForJob(r.job_id, 'delete for good')
    assert.equal(job.job_type, 'deleteRecycleBinServer')
    fillers = fillers.filter((id) => id !== doomed)
    assert.deepEqual(await binIds(), [])
    assert.equal((await limits())['totalInstancesUsed'], used - 1, 'deleted for good, it no longer counts')
    await expectRejected(client.revertRecycleBinServer(new ecs.RevertRecycleBinServerRequest(doomed)), 404, 'Ecs.0114', 'revert of a server deleted for good')

    assert.equal((await switchBin(false)).httpStatusCode, 200)
    assert.equal((await showBin()).switch, 'off')
  })

  step('deletes everything: the project is empty and the audit finds nothing wrong', async () => {
    const all = await client.listServersDetails(new ecs.ListServersDetailsRequest().withLimit(100))
    await deleteServers(all.servers.map((s) => s.id))
    for (const id of [groupId, fillerGroupId]) assert.equal((await client.deleteServerGroup(new ecs.DeleteServerGroupRequest(id))).httpStatusCode, 204)
    const a = await limits()
    assert.equal(a['totalInstancesUsed'], 0, `limits ${json(a)}`)
    assert.equal(a['totalServerGroupsUsed'], 0, `limits ${json(a)}`)
    assert.deepEqual(await binIds(), [])
    assert.deepEqual(await admin('GET', '/admin/audit'), { violations: [] })
  })
})

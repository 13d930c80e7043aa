/**
 * End-to-end: the REAL ecsd process (spawned from src/main.ts, SQLite in a temp dir, driver
 * latency 20 ms) driven ONLY through the official Huawei Cloud Node SDK
 * (`@huaweicloud/huaweicloud-sdk-ecs` + `-core`), walking the whole ECS-group user story:
 * flavors → servers → anti-affinity group → stop → add members → limits → errors → start →
 * remove members → delete group → delete servers.
 *
 * The steps share state and run in order; once a step fails the following ones are skipped
 * (with the name of the failed step) instead of failing with confusing follow-on errors.
 */
import { describe, before } from 'node:test'
import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { DEMO } from '../../src/services/demo.ts'
import type { HuaweiSdk } from '../sdk.ts'
import { jobEnd, json, sdkError, sdkStory, sorted, storyServer } from './story.ts'
import type { Ecs, GroupWire, JobWire, Req, Sdk, ServerWire, StoryApi } from './story.ts'

// ---------------------------------------------------------------------------------------------
// Wire shapes beyond the shared ones (./story.ts).

interface FlavorWire {
  id: string
  name: string
  os_extra_specs: Record<string, string>
}

/** The subset of `EcsClient` this test uses, with the responses as they really arrive. */
interface EcsApi extends StoryApi {
  listFlavors(r: Req<'ListFlavorsRequest'>): Promise<Sdk & { flavors: FlavorWire[] }>
  listServerGroups(r: Req<'ListServerGroupsRequest'>): Promise<Sdk & { server_groups: GroupWire[]; page_info?: { next_marker?: string } }>
  addServerGroupMember(r: Req<'AddServerGroupMemberRequest'>): Promise<Sdk>
  deleteServerGroupMember(r: Req<'DeleteServerGroupMemberRequest'>): Promise<Sdk>
}

describe('ecsd end to end through the official Huawei Cloud SDK', () => {
  const story = sdkStory<EcsApi>({ dirPrefix: 'ecsd-e2e', ecsdArgs: ['--driver-latency-ms', '20'] })
  const { step, newClient, assertSdkError } = story
  let ecs: Ecs
  let ClientRequestException: HuaweiSdk['ClientRequestException']
  let client: EcsApi
  // Hooks run in the order they are registered: the story's own `before` has started it by now.
  before(() => ({ ecs, ClientRequestException, client } = story.started()))

  // ---- SDK helpers ------------------------------------------------------------------------
  const showServer = async (id: string): Promise<ServerWire> => {
    const r = await client.showServer(new ecs.ShowServerRequest(id))
    assert.equal(r.httpStatusCode, 200, `showServer ${id}`)
    assert.equal(r.server.id, id)
    return r.server
  }
  const showGroup = async (id: string): Promise<GroupWire> => {
    const r = await client.showServerGroup(new ecs.ShowServerGroupRequest(id))
    assert.equal(r.httpStatusCode, 200, `showServerGroup ${id}`)
    return r.server_group
  }
  const limits = async () => {
    const r = await client.showServerLimits(new ecs.ShowServerLimitsRequest())
    assert.equal(r.httpStatusCode, 200)
    return r.absolute
  }

  /** Polls showJob every ~20 ms until SUCCESS; fails on FAIL or at the deadline, with the job. */
  const waitForJob = async (jobId: string, what: string): Promise<JobWire> => {
    const job = await jobEnd(client, ecs, jobId, what)
    assert.ok(job.status === 'SUCCESS', `${what}: job ${jobId} ended ${job.status}: ${json(job)}`)
    return job
  }

  const serverIds = (ids: readonly string[]) => ids.map((id) => new ecs.ServerId(id))

  const createServers = async (name: string, count: number, groupId?: string) => {
    const server = storyServer(ecs, name, count, 'az1', groupId)
    const r = await client.createPostPaidServers(
      new ecs.CreatePostPaidServersRequest().withBody(new ecs.CreatePostPaidServersRequestBody().withServer(server)),
    )
    assert.equal(r.httpStatusCode, 200)
    assert.ok(Array.isArray(r.serverIds), `createPostPaidServers: no serverIds array in ${json(r)}`)
    assert.equal(r.serverIds.length, count, `createPostPaidServers: serverIds ${json(r.serverIds)}`)
    assert.equal(new Set(r.serverIds).size, count, 'server ids are distinct')
    const job = await waitForJob(r.job_id, `create ${count} × ${name}`)
    return { ids: r.serverIds, job }
  }

  const expectStatus = async (ids: readonly string[], status: string): Promise<ServerWire[]> => {
    const servers = await Promise.all(ids.map(showServer))
    for (const s of servers) assert.equal(s.status, status, `server ${s.id} (${s.name}) is ${s.status}, expected ${status}`)
    return servers
  }

  const hostsOf = (servers: readonly ServerWire[]) => new Map(servers.map((s) => [s.id, s['OS-EXT-SRV-ATTR:host']]))

  const assertDistinctHosts = (servers: readonly ServerWire[], what: string) => {
    const hosts = servers.map((s) => s['OS-EXT-SRV-ATTR:host'])
    for (const h of hosts) assert.ok(typeof h === 'string' && h !== '', `${what}: a server has no OS-EXT-SRV-ATTR:host: ${json(hosts)}`)
    assert.equal(new Set(hosts).size, servers.length, `${what}: hosts are not pairwise distinct: ${json(servers.map((s) => [s.id, s['OS-EXT-SRV-ATTR:host']]))}`)
  }

  // ---- shared story state -----------------------------------------------------------------
  let plain: string[] = [] // the 3 servers created without a group
  let grouped: string[] = [] // the 2 servers created into the group
  let probe = '' // a fresh running server for the error case
  let groupId = ''
  let hostsAfterJoin = new Map<string, string>()
  const members = () => [...plain, ...grouped]

  // ---- the story --------------------------------------------------------------------------
  step('lists the demo flavors: KVM (CloudCompute) and Xen (FusionCompute)', async () => {
    const r = await client.listFlavors(new ecs.ListFlavorsRequest())
    assert.equal(r.httpStatusCode, 200)
    assert.ok(Array.isArray(r.flavors), `no flavors array in ${json(r)}`)
    const byId = new Map(r.flavors.map((f) => [f.id, f]))
    const expected: Array<[string, string]> = [
      ['s6.small.1', 'CloudCompute'],
      ['s6.medium.2', 'CloudCompute'],
      ['s6.large.2', 'CloudCompute'],
      ['s6.xlarge.2', 'CloudCompute'],
      ['c7.2xlarge.4', 'CloudCompute'],
      ['s3.small.1', 'FusionCompute'],
      ['s3.large.2', 'FusionCompute'],
    ]
    for (const [id, env] of expected) {
      const f = byId.get(id)
      assert.ok(f, `flavor ${id} missing from ${json([...byId.keys()])}`)
      assert.equal(f.os_extra_specs['ecs:virtualization_env_types'], env, `flavor ${id} virtualization env type`)
    }
  })

  step('creates 3 servers without a group and waits for the job', async () => {
    const { ids, job } = await createServers('e2e-plain', 3)
    plain = ids
    assert.equal(job.entities.sub_jobs_total, 3, `sub_jobs_total in ${json(job)}`)
    assert.equal(job.entities.sub_jobs?.length, 3, `sub_jobs in ${json(job)}`)
    for (const sub of job.entities.sub_jobs ?? []) assert.equal(sub.status, 'SUCCESS', `sub-job ${json(sub)}`)
    assert.deepEqual(sorted((job.entities.sub_jobs ?? []).map((s) => s.entities.server_id ?? '')), sorted(ids), 'sub-jobs name the created servers')
    const servers = await expectStatus(ids, 'ACTIVE')
    for (const s of servers) {
      assert.equal(s['OS-EXT-AZ:availability_zone'], 'az1', `server ${s.id} zone`)
      assert.equal(s.flavor.id, 's6.large.2', `server ${s.id} flavor`)
      assert.equal(s['os:scheduler_hints'].group, undefined, `server ${s.id} has no group yet: ${json(s['os:scheduler_hints'])}`)
    }
  })

  step('creates an anti-affinity group and 2 servers into it, on distinct hosts', async () => {
    const created = await client.createServerGroup(
      new ecs.CreateServerGroupRequest().withBody(
        new ecs.CreateServerGroupRequestBody().withServerGroup(
          new ecs.CreateServerGroupOption().withName('e2e-anti').withPolicies(['anti-affinity']),
        ),
      ),
    )
    assert.equal(created.httpStatusCode, 200)
    const g = created.server_group
    assert.ok(typeof g.id === 'string' && g.id !== '', `no server_group.id in ${json(created)}`)
    assert.equal(g.name, 'e2e-anti')
    assert.deepEqual(g.policies, ['anti-affinity'])
    assert.deepEqual(g.members, [])
    groupId = g.id

    const { ids, job } = await createServers('e2e-grouped', 2, groupId)
    grouped = ids
    assert.equal(job.entities.sub_jobs_total, 2, `sub_jobs_total in ${json(job)}`)
    const servers = await expectStatus(ids, 'ACTIVE')
    assertDistinctHosts(servers, 'servers created into the group')
    for (const s of servers) assert.deepEqual(s['os:scheduler_hints'].group, [groupId], `server ${s.id} os:scheduler_hints`)
    assert.deepEqual(sorted((await showGroup(groupId)).members), sorted(ids), 'the group lists the servers created into it')
  })

  step('stops the 3 ungrouped servers (SOFT)', async () => {
    const r = await client.batchStopServers(
      new ecs.BatchStopServersRequest().withBody(
        new ecs.BatchStopServersRequestBody().withOsStop(new ecs.BatchStopServersOption().withServers(serverIds(plain)).withType('SOFT')),
      ),
    )
    assert.equal(r.httpStatusCode, 200)
    await waitForJob(r.job_id, 'batch stop')
    await expectStatus(plain, 'SHUTOFF')
    await expectStatus(grouped, 'ACTIVE')
  })

  step('adds the 3 stopped servers to the group: 5 members on 5 hosts', async () => {
    for (const id of plain) {
      const r = await client.addServerGroupMember(
        new ecs.AddServerGroupMemberRequest(groupId).withBody(
          new ecs.AddServerGroupMemberRequestBody().withAddMember(new ecs.ServerGroupMember(id)),
        ),
      )
      assert.equal(r.httpStatusCode, 200, `add_member ${id}: ${json(r)}`)
    }
    const servers = await Promise.all(members().map(showServer))
    assertDistinctHosts(servers, 'the 5 group members')
    for (const s of servers) assert.deepEqual(s['os:scheduler_hints'].group, [groupId], `server ${s.id} os:scheduler_hints`)
    for (const s of servers) assert.equal(s.status, plain.includes(s.id) ? 'SHUTOFF' : 'ACTIVE', `server ${s.id} status after joining`)
    hostsAfterJoin = hostsOf(servers)

    assert.deepEqual(sorted((await showGroup(groupId)).members), sorted(members()), 'showServerGroup lists all 5 members')
    const list = await client.listServerGroups(new ecs.ListServerGroupsRequest().withLimit(10))
    assert.equal(list.httpStatusCode, 200)
    const listed = list.server_groups.find((x) => x.id === groupId)
    assert.ok(listed, `listServerGroups(limit 10) does not include ${groupId}: ${json(list)}`)
    assert.deepEqual(sorted(listed.members), sorted(members()), 'listServerGroups shows the members')
  })

  step('reports limits: 1 group, 5 instances, 16 members per group', async () => {
    const a = await limits()
    assert.equal(a['totalServerGroupsUsed'], 1, `limits ${json(a)}`)
    assert.equal(a['totalInstancesUsed'], 5, `limits ${json(a)}`)
    assert.equal(a['maxServerGroupMembers'], 16, `limits ${json(a)}`)
  })

  step('errors arrive as SDK exceptions: running server, unknown server, wrong SK', async () => {
    // A fresh running server, outside any group: the only thing wrong with it is that it runs.
    const { ids } = await createServers('e2e-probe', 1)
    assert.equal(ids.length, 1)
    probe = ids[0]!
    await expectStatus([probe], 'ACTIVE')
    const running = await sdkError(
      client.addServerGroupMember(
        new ecs.AddServerGroupMemberRequest(groupId).withBody(
          new ecs.AddServerGroupMemberRequestBody().withAddMember(new ecs.ServerGroupMember(probe)),
        ),
      ),
      'add_member of a running server',
    )
    assertSdkError(running, 400, 'Ecs.0100', 'add_member of a running server')
    assert.deepEqual(sorted((await showGroup(groupId)).members), sorted(members()), 'the rejected add changed nothing')
    assert.deepEqual((await showServer(probe))['os:scheduler_hints'].group, undefined, 'the probe did not join')

    const missing = await sdkError(client.showServer(new ecs.ShowServerRequest(randomUUID())), 'showServer of a random UUID')
    assertSdkError(missing, 404, 'Ecs.0114', 'showServer of a random UUID')

    const badSk = await sdkError(
      newClient(`${DEMO.secretKey.slice(0, -1)}x`).listServerGroups(new ecs.ListServerGroupsRequest()),
      'a client with a wrong SK',
    )
    assertSdkError(badSk, 401, 'APIGW.0301', 'a client with a wrong SK')
  })

  step('starts the stopped members again: ACTIVE on the same hosts', async () => {
    const r = await client.batchStartServers(
      new ecs.BatchStartServersRequest().withBody(
        new ecs.BatchStartServersRequestBody().withOsStart(new ecs.BatchStartServersOption().withServers(serverIds(plain))),
      ),
    )
    assert.equal(r.httpStatusCode, 200)
    await waitForJob(r.job_id, 'batch start')
    const servers = await expectStatus(members(), 'ACTIVE')
    assert.deepEqual(hostsOf(servers), hostsAfterJoin, 'hosts unchanged by stop/start')
    assertDistinctHosts(servers, 'the 5 started members')
  })

  step('removes every member, then deletes the group', async () => {
    for (const id of members()) {
      const r = await client.deleteServerGroupMember(
        new ecs.DeleteServerGroupMemberRequest(groupId).withBody(
          new ecs.DeleteServerGroupMemberRequestBody().withRemoveMember(new ecs.ServerGroupMember(id)),
        ),
      )
      assert.equal(r.httpStatusCode, 200, `remove_member ${id}: ${json(r)}`)
    }
    assert.deepEqual((await showGroup(groupId)).members, [], 'the group has no members left')
    for (const s of await Promise.all(members().map(showServer))) {
      assert.ok(!(s['os:scheduler_hints'].group ?? []).includes(groupId), `server ${s.id} still shows the group: ${json(s['os:scheduler_hints'])}`)
    }

    const del = await client.deleteServerGroup(new ecs.DeleteServerGroupRequest(groupId))
    assert.equal(del.httpStatusCode, 204)
    const gone = await sdkError(client.showServerGroup(new ecs.ShowServerGroupRequest(groupId)), 'showServerGroup of the deleted group')
    assert.ok(gone instanceof ClientRequestException, `expected ClientRequestException, got ${gone.name}: ${gone.message}`)
    assert.equal(Number(gone.httpStatusCode), 404, `showServerGroup of the deleted group (${gone.errorCode}: ${gone.errorMsg})`)
    const list = await client.listServerGroups(new ecs.ListServerGroupsRequest().withLimit(10))
    assert.ok(!list.server_groups.some((x) => x.id === groupId), `deleted group still listed: ${json(list)}`)
  })

  step('deletes all servers: the project is empty again', async () => {
    const all = [...members(), probe]
    const r = await client.deleteServers(new ecs.DeleteServersRequest().withBody(new ecs.DeleteServersRequestBody().withServers(serverIds(all))))
    assert.equal(r.httpStatusCode, 200)
    await waitForJob(r.job_id, 'delete servers')
    const list = await client.listServersDetails(new ecs.ListServersDetailsRequest())
    assert.equal(list.httpStatusCode, 200)
    assert.equal(list.count, 0, `servers left: ${json(list.servers.map((s) => [s.id, s.status]))}`)
    assert.deepEqual(list.servers, [])
    const a = await limits()
    assert.equal(a['totalInstancesUsed'], 0, `limits ${json(a)}`)
    assert.equal(a['totalServerGroupsUsed'], 0, `limits ${json(a)}`)
  })
})

/**
 * End-to-end: the REAL ecsd process (spawned from src/main.ts, SQLite in a temp dir, driver
 * latency 20 ms, the host monitor looking every 100 ms) and Huawei scheduled events driven
 * through the official Huawei Cloud Node SDK: an operator plans the maintenance of a host, the
 * tenant lists the event of its server, reschedules it (inside and outside the window) and
 * accepts it, and ecsd moves the server live; a second window that closes at once is carried
 * out by ecsd itself at its deadline. An anti-affinity group is checked after every move.
 *
 * Set-up outside the SDK: planning the windows (the operator route `POST /admin/hosts/{name}/
 * action`, signed with the demo operator credential — the API has no call to create events)
 * and the final audit (`GET /admin/audit`). Time never needs to pass: a window's deadline is
 * either two days away (nothing happens until the tenant accepts) or now (it has passed by the
 * monitor's next look), and every wait polls for a state, bounded only against a hang.
 *
 * The steps share state and run in order; once a step fails the following ones are skipped
 * (with the name of the failed step) instead of failing with confusing follow-on errors.
 */
import { describe, before } from 'node:test'
import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import type { HuaweiSdk } from '../sdk.ts'
import { json, POLL_MS, sdkStory, sleep, storyServer } from './story.ts'
import type { Ecs, Req, Sdk, SdkError, ServerWire, StoryApi } from './story.ts'

const WAIT_TIMEOUT_MS = 30_000
const DAY_MS = 86_400_000
const ZONE = 'az1'
const API_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/

// ---------------------------------------------------------------------------------------------
// Wire shapes beyond the shared ones (./story.ts).

interface EventWire {
  id: string
  type: string
  state: string
  publish_time: string
  start_time: string | null
  finish_time: string | null
  not_before: string
  not_before_deadline: string
  description: string
  instance_id: string
  source: { type: string; host_scheduled_event_id: string }
}
interface PlanWire {
  host: { admin_state: string; admin_reason: string }
  maintenance: { host_event_id: string; not_before: string; deadline: string; events: number; created: number }
}

/** The subset of `EcsClient` this test uses, with the responses as they really arrive. */
interface EcsApi extends StoryApi {
  // The operations under test.
  listScheduledEvents(r: Req<'ListScheduledEventsRequest'>): Promise<Sdk & { events: EventWire[]; page_info: { next_marker?: string } }>
  updateScheduledEvent(r: Req<'UpdateScheduledEventRequest'>): Promise<Sdk & { 'X-Request-Id'?: string }>
  acceptScheduledEvent(r: Req<'AcceptScheduledEventRequest'>): Promise<Sdk & { 'X-Request-Id'?: string }>
}

/** `yyyy-MM-ddTHH:mm:ssZ` of a time `offsetMs` from now. */
const at = (offsetMs: number) => `${new Date(Date.now() + offsetMs).toISOString().slice(0, 19)}Z`

describe('scheduled events end to end through the official Huawei Cloud SDK', () => {
  const story = sdkStory<EcsApi>({ dirPrefix: 'ecsd-e2e-events', ecsdArgs: ['--driver-latency-ms', '20'], ecsdEnv: { ECSD_JOB_SWEEP_MS: '100' } })
  const { step, admin } = story
  let ecs: Ecs
  let ClientRequestException: HuaweiSdk['ClientRequestException']
  let client: EcsApi
  // Hooks run in the order they are registered: the story's own `before` has started it by now.
  before(() => ({ ecs, ClientRequestException, client } = story.started()))

  // ---- set-up outside the SDK: the operator API ----------------------------------------------
  const planMaintenance = async (host: string, notBefore: string, deadline: string): Promise<PlanWire> => {
    const plan = (await admin('POST', `/admin/hosts/${host}/action`, { maintenance: { not_before: notBefore, deadline } })) as PlanWire
    assert.equal(plan.host.admin_state, 'maintenance')
    assert.deepEqual([plan.maintenance.not_before, plan.maintenance.deadline], [notBefore, deadline])
    return plan
  }

  // ---- SDK helpers ------------------------------------------------------------------------
  const showServer = async (id: string): Promise<ServerWire> => {
    const r = await client.showServer(new ecs.ShowServerRequest(id))
    assert.equal(r.httpStatusCode, 200, `showServer ${id}`)
    return r.server
  }
  const hostOf = async (id: string) => (await showServer(id))['OS-EXT-SRV-ATTR:host']

  /** Polls `condition` until it holds; the deadline only keeps a broken run from hanging. */
  const until = async <T>(probe: () => Promise<T>, done: (value: T) => boolean, what: string): Promise<T> => {
    const deadline = Date.now() + WAIT_TIMEOUT_MS
    for (;;) {
      const value = await probe()
      if (done(value)) return value
      if (Date.now() > deadline) assert.fail(`${what}: still ${json(value)} after ${WAIT_TIMEOUT_MS} ms`)
      await sleep(POLL_MS)
    }
  }
  const waitForJob = async (jobId: string, what: string) => {
    const job = await until(() => client.showJob(new ecs.ShowJobRequest(jobId)), (j) => j.status !== 'RUNNING' && j.status !== 'INIT', what)
    assert.equal(job.status, 'SUCCESS', `${what}: ${json(job)}`)
  }

  const listEvents = async (request = new ecs.ListScheduledEventsRequest()): Promise<EventWire[]> => {
    const r = await client.listScheduledEvents(request)
    assert.equal(r.httpStatusCode, 200)
    assert.ok(typeof r.page_info === 'object' && r.page_info !== null, `page_info in ${json(r)}`)
    return r.events
  }
  const eventOf = async (serverId: string): Promise<EventWire> => {
    const found = await listEvents(new ecs.ListScheduledEventsRequest().withInstanceId([serverId]))
    assert.equal(found.length, 1, `one event for ${serverId}: ${json(found)}`)
    return found[0]!
  }
  const update = (id: string, notBefore: string) =>
    client.updateScheduledEvent(new ecs.UpdateScheduledEventRequest(id).withBody(new ecs.ScheduledEventUpdateBody(notBefore)))
  const accept = (id: string, notBefore?: string) => {
    const body = new ecs.ScheduledEventAcceptBody()
    if (notBefore !== undefined) body.withNotBefore(notBefore)
    return client.acceptScheduledEvent(new ecs.AcceptScheduledEventRequest(id).withBody(body))
  }

  const expectRejected = async (p: Promise<unknown>, status: number, code: string, what: string): Promise<SdkError> => {
    let value: unknown
    try {
      value = await p
    } catch (err) {
      const e = err as SdkError
      assert.ok(e instanceof ClientRequestException, `${what}: expected ClientRequestException, got ${e.name}: ${e.message}`)
      assert.equal(Number(e.httpStatusCode), status, `${what}: httpStatusCode (errorCode ${e.errorCode}, ${e.errorMsg})`)
      assert.equal(e.errorCode, code, `${what}: errorCode (${e.errorMsg})`)
      assert.ok(typeof e.requestId === 'string' && e.requestId !== '', `${what}: requestId`)
      return e
    }
    assert.fail(`${what}: expected the SDK to reject, but it resolved with ${json(value)}`)
  }

  const createServers = async (name: string, count: number, groupId?: string): Promise<string[]> => {
    const server = storyServer(ecs, name, count, ZONE, groupId)
    const r = await client.createPostPaidServers(new ecs.CreatePostPaidServersRequest().withBody(new ecs.CreatePostPaidServersRequestBody().withServer(server)))
    assert.equal(r.httpStatusCode, 200)
    await waitForJob(r.job_id, `create ${count} × ${name}`)
    return r.serverIds
  }

  /** The group's members, each on its own host; returns member → host. */
  const assertGroupSpread = async (what: string): Promise<Map<string, string>> => {
    const r = await client.showServerGroup(new ecs.ShowServerGroupRequest(groupId))
    const hosts = new Map<string, string>()
    for (const id of r.server_group.members) hosts.set(id, await hostOf(id))
    assert.equal(new Set(hosts.values()).size, r.server_group.members.length, `${what}: members share a host: ${json([...hosts])}`)
    return hosts
  }

  // ---- shared story state -----------------------------------------------------------------
  let groupId = ''
  let members: string[] = []
  let stopped = ''
  let hostA = '' // members[0]'s host: its tenant accepts the event
  let firstPlan: PlanWire
  let event: EventWire

  // ---- the story --------------------------------------------------------------------------
  step('an operator plans the maintenance of a member\'s host: the host leaves placement, the member gets an event', async () => {
    const group = await client.createServerGroup(
      new ecs.CreateServerGroupRequest().withBody(
        new ecs.CreateServerGroupRequestBody().withServerGroup(new ecs.CreateServerGroupOption().withName('e2e-events').withPolicies(['anti-affinity'])),
      ),
    )
    groupId = group.server_group.id
    members = await createServers('e2e-member', 3, groupId)
    hostA = (await assertGroupSpread('the new members')).get(members[0]!)!

    firstPlan = await planMaintenance(hostA, at(0), at(2 * DAY_MS))
    assert.deepEqual([firstPlan.maintenance.events, firstPlan.maintenance.created], [1, 1], 'one server on the host: the member')
    assert.match(firstPlan.host.admin_reason, new RegExp(`host event ${firstPlan.maintenance.host_event_id}`))

    // A server created now avoids the host; it is stopped, for the second window.
    stopped = (await createServers('e2e-stopped', 1))[0]!
    assert.notEqual(await hostOf(stopped), hostA)
    const r = await client.batchStopServers(
      new ecs.BatchStopServersRequest().withBody(new ecs.BatchStopServersRequestBody().withOsStop(new ecs.BatchStopServersOption().withServers([new ecs.ServerId(stopped)]))),
    )
    await waitForJob(r.job_id, 'stop')
  })

  step('listScheduledEvents: the member\'s instance-migrate event, inquiring, with its window; filters and paging', async () => {
    const all = await listEvents()
    assert.equal(all.length, 1, json(all))
    event = all[0]!
    assert.equal(event.instance_id, members[0])
    assert.equal(event.type, 'instance-migrate')
    assert.equal(event.state, 'inquiring')
    assert.deepEqual(event.source, { type: 'host', host_scheduled_event_id: firstPlan.maintenance.host_event_id })
    assert.deepEqual([event.not_before, event.not_before_deadline], [firstPlan.maintenance.not_before, firstPlan.maintenance.deadline])
    assert.match(event.publish_time, API_TIME)
    assert.deepEqual([event.start_time, event.finish_time], [null, null])
    assert.match((JSON.parse(event.description) as Record<string, string>)['en-us'] ?? '', /live-migrated/)

    const filtered = await listEvents(
      new ecs.ListScheduledEventsRequest().withInstanceId([members[0]!, members[1]!]).withType(['instance-migrate', 'instance-redeploy']).withState(['inquiring']).withLimit(10),
    )
    assert.deepEqual(filtered.map((e) => e.id), [event.id])
    assert.deepEqual(await listEvents(new ecs.ListScheduledEventsRequest().withState(['completed'])), [])
    assert.deepEqual((await listEvents(new ecs.ListScheduledEventsRequest().withId(event.id))).map((e) => e.id), [event.id])
    assert.deepEqual(await listEvents(new ecs.ListScheduledEventsRequest().withPublishSince(at(DAY_MS))), [])
    const page = await client.listScheduledEvents(new ecs.ListScheduledEventsRequest().withLimit(1))
    assert.deepEqual(page.page_info, {}, 'one event: no next page')
    await expectRejected(client.listScheduledEvents(new ecs.ListScheduledEventsRequest().withLimit(101)), 400, 'Ecs.0005', 'limit above 100')
  })

  step('updateScheduledEvent: a new start inside the window; one after its deadline is refused', async () => {
    const inside = at(DAY_MS)
    const r = await update(event.id, inside)
    assert.equal(r.httpStatusCode, 200)
    assert.ok(typeof r['X-Request-Id'] === 'string' && r['X-Request-Id'] !== '', `X-Request-Id in ${json(r)}`)
    const rescheduled = await eventOf(members[0]!)
    assert.deepEqual([rescheduled.not_before, rescheduled.state], [inside, 'inquiring'])

    const refused = await expectRejected(update(event.id, at(3 * DAY_MS)), 400, 'Ecs.0005', 'a start after the deadline')
    assert.match(refused.errorMsg ?? '', new RegExp(`not_before_deadline ${event.not_before_deadline}`), 'the message says the window')
    await expectRejected(update(randomUUID(), inside), 404, 'Ecs.0005', 'an unknown event')
    assert.equal((await eventOf(members[0]!)).not_before, inside, 'the refused update changed nothing')
  })

  step('acceptScheduledEvent without a time: the member moves live now, stays ACTIVE, the event completes', async () => {
    const r = await accept(event.id)
    assert.equal(r.httpStatusCode, 200)
    assert.ok(typeof r['X-Request-Id'] === 'string' && r['X-Request-Id'] !== '', `X-Request-Id in ${json(r)}`)
    const done = await until(() => eventOf(members[0]!), (e) => e.state === 'completed' || e.state === 'failed', 'the accepted event')
    assert.equal(done.state, 'completed', json(done))
    assert.match(done.start_time ?? '', API_TIME)
    assert.match(done.finish_time ?? '', API_TIME)
    const moved = await showServer(members[0]!)
    assert.notEqual(moved['OS-EXT-SRV-ATTR:host'], hostA)
    assert.equal(moved.status, 'ACTIVE')
    await assertGroupSpread('after the accepted move')
    await expectRejected(accept(event.id), 400, 'Ecs.0005', 'accepting a completed event')
  })

  step('a window that closes now: at its deadline ecsd moves the servers itself, the stopped one cold', async () => {
    const hostB = await hostOf(stopped)
    const closing = at(0)
    const plan = await planMaintenance(hostB, closing, closing)
    const hostEventId = plan.maintenance.host_event_id
    assert.ok(plan.maintenance.events >= 1)
    const window = await until(
      () => listEvents(new ecs.ListScheduledEventsRequest()),
      (all) => {
        const mine = all.filter((e) => e.source.host_scheduled_event_id === hostEventId)
        return mine.length === plan.maintenance.events && mine.every((e) => e.state === 'completed' || e.state === 'failed')
      },
      'the events of the closed window',
    )
    const ended = window.filter((e) => e.source.host_scheduled_event_id === hostEventId)
    for (const e of ended) assert.equal(e.state, 'completed', json(e))
    const redeploy = ended.find((e) => e.instance_id === stopped)
    assert.equal(redeploy?.type, 'instance-redeploy', json(ended))
    const moved = await showServer(stopped)
    assert.notEqual(moved['OS-EXT-SRV-ATTR:host'], hostB)
    assert.equal(moved.status, 'SHUTOFF', 'a stopped server moves stopped')
    for (const e of ended) assert.notEqual(await hostOf(e.instance_id), hostB)
    await assertGroupSpread('after the deadline')
  })

  step('the hosts say their windows are done, and the audit finds nothing wrong', async () => {
    const { host } = (await admin('GET', `/admin/hosts/${hostA}`)) as { host: { admin_state: string; admin_reason: string; servers: number } }
    assert.equal(host.admin_state, 'maintenance')
    const done = await until(async () => ((await admin('GET', `/admin/hosts/${hostA}`)) as { host: { admin_reason: string } }).host.admin_reason, (r) => r.includes(' ended: '), 'the first window ended')
    assert.match(done, /ended: 1 completed, 0 failed, 0 canceled$/)
    assert.equal(host.servers, 0)
    assert.deepEqual(await admin('GET', '/admin/audit'), { violations: [] })
  })
})

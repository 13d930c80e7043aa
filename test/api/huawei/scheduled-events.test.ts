import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import fc from 'fast-check'
import { audit } from '../../../src/services/audit.ts'
import { DEMO } from '../../../src/services/demo.ts'
import type { Database } from '../../../src/store/database.ts'
import { GateDriver } from '../../drivers.ts'
import { until } from '../../moves.ts'
import {
  DIALECTS, buildTestApp, call, createGroup, createServers, showServer, stopServers, v1, waitForIdle, waitForJob, type TestApp,
} from '../../helper.ts'

/**
 * Huawei scheduled events (`listScheduledEvents`, `updateScheduledEvent`, `acceptScheduledEvent`)
 * and the operator's maintenance window that creates them (`POST /admin/hosts/{name}/action`
 * `{"maintenance": …}`). The host monitor is driven tick by tick (buildTestApp does not start
 * it), and time is controlled through the windows themselves — a deadline an hour away has not
 * come, a window planned to close now has closed — so nothing depends on machine speed.
 */

const ADMIN: { accessKey: string; secretKey: string } = { accessKey: DEMO.adminAccessKey, secretKey: DEMO.adminSecretKey }
const HOUR_MS = 3_600_000
const API_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/

interface EventWire {
  id: string
  type: string
  state: string
  publish_time: string
  start_time: string | null
  finish_time: string | null
  not_before: string
  not_after: null
  not_before_deadline: string
  description: string
  instance_id: string
  source: { type: string; host_scheduled_event_id: string }
}

interface PlanWire {
  host: { name: string; admin_state: string; admin_reason: string | null; schedulable: boolean }
  maintenance: { host_event_id: string; not_before: string; deadline: string; events: number; created: number }
}

interface ErrorWire {
  error: { code: string; message: string }
}

type Response = Awaited<ReturnType<typeof call>>

/** `yyyy-MM-ddTHH:mm:ssZ` of a time `offsetMs` from now. */
function at(offsetMs: number): string {
  return `${new Date(Date.now() + offsetMs).toISOString().slice(0, 19)}Z`
}

function planRequest(app: TestApp['app'], host: string, maintenance: Record<string, unknown>, credential = ADMIN) {
  return call(app, { method: 'POST', url: `/admin/hosts/${host}/action`, body: { maintenance }, ...credential })
}

async function plan(app: TestApp['app'], host: string, notBefore: string, deadline?: string): Promise<PlanWire> {
  const res = await planRequest(app, host, { not_before: notBefore, ...(deadline === undefined ? {} : { deadline }) })
  assert.equal(res.statusCode, 200, res.body)
  return res.json() as PlanWire
}

function events(projectId: string = DEMO.projectId) {
  return `/v3/${projectId}/instance-scheduled-events`
}

async function list(app: TestApp['app'], query = '', credential?: { accessKey: string; secretKey: string; projectId: string }): Promise<{ events: EventWire[]; page_info: { next_marker?: string } }> {
  const res = await call(app, { method: 'GET', url: `${events(credential?.projectId)}${query}`, ...credential })
  assert.equal(res.statusCode, 200, res.body)
  return res.json() as { events: EventWire[]; page_info: { next_marker?: string } }
}

async function eventOf(app: TestApp['app'], serverId: string): Promise<EventWire> {
  const found = (await list(app, `?instance_id=${serverId}`)).events
  assert.equal(found.length, 1, `one event for ${serverId}: ${JSON.stringify(found)}`)
  return found[0]!
}

function update(app: TestApp['app'], id: string, notBefore: unknown) {
  return call(app, { method: 'PUT', url: `${events()}/${id}`, body: { not_before: notBefore } })
}

function accept(app: TestApp['app'], id: string, body: unknown = {}) {
  return call(app, { method: 'POST', url: `${events()}/${id}/actions/accept`, body })
}

function assertRefused(res: Response, status: number, code: string, message: RegExp): void {
  assert.equal(res.statusCode, status, res.body)
  const { error } = res.json() as ErrorWire
  assert.equal(error.code, code, res.body)
  assert.match(error.message, message)
}

/** Runs the monitor until nothing is left to do (bounded by the number of ticks, not by time). */
async function settle(t: TestApp, ticks = 4): Promise<void> {
  for (let i = 0; i < ticks; i++) {
    await t.services.hostMonitor.tick()
    await waitForIdle(t.database)
  }
}

async function hostOf(app: TestApp['app'], id: string): Promise<string> {
  return (await showServer(app, id))['OS-EXT-SRV-ATTR:host'] as string
}

/** Leaves only `names` of zone `az` taking servers, so that new servers go where a test wants. */
async function onlyHosts(database: Database, az: string, names: string[]): Promise<void> {
  await database.db.updateTable('hosts').set({ enabled: 0, admin_state: 'disabled' }).where('az', '=', az).where('name', 'not in', names).where('admin_state', '=', 'enabled').execute()
}

/** Undoes `onlyHosts` (hosts under maintenance stay so). */
async function enableAll(database: Database): Promise<void> {
  await database.db.updateTable('hosts').set({ enabled: 1, admin_state: 'enabled' }).where('admin_state', '=', 'disabled').execute()
}

/** `count` servers on one host (`az1-host-01`: of zone az1), the first `stopped` of them stopped; returns their ids. */
async function serversOnOneHost(t: TestApp, host: string, count: number, stopped = 0): Promise<string[]> {
  const az = host.split('-')[0]!
  await onlyHosts(t.database, az, [host])
  const ids = await createServers(t.app, { count, availability_zone: az })
  if (stopped > 0) await stopServers(t.app, ids.slice(0, stopped))
  await enableAll(t.database)
  return ids
}

/** The migrateServer jobs of a server, oldest first. */
async function movesOf(database: Database, serverId: string) {
  return database.db.selectFrom('jobs').select(['id', 'status', 'fail_reason']).where('type', '=', 'migrateSingleServer').where('server_id', '=', serverId).orderBy('begin_time').execute()
}

function englishDescription(e: EventWire): string {
  const parsed = JSON.parse(e.description) as Record<string, string>
  assert.deepEqual(Object.keys(parsed), ['en-us'], e.description)
  return parsed['en-us']!
}

for (const dialect of DIALECTS) {
  describe(`scheduled events on ${dialect}`, () => {
    test('planning a window: the host leaves placement, running servers get instance-migrate, the others instance-redeploy', async (t) => {
      const app = await buildTestApp(t, { dialect })
      const [stopped, ...running] = await serversOnOneHost(app, 'az1-host-01', 3, 1)
      const notBefore = at(HOUR_MS)
      const deadline = at(3 * HOUR_MS)

      const planned = await plan(app.app, 'az1-host-01', notBefore, deadline)
      assert.equal(planned.host.admin_state, 'maintenance')
      assert.equal(planned.host.schedulable, false)
      const hostEventId = planned.maintenance.host_event_id
      assert.match(hostEventId, /^[0-9a-f-]{36}$/)
      assert.equal(planned.host.admin_reason, `maintenance window ${notBefore} to ${deadline} (host event ${hostEventId})`)
      assert.deepEqual(planned.maintenance, { host_event_id: hostEventId, not_before: notBefore, deadline, events: 3, created: 3 })

      const page = await list(app.app)
      assert.deepEqual(page.page_info, {})
      assert.equal(page.events.length, 3)
      const byServer = new Map(page.events.map((e) => [e.instance_id, e]))
      assert.equal(byServer.get(stopped!)!.type, 'instance-redeploy')
      for (const id of running) assert.equal(byServer.get(id)!.type, 'instance-migrate')
      for (const e of page.events) {
        assert.equal(e.state, 'inquiring')
        assert.match(e.id, /^[0-9a-f-]{36}$/)
        assert.match(e.publish_time, API_TIME)
        assert.deepEqual([e.start_time, e.finish_time, e.not_after], [null, null, null])
        assert.deepEqual([e.not_before, e.not_before_deadline], [notBefore, deadline])
        assert.deepEqual(e.source, { type: 'host', host_scheduled_event_id: hostEventId })
        assert.match(englishDescription(e), new RegExp(`up to ${deadline}`))
      }
      assert.match(englishDescription(byServer.get(running[0]!)!), /live-migrated/)
      assert.match(englishDescription(byServer.get(stopped!)!), /redeployed/)

      // New servers avoid the host now.
      const fresh = await createServers(app.app, { count: 8, availability_zone: 'az1' })
      for (const id of fresh) assert.notEqual(await hostOf(app.app, id), 'az1-host-01')

      // The same window again changes nothing; another one is refused while this one has events to carry out.
      const again = await plan(app.app, 'az1-host-01', notBefore, deadline)
      assert.deepEqual(again.maintenance, { ...planned.maintenance, created: 0 })
      assert.equal((await list(app.app)).events.length, 3)
      assertRefused(await planRequest(app.app, 'az1-host-01', { not_before: at(2 * HOUR_MS) }), 409, 'Ecs.0005', /already has a maintenance window/)

      // Nothing is due before not_before and the deadline.
      await settle(app)
      assert.ok((await list(app.app)).events.every((e) => e.state === 'inquiring'))
      assert.deepEqual(await audit(app.database.db), [])
    })

    test('a window: default deadline 24 h, validated times, an empty host ends at once, operators only', async (t) => {
      const app = await buildTestApp(t, { dialect })
      const notBefore = at(HOUR_MS)
      const empty = await plan(app.app, 'az2-host-08', notBefore)
      assert.equal(empty.maintenance.deadline, `${new Date(Date.parse(notBefore) + 24 * HOUR_MS).toISOString().slice(0, 19)}Z`)
      assert.equal(empty.maintenance.events, 0)
      await settle(app, 1)
      const host = await call(app.app, { method: 'GET', url: '/admin/hosts/az2-host-08', ...ADMIN })
      const shown = (host.json() as { host: { admin_state: string; admin_reason: string } }).host
      assert.equal(shown.admin_state, 'maintenance', 'it stays in maintenance until an operator enables it')
      assert.equal(shown.admin_reason, `${empty.host.admin_reason} ended: 0 completed, 0 failed, 0 canceled`)
      // The window is over: another may be planned.
      assert.equal((await planRequest(app.app, 'az2-host-08', { not_before: at(2 * HOUR_MS) })).statusCode, 200)

      assertRefused(await planRequest(app.app, 'az2-host-07', { not_before: at(-HOUR_MS) }), 400, 'Ecs.0005', /not_before .* is in the past/)
      assertRefused(await planRequest(app.app, 'az2-host-07', { not_before: at(2 * HOUR_MS), deadline: at(HOUR_MS) }), 400, 'Ecs.0005', /deadline .* is before not_before/)
      assertRefused(await planRequest(app.app, 'az2-host-07', { not_before: 'tomorrow' }), 400, 'Ecs.0005', /maintenance\.not_before "tomorrow" is not a time/)
      assertRefused(await planRequest(app.app, 'az2-host-07', { not_before: '2031-02-30T00:00:00Z' }), 400, 'Ecs.0005', /is not a time/)
      assertRefused(await planRequest(app.app, 'az2-host-07', { not_before: at(HOUR_MS), extra: 1 }), 400, 'Ecs.0005', /extra|additional/)
      assertRefused(await planRequest(app.app, 'no-such-host', { not_before: at(HOUR_MS) }), 404, 'Ecs.0005', /Host no-such-host does not exist/)
      const tenant = await planRequest(app.app, 'az2-host-07', { not_before: at(HOUR_MS) }, { accessKey: DEMO.accessKey, secretKey: DEMO.secretKey })
      assertRefused(tenant, 403, 'Ecs.0003', /operator/)
      const untouched = await app.database.db.selectFrom('hosts').select(['admin_state']).where('name', '=', 'az2-host-07').executeTakeFirstOrThrow()
      assert.equal(untouched.admin_state, 'enabled')
      // A time with an offset names the same instant in UTC.
      const offset = await plan(app.app, 'az2-host-06', '2031-06-01T10:00:00+08:00')
      assert.equal(offset.maintenance.not_before, '2031-06-01T02:00:00Z')
    })

    test('listScheduledEvents: filters, newest first, marker paging, terminal events for 7 days', async (t) => {
      const app = await buildTestApp(t, { dialect })
      const first = await serversOnOneHost(app, 'az1-host-01', 3, 1)
      const second = await serversOnOneHost(app, 'az1-host-02', 2)
      await plan(app.app, 'az1-host-01', at(HOUR_MS), at(2 * HOUR_MS))
      const boundary = new Date()
      // Publish times are per plan; make the second plan strictly later whatever the clock's resolution.
      while (Date.now() <= boundary.getTime() + 1000) await new Promise((r) => setTimeout(r, 20))
      const later = await plan(app.app, 'az1-host-02', at(HOUR_MS), at(2 * HOUR_MS))

      const all = await list(app.app)
      assert.equal(all.events.length, 5)
      assert.deepEqual(new Set(all.events.slice(0, 2).map((e) => e.instance_id)), new Set(second), 'newest first')
      assert.ok(all.events.slice(0, 2).every((e) => e.source.host_scheduled_event_id === later.maintenance.host_event_id))

      assert.deepEqual(new Set((await list(app.app, `?instance_id=${first[0]}&instance_id=${second[1]}`)).events.map((e) => e.instance_id)), new Set([first[0], second[1]]))
      assert.deepEqual((await list(app.app, '?type=instance-redeploy')).events.map((e) => e.instance_id), [first[0]])
      assert.equal((await list(app.app, '?type=instance-migrate&type=instance-redeploy')).events.length, 5)
      assert.deepEqual((await list(app.app, '?type=system-maintenance')).events, [], 'a documented type ecsd never creates matches nothing')
      assert.equal((await list(app.app, '?state=inquiring')).events.length, 5)
      assert.deepEqual((await list(app.app, '?state=completed&state=failed')).events, [])
      const one = all.events[3]!
      assert.deepEqual((await list(app.app, `?id=${one.id}`)).events, [one])
      const since = `${new Date(boundary.getTime() + 1000).toISOString().slice(0, 19)}Z`
      assert.deepEqual(new Set((await list(app.app, `?publish_since=${since}`)).events.map((e) => e.instance_id)), new Set(second))
      assert.deepEqual(new Set((await list(app.app, `?publish_until=${all.events[2]!.publish_time}`)).events.map((e) => e.instance_id)), new Set(first))

      // Pages of two, in the same order as the whole list.
      const seen: string[] = []
      let query = '?limit=2'
      for (let pages = 0; ; pages++) {
        assert.ok(pages < 5, 'paging ends')
        const page = await list(app.app, query)
        seen.push(...page.events.map((e) => e.id))
        if (page.page_info.next_marker === undefined) break
        assert.equal(page.page_info.next_marker, page.events[page.events.length - 1]!.id)
        query = `?limit=2&marker=${page.page_info.next_marker}`
      }
      assert.deepEqual(seen, all.events.map((e) => e.id))
      const lastPage = await list(app.app, `?limit=4&marker=${all.events[0]!.id}`)
      assert.deepEqual(lastPage.page_info, {}, 'no next_marker on the last page')
      assert.equal(lastPage.events.length, 4)

      for (const [query, message] of [
        ['?limit=0', /limit/], ['?limit=101', /limit/], ['?state=done', /state/], ['?type=instance-explode', /type/],
        ['?publish_since=yesterday', /publish_since "yesterday" is not a time/], ['?marker=nope', /marker nope is not a scheduled event/], ['?sort=id', /sort|additional/],
      ] as const) {
        assertRefused(await call(app.app, { method: 'GET', url: `${events()}${query}` }), 400, 'Ecs.0005', message)
      }

      // A terminal event is listed for 7 days after it ended.
      await call(app.app, { method: 'POST', url: v1('/cloudservers/delete'), body: { servers: [{ id: second[0] }] } }).then(async (r) => waitForJob(app.app, (r.json() as { job_id: string }).job_id))
      await settle(app, 1)
      const canceled = await eventOf(app.app, second[0]!)
      assert.equal(canceled.state, 'canceled')
      await app.database.db.updateTable('scheduled_events').set({ finish_time: new Date(Date.now() - 8 * 24 * HOUR_MS).toISOString() }).where('id', '=', canceled.id).execute()
      assert.deepEqual((await list(app.app, `?instance_id=${second[0]}`)).events, [])
      assert.equal((await list(app.app)).events.length, 4)
      assert.deepEqual(await audit(app.database.db), [])
    })

    test('updateScheduledEvent: a new start inside the window; outside it, or a finished event, is refused with the window', async (t) => {
      const app = await buildTestApp(t, { dialect })
      const [server] = await serversOnOneHost(app, 'az1-host-01', 1)
      const deadline = at(2 * HOUR_MS)
      await plan(app.app, 'az1-host-01', at(HOUR_MS), deadline)
      const event = await eventOf(app.app, server!)

      const inside = at(90 * 60_000)
      const res = await update(app.app, event.id, inside)
      assert.equal(res.statusCode, 200, res.body)
      assert.deepEqual(res.json(), {})
      assert.ok(res.headers['x-request-id'])
      const updated = await eventOf(app.app, server!)
      assert.equal(updated.not_before, inside)
      assert.equal(updated.state, 'inquiring', 'a reschedule does not authorize')
      // The deadline itself is inside the window; "now" (a time just past) is too.
      assert.equal((await update(app.app, event.id, deadline)).statusCode, 200)
      assert.equal((await update(app.app, event.id, at(-5_000))).statusCode, 200)

      assertRefused(await update(app.app, event.id, at(3 * HOUR_MS)), 400, 'Ecs.0005', new RegExp(`outside the window .* until its not_before_deadline ${deadline}`))
      assertRefused(await update(app.app, event.id, at(-HOUR_MS)), 400, 'Ecs.0005', /outside the window/)
      assertRefused(await update(app.app, event.id, 'soon'), 400, 'Ecs.0005', /not_before "soon" is not a time/)
      assertRefused(await call(app.app, { method: 'PUT', url: `${events()}/${event.id}`, body: {} }), 400, 'Ecs.0005', /not_before/)
      assertRefused(await update(app.app, '00000000-0000-0000-0000-000000000000', inside), 404, 'Ecs.0005', /does not exist in this project/)
      assert.equal((await eventOf(app.app, server!)).state, 'inquiring')

      // Accepted, it can still be rescheduled; finished, it cannot.
      assert.equal((await accept(app.app, event.id, { not_before: at(HOUR_MS) })).statusCode, 200)
      const later = at(100 * 60_000)
      assert.equal((await update(app.app, event.id, later)).statusCode, 200)
      assert.deepEqual([(await eventOf(app.app, server!)).state, (await eventOf(app.app, server!)).not_before], ['scheduled', later])
      assert.equal((await update(app.app, event.id, at(0))).statusCode, 200)
      await settle(app)
      assert.equal((await eventOf(app.app, server!)).state, 'completed')
      assertRefused(await update(app.app, event.id, at(HOUR_MS)), 400, 'Ecs.0005', /is completed; updateScheduledEvent needs it inquiring or scheduled/)
      assert.deepEqual(await audit(app.database.db), [])
    })

    test('acceptScheduledEvent: now moves a running server live, it stays ACTIVE; at a time it waits for that time', async (t) => {
      const gate = new GateDriver()
      const app = await buildTestApp(t, { dialect, driver: gate })
      gate.releaseAll()
      const [later, now] = await serversOnOneHost(app, 'az1-host-01', 2)
      await plan(app.app, 'az1-host-01', at(HOUR_MS), at(2 * HOUR_MS))
      const nowEvent = await eventOf(app.app, now!)
      const laterEvent = await eventOf(app.app, later!)

      const res = await accept(app.app, nowEvent.id)
      assert.equal(res.statusCode, 200, res.body)
      assert.deepEqual(res.json(), {})
      const accepted = await eventOf(app.app, now!)
      assert.equal(accepted.state, 'scheduled')
      assert.ok(Date.parse(accepted.not_before) <= Date.now(), `now: ${accepted.not_before}`)
      assertRefused(await accept(app.app, nowEvent.id), 400, 'Ecs.0005', /is scheduled; acceptScheduledEvent needs it inquiring/)

      const atTime = at(90 * 60_000)
      assert.equal((await accept(app.app, laterEvent.id, { not_before: atTime })).statusCode, 200)
      assertRefused(await accept(app.app, '00000000-0000-0000-0000-000000000000'), 404, 'Ecs.0005', /does not exist/)
      assertRefused(await accept(app.app, laterEvent.id, { not_before: at(3 * HOUR_MS) }), 400, 'Ecs.0005', /is scheduled/)

      // The move is held in the driver: the event shows executing, the server MIGRATING live.
      gate.hold()
      await app.services.hostMonitor.tick()
      await until(() => gate.held.length === 1, 'the live move to reach the driver')
      const executing = await eventOf(app.app, now!)
      assert.equal(executing.state, 'executing')
      assert.match(executing.start_time ?? '', API_TIME)
      assert.deepEqual(gate.held.map((c) => [c.serverId, c.move?.kind]), [[now, 'live']])
      assert.equal((await showServer(app.app, now!)).status, 'MIGRATING')
      // A second look, on this replica or another, starts nothing more.
      await Promise.all([app.services.hostMonitor.tick(), app.services.scheduledEvents.executeDue()])
      assert.equal(gate.held.length, 1)

      gate.releaseAll()
      await waitForIdle(app.database)
      await settle(app, 1)
      const done = await eventOf(app.app, now!)
      assert.equal(done.state, 'completed')
      assert.match(done.finish_time ?? '', API_TIME)
      const moved = await showServer(app.app, now!)
      assert.equal(moved.status, 'ACTIVE', 'a live move keeps it running')
      assert.notEqual(moved['OS-EXT-SRV-ATTR:host'], 'az1-host-01')
      assert.equal((await movesOf(app.database, now!)).length, 1)

      const waiting = await eventOf(app.app, later!)
      assert.deepEqual([waiting.state, waiting.not_before], ['scheduled', atTime], 'its time has not come')
      assert.equal(await hostOf(app.app, later!), 'az1-host-01')
      // Rescheduled to now, it goes at the next look.
      assert.equal((await update(app.app, laterEvent.id, at(0))).statusCode, 200)
      await settle(app)
      assert.equal((await eventOf(app.app, later!)).state, 'completed')
      assert.notEqual(await hostOf(app.app, later!), 'az1-host-01')
      const host = (await call(app.app, { method: 'GET', url: '/admin/hosts/az1-host-01', ...ADMIN })).json() as { host: { admin_state: string; admin_reason: string; servers: number } }
      assert.equal(host.host.servers, 0)
      assert.match(host.host.admin_reason, /ended: 2 completed, 0 failed, 0 canceled$/)
      assert.equal(host.host.admin_state, 'maintenance')
      assert.deepEqual(await audit(app.database.db), [])
    })

    test('at the deadline ecsd moves the servers itself: running ones live (ACTIVE), stopped ones cold, group members to hosts the group does not hold', async (t) => {
      const gate = new GateDriver()
      const app = await buildTestApp(t, { dialect, driver: gate })
      gate.releaseAll()
      // A group of 7 members on 7 of az1's 8 hosts: the one free host is the only place a member may go.
      const group = await createGroup(app.app, 'spread')
      const members = await createServers(app.app, { count: 7, availability_zone: 'az1', 'os:scheduler_hints': { group } })
      const memberHosts = new Map<string, string>()
      for (const id of members) memberHosts.set(id, await hostOf(app.app, id))
      const free = (await app.database.db.selectFrom('hosts').select('name').where('az', '=', 'az1').execute()).map((h) => h.name).find((n) => ![...memberHosts.values()].includes(n))!
      const [member] = members
      const host = memberHosts.get(member!)!
      // Two more servers on the member's host, one of them stopped.
      await onlyHosts(app.database, 'az1', [host])
      const others = await createServers(app.app, { count: 2, availability_zone: 'az1' })
      await stopServers(app.app, [others[0]!])
      await enableAll(app.database)

      // Not before the deadline…
      await plan(app.app, host, at(0), at(HOUR_MS))
      await settle(app)
      assert.ok((await list(app.app)).events.every((e) => e.state === 'inquiring'))
      // …a window that closes now has passed its deadline at the next look.
      await call(app.app, { method: 'POST', url: `/admin/hosts/${host}/action`, body: { enable: {} }, ...ADMIN })
      await settle(app, 1)
      assert.ok((await list(app.app)).events.every((e) => e.state === 'canceled'), 'enabling the host called the first window off')
      const closing = at(0)
      const planned = await plan(app.app, host, closing, closing)
      assert.equal(planned.maintenance.events, 3)

      gate.hold()
      await app.services.hostMonitor.tick()
      await until(() => gate.held.length === 3, 'the three moves to reach the driver')
      const kinds = new Map(gate.held.map((c) => [c.serverId, c.move?.kind]))
      assert.deepEqual(kinds, new Map([[member, 'live'], [others[1], 'live'], [others[0], 'cold']]))
      const current = (await list(app.app, `?state=executing`)).events
      assert.equal(current.length, 3)
      gate.releaseAll()
      await waitForIdle(app.database)
      await settle(app, 1)

      for (const id of [member!, ...others]) {
        const e = (await list(app.app, `?instance_id=${id}&state=completed`)).events
        assert.equal(e.length, 1, `${id}: ${JSON.stringify(await list(app.app, `?instance_id=${id}`))}`)
        assert.equal(e[0]!.source.host_scheduled_event_id, planned.maintenance.host_event_id)
        assert.notEqual(await hostOf(app.app, id), host)
      }
      assert.equal((await showServer(app.app, member!)).status, 'ACTIVE')
      assert.equal((await showServer(app.app, others[1]!)).status, 'ACTIVE')
      assert.equal((await showServer(app.app, others[0]!)).status, 'SHUTOFF')
      assert.equal(await hostOf(app.app, member!), free, 'the member went to the one host its group does not hold')
      const after = await Promise.all(members.map((id) => hostOf(app.app, id)))
      assert.equal(new Set(after).size, members.length, 'members on distinct hosts')
      assert.deepEqual(await audit(app.database.db), [])
    })

    test('a server no host can take ends its event failed with the placement diagnosis; a move that fails, with the job\'s reason', async (t) => {
      const app = await buildTestApp(t, { dialect })
      // A member on every host of az1: no host is left for a member to go.
      const group = await createGroup(app.app, 'full')
      const members = await createServers(app.app, { count: 8, availability_zone: 'az1', 'os:scheduler_hints': { group } })
      const stuck = members[0]!
      const host = await hostOf(app.app, stuck)
      const closing = at(0)
      await plan(app.app, host, closing, closing)
      await settle(app)
      const failed = await eventOf(app.app, stuck)
      assert.equal(failed.state, 'failed')
      assert.match(failed.finish_time ?? '', API_TIME)
      assert.match(englishDescription(failed), /Failed: Insufficient resources for this flavor: .*AntiAffinity/)
      const stored = await app.database.db.selectFrom('scheduled_events').select('fail_reason').where('id', '=', failed.id).executeTakeFirstOrThrow()
      assert.match(stored.fail_reason ?? '', /AntiAffinity\(\d+ hosts? used by other members\): 0/)
      assert.equal(await hostOf(app.app, stuck), host, 'the server stays where it is')
      assert.equal((await showServer(app.app, stuck)).status, 'ACTIVE')
      assert.deepEqual(await movesOf(app.database, stuck), [])
      const shown = (await call(app.app, { method: 'GET', url: `/admin/hosts/${host}`, ...ADMIN })).json() as { host: { admin_reason: string } }
      assert.match(shown.host.admin_reason, /ended: 0 completed, 1 failed, 0 canceled$/)

      // A live move the host driver fails: the server is back where it was and the event says why.
      const [mover] = await serversOnOneHost(app, 'az2-host-01', 1)
      await app.services.faults.add({ step: 'move', mode: 'fail', reason: 'the migration network is down' })
      const now = at(0)
      await plan(app.app, 'az2-host-01', now, now)
      await settle(app)
      const moveFailed = await eventOf(app.app, mover!)
      assert.equal(moveFailed.state, 'failed')
      assert.match(englishDescription(moveFailed), /Failed: .*the migration network is down/)
      assert.equal(await hostOf(app.app, mover!), 'az2-host-01')
      assert.equal((await showServer(app.app, mover!)).status, 'ACTIVE')
      assert.deepEqual((await movesOf(app.database, mover!)).map((j) => j.status), ['FAIL'])
      // Failed is final for the window: later looks start nothing more.
      await settle(app, 2)
      assert.equal((await movesOf(app.database, mover!)).length, 1)
      assert.deepEqual(await audit(app.database.db), [])
    })

    test('a deleted server\'s event is canceled; a busy server waits for its job; an executing event survives its claimant', async (t) => {
      const gate = new GateDriver()
      const app = await buildTestApp(t, { dialect, driver: gate })
      gate.releaseAll()
      const [doomed, busy, claimed] = await serversOnOneHost(app, 'az1-host-01', 3)
      await plan(app.app, 'az1-host-01', at(HOUR_MS), at(2 * HOUR_MS))

      const del = await call(app.app, { method: 'POST', url: v1('/cloudservers/delete'), body: { servers: [{ id: doomed }] } })
      await waitForJob(app.app, (del.json() as { job_id: string }).job_id)
      await settle(app, 1)
      const canceled = await eventOf(app.app, doomed!)
      assert.equal(canceled.state, 'canceled')
      assert.match(englishDescription(canceled), new RegExp(`Canceled: ECS ${doomed} was deleted`))
      assert.match(canceled.finish_time ?? '', API_TIME)

      // A reboot held in the driver keeps the server busy: its accepted event waits.
      gate.hold()
      const reboot = await call(app.app, { method: 'POST', url: v1('/cloudservers/action'), body: { reboot: { type: 'SOFT', servers: [{ id: busy }] } } })
      assert.equal(reboot.statusCode, 200, reboot.body)
      assert.equal((await accept(app.app, (await eventOf(app.app, busy!)).id)).statusCode, 200)
      await app.services.hostMonitor.tick()
      assert.equal((await eventOf(app.app, busy!)).state, 'scheduled')
      assert.deepEqual(await movesOf(app.database, busy!), [])

      // A replica that claimed an event and died before starting its move: the claim lapses.
      const claimedEvent = await eventOf(app.app, claimed!)
      const claimedAt = new Date(Date.now() - 2 * 60_000).toISOString()
      await app.database.db.updateTable('scheduled_events').set({ state: 'executing', not_before: claimedAt, start_time: claimedAt }).where('id', '=', claimedEvent.id).execute()
      await app.services.hostMonitor.tick()
      await until(() => gate.held.some((c) => c.serverId === claimed && c.move !== undefined), 'the lapsed claim to be taken again and its move started')
      assert.equal((await eventOf(app.app, claimed!)).state, 'executing')

      gate.releaseAll()
      await waitForIdle(app.database)
      await settle(app)
      for (const id of [busy!, claimed!]) {
        assert.equal((await eventOf(app.app, id)).state, 'completed')
        assert.notEqual(await hostOf(app.app, id), 'az1-host-01')
        assert.equal((await movesOf(app.database, id)).length, 1)
      }
      assert.deepEqual(await audit(app.database.db), [])
    })

    test('events are per project: another project neither sees nor answers them', async (t) => {
      const app = await buildTestApp(t, { dialect })
      const mine = await serversOnOneHost(app, 'az1-host-01', 1)
      const other = await app.services.identity.createProject('other')
      const credential = await app.services.identity.createCredential(other.id)
      const theirs = { accessKey: credential.accessKey, secretKey: credential.secretKey, projectId: other.id }
      await onlyHosts(app.database, 'az1', ['az1-host-01'])
      const created = await call(app.app, {
        method: 'POST', url: v1('/cloudservers', other.id), ...theirs,
        body: { server: { name: 'theirs', flavorRef: 's6.large.2', imageRef: 'img-ubuntu-22.04', vpcid: 'vpc-1', nics: [{ subnet_id: 'subnet-1' }], root_volume: { volumetype: 'SSD' }, availability_zone: 'az1' } },
      })
      assert.equal(created.statusCode, 200, created.body)
      const theirServer = (created.json() as { serverIds: string[] }).serverIds[0]!
      await waitForIdle(app.database)
      await enableAll(app.database)
      await plan(app.app, 'az1-host-01', at(HOUR_MS))

      const ours = await list(app.app)
      assert.deepEqual(ours.events.map((e) => e.instance_id), mine)
      const theirList = await list(app.app, '', theirs)
      assert.deepEqual(theirList.events.map((e) => e.instance_id), [theirServer])
      const theirEvent = theirList.events[0]!
      assert.equal(theirEvent.source.host_scheduled_event_id, ours.events[0]!.source.host_scheduled_event_id)

      assertRefused(await update(app.app, theirEvent.id, at(HOUR_MS)), 404, 'Ecs.0005', /does not exist in this project/)
      assertRefused(await accept(app.app, theirEvent.id), 404, 'Ecs.0005', /does not exist in this project/)
      assert.deepEqual((await list(app.app, `?id=${theirEvent.id}`)).events, [])
      assertRefused(await call(app.app, { method: 'GET', url: `${events()}?marker=${theirEvent.id}` }), 400, 'Ecs.0005', /marker/)
      const crossed = await call(app.app, { method: 'GET', url: events(other.id) })
      assert.equal(crossed.statusCode, 401, 'the demo credential cannot name another project in the path')
      assert.equal((crossed.json() as { error_code: string }).error_code, 'APIGW.0301')
      assert.equal((await list(app.app, '', theirs)).events[0]!.state, 'inquiring', 'untouched')
    })

    test('requests without a body are refused as blank; hostile input is never a 5xx and a refused request changes no event', async (t) => {
      const app = await buildTestApp(t, { dialect })
      const [server] = await serversOnOneHost(app, 'az1-host-01', 1)
      await plan(app.app, 'az1-host-01', at(HOUR_MS), at(2 * HOUR_MS))
      const event = await eventOf(app.app, server!)
      assertRefused(await call(app.app, { method: 'POST', url: `${events()}/${event.id}/actions/accept` }), 400, 'Common.0002', /cannot be left blank/)
      assertRefused(await call(app.app, { method: 'PUT', url: `${events()}/${event.id}` }), 400, 'Common.0002', /cannot be left blank/)

      const hostile = fc.oneof(
        fc.constantFrom("' OR '1'='1", '%00', '..', '1e309', '-1', '9999-99-99T99:99:99Z', '2031-01-01T00:00:00+99:00', '2031-01-01T00:00:00', '🚀', ''),
        fc.string({ maxLength: 40 }),
        fc.integer().map(String),
      )
      const snapshotEvents = () => app.database.db.selectFrom('scheduled_events').selectAll().orderBy('id').execute()
      let before = await snapshotEvents()
      await fc.assert(
        fc.asyncProperty(
          fc.constantFrom('list', 'update', 'accept'),
          fc.oneof(fc.constant(event.id), hostile),
          fc.dictionary(fc.constantFrom('marker', 'id', 'instance_id', 'type', 'state', 'publish_since', 'publish_until', 'limit', 'other'), hostile, { maxKeys: 3 }),
          fc.oneof(fc.constant(undefined), hostile, fc.jsonValue({ maxDepth: 2 }), fc.record({ not_before: fc.oneof(hostile, fc.jsonValue({ maxDepth: 1 })) })),
          async (operation, id, query, body) => {
            const path = encodeURIComponent(id)
            const res = operation === 'list'
              ? await call(app.app, { method: 'GET', url: `${events()}?${new URLSearchParams(query).toString()}` })
              : operation === 'update'
                ? await call(app.app, { method: 'PUT', url: `${events()}/${path}`, ...(body === undefined ? {} : { body }) })
                : await call(app.app, { method: 'POST', url: `${events()}/${path}/actions/accept`, ...(body === undefined ? {} : { body }) })
            assert.ok(res.statusCode < 500, `${operation} ${id} ${JSON.stringify(query)} ${JSON.stringify(body)} → ${res.statusCode} ${res.body}`)
            const answer = res.json() as Partial<ErrorWire> & { error_code?: string }
            if (res.statusCode >= 400) assert.ok(typeof answer.error?.code === 'string' || typeof answer.error_code === 'string', res.body)
            const after = await snapshotEvents()
            if (res.statusCode >= 400) assert.deepEqual(after, before, `a refused ${operation} changed an event: ${res.body}`)
            before = after
          },
        ),
        { numRuns: 150 },
      )
    })
  })
}

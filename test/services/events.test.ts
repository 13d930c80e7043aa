import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { setTimeout } from 'node:timers/promises'
import { EcsError } from '../../src/domain/errors.ts'
import { DEMO } from '../../src/services/demo.ts'
import { EventPruner, listEvents, pruneEvents, recordEvent, type EventFilter, type EventView, type NewEvent } from '../../src/services/events.ts'
import { uuidV7 } from '../../src/services/time.ts'
import type { Database } from '../../src/store/database.ts'
import {
  DIALECTS, buildTestApp, call, createBody, createGroup, createServers, groupAction, snapshot, stopServers, v1, waitForIdle, waitForJob, type TestApp,
} from '../helper.ts'

/**
 * The event history: what each change records (in its own transaction), a refused placement
 * recorded with its diagnosis while its request changes nothing else, the filters, paging
 * back with a marker, polling forward with `after`, and retention by age and by count. The
 * host monitor is driven tick by tick; no assertion depends on timing.
 */

const ADMIN = { accessKey: DEMO.adminAccessKey, secretKey: DEMO.adminSecretKey }

/** Every event matching `filter`, oldest first (paging through the whole history). */
async function history(database: Database, filter: EventFilter = {}): Promise<EventView[]> {
  const all: EventView[] = []
  let marker: string | undefined
  for (;;) {
    const page = await listEvents(database, filter, { limit: 1000, marker })
    all.push(...page.events)
    if (page.nextMarker === null) return all.reverse()
    marker = page.nextMarker
  }
}

async function hostName(database: Database, serverId: string): Promise<string> {
  const row = await database.db.selectFrom('servers').innerJoin('hosts', 'hosts.id', 'servers.host_id').select('hosts.name').where('servers.id', '=', serverId).executeTakeFirstOrThrow()
  return row.name
}

/** Leaves only `names` of `az` enabled (straight in the database: the test's setup, not an operator's change). */
async function keepOnly(database: Database, az: string, names: string[]): Promise<void> {
  await database.db.updateTable('hosts').set({ enabled: 0, admin_state: 'disabled' }).where('az', '=', az).where('name', 'not in', names).execute()
}

async function enableAll(database: Database): Promise<void> {
  await database.db.updateTable('hosts').set({ enabled: 1, admin_state: 'enabled' }).execute()
}

async function azHosts(database: Database, az: string): Promise<string[]> {
  return (await database.db.selectFrom('hosts').select('name').where('az', '=', az).orderBy('name').execute()).map((h) => h.name)
}

/**
 * Records events dated in the past, with the ids a writer would have made then (ids are
 * time-ordered, and pruning by age goes by them).
 */
async function recordPast(database: Database, events: NewEvent[]): Promise<void> {
  await database.transaction(async ({ db }) => {
    for (const [i, e] of events.entries()) {
      await recordEvent(db, e)
      const made = await db.selectFrom('events').select('id').orderBy('id', 'desc').limit(1).executeTakeFirstOrThrow()
      await db.updateTable('events').set({ id: uuidV7(Date.parse(e.at), i % 4096, '0123456789abcdef') }).where('id', '=', made.id).execute()
    }
  })
}

/** Records events as a writer does, each in its own transaction. */
async function record(database: Database, events: NewEvent[]): Promise<void> {
  for (const e of events) await database.transaction(({ db }) => recordEvent(db, e))
}

function errorOf(res: { json(): unknown }): { code: string; message: string } {
  return (res.json() as { error: { code: string; message: string } }).error
}

for (const dialect of DIALECTS) {
  describe(`event history on ${dialect}`, () => {
    test('a create into a group records placed, member_added and the status changes; a stop records its own', async (t) => {
      const { app, database } = await buildTestApp(t, { dialect })
      const g = await createGroup(app)
      const res = await call(app, { method: 'POST', url: v1('/cloudservers'), body: createBody({ count: 2, availability_zone: 'az1', 'os:scheduler_hints': { group: g } }) })
      assert.equal(res.statusCode, 200, res.body)
      const { job_id: jobId, serverIds } = res.json() as { job_id: string; serverIds: string[] }
      assert.equal((await waitForJob(app, jobId)).status, 'SUCCESS')

      const created = await history(database, { kind: 'group_created' })
      assert.deepEqual(created.map((e) => [e.groupId, e.reason, e.projectId, e.message]), [[g, 'anti-affinity', DEMO.projectId, `group ${g} created (anti-affinity)`]])
      for (const id of serverIds) {
        const host = await hostName(database, id)
        const events = await history(database, { serverId: id })
        assert.deepEqual(events.map((e) => e.kind), ['placed', 'member_added', 'state_changed'])
        const [placed, joined, active] = events as [EventView, EventView, EventView]
        assert.deepEqual(
          { host: placed.host, groupId: placed.groupId, reason: placed.reason, statusTo: placed.statusTo, jobId: placed.jobId, projectId: placed.projectId },
          { host, groupId: g, reason: 'create', statusTo: 'BUILD', jobId, projectId: DEMO.projectId },
        )
        assert.equal(placed.message, `placed on ${host} in group ${g} (create)`)
        assert.deepEqual([joined.groupId, joined.host, joined.reason], [g, host, 'create'])
        assert.deepEqual([active.statusFrom, active.statusTo, active.reason, active.host, active.jobId], ['BUILD', 'ACTIVE', 'create', host, jobId])
        assert.equal(active.message, 'status BUILD → ACTIVE (create)')
        assert.ok(events.every((e) => e.diagnosis === null))
        assert.ok(placed.id < joined.id && joined.id < active.id, 'ids in the order the events were recorded')
      }
      assert.deepEqual((await history(database, { groupId: g })).map((e) => e.kind).sort(), ['group_created', 'member_added', 'member_added', 'placed', 'placed'])

      await stopServers(app, [serverIds[0]!])
      const last = (await history(database, { serverId: serverIds[0]! })).at(-1)!
      assert.deepEqual([last.kind, last.statusFrom, last.statusTo, last.reason], ['state_changed', 'ACTIVE', 'SHUTOFF', 'stop'])
      await stopServers(app, [serverIds[0]!])
      assert.equal((await history(database, { serverId: serverIds[0]! })).length, 4, 'stopping a stopped server records nothing')
    })

    test('deletes, the recycle bin and its revert, a group deleted: status and membership events', async (t) => {
      const { app, database } = await buildTestApp(t, { dialect })
      const g = await createGroup(app)
      const [kept, deleted, binned] = await createServers(app, { count: 3, availability_zone: 'az1', 'os:scheduler_hints': { group: g } })
      const deleteServers = async (ids: string[]) => {
        const res = await call(app, { method: 'POST', url: v1('/cloudservers/delete'), body: { servers: ids.map((id) => ({ id })) } })
        assert.equal(res.statusCode, 200, res.body)
        assert.equal((await waitForJob(app, (res.json() as { job_id: string }).job_id)).status, 'SUCCESS')
      }
      const tail = async (serverId: string, n: number) => (await history(database, { serverId })).slice(-n).map((e) => [e.kind, e.statusFrom, e.statusTo, e.reason, e.groupId])

      await deleteServers([deleted!])
      assert.deepEqual(await tail(deleted!, 2), [['member_removed', null, null, 'delete', g], ['state_changed', 'ACTIVE', 'DELETED', 'delete', null]])

      const bin = await call(app, { method: 'PUT', url: v1('/recycle-bin'), body: { recycle_bin: { switch: 'on' } } })
      assert.equal(bin.statusCode, 200, bin.body)
      await database.db.updateTable('servers').set({ created_at: '2020-01-01T00:00:00.000Z' }).where('id', '=', binned!).execute()
      await deleteServers([binned!])
      assert.deepEqual(await tail(binned!, 2), [['member_removed', null, null, 'recycle', g], ['state_changed', 'ACTIVE', 'SHUTOFF', 'recycle', null]])
      assert.equal((await history(database, { serverId: binned! })).at(-1)!.message, 'status ACTIVE → SHUTOFF (recycle): moved into the recycle bin')
      const revert = await call(app, { method: 'POST', url: v1(`/recycle-bin/cloudservers/${binned}/actions/revert`) })
      assert.equal(revert.statusCode, 200, revert.body)
      assert.equal((await waitForJob(app, (revert.json() as { job_id: string }).job_id)).status, 'SUCCESS')
      await waitForIdle(database)
      const reverted = (await history(database, { serverId: binned! })).slice(-4)
      assert.deepEqual(reverted.map((e) => [e.kind, e.reason]), [['member_added', 'revert'], ['move_started', 'revert'], ['moved', 'revert'], ['state_changed', 'revert']])
      assert.equal(reverted.at(-1)!.message, 'status SHUTOFF → SHUTOFF (revert): restored from the recycle bin')

      const removed = await call(app, { method: 'DELETE', url: v1(`/cloudservers/os-server-groups/${g}`) })
      assert.equal(removed.statusCode, 204, removed.body)
      const ofGroup = (await history(database, { groupId: g })).slice(-3)
      assert.deepEqual(ofGroup.map((e) => [e.kind, e.serverId, e.reason]).sort(), [
        ['group_deleted', null, null], ['member_removed', binned, 'group_deleted'], ['member_removed', kept, 'group_deleted'],
      ].sort())
      assert.equal(ofGroup.at(-1)!.message, `group ${g} deleted: 2 members released`)
    })

    test('an add_member re-placement records moved from → to with reason add_member; remove_member records the member leaving', async (t) => {
      const { app, database } = await buildTestApp(t, { dialect })
      const [first] = await azHosts(database, 'az1')
      await keepOnly(database, 'az1', [first!])
      const [a, b] = await createServers(app, { count: 2, availability_zone: 'az1' })
      await enableAll(database)
      await stopServers(app, [a!, b!])
      const g = await createGroup(app)
      assert.equal((await groupAction(app, g, 'add_member', a!)).statusCode, 200)
      const before = await history(database)
      assert.equal((await groupAction(app, g, 'add_member', b!)).statusCode, 200)
      await waitForIdle(database)
      const target = await hostName(database, b!)
      assert.notEqual(target, first)

      const joinedA = (await history(database, { serverId: a! })).filter((e) => e.kind === 'member_added')
      assert.deepEqual(joinedA.map((e) => [e.groupId, e.host, e.reason]), [[g, first, 'add_member']])
      const events = (await history(database, { serverId: b! })).filter((e) => e.id > before.at(-1)!.id)
      assert.deepEqual(events.map((e) => e.kind), ['member_added', 'move_started', 'moved'], 'a stopped server moving stopped changes no status')
      const moved = events.at(-1)!
      assert.deepEqual(
        { fromHost: moved.fromHost, toHost: moved.toHost, reason: moved.reason, groupId: moved.groupId, message: moved.message },
        { fromHost: first, toHost: target, reason: 'add_member', groupId: g, message: `moved from ${first} to ${target} (add_member)` },
      )
      assert.ok(moved.jobId !== null)
      assert.deepEqual([events[0]!.host, events[0]!.groupId], [target, g], 'it joins the group on its target')
      for (const host of [first!, target]) {
        assert.ok((await history(database, { host })).some((e) => e.id === moved.id), `the move is an event of ${host}`)
      }

      assert.equal((await groupAction(app, g, 'remove_member', b!)).statusCode, 200)
      assert.equal((await groupAction(app, g, 'remove_member', b!)).statusCode, 200)
      const left = await history(database, { serverId: b!, kind: 'member_removed' })
      assert.deepEqual(left.map((e) => [e.groupId, e.host, e.reason, e.message]), [[g, target, 'remove_member', `left group ${g} (remove_member)`]], 'once: the repeat removed nothing')
    })

    test('a refused create records placement_refused with the diagnosis, and the request changes nothing else', async (t) => {
      const { app, database } = await buildTestApp(t, { dialect })
      const hosts = await azHosts(database, 'az1')
      await keepOnly(database, 'az1', hosts.slice(0, 2))
      const g = await createGroup(app)
      const before = await snapshot(database)
      const eventsBefore = await history(database)

      const res = await call(app, { method: 'POST', url: v1('/cloudservers'), body: createBody({ count: 3, availability_zone: 'az1', 'os:scheduler_hints': { group: g } }) })
      assert.equal(res.statusCode, 400, res.body)
      const error = errorOf(res)
      assert.equal(error.code, 'Ecs.0319')

      assert.deepEqual(await snapshot(database), before, 'nothing placed, claimed or recorded but the refusal')
      const events = await history(database)
      assert.equal(events.length, eventsBefore.length + 1)
      const refused = events.at(-1)!
      assert.equal(refused.kind, 'placement_refused')
      assert.deepEqual([refused.reason, refused.groupId, refused.projectId, refused.serverId], ['create', g, DEMO.projectId, null])
      assert.ok(refused.diagnosis !== null && /AntiAffinity/.test(refused.diagnosis), refused.diagnosis ?? 'no diagnosis')
      assert.ok(error.message.includes(`Filter results: ${refused.diagnosis}.`), 'the diagnosis the client was given')
      assert.match(refused.message, /^placement refused \(create\): no host can take server 3 of 3 /)
      assert.deepEqual((await history(database, { kind: 'placement_refused', groupId: g })).map((e) => e.id), [refused.id])

      const dryRun = await call(app, { method: 'POST', url: v1('/cloudservers'), body: { ...createBody({ count: 3, availability_zone: 'az1', 'os:scheduler_hints': { group: g } }), dry_run: true } })
      assert.equal(dryRun.statusCode, 400, dryRun.body)
      assert.equal((await history(database)).length, events.length, 'a dry run is only asked: its refusal is not recorded')
    })

    test('a refused add_member records the server, its host, the group and the diagnosis', async (t) => {
      const { app, database } = await buildTestApp(t, { dialect })
      const hosts = await azHosts(database, 'az1')
      await keepOnly(database, 'az1', hosts.slice(0, 2))
      const g = await createGroup(app)
      await createServers(app, { count: 2, availability_zone: 'az1', 'os:scheduler_hints': { group: g } })
      const [loner] = await createServers(app, { availability_zone: 'az1' })
      await stopServers(app, [loner!])
      const before = await snapshot(database)

      const res = await groupAction(app, g, 'add_member', loner!)
      assert.equal(res.statusCode, 400, res.body)
      assert.equal(errorOf(res).code, 'Ecs.0319')
      assert.deepEqual(await snapshot(database), before)
      const [refused, ...more] = await history(database, { kind: 'placement_refused' })
      assert.equal(more.length, 0)
      assert.deepEqual(
        [refused!.serverId, refused!.groupId, refused!.host, refused!.reason, refused!.projectId],
        [loner, g, await hostName(database, loner!), 'add_member', DEMO.projectId],
      )
      assert.ok(errorOf(res).message.includes(`Filter results: ${refused!.diagnosis}.`))
    })

    test('a failed move records move_failed with what it left, and the status changes around it', async (t) => {
      const { app, database } = await buildTestApp(t, { dialect })
      const [id] = await createServers(app, { availability_zone: 'az1' })
      const source = await hostName(database, id!)
      const fault = await call(app, { method: 'POST', url: '/admin/faults', body: { fault: { step: 'move', mode: 'fail', reason: 'storage network down' } }, ...ADMIN })
      assert.equal(fault.statusCode, 201, fault.body)
      const res = await call(app, { method: 'POST', url: `/admin/servers/${id}/migrate`, body: { migrate: { live: true } }, ...ADMIN })
      assert.equal(res.statusCode, 200, res.body)
      const jobId = (res.json() as { job_id: string }).job_id
      await waitForIdle(database)

      const events = (await history(database, { serverId: id! })).slice(2)
      assert.deepEqual(events.map((e) => e.kind), ['move_started', 'state_changed', 'move_failed', 'state_changed'])
      const [started, migrating, failed, back] = events as [EventView, EventView, EventView, EventView]
      const target = started.toHost!
      assert.deepEqual([started.fromHost, started.reason, started.jobId], [source, 'live_migrate', jobId])
      assert.deepEqual([migrating.statusFrom, migrating.statusTo], ['ACTIVE', 'MIGRATING'])
      assert.deepEqual(
        [failed.fromHost, failed.toHost, failed.host, failed.statusTo, failed.reason, failed.jobId],
        [source, target, source, 'ACTIVE', 'live_migrate', jobId],
      )
      assert.match(failed.message, new RegExp(`^move from ${source} to ${target} failed \\(live_migrate\\): .*storage network down.*; left on ${source} in ACTIVE$`))
      assert.deepEqual([back.statusFrom, back.statusTo, back.host], ['MIGRATING', 'ACTIVE', source])
    })

    test('host changes: failed, stranded evacuation refused once however often it is retried, disabled, enabled', async (t) => {
      const app: TestApp = await buildTestApp(t, { dialect })
      const { database } = app
      const [only] = await azHosts(database, 'az1')
      await keepOnly(database, 'az1', [only!])
      const [id] = await createServers(app.app, { availability_zone: 'az1' })

      const fail = await call(app.app, { method: 'POST', url: `/admin/hosts/${only}/action`, body: { fail: {} }, ...ADMIN })
      assert.equal(fail.statusCode, 200, fail.body)
      for (let i = 0; i < 4; i++) {
        await app.services.hostMonitor.tick()
        await waitForIdle(database)
      }
      const hostEvents = await history(database, { host: only!, kind: 'host_state_changed' })
      assert.deepEqual(hostEvents.map((e) => [e.statusFrom, e.statusTo, e.reason]), [['up', 'down', 'fail']])
      assert.equal(hostEvents[0]!.message, `host ${only} up → down (fail): declared failed by an operator`)
      const refusals = await history(database, { serverId: id!, kind: 'placement_refused' })
      assert.equal(refusals.length, 1, 'a stuck evacuation leaves one refusal, not one per look')
      assert.deepEqual([refusals[0]!.reason, refusals[0]!.host], ['evacuate', only])
      assert.ok(refusals[0]!.diagnosis !== null)
      const stranded = await history(database, { serverId: id!, kind: 'state_changed' })
      assert.deepEqual(stranded.at(-1)!.statusTo, 'ERROR')

      const [heartbeatFault] = (await call(app.app, { method: 'GET', url: '/admin/faults', ...ADMIN })).json().faults as Array<{ id: string }>
      assert.equal((await call(app.app, { method: 'DELETE', url: `/admin/faults/${heartbeatFault!.id}`, ...ADMIN })).statusCode, 204)
      await app.services.hostMonitor.tick()
      await waitForIdle(database)
      const back = await history(database, { host: only!, kind: 'host_state_changed' })
      assert.deepEqual(back.map((e) => [e.statusFrom, e.statusTo, e.reason]), [['up', 'down', 'fail'], ['down', 'fencing', 'heartbeat'], ['fencing', 'up', 'fenced']])
      const placedAgain = (await history(database, { serverId: id! })).slice(-4)
      assert.deepEqual(placedAgain.map((e) => [e.kind, e.statusFrom, e.statusTo, e.reason]), [
        ['move_started', null, null, 'evacuate'], ['state_changed', 'ERROR', 'REBUILD', 'evacuate'], ['moved', null, null, 'evacuate'], ['state_changed', 'REBUILD', 'ACTIVE', 'evacuate'],
      ])
      assert.equal(placedAgain[2]!.message, `changed in place on ${only} (evacuate)`, 'a stranded server whose host came back stays on it')

      const added = await call(app.app, { method: 'POST', url: '/admin/hosts', body: { host: { name: 'spare-1', availability_zone: 'az3', vcpus: 8, ram_mb: 16384 } }, ...ADMIN })
      assert.equal(added.statusCode, 201, added.body)
      assert.equal((await call(app.app, { method: 'DELETE', url: '/admin/hosts/spare-1', ...ADMIN })).statusCode, 204)
      assert.deepEqual((await history(database, { host: 'spare-1' })).map((e) => [e.kind, e.statusFrom, e.statusTo, e.reason, e.message]), [
        ['host_state_changed', null, 'up', 'add', 'host spare-1 added: az3, 8 vCPU, 16384 MiB'],
        ['host_state_changed', 'up', null, 'remove', 'host spare-1 removed'],
      ], 'the history names a host after it is gone')

      const other = (await azHosts(database, 'az2'))[0]!
      for (const action of [{ disable: { reason: 'firmware' } }, { disable: { reason: 'firmware' } }, { enable: {} }, { drain: {} }]) {
        const res = await call(app.app, { method: 'POST', url: `/admin/hosts/${other}/action`, body: action, ...ADMIN })
        assert.equal(res.statusCode, 200, res.body)
      }
      const changes = await history(database, { host: other, kind: 'host_state_changed' })
      assert.deepEqual(changes.map((e) => [e.statusFrom, e.statusTo, e.reason]), [['enabled', 'disabled', 'disable'], ['disabled', 'enabled', 'enable'], ['enabled', 'draining', 'drain']])
      assert.equal(changes[0]!.message, `host ${other} enabled → disabled (disable): firmware`)
    })

    test('filters by server, group, host, kind, project and time', async (t) => {
      const { database } = await buildTestApp(t, { dialect })
      const [h1, h2, h3] = await database.db.selectFrom('hosts').select(['id', 'name']).orderBy('name').limit(3).execute()
      const at = (day: number) => `2020-01-${String(day).padStart(2, '0')}T12:00:00.000Z`
      await record(database, [
        { kind: 'placed', at: at(1), projectId: 'p1', serverId: 's1', groupId: 'g1', hostId: h1!.id, reason: 'create' },
        { kind: 'moved', at: at(2), projectId: 'p1', serverId: 's1', groupId: 'g1', fromHostId: h1!.id, toHostId: h2!.id, reason: 'drain' },
        { kind: 'placed', at: at(3), projectId: 'p2', serverId: 's2', hostId: h3!.id, reason: 'create' },
        { kind: 'host_state_changed', at: at(4), hostId: h2!.id, statusFrom: 'up', statusTo: 'down', reason: 'fail' },
      ])
      const kinds = async (filter: EventFilter) => (await history(database, filter)).map((e) => `${e.kind}@${e.at.slice(8, 10)}`)
      assert.deepEqual(await kinds({}), ['placed@01', 'moved@02', 'placed@03', 'host_state_changed@04'])
      assert.deepEqual(await kinds({ serverId: 's1' }), ['placed@01', 'moved@02'])
      assert.deepEqual(await kinds({ groupId: 'g1' }), ['placed@01', 'moved@02'])
      assert.deepEqual(await kinds({ projectId: 'p2' }), ['placed@03'])
      assert.deepEqual(await kinds({ host: h1!.name }), ['placed@01', 'moved@02'], 'its own events and moves from it')
      assert.deepEqual(await kinds({ host: h2!.name }), ['moved@02', 'host_state_changed@04'], 'moves to it and its own events')
      assert.deepEqual(await kinds({ kind: 'placed' }), ['placed@01', 'placed@03'])
      assert.deepEqual(await kinds({ since: at(2), until: at(4) }), ['moved@02', 'placed@03'], 'since is inclusive, until exclusive')
      assert.deepEqual(await kinds({ since: '2020-01-02T20:00:00+08:00' }), ['moved@02', 'placed@03', 'host_state_changed@04'], 'times with a zone')
      assert.deepEqual(await kinds({ serverId: 's1', since: at(2) }), ['moved@02'])
      assert.deepEqual(await kinds({ host: 'no-such-host' }), [])
      const [moved] = await history(database, { kind: 'moved' })
      assert.deepEqual([moved!.fromHost, moved!.toHost, moved!.host, moved!.message], [h1!.name, h2!.name, null, `moved from ${h1!.name} to ${h2!.name} (drain)`])

      assert.deepEqual(await kinds({ since: new Date().toISOString() }), [], 'none since now')
      for (const bad of [{ since: 'yesterday' }, { until: '2030-01-01' }, { since: '2030-02-30T00:00:00Z' }] as EventFilter[]) {
        await assert.rejects(listEvents(database, bad, {}), (err: unknown) => err instanceof EcsError && err.code === 'Ecs.0005')
      }
    })

    test('paging back with a marker yields every event exactly once; after polls forward', async (t) => {
      const { database } = await buildTestApp(t, { dialect })
      const [h] = await database.db.selectFrom('hosts').select('id').limit(1).execute()
      const now = new Date().toISOString()
      await database.transaction(async ({ db }) => {
        for (let i = 0; i < 53; i++) await recordEvent(db, { kind: 'state_changed', at: now, serverId: `s${i % 3}`, hostId: h!.id, statusFrom: 'SHUTOFF', statusTo: 'ACTIVE', reason: 'start' })
      })
      const all = await history(database)
      assert.equal(all.length, 53)
      for (const filter of [{}, { serverId: 's1' }] as EventFilter[]) {
        const seen: string[] = []
        let marker: string | undefined
        let pages = 0
        do {
          const page = await listEvents(database, filter, { limit: 7, marker })
          assert.ok(page.events.length <= 7)
          seen.push(...page.events.map((e) => e.id))
          marker = page.nextMarker ?? undefined
          pages++
        } while (marker !== undefined)
        const expected = all.filter((e) => filter.serverId === undefined || e.serverId === filter.serverId).map((e) => e.id).reverse()
        assert.deepEqual(seen, expected, 'newest first, each once')
        assert.equal(pages, Math.ceil(expected.length / 7))
      }
      const exact = await listEvents(database, {}, { limit: 53 })
      assert.equal(exact.nextMarker, null, 'no next page when the page holds the rest')
      assert.equal((await listEvents(database, {}, {})).events.length, 53)

      const newest = all.at(-1)!.id
      const quiet = await listEvents(database, {}, { after: newest })
      assert.deepEqual(quiet, { events: [], nextMarker: newest }, 'nothing new: poll with the same id again')
      await record(database, [1, 2, 3].map((n) => ({ kind: 'placed' as const, at: new Date().toISOString(), serverId: `new${n}`, hostId: h!.id, reason: 'create' })))
      // On PostgreSQL a poll reads only transactions below every one still running in the
      // cluster (other test files' included): what it answers may lag, never skip.
      while ((await listEvents(database, {}, { after: newest })).events.length < 3) await setTimeout(10)
      const first = await listEvents(database, {}, { after: newest, limit: 2 })
      assert.deepEqual(first.events.map((e) => e.serverId), ['new1', 'new2'], 'oldest first, at most limit')
      const second = await listEvents(database, {}, { after: first.nextMarker! })
      assert.deepEqual(second.events.map((e) => e.serverId), ['new3'])
      assert.deepEqual((await listEvents(database, { serverId: 'new2' }, { after: newest })).events.map((e) => e.serverId), ['new2'], 'filters apply')

      for (const page of [{ limit: 0 }, { limit: 1001 }, { marker: 'x' }, { after: 'not-an-id' }, { marker: newest, after: newest }]) {
        await assert.rejects(listEvents(database, {}, page), (err: unknown) => err instanceof EcsError && err.code === 'Ecs.0005', JSON.stringify(page))
      }
    })

    test('following with after never passes an event whose transaction commits after a newer one', async (t) => {
      const { database } = await buildTestApp(t, { dialect })
      const at = () => new Date().toISOString()
      await record(database, [{ kind: 'placed', at: at(), serverId: 'start', reason: 'create' }])
      const start = (await listEvents(database, {}, { limit: 1 })).events[0]!.id
      let inserted!: () => void
      let release!: () => void
      const insertedSlow = new Promise<void>((resolve) => (inserted = resolve))
      const held = new Promise<void>((resolve) => (release = resolve))
      // SQLite has one writer: the second transaction could not commit while the first is open.
      const slow = dialect === 'postgres'
        ? database.transaction(async ({ db }) => {
          await recordEvent(db, { kind: 'placed', at: at(), serverId: 'slow', reason: 'create' })
          inserted()
          await held
        })
        : Promise.resolve(inserted())
      await insertedSlow
      await record(database, [{ kind: 'placed', at: at(), serverId: 'fast', reason: 'create' }])
      const during = await listEvents(database, {}, { after: start })
      if (dialect === 'postgres') assert.deepEqual(during.events, [], 'the committed event waits while an older transaction may still commit one')
      release()
      await slow
      const seen: string[] = during.events.map((e) => e.serverId!)
      let cursor = during.nextMarker!
      while (seen.length < (dialect === 'postgres' ? 2 : 1)) {
        const page = await listEvents(database, {}, { after: cursor })
        seen.push(...page.events.map((e) => e.serverId!))
        cursor = page.nextMarker!
        if (page.events.length === 0) await setTimeout(10)
      }
      assert.deepEqual(seen, dialect === 'postgres' ? ['slow', 'fast'] : ['fast'], 'each event once, in the order their transactions began')
    })

    test('retention deletes events past the age, then the oldest past the count, in bounded batches', async (t) => {
      const { database } = await buildTestApp(t, { dialect })
      const now = new Date()
      const daysAgo = (d: number) => new Date(now.getTime() - d * 86_400_000).toISOString()
      const ids = async () => (await history(database)).map((e) => e.serverId)
      await recordPast(database, [
        ...Array.from({ length: 10 }, (_, i) => ({ kind: 'placed' as const, at: daysAgo(40 - i), serverId: `old${i}` })),
        ...Array.from({ length: 20 }, (_, i) => ({ kind: 'placed' as const, at: daysAgo(5), serverId: `new${i}` })),
      ])

      const byAge = await pruneEvents(database, { days: 30, maxRows: 1000 }, now, { batch: 4 })
      assert.deepEqual(byAge, { deleted: 10, more: false })
      assert.deepEqual(await ids(), Array.from({ length: 20 }, (_, i) => `new${i}`))

      // Three transactions: one finds nothing past the age, two delete past the count.
      const bounded = await pruneEvents(database, { days: 30, maxRows: 5 }, now, { batch: 4, batches: 3 })
      assert.deepEqual(bounded, { deleted: 8, more: true }, 'a round stops after its batches and says more is left')
      const rest = await pruneEvents(database, { days: 30, maxRows: 5 }, now, { batch: 4 })
      assert.deepEqual(rest, { deleted: 7, more: false })
      assert.deepEqual(await ids(), ['new15', 'new16', 'new17', 'new18', 'new19'], 'the newest are kept')
      assert.deepEqual(await pruneEvents(database, { days: 30, maxRows: 5 }, now), { deleted: 0, more: false })

      await recordPast(database, [{ kind: 'placed', at: new Date(0).toISOString(), serverId: 'ancient' }])
      const pruner = new EventPruner(database, { days: 30, maxRows: 5 })
      assert.equal(await pruner.pruneIfDue(), 1, 'the first call prunes')
      await recordPast(database, [{ kind: 'placed', at: new Date(1).toISOString(), serverId: 'ancient' }])
      assert.equal(await pruner.pruneIfDue(), 0, 'the next waits for the interval')
    })
  })
}

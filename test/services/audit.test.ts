import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { sql } from 'kysely'
import { signRequest } from '../../src/api/auth/signature.ts'
import { audit } from '../../src/services/audit.ts'
import { DEMO } from '../../src/services/demo.ts'
import { GateDriver } from '../drivers.ts'
import { DIALECTS, buildTestApp, call, createGroup, createServers, groupAction, stopServers, v1 } from '../helper.ts'
import { adminCall, until } from '../moves.ts'

for (const dialect of DIALECTS) {
  describe(`audit on ${dialect}`, () => {
    test('a consistent database has no violations', async (t) => {
      const { app, database } = await buildTestApp(t, { dialect })
      const g = await createGroup(app)
      const ids = await createServers(app, { count: 3, 'os:scheduler_hints': { group: g } })
      await stopServers(app, ids)
      await groupAction(app, g, 'remove_member', ids[0]!)
      assert.deepEqual(await audit(database.db), [])
    })

    test('finds each kind of violation, with ids, even where constraints were removed', async (t) => {
      const { app, database } = await buildTestApp(t, { dialect })
      const g = await createGroup(app)
      const [a, b] = await createServers(app, { count: 2, 'os:scheduler_hints': { group: g } })
      const [c] = await createServers(app)
      const { db } = database
      const server = (id: string) => db.selectFrom('servers').selectAll().where('id', '=', id).executeTakeFirstOrThrow()
      const sa = await server(a!)

      // A database without the defence-in-depth index, written by a buggy writer: b moved onto a's host.
      await sql`drop index server_group_members_distinct_host`.execute(db)
      const sb = await server(b!)
      await db.updateTable('servers').set({ host_id: sa.host_id }).where('id', '=', b!).execute()
      await db.updateTable('server_group_members').set({ host_id: sa.host_id }).where('server_id', '=', b!).execute()
      // c's host forgets c's allocation, and a's membership row names c's host.
      const sc = await server(c!)
      await db.updateTable('hosts').set((eb) => ({ free_vcpus: eb('free_vcpus', '+', 1) })).where('id', '=', sc.host_id).execute()
      await db.updateTable('server_group_members').set({ host_id: sc.host_id }).where('server_id', '=', a!).execute()
      // A sub-job left RUNNING with a lease that expired long ago.
      const parent = await db.selectFrom('jobs').select('id').where('parent_id', 'is', null).limit(1).executeTakeFirstOrThrow()
      const old = '2020-01-01T00:00:00.000Z'
      await db.updateTable('jobs').set({ status: 'RUNNING', lease_owner: 'dead-replica', lease_expires_at: old }).where('parent_id', '=', parent.id).execute()

      const violations = await audit(db)
      const text = violations.map((v) => `${v.invariant}: ${v.message}`).join('\n')
      assert.match(text, new RegExp(`anti-affinity: group ${g} has 2 members on host ${sa.host_id}`))
      assert.match(text, new RegExp(`capacity: host ${sb.host_id} records free`), 'b left its old host without giving back its allocation')
      assert.match(text, new RegExp(`capacity: host ${sc.host_id} records free`))
      assert.match(text, new RegExp(`membership-host: server ${a} is on host ${sa.host_id} but its membership of group ${g} records host ${sc.host_id}`))
      assert.match(text, /job-finished: sub-job \w+ is RUNNING without a live owner \(lease of dead-replica expired 2020/)
      assert.match(text, new RegExp(`job-finished: sub-job \\w+ is RUNNING under parent ${parent.id}`))
    })

    test('moves in flight: clean while consistent; a move without a running job, a wrong held amount, an unheld member, a stray source hold and a start queued behind no move are each reported', async (t) => {
      const gate = new GateDriver()
      gate.releaseAll()
      const { app, database } = await buildTestApp(t, { dialect, driver: gate })
      const { db } = database
      const g = await createGroup(app)
      const [a, b] = await createServers(app, { count: 2, 'os:scheduler_hints': { group: g } })
      const [c] = await createServers(app)
      await stopServers(app, [a!, b!, c!])

      // Two moves held in flight: a member's cold migration, and a non-member's redeploy with a start queued behind it.
      gate.hold()
      const migrated = await adminCall(app, { method: 'POST', url: `/admin/servers/${a}/migrate`, body: { migrate: { live: false } } })
      assert.equal(migrated.statusCode, 200, migrated.body)
      const redeployed = await call(app, { method: 'POST', url: v1(`/cloudservers/${c}/actions/redeploy`) })
      assert.equal(redeployed.statusCode, 200, redeployed.body)
      const started = await call(app, { method: 'POST', url: v1('/cloudservers/action'), body: { 'os-start': { servers: [{ id: c }] } } })
      assert.equal(started.statusCode, 200, started.body)
      await until(() => gate.held.length === 2, 'both moves to reach the driver')
      const moveOf = (server: string) => db.selectFrom('moves').selectAll().where('server_id', '=', server).executeTakeFirstOrThrow()
      const moveA = await moveOf(a!)
      const queued = await db.selectFrom('jobs').select('id').where('server_id', '=', c!).where('status', '=', 'INIT').executeTakeFirstOrThrow()
      assert.deepEqual(await audit(db), [], 'moves in flight, a source held and a start queued are all consistent')

      const report = async () => (await audit(db)).map((v) => `${v.invariant}: ${v.message}`).join('\n')

      await db.updateTable('moves').set((eb) => ({ held_vcpus: eb('held_vcpus', '+', 1) })).where('id', '=', moveA.id).execute()
      assert.match(await report(), new RegExp(`capacity: host ${moveA.source_host_id} records free \\d+ vCPU`), 'the source holds less than the move says')

      await db.updateTable('jobs').set({ status: 'SUCCESS', end_time: new Date().toISOString() }).where('id', '=', moveA.job_id).execute()
      assert.match(await report(), new RegExp(`in-flight-move: the move of ${a} is driven by job ${moveA.job_id}, which is SUCCESS`))

      await db.deleteFrom('group_host_holds').where('server_id', '=', b!).where('kind', '=', 'member').execute()
      assert.match(await report(), new RegExp(`group-hold: member ${b} of group ${g} holds no host of the group`))

      const held = new Set((await db.selectFrom('group_host_holds').select('host_id').where('group_id', '=', g).execute()).map((h) => h.host_id))
      const spare = await db.selectFrom('hosts').select('id').where('id', 'not in', [...held]).limit(1).executeTakeFirstOrThrow()
      await db.insertInto('group_host_holds').values({ group_id: g, server_id: b!, host_id: spare.id, kind: 'move-source', policy: 'anti-affinity', slot: 0, max_server_per_host: null, affinity_host_id: null }).execute()
      assert.match(await report(), new RegExp(`group-hold: group ${g} holds host ${spare.id} for a move of ${b} that is not in flight`))

      await db.deleteFrom('moves').where('server_id', '=', c!).execute()
      assert.match(await report(), new RegExp(`job-finished: sub-job ${queued.id} waits for a move of ${c} that is not in flight`))
    })

    test('GET /admin/audit needs an operator credential', async (t) => {
      const { app } = await buildTestApp(t, { dialect })
      const asUser = await call(app, { method: 'GET', url: '/admin/audit' })
      assert.equal(asUser.statusCode, 403)
      assert.equal((asUser.json() as { error: { code: string } }).error.code, 'Ecs.0003')
      const asAdmin = await call(app, { method: 'GET', url: '/admin/audit', accessKey: DEMO.adminAccessKey, secretKey: DEMO.adminSecretKey })
      assert.equal(asAdmin.statusCode, 200)
      assert.deepEqual(asAdmin.json(), { violations: [] })
      const unsigned = await app.inject({ method: 'GET', url: '/admin/audit' })
      assert.equal(unsigned.statusCode, 401)
      const headers = { host: '127.0.0.1:8080', 'content-type': 'application/json' }
      const signed = signRequest({ method: 'GET', url: '/admin/audit', headers, accessKey: DEMO.adminAccessKey, secretKey: 'wrong' })
      assert.equal((await app.inject({ method: 'GET', url: '/admin/audit', headers: { ...headers, ...signed } })).statusCode, 401)
    })
  })
}

import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { sql } from 'kysely'
import { signRequest } from '../../src/api/auth/signature.ts'
import { audit } from '../../src/services/audit.ts'
import { DEMO } from '../../src/services/demo.ts'
import { DIALECTS, buildTestApp, call, createGroup, createServers, groupAction, stopServers } from '../helper.ts'

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

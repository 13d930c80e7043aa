import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { DIALECTS, buildTestApp, createGroup, createServers } from '../helper.ts'

/**
 * Defence in depth: the database itself refuses states that break an invariant, even when every
 * service check is bypassed and rows are written directly.
 */
for (const dialect of DIALECTS) {
  describe(`the schema refuses invariant violations on ${dialect}`, () => {
    test('two members of an anti-affinity group on one host', async (t) => {
      const { app, database } = await buildTestApp(t, { dialect })
      const g = await createGroup(app)
      const [a, b] = await createServers(app, { count: 2 })
      const host = await database.db.selectFrom('hosts').select('id').limit(1).executeTakeFirstOrThrow()
      const row = (server: string) => ({ group_id: g, server_id: server, host_id: host.id, distinct_host: 1, created_at: new Date().toISOString() })
      await database.db.insertInto('server_group_members').values(row(a!)).execute()
      await assert.rejects(database.db.insertInto('server_group_members').values(row(b!)).execute(), /unique|UNIQUE/)
    })

    test('one server in two groups', async (t) => {
      const { app, database } = await buildTestApp(t, { dialect })
      const g1 = await createGroup(app, 'one')
      const g2 = await createGroup(app, 'two')
      const [a] = await createServers(app)
      const hosts = await database.db.selectFrom('hosts').select('id').limit(2).execute()
      await database.db.insertInto('server_group_members').values({ group_id: g1, server_id: a!, host_id: hosts[0]!.id, distinct_host: 1, created_at: '' }).execute()
      await assert.rejects(
        database.db.insertInto('server_group_members').values({ group_id: g2, server_id: a!, host_id: hosts[1]!.id, distinct_host: 1, created_at: '' }).execute(),
        /unique|UNIQUE/,
      )
    })

    test('negative free capacity (an overfilled host)', async (t) => {
      const { database } = await buildTestApp(t, { dialect })
      const host = await database.db.selectFrom('hosts').select('id').limit(1).executeTakeFirstOrThrow()
      await assert.rejects(database.db.updateTable('hosts').set({ free_vcpus: -1 }).where('id', '=', host.id).execute(), /check|CHECK/)
      await assert.rejects(database.db.updateTable('hosts').set((eb) => ({ free_ram_mb: eb('free_ram_mb', '-', 10_000_000) })).where('id', '=', host.id).execute(), /check|CHECK/)
    })

    test('a membership whose group or server does not exist', async (t) => {
      const { database } = await buildTestApp(t, { dialect })
      const host = await database.db.selectFrom('hosts').select('id').limit(1).executeTakeFirstOrThrow()
      await assert.rejects(
        database.db.insertInto('server_group_members').values({ group_id: 'nope', server_id: 'nope', host_id: host.id, distinct_host: 1, created_at: '' }).execute(),
        /foreign key|FOREIGN KEY/,
      )
    })
  })
}

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

    test('two holds of one anti-affinity group on one host: a member hold and a move-source hold, or two member holds', async (t) => {
      const { app, database } = await buildTestApp(t, { dialect })
      const { db } = database
      const g = await createGroup(app)
      const [a, b] = await createServers(app, { count: 2, 'os:scheduler_hints': { group: g } })
      const holdOf = (server: string) => db.selectFrom('group_host_holds').select('host_id').where('server_id', '=', server).where('kind', '=', 'member').executeTakeFirstOrThrow()
      const aHost = (await holdOf(a!)).host_id
      const bHost = (await holdOf(b!)).host_id
      const sourceHold = (server: string, host: string, slot: number) => ({ group_id: g, server_id: server, host_id: host, kind: 'move-source', policy: 'anti-affinity', slot, max_server_per_host: null, affinity_host_id: null })
      const taken = /group_host_holds_per_host|UNIQUE constraint failed: group_host_holds\.group_id, group_host_holds\.host_id, group_host_holds\.slot/
      const noPlace = /group_host_holds_slot|CHECK constraint failed: group_host_holds_slot/
      // b moving away from a's host while a is on it: its one place is taken, and there is no second.
      await assert.rejects(db.insertInto('group_host_holds').values(sourceHold(b!, aHost, 0)).execute(), taken)
      await assert.rejects(db.insertInto('group_host_holds').values(sourceHold(b!, aHost, 1)).execute(), noPlace)
      // b's own hold following it onto a's host.
      await assert.rejects(db.updateTable('group_host_holds').set({ host_id: aHost }).where('server_id', '=', b!).where('kind', '=', 'member').execute(), taken)
      // The same move-source hold on a host the group does not hold is accepted: the index, not the row, refused it.
      const free = await db.selectFrom('hosts').select('id').where('id', 'not in', [aHost, bHost]).limit(1).executeTakeFirstOrThrow()
      await db.insertInto('group_host_holds').values(sourceHold(b!, free.id, 0)).execute()
      // And now another member cannot be placed on that host either.
      await assert.rejects(db.updateTable('group_host_holds').set({ host_id: free.id }).where('server_id', '=', a!).where('kind', '=', 'member').execute(), taken)
    })

    test('a group hold whose membership does not exist; a hold goes with its membership', async (t) => {
      const { app, database } = await buildTestApp(t, { dialect })
      const { db } = database
      const g = await createGroup(app)
      const [member] = await createServers(app, { 'os:scheduler_hints': { group: g } })
      const [outsider] = await createServers(app)
      const host = await db.selectFrom('hosts').select('id').limit(1).executeTakeFirstOrThrow()
      const hold = { group_id: g, host_id: host.id, kind: 'move-source', policy: 'anti-affinity', slot: 0, max_server_per_host: null, affinity_host_id: null }
      const fk = /group_host_holds_member|group_host_holds_policy|FOREIGN KEY constraint failed/
      await assert.rejects(db.insertInto('group_host_holds').values({ ...hold, server_id: outsider! }).execute(), fk)
      await assert.rejects(db.insertInto('group_host_holds').values({ ...hold, server_id: member!, group_id: 'no-such-group' }).execute(), fk)
      await assert.rejects(
        db.insertInto('group_host_holds').values({ ...hold, server_id: member!, kind: 'elsewhere' }).execute(),
        /group_host_holds_kind|CHECK constraint failed/,
      )
      await db.deleteFrom('server_group_members').where('server_id', '=', member!).execute()
      assert.deepEqual(await db.selectFrom('group_host_holds').select('server_id').where('server_id', '=', member!).execute(), [], 'the hold went with the membership')
    })

    test('a second move of a server already moving', async (t) => {
      const { app, database } = await buildTestApp(t, { dialect })
      const { db } = database
      const [a] = await createServers(app)
      const server = await db.selectFrom('servers').select(['host_id', 'vcpus', 'ram_mb']).where('id', '=', a!).executeTakeFirstOrThrow()
      const job = await db.selectFrom('jobs').select('id').where('server_id', '=', a!).executeTakeFirstOrThrow()
      const targets = await db.selectFrom('hosts').select('id').where('id', '!=', server.host_id).limit(2).execute()
      const move = (target: string) => ({
        id: crypto.randomUUID(), server_id: a!, job_id: job.id, reason: 'migrate', kind: 'cold', group_id: null, source_host_id: server.host_id,
        target_host_id: target, held_vcpus: server.vcpus, held_ram_mb: server.ram_mb, claimed_vcpus: server.vcpus, claimed_ram_mb: server.ram_mb,
        prior: '{}', final_status: 'ACTIVE', on_failure: 'rollback', created_at: new Date().toISOString(),
      })
      await db.insertInto('moves').values(move(targets[0]!.id)).execute()
      await assert.rejects(db.insertInto('moves').values(move(targets[1]!.id)).execute(), /moves_server_id|UNIQUE constraint failed: moves\.server_id/)
      await assert.rejects(
        db.insertInto('moves').values({ ...move(targets[1]!.id), server_id: 'no-such-server' }).execute(),
        /foreign key|FOREIGN KEY/,
      )
      await assert.rejects(
        db.updateTable('moves').set({ held_vcpus: -1 }).where('server_id', '=', a!).execute(),
        /moves_amounts_not_negative|CHECK constraint failed/,
      )
    })
  })
}

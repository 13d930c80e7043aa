/**
 * Defence in depth for every hard group policy: rows written directly, past every service
 * check, that would break anti-affinity with N members per host or affinity are refused by the
 * database itself (migration 0009 explains the constraints), on both engines.
 */
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { Migrator, sql } from 'kysely'
import type { GroupPolicy } from '../../src/domain/group.ts'
import { audit } from '../../src/services/audit.ts'
import { DEMO } from '../../src/services/demo.ts'
import { migrationsFor } from '../../src/store/migrations/index.ts'
import { DIALECTS, buildTestApp, createServers, openTestDatabase, type TestApp } from '../helper.ts'

/** What each engine says when a constraint refuses a row (PostgreSQL names it; SQLite names CHECKs and unique columns). */
const REFUSED = {
  place: /group_host_holds_per_host|UNIQUE constraint failed: group_host_holds\.group_id, group_host_holds\.host_id, group_host_holds\.slot/,
  slot: /group_host_holds_slot|CHECK constraint failed: group_host_holds_slot/,
  rule: /group_host_holds_rule|FOREIGN KEY constraint failed/,
  policy: /group_host_holds_policy|FOREIGN KEY constraint failed/,
  pinned: /group_host_holds_pinned|FOREIGN KEY constraint failed/,
  affinity: /group_host_holds_affinity|CHECK constraint failed: group_host_holds_affinity/,
  groupCheck: /check constraint|CHECK constraint failed/,
}

async function setUp(t: Parameters<typeof buildTestApp>[0], dialect: (typeof DIALECTS)[number], policy: GroupPolicy, count: number, options: { maxServerPerHost?: number } = {}) {
  const app: TestApp = await buildTestApp(t, { dialect })
  // Two hosts of az1, so that members share them.
  await app.database.db.updateTable('hosts').set({ enabled: 0, admin_state: 'disabled' }).where('az', '=', 'az1').where('name', 'not in', ['az1-host-01', 'az1-host-02']).execute()
  const g = (await app.services.groups.create(DEMO.projectId, policy, policy, options)).id
  const ids = await createServers(app.app, { count, availability_zone: 'az1', 'os:scheduler_hints': { group: g } })
  const { db } = app.database
  const holds = await db.selectFrom('group_host_holds').selectAll().where('group_id', '=', g).orderBy('host_id').orderBy('slot').execute()
  const hosts = await db.selectFrom('hosts').select('id').where('name', 'in', ['az1-host-01', 'az1-host-02']).execute()
  return { app, db, g, ids, holds, hosts: hosts.map((h) => h.id) }
}

for (const dialect of DIALECTS) {
  describe(`the schema refuses group policy violations on ${dialect}`, () => {
    test('anti-affinity with max_server_per_host 2: no third hold on a host, however it is written', async (t) => {
      const { db, g, holds, hosts } = await setUp(t, dialect, 'anti-affinity', 3, { maxServerPerHost: 2 })
      const byHost = (id: string) => holds.filter((h) => h.host_id === id)
      const full = hosts.find((h) => byHost(h).length === 2)!
      const roomy = hosts.find((h) => byHost(h).length === 1)!
      const lone = byHost(roomy)[0]!
      assert.deepEqual(byHost(full).map((h) => h.slot), [0, 1])
      const source = { group_id: g, server_id: lone.server_id, host_id: full, kind: 'move-source', policy: 'anti-affinity', max_server_per_host: 2, affinity_host_id: null }

      // A third hold on the full host: both of its places are taken, and there is no third place.
      await assert.rejects(db.insertInto('group_host_holds').values({ ...source, slot: 0 }).execute(), REFUSED.place)
      await assert.rejects(db.insertInto('group_host_holds').values({ ...source, slot: 1 }).execute(), REFUSED.place)
      await assert.rejects(db.insertInto('group_host_holds').values({ ...source, slot: 2 }).execute(), REFUSED.slot)
      await assert.rejects(db.insertInto('group_host_holds').values({ ...source, slot: -1 }).execute(), REFUSED.slot)
      // …nor by claiming a looser rule than the group's, or another policy, or no place at all.
      await assert.rejects(db.insertInto('group_host_holds').values({ ...source, slot: 2, max_server_per_host: 3 }).execute(), REFUSED.rule)
      await assert.rejects(db.insertInto('group_host_holds').values({ ...source, slot: null, max_server_per_host: null, policy: 'soft-anti-affinity' }).execute(), REFUSED.policy)
      await assert.rejects(db.insertInto('group_host_holds').values({ ...source, slot: null }).execute(), REFUSED.slot)
      // A hold without the rule counts it as 1: stricter, never looser.
      await assert.rejects(db.insertInto('group_host_holds').values({ ...source, server_id: byHost(full)[0]!.server_id, host_id: roomy, slot: 1, max_server_per_host: null }).execute(), REFUSED.slot)
      // The lone member's own hold moved onto the full host.
      for (const slot of [0, 1]) await assert.rejects(db.updateTable('group_host_holds').set({ host_id: full, slot }).where('server_id', '=', lone.server_id).where('kind', '=', 'member').execute(), REFUSED.place)
      // The group's rule cannot be narrowed, nor its policy changed, under the holds that obey it.
      await assert.rejects(db.updateTable('server_groups').set({ max_server_per_host: 1 }).where('id', '=', g).execute(), REFUSED.rule)
      await assert.rejects(db.updateTable('server_groups').set({ policy: 'soft-anti-affinity', max_server_per_host: null }).where('id', '=', g).execute(), /group_host_holds_(policy|rule)|FOREIGN KEY constraint failed/)

      // The second place of the roomy host is free: the same row lands there, so the constraints, not the row, refused it.
      await db.insertInto('group_host_holds').values({ ...source, server_id: byHost(full)[0]!.server_id, host_id: roomy, slot: 1 }).execute()
    })

    test('anti-affinity without a rule: one hold a host (the index of the first schema, by place)', async (t) => {
      const { db, g, holds } = await setUp(t, dialect, 'anti-affinity', 2)
      const [a, b] = holds
      assert.notEqual(a!.host_id, b!.host_id)
      assert.deepEqual(holds.map((h) => [h.slot, h.max_server_per_host]), [[0, null], [0, null]])
      await assert.rejects(db.updateTable('group_host_holds').set({ host_id: a!.host_id }).where('server_id', '=', b!.server_id).execute(), REFUSED.place)
      const source = { group_id: g, server_id: b!.server_id, host_id: a!.host_id, kind: 'move-source', policy: 'anti-affinity', affinity_host_id: null }
      await assert.rejects(db.insertInto('group_host_holds').values({ ...source, slot: 1, max_server_per_host: null }).execute(), REFUSED.slot)
      await assert.rejects(db.insertInto('group_host_holds').values({ ...source, slot: 1, max_server_per_host: 2 }).execute(), REFUSED.rule)
      // Two memberships on one host: the partial unique index of the membership rows still stands.
      await assert.rejects(db.updateTable('server_group_members').set({ host_id: a!.host_id }).where('server_id', '=', b!.server_id).execute(), /server_group_members_distinct_host|UNIQUE constraint failed/)
    })

    test('affinity: every hold on the pinned host; the pin cannot move under the holds; an empty group may be pinned afresh', async (t) => {
      const { db, g, holds, hosts } = await setUp(t, dialect, 'affinity', 2)
      const pinned = holds[0]!.host_id
      assert.ok(holds.every((h) => h.host_id === pinned && h.affinity_host_id === pinned && h.slot === null))
      assert.equal((await db.selectFrom('server_groups').select('affinity_host_id').where('id', '=', g).executeTakeFirstOrThrow()).affinity_host_id, pinned)
      const elsewhere = hosts.find((h) => h !== pinned)!
      const [a, b] = holds

      // A member's hold moved off the pinned host: named as such, or still naming the pin.
      await assert.rejects(db.updateTable('group_host_holds').set({ host_id: elsewhere, affinity_host_id: elsewhere }).where('server_id', '=', a!.server_id).execute(), REFUSED.pinned)
      await assert.rejects(db.updateTable('group_host_holds').set({ host_id: elsewhere }).where('server_id', '=', a!.server_id).execute(), REFUSED.affinity)
      // A move holding another host, even for a moment.
      const source = { group_id: g, server_id: b!.server_id, kind: 'move-source', slot: null, max_server_per_host: null }
      await assert.rejects(db.insertInto('group_host_holds').values({ ...source, host_id: elsewhere, policy: 'affinity', affinity_host_id: elsewhere }).execute(), REFUSED.pinned)
      await assert.rejects(db.insertInto('group_host_holds').values({ ...source, host_id: elsewhere, policy: 'affinity', affinity_host_id: null }).execute(), REFUSED.affinity)
      await assert.rejects(db.insertInto('group_host_holds').values({ ...source, host_id: elsewhere, policy: 'soft-affinity', affinity_host_id: null }).execute(), REFUSED.policy)
      // Re-pinning the group while members hold the old pin.
      await assert.rejects(db.updateTable('server_groups').set({ affinity_host_id: elsewhere }).where('id', '=', g).execute(), REFUSED.pinned)

      // Once no member holds a host, the pin is free to change: the holds, not the column, refused it.
      await db.deleteFrom('server_group_members').where('group_id', '=', g).execute()
      await db.updateTable('server_groups').set({ affinity_host_id: elsewhere }).where('id', '=', g).execute()
    })

    test('groups: a rule only on anti-affinity groups and at least 1; a pinned host only on affinity groups', async (t) => {
      const app = await buildTestApp(t, { dialect })
      const { groups } = app.services
      const { db } = app.database
      const anti = (await groups.create(DEMO.projectId, 'a', 'anti-affinity')).id
      const together = (await groups.create(DEMO.projectId, 'b', 'affinity')).id
      const host = await db.selectFrom('hosts').select('id').limit(1).executeTakeFirstOrThrow()
      await assert.rejects(db.updateTable('server_groups').set({ max_server_per_host: 0 }).where('id', '=', anti).execute(), REFUSED.groupCheck)
      await assert.rejects(db.updateTable('server_groups').set({ max_server_per_host: 2 }).where('id', '=', together).execute(), REFUSED.groupCheck)
      await assert.rejects(db.updateTable('server_groups').set({ affinity_host_id: host.id }).where('id', '=', anti).execute(), REFUSED.groupCheck)
      await db.updateTable('server_groups').set({ max_server_per_host: 3 }).where('id', '=', anti).execute()
      await db.updateTable('server_groups').set({ affinity_host_id: host.id }).where('id', '=', together).execute()
    })

    test('migration 0009 on a database in use: every hold kept, in place 0 of its host; an affinity group pinned where its members are', async (t) => {
      const database = await openTestDatabase(t, { dialect })
      t.after(() => database.close())
      const migrator = new Migrator({ db: database.db, provider: { getMigrations: async () => migrationsFor(dialect) } })
      const before = await migrator.migrateTo('0008-agent-tasks')
      assert.equal(before.error, undefined)
      const now = new Date().toISOString()
      await sql`insert into projects (id, name, created_at, servers_used, cores_used, ram_used_mb) values ('p', 'p', ${now}, 4, 4, 4096)`.execute(database.db)
      await sql`insert into flavors (id, name, vcpus, ram_mb, disk_gb, virtualization) values ('f', 'f', 1, 1024, 0, 'kvm')`.execute(database.db)
      // h1 takes three of the servers below, h2 one.
      for (const [h, used] of [['h1', 3], ['h2', 1]] as const) {
        await sql`insert into hosts (id, name, az, vcpus, ram_mb, free_vcpus, free_ram_mb, created_at) values (${h}, ${h}, 'az1', 8, 8192, ${8 - used}, ${8192 - used * 1024}, ${now})`.execute(database.db)
      }
      const placed: Array<[string, string, string, string, number]> = [
        ['s1', 'anti', 'h1', 'anti-affinity', 1], ['s2', 'anti', 'h2', 'anti-affinity', 1], ['s3', 'together', 'h1', 'affinity', 0], ['s4', 'together', 'h1', 'affinity', 0],
      ]
      for (const g of ['anti', 'together']) await sql`insert into server_groups (id, project_id, name, policy, created_at) values (${g}, 'p', ${g}, ${g === 'anti' ? 'anti-affinity' : 'affinity'}, ${now})`.execute(database.db)
      for (const [server, g, host, , distinct] of placed) {
        await sql`insert into servers (id, project_id, name, status, power_state, flavor_id, vcpus, ram_mb, virtualization, az, host_id, image_ref, vpc_id, metadata, created_at, updated_at)
          values (${server}, 'p', ${server}, 'ACTIVE', 1, 'f', 1, 1024, 'kvm', 'az1', ${host}, 'i', 'v', '{}', ${now}, ${now})`.execute(database.db)
        await sql`insert into server_group_members (group_id, server_id, host_id, distinct_host, created_at) values (${g}, ${server}, ${host}, ${distinct}, ${now})`.execute(database.db)
        await sql`insert into group_host_holds (group_id, server_id, host_id, kind, distinct_host) values (${g}, ${server}, ${host}, 'member', ${distinct})`.execute(database.db)
      }
      await database.migrate()
      const holds = await database.db.selectFrom('group_host_holds').selectAll().orderBy('server_id').execute()
      assert.deepEqual(holds.map((h) => [h.server_id, h.group_id, h.host_id, h.kind, h.policy, h.slot, h.max_server_per_host, h.affinity_host_id]), [
        ['s1', 'anti', 'h1', 'member', 'anti-affinity', 0, null, null],
        ['s2', 'anti', 'h2', 'member', 'anti-affinity', 0, null, null],
        ['s3', 'together', 'h1', 'member', 'affinity', null, null, 'h1'],
        ['s4', 'together', 'h1', 'member', 'affinity', null, null, 'h1'],
      ])
      const groups = await database.db.selectFrom('server_groups').select(['id', 'max_server_per_host', 'user_id', 'affinity_host_id']).orderBy('id').execute()
      assert.deepEqual(groups, [
        { id: 'anti', max_server_per_host: null, user_id: null, affinity_host_id: null },
        { id: 'together', max_server_per_host: null, user_id: null, affinity_host_id: 'h1' },
      ])
      assert.deepEqual(await audit(database.db), [])
    })

    test('the soft policies hold hosts without places or pins, and nothing stops them sharing a host', async (t) => {
      const { db, holds } = await setUp(t, dialect, 'soft-anti-affinity', 3)
      assert.ok(holds.every((h) => h.slot === null && h.max_server_per_host === null && h.affinity_host_id === null))
      const [a, b] = holds
      await db.updateTable('group_host_holds').set({ host_id: a!.host_id }).where('server_id', '=', b!.server_id).execute()
      await assert.rejects(db.updateTable('group_host_holds').set({ slot: 0 }).where('server_id', '=', a!.server_id).execute(), REFUSED.slot)
    })
  })
}

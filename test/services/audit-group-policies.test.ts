/**
 * `ecsd audit` checks every group policy against the tables as they are: members per host
 * within an anti-affinity group's `max_server_per_host`, an affinity group's members and holds on
 * its one pinned host, and every hold carrying what its group's policy demands. The violations
 * are written directly, with the database's own guards switched off where they would refuse
 * them first — the audit must not rely on them.
 */
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { sql, type Kysely } from 'kysely'
import type { GroupPolicy } from '../../src/domain/group.ts'
import { audit } from '../../src/services/audit.ts'
import { DEMO } from '../../src/services/demo.ts'
import type { Dialect } from '../../src/store/database.ts'
import type { Schema } from '../../src/store/schema.ts'
import { DIALECTS, buildTestApp, createServers, type TestApp } from '../helper.ts'

/** The constraints of migration 0009 and the unique indexes, out of the way of a buggy writer. */
async function dropGuards(db: Kysely<Schema>, dialect: Dialect): Promise<void> {
  await sql`drop index group_host_holds_per_host`.execute(db)
  await sql`drop index server_group_members_distinct_host`.execute(db)
  if (dialect === 'postgres') {
    for (const c of ['group_host_holds_slot', 'group_host_holds_affinity', 'group_host_holds_policy', 'group_host_holds_rule', 'group_host_holds_pinned']) {
      await sql`alter table group_host_holds drop constraint ${sql.ref(c)}`.execute(db)
    }
  } else {
    // SQLite cannot drop a table constraint; its one connection can be told to skip them.
    await sql`pragma ignore_check_constraints = on`.execute(db)
    await sql`pragma foreign_keys = off`.execute(db)
  }
}

async function members(app: TestApp, policy: GroupPolicy, count: number, maxServerPerHost?: number) {
  const g = (await app.services.groups.create(DEMO.projectId, policy, policy, maxServerPerHost === undefined ? {} : { maxServerPerHost })).id
  const ids = await createServers(app.app, { count, availability_zone: 'az1', 'os:scheduler_hints': { group: g } })
  return { g, ids }
}

/** Moves a server's records onto `hostId` without any check: server row, membership, member hold. */
async function teleport(db: Kysely<Schema>, serverId: string, hostId: string): Promise<void> {
  await db.updateTable('servers').set({ host_id: hostId }).where('id', '=', serverId).execute()
  await db.updateTable('server_group_members').set({ host_id: hostId }).where('server_id', '=', serverId).execute()
  await db.updateTable('group_host_holds').set({ host_id: hostId, affinity_host_id: null }).where('server_id', '=', serverId).where('kind', '=', 'member').execute()
}

async function report(db: Kysely<Schema>): Promise<string> {
  return (await audit(db)).map((v) => `${v.invariant}: ${v.message}`).join('\n')
}

for (const dialect of DIALECTS) {
  describe(`audit of group policies on ${dialect}`, () => {
    test('a database where every policy holds has no violations: each policy, a rule of 2, moves in flight', async (t) => {
      const app = await buildTestApp(t, { dialect })
      await members(app, 'anti-affinity', 5, 2)
      await members(app, 'affinity', 3)
      await members(app, 'soft-affinity', 3)
      await members(app, 'soft-anti-affinity', 3)
      assert.deepEqual(await audit(app.database.db), [])
    })

    test('anti-affinity: more members on a host than max_server_per_host, and holds beyond it, are reported', async (t) => {
      const app = await buildTestApp(t, { dialect })
      const { db } = app.database
      const { g, ids } = await members(app, 'anti-affinity', 3, 2)
      const hosts = await db.selectFrom('servers').select(['id', 'host_id']).where('id', 'in', ids).execute()
      const crowded = hosts[0]!.host_id
      await dropGuards(db, dialect)
      for (const s of hosts.slice(1)) await teleport(db, s.id, crowded)
      const text = await report(db)
      assert.match(text, new RegExp(`anti-affinity: group ${g} has 3 members on host ${crowded}, more than its max_server_per_host of 2`))
      assert.match(text, new RegExp(`anti-affinity: group ${g} holds host ${crowded} 3 times \\(members and moves in flight\\), more than its max_server_per_host of 2`))
      assert.match(text, new RegExp(`group-hold: the member hold of \\w[\\w-]+ in group ${g} on host ${crowded} takes place 0, which another hold of the group takes too`))
    })

    test('affinity: members on two hosts, and holds off the pinned host, are reported', async (t) => {
      const app = await buildTestApp(t, { dialect })
      const { db } = app.database
      const { g, ids } = await members(app, 'affinity', 2)
      const pinned = (await db.selectFrom('server_groups').select('affinity_host_id').where('id', '=', g).executeTakeFirstOrThrow()).affinity_host_id!
      const elsewhere = (await db.selectFrom('hosts').select('id').where('id', '!=', pinned).where('az', '=', 'az1').limit(1).executeTakeFirstOrThrow()).id
      await dropGuards(db, dialect)
      await teleport(db, ids[1]!, elsewhere)
      const text = await report(db)
      assert.match(text, new RegExp(`affinity: affinity group ${g} has members on 2 hosts`))
      assert.match(text, new RegExp(`affinity: affinity group ${g} is pinned to host ${pinned}, but its member hold for ${ids[1]} is on host ${elsewhere}`))
      assert.match(text, new RegExp(`group-hold: the member hold of ${ids[1]} in group ${g} on host ${elsewhere} names pinned host \\(none\\)`))
    })

    test('holds that contradict their group\'s policy are reported, each with its reason', async (t) => {
      const app = await buildTestApp(t, { dialect })
      const { db } = app.database
      const anti = await members(app, 'anti-affinity', 2, 2)
      const soft = await members(app, 'soft-affinity', 1)
      await dropGuards(db, dialect)
      const [a, b] = anti.ids
      await db.updateTable('group_host_holds').set({ slot: 7 }).where('server_id', '=', a!).execute()
      await db.updateTable('group_host_holds').set({ max_server_per_host: 5, policy: 'soft-anti-affinity' }).where('server_id', '=', b!).execute()
      await db.updateTable('group_host_holds').set({ slot: 0 }).where('server_id', '=', soft.ids[0]!).execute()
      await db.updateTable('server_group_members').set({ distinct_host: 1 }).where('server_id', '=', a!).execute()
      const text = await report(db)
      assert.match(text, new RegExp(`group-hold: the member hold of ${a} in group ${anti.g} on host \\S+ takes place 7 of a host that has 2 for the group`))
      assert.match(text, new RegExp(`group-hold: the member hold of ${b} in group ${anti.g} on host \\S+ says policy soft-anti-affinity, the group's is anti-affinity`))
      assert.match(text, new RegExp(`group-hold: the member hold of ${b} in group ${anti.g} on host \\S+ says max_server_per_host 5, the group's is 2`))
      assert.match(text, new RegExp(`group-hold: the member hold of ${soft.ids[0]} in group ${soft.g} on host \\S+ takes an anti-affinity place \\(0 of -\\) in a soft-affinity group`))
      assert.match(text, new RegExp(`group-hold: the membership of ${a} in group ${anti.g} has distinct_host 1, which the group's policy and rule contradict`))
    })
  })
}

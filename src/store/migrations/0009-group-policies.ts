import { sql, type Kysely } from 'kysely'
import type { Dialect } from '../database.ts'

/**
 * Every group policy of Nova, defended by the database itself.
 *
 * `server_groups` gains `max_server_per_host` (Nova 2.64's anti-affinity rule; null: not given,
 * so one member per host), `user_id` (who created the group; Nova shows it from 2.13) and
 * `affinity_host_id`, the host an affinity group's members are pinned to: its first member picks
 * it, and it can change only while no member holds a host (an empty group starts afresh).
 *
 * `group_host_holds` is rebuilt so that every hold carries what its group's policy demands of it,
 * and the database refuses any hold that breaks that policy, whatever the code above it does:
 *
 * - `policy` is a copy of the group's, kept equal by a composite foreign key to
 *   `server_groups (id, policy)`. Both columns are NOT NULL, so the key is always checked; the
 *   checks below can therefore trust it to say which rules apply.
 * - Anti-affinity with N members per host: each hold takes a `slot` in 0…N−1 of its host, a
 *   unique index on (group_id, host_id, slot) lets no two holds share one, and a CHECK keeps the
 *   slot below the hold's `max_server_per_host` (null counts as 1). That copy of the rule is tied
 *   to the group's by a composite foreign key to `server_groups (id, max_server_per_host)`. A
 *   foreign key with a null column is not checked, so a hold may carry null where the group says
 *   N — but then its slot must be 0, which only makes the limit stricter. So a host holds at most
 *   N holds of the group, counting both ends of every move in flight (invariant 7). A CHECK
 *   cannot read another table, and a trigger would need two dialects; slots keep it portable.
 * - Affinity: each hold names `affinity_host_id`, a CHECK makes it equal to the hold's host, and
 *   a composite foreign key to `server_groups (id, affinity_host_id)` makes it equal to the
 *   group's pinned host. Every hold of the group is therefore on one host, and the pin cannot be
 *   changed while a hold references it (the key has no ON UPDATE action).
 * - The soft policies hold hosts too (both ends of a move count against them), with no
 *   constraint: they never block.
 *
 * A hold of a deleted group goes with it (cascade), as it already went with its membership.
 */
export async function up(db: Kysely<unknown>, _dialect: Dialect): Promise<void> {
  await db.schema
    .alterTable('server_groups')
    .addColumn('max_server_per_host', 'integer', (c) => c.check(sql`max_server_per_host is null or (max_server_per_host >= 1 and policy = 'anti-affinity')`))
    .execute()
  await db.schema.alterTable('server_groups').addColumn('user_id', 'text').execute()
  await db.schema
    .alterTable('server_groups')
    .addColumn('affinity_host_id', 'text', (c) => c.references('hosts.id').onDelete('set null').check(sql`affinity_host_id is null or policy = 'affinity'`))
    .execute()
  // The parent keys of the holds' composite foreign keys (both engines accept a unique index as one).
  await db.schema.createIndex('server_groups_policy_key').on('server_groups').columns(['id', 'policy']).unique().execute()
  await db.schema.createIndex('server_groups_max_per_host_key').on('server_groups').columns(['id', 'max_server_per_host']).unique().execute()
  await db.schema.createIndex('server_groups_affinity_host_key').on('server_groups').columns(['id', 'affinity_host_id']).unique().execute()
  // Affinity groups created before this migration are pinned where their members are.
  await sql`
    update server_groups set affinity_host_id = (select min(h.host_id) from group_host_holds h where h.group_id = server_groups.id)
    where policy = 'affinity'
  `.execute(db)

  // Rebuilt rather than altered: SQLite cannot add constraints to a table. Nothing references
  // the holds, so the copy, drop and re-create is safe on both engines.
  await sql`create table group_host_holds_before_0009 as select group_id, server_id, host_id, kind from group_host_holds`.execute(db)
  await db.schema.dropTable('group_host_holds').execute()
  await db.schema
    .createTable('group_host_holds')
    .addColumn('group_id', 'text', (c) => c.notNull())
    .addColumn('server_id', 'text', (c) => c.notNull())
    .addColumn('host_id', 'text', (c) => c.notNull().references('hosts.id'))
    .addColumn('kind', 'text', (c) => c.notNull())
    .addColumn('policy', 'text', (c) => c.notNull())
    .addColumn('slot', 'integer')
    .addColumn('max_server_per_host', 'integer')
    .addColumn('affinity_host_id', 'text')
    .addPrimaryKeyConstraint('group_host_holds_pk', ['server_id', 'kind'])
    .addForeignKeyConstraint('group_host_holds_member', ['group_id', 'server_id'], 'server_group_members', ['group_id', 'server_id'], (fk) => fk.onDelete('cascade'))
    .addForeignKeyConstraint('group_host_holds_policy', ['group_id', 'policy'], 'server_groups', ['id', 'policy'], (fk) => fk.onDelete('cascade'))
    .addForeignKeyConstraint('group_host_holds_rule', ['group_id', 'max_server_per_host'], 'server_groups', ['id', 'max_server_per_host'], (fk) => fk.onDelete('cascade'))
    .addForeignKeyConstraint('group_host_holds_pinned', ['group_id', 'affinity_host_id'], 'server_groups', ['id', 'affinity_host_id'], (fk) => fk.onDelete('cascade'))
    .addCheckConstraint('group_host_holds_kind', sql`kind in ('member', 'move-source')`)
    .addCheckConstraint(
      'group_host_holds_slot',
      sql`(policy = 'anti-affinity' and slot is not null and slot >= 0 and slot < coalesce(max_server_per_host, 1))
          or (policy <> 'anti-affinity' and slot is null and max_server_per_host is null)`,
    )
    .addCheckConstraint(
      'group_host_holds_affinity',
      sql`(policy = 'affinity' and affinity_host_id is not null and affinity_host_id = host_id)
          or (policy <> 'affinity' and affinity_host_id is null)`,
    )
    .execute()
  // Anti-affinity: no two holds of a group in one slot of a host (slots exist only there).
  await sql`create unique index group_host_holds_per_host on group_host_holds (group_id, host_id, slot) where slot is not null`.execute(db)
  await db.schema.createIndex('group_host_holds_group').on('group_host_holds').columns(['group_id', 'host_id']).execute()
  await sql`
    insert into group_host_holds (group_id, server_id, host_id, kind, policy, slot, max_server_per_host, affinity_host_id)
    select h.group_id, h.server_id, h.host_id, h.kind, g.policy,
      case when g.policy = 'anti-affinity' then row_number() over (partition by h.group_id, h.host_id order by h.kind, h.server_id) - 1 end,
      case when g.policy = 'anti-affinity' then g.max_server_per_host end,
      case when g.policy = 'affinity' then h.host_id end
    from group_host_holds_before_0009 h
    inner join server_groups g on g.id = h.group_id
  `.execute(db)
  await db.schema.dropTable('group_host_holds_before_0009').execute()
}

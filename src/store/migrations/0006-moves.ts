import { sql, type Kysely } from 'kysely'
import type { Dialect } from '../database.ts'

/**
 * Moves, dedicated hosts, the recycle bin and sold-out flavors.
 *
 * - `moves`: one row per server whose host or size is changing (resize, migration, redeploy,
 *   recycle-bin revert, add_member re-placement). While the row exists the source host still
 *   holds `held_*` of the server's old allocation and the target holds the new one.
 * - `group_host_holds`: every host a group member holds — its current host, and while it moves
 *   its source too. The partial unique index on (group_id, host_id) is the database's own guard
 *   of anti-affinity including in-flight moves; a hold row cannot outlive its membership (the
 *   foreign key cascades).
 * - `hosts.dedicated_to`: a dedicated host (DeH) of one project; shared placement never uses it,
 *   so the candidate indexes are rebuilt with that condition.
 * - `servers`: the recycle bin (binned servers hold no host and no group slot) and a fault.
 * - `projects`: each project's recycle-bin switch and policy.
 * - `flavors.sell_status`: `cond:operation:status` (normal, sellout, abandon).
 */
export async function up(db: Kysely<unknown>, _dialect: Dialect): Promise<void> {
  await db.schema.alterTable('hosts').addColumn('dedicated_to', 'text', (c) => c.references('projects.id')).execute()
  await sql`drop index hosts_candidates`.execute(db)
  await sql`drop index hosts_candidates_any_az`.execute(db)
  await sql`create index hosts_candidates on hosts (az, free_ram_mb, id) where state = 'up' and enabled = 1 and dedicated_to is null`.execute(db)
  await sql`create index hosts_candidates_any_az on hosts (free_ram_mb, id) where state = 'up' and enabled = 1 and dedicated_to is null`.execute(db)
  await sql`create index hosts_dedicated on hosts (dedicated_to) where dedicated_to is not null`.execute(db)

  await db.schema.alterTable('flavors').addColumn('sell_status', 'text', (c) => c.notNull().defaultTo('normal')).execute()

  await db.schema.alterTable('projects').addColumn('recycle_bin', 'text', (c) => c.notNull().defaultTo('off')).execute()
  await db.schema.alterTable('projects').addColumn('recycle_threshold_day', 'integer', (c) => c.notNull().defaultTo(7)).execute()
  await db.schema.alterTable('projects').addColumn('recycle_retention_hour', 'integer', (c) => c.notNull().defaultTo(168)).execute()

  await db.schema.alterTable('servers').addColumn('in_recycle_bin', 'integer', (c) => c.notNull().defaultTo(0)).execute()
  await db.schema.alterTable('servers').addColumn('recycled_at', 'text').execute()
  await db.schema.alterTable('servers').addColumn('bin_expires_at', 'text').execute()
  await db.schema.alterTable('servers').addColumn('bin_group_id', 'text').execute()
  await db.schema.alterTable('servers').addColumn('fault', 'text').execute()
  await sql`create index servers_bin_expiry on servers (bin_expires_at) where in_recycle_bin = 1`.execute(db)

  await db.schema
    .createTable('moves')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('server_id', 'text', (c) => c.notNull().unique().references('servers.id'))
    .addColumn('job_id', 'text', (c) => c.notNull().references('jobs.id'))
    .addColumn('reason', 'text', (c) => c.notNull())
    .addColumn('kind', 'text', (c) => c.notNull())
    .addColumn('group_id', 'text')
    .addColumn('source_host_id', 'text', (c) => c.notNull().references('hosts.id'))
    .addColumn('target_host_id', 'text', (c) => c.notNull().references('hosts.id'))
    .addColumn('held_vcpus', 'integer', (c) => c.notNull())
    .addColumn('held_ram_mb', 'integer', (c) => c.notNull())
    .addColumn('claimed_vcpus', 'integer', (c) => c.notNull())
    .addColumn('claimed_ram_mb', 'integer', (c) => c.notNull())
    .addColumn('prior', 'text', (c) => c.notNull())
    .addColumn('final_status', 'text', (c) => c.notNull())
    .addColumn('on_failure', 'text', (c) => c.notNull())
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addCheckConstraint('moves_amounts_not_negative', sql`held_vcpus >= 0 and held_ram_mb >= 0 and claimed_vcpus >= 0 and claimed_ram_mb >= 0`)
    .execute()
  await db.schema.createIndex('moves_source').on('moves').column('source_host_id').execute()
  await db.schema.createIndex('moves_target').on('moves').column('target_host_id').execute()

  await db.schema
    .createTable('group_host_holds')
    .addColumn('group_id', 'text', (c) => c.notNull())
    .addColumn('server_id', 'text', (c) => c.notNull())
    .addColumn('host_id', 'text', (c) => c.notNull().references('hosts.id'))
    .addColumn('kind', 'text', (c) => c.notNull())
    .addColumn('distinct_host', 'integer', (c) => c.notNull())
    .addPrimaryKeyConstraint('group_host_holds_pk', ['server_id', 'kind'])
    .addForeignKeyConstraint('group_host_holds_member', ['group_id', 'server_id'], 'server_group_members', ['group_id', 'server_id'], (fk) => fk.onDelete('cascade'))
    .addCheckConstraint('group_host_holds_kind', sql`kind in ('member', 'move-source')`)
    .execute()
  await sql`create unique index group_host_holds_distinct on group_host_holds (group_id, host_id) where distinct_host = 1`.execute(db)
  await db.schema.createIndex('group_host_holds_group').on('group_host_holds').columns(['group_id', 'host_id']).execute()
  await sql`
    insert into group_host_holds (group_id, server_id, host_id, kind, distinct_host)
    select group_id, server_id, host_id, 'member', distinct_host from server_group_members
  `.execute(db)
}

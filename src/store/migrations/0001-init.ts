import { sql, type Kysely } from 'kysely'
import type { Dialect } from '../database.ts'

/** The initial schema: inventory, catalogue, servers, groups with membership, jobs. */
export async function up(db: Kysely<unknown>, _dialect: Dialect): Promise<void> {
  await db.schema
    .createTable('projects')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('created_at', 'text', (c) => c.notNull())
    .execute()

  await db.schema
    .createTable('credentials')
    .addColumn('access_key', 'text', (c) => c.primaryKey())
    .addColumn('secret_key', 'text', (c) => c.notNull())
    .addColumn('project_id', 'text', (c) => c.notNull().references('projects.id'))
    .addColumn('created_at', 'text', (c) => c.notNull())
    .execute()

  await db.schema
    .createTable('hosts')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('name', 'text', (c) => c.notNull().unique())
    .addColumn('az', 'text', (c) => c.notNull())
    .addColumn('vcpus', 'integer', (c) => c.notNull())
    .addColumn('ram_mb', 'integer', (c) => c.notNull())
    .addColumn('cpu_allocation_ratio', 'real', (c) => c.notNull().defaultTo(1))
    .addColumn('ram_allocation_ratio', 'real', (c) => c.notNull().defaultTo(1))
    .addColumn('free_vcpus', 'integer', (c) => c.notNull())
    .addColumn('free_ram_mb', 'integer', (c) => c.notNull())
    .addColumn('state', 'text', (c) => c.notNull().defaultTo('up'))
    .addColumn('enabled', 'integer', (c) => c.notNull().defaultTo(1))
    .addColumn('created_at', 'text', (c) => c.notNull())
    // Invariant 2 (capacity) held by the database, not only by the service code.
    .addCheckConstraint('hosts_capacity_not_negative', sql`free_vcpus >= 0 and free_ram_mb >= 0`)
    .execute()
  // The placement candidate query walks this index from the emptiest host down and stops after
  // a few rows, so its cost does not grow with the fleet.
  await sql`create index hosts_candidates on hosts (az, free_ram_mb, id) where state = 'up' and enabled = 1`.execute(db)
  await sql`create index hosts_candidates_any_az on hosts (free_ram_mb, id) where state = 'up' and enabled = 1`.execute(db)

  await db.schema
    .createTable('flavors')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('vcpus', 'integer', (c) => c.notNull())
    .addColumn('ram_mb', 'integer', (c) => c.notNull())
    .addColumn('disk_gb', 'integer', (c) => c.notNull())
    .addColumn('virtualization', 'text', (c) => c.notNull())
    .execute()

  await db.schema
    .createTable('servers')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('project_id', 'text', (c) => c.notNull().references('projects.id'))
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('task_state', 'text')
    .addColumn('power_state', 'integer', (c) => c.notNull())
    .addColumn('flavor_id', 'text', (c) => c.notNull().references('flavors.id'))
    .addColumn('vcpus', 'integer', (c) => c.notNull())
    .addColumn('ram_mb', 'integer', (c) => c.notNull())
    .addColumn('virtualization', 'text', (c) => c.notNull())
    .addColumn('az', 'text', (c) => c.notNull())
    .addColumn('host_id', 'text', (c) => c.notNull().references('hosts.id'))
    .addColumn('image_ref', 'text', (c) => c.notNull())
    .addColumn('vpc_id', 'text', (c) => c.notNull())
    .addColumn('metadata', 'text', (c) => c.notNull())
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('updated_at', 'text', (c) => c.notNull())
    .addColumn('launched_at', 'text')
    .execute()
  await db.schema.createIndex('servers_project_created').on('servers').columns(['project_id', 'created_at', 'id']).execute()
  await db.schema.createIndex('servers_host').on('servers').column('host_id').execute()

  await db.schema
    .createTable('server_groups')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('project_id', 'text', (c) => c.notNull().references('projects.id'))
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('policy', 'text', (c) => c.notNull())
    .addColumn('created_at', 'text', (c) => c.notNull())
    .execute()
  await db.schema.createIndex('server_groups_project').on('server_groups').columns(['project_id', 'id']).execute()

  await db.schema
    .createTable('server_group_members')
    .addColumn('group_id', 'text', (c) => c.notNull().references('server_groups.id').onDelete('cascade'))
    .addColumn('server_id', 'text', (c) => c.notNull().references('servers.id').onDelete('cascade'))
    .addColumn('host_id', 'text', (c) => c.notNull().references('hosts.id'))
    .addColumn('distinct_host', 'integer', (c) => c.notNull())
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addPrimaryKeyConstraint('server_group_members_pk', ['group_id', 'server_id'])
    // Invariant 3: one group per server.
    .addUniqueConstraint('server_group_members_one_group', ['server_id'])
    .execute()
  // Invariant 1 (anti-affinity) held by the database: two members of a distinct-host group
  // can never share a host row.
  await sql`create unique index server_group_members_distinct_host on server_group_members (group_id, host_id) where distinct_host = 1`.execute(db)

  await db.schema
    .createTable('jobs')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('project_id', 'text', (c) => c.notNull().references('projects.id'))
    .addColumn('parent_id', 'text', (c) => c.references('jobs.id'))
    .addColumn('type', 'text', (c) => c.notNull())
    .addColumn('operation', 'text', (c) => c.notNull())
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('server_id', 'text')
    .addColumn('error_code', 'text')
    .addColumn('fail_reason', 'text')
    .addColumn('client_token', 'text')
    .addColumn('server_ids', 'text')
    .addColumn('begin_time', 'text', (c) => c.notNull())
    .addColumn('end_time', 'text')
    .execute()
  await db.schema.createIndex('jobs_parent').on('jobs').column('parent_id').execute()
  await db.schema.createIndex('jobs_status').on('jobs').column('status').execute()
  await sql`create unique index jobs_client_token on jobs (project_id, client_token) where client_token is not null`.execute(db)
}

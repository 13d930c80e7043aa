import { sql, type Kysely } from 'kysely'
import type { Dialect } from '../database.ts'

/**
 * Hosts as a managed resource: an admin state with its reason and time, a fault domain, the
 * time of the last heartbeat and of the last power-state change, and whether a real agent has
 * ever reported for the host (until then the process simulates its heartbeats). A host that
 * comes back after being declared down is `fencing` until its agent has destroyed the stale
 * copies of the servers evacuated from it.
 *
 * Also: one credential per host agent (sealed like tenants' secrets); injected faults, shared by
 * every replica; Huawei scheduled events (planned maintenance); anti-affinity groups that also
 * spread over fault domains; servers stranded by a host failure, re-placed when capacity returns.
 */
export async function up(db: Kysely<unknown>, _dialect: Dialect): Promise<void> {
  await db.schema.alterTable('hosts').addColumn('fault_domain', 'text').execute()
  await db.schema.alterTable('hosts').addColumn('admin_state', 'text', (c) => c.notNull().defaultTo('enabled')).execute()
  await db.schema.alterTable('hosts').addColumn('admin_reason', 'text').execute()
  await db.schema.alterTable('hosts').addColumn('admin_changed_at', 'text').execute()
  await db.schema.alterTable('hosts').addColumn('state_changed_at', 'text').execute()
  await db.schema.alterTable('hosts').addColumn('last_heartbeat_at', 'text').execute()
  await db.schema.alterTable('hosts').addColumn('agent_seen_at', 'text').execute()
  // Hosts disabled before admin states existed keep saying so.
  await sql`update hosts set admin_state = 'disabled' where enabled = 0`.execute(db)
  // Not led by `state`: the planner would take it for placement's `state = 'up'` over the candidate indexes.
  await sql`create index hosts_heartbeat on hosts (last_heartbeat_at)`.execute(db)
  // The few hosts that are down or fencing, found without a scan on every monitor tick.
  await sql`create index hosts_not_up on hosts (state) where state <> 'up'`.execute(db)

  await db.schema
    .createTable('host_credentials')
    .addColumn('access_key', 'text', (c) => c.primaryKey())
    .addColumn('host_id', 'text', (c) => c.notNull().references('hosts.id').onDelete('cascade'))
    .addColumn('secret_key', 'text', (c) => c.notNull())
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('revoked_at', 'text')
    .execute()
  await db.schema.createIndex('host_credentials_host').on('host_credentials').column('host_id').execute()

  await db.schema
    .createTable('faults')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('host_name', 'text')
    .addColumn('step', 'text', (c) => c.notNull())
    .addColumn('mode', 'text', (c) => c.notNull())
    .addColumn('probability', 'real', (c) => c.notNull())
    .addColumn('reason', 'text', (c) => c.notNull())
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addCheckConstraint('faults_probability', sql`probability > 0 and probability <= 1`)
    .execute()

  await db.schema
    .createTable('scheduled_events')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('project_id', 'text', (c) => c.notNull().references('projects.id'))
    .addColumn('server_id', 'text', (c) => c.notNull())
    // The host's id, not a reference: events outlive a host that is removed.
    .addColumn('host_id', 'text', (c) => c.notNull())
    .addColumn('host_event_id', 'text', (c) => c.notNull())
    .addColumn('type', 'text', (c) => c.notNull())
    .addColumn('state', 'text', (c) => c.notNull())
    .addColumn('publish_time', 'text', (c) => c.notNull())
    .addColumn('start_time', 'text')
    .addColumn('finish_time', 'text')
    .addColumn('not_before', 'text', (c) => c.notNull())
    .addColumn('not_before_deadline', 'text', (c) => c.notNull())
    .addColumn('description', 'text', (c) => c.notNull())
    .addColumn('job_id', 'text')
    .addColumn('fail_reason', 'text')
    .execute()
  await db.schema.createIndex('scheduled_events_project').on('scheduled_events').columns(['project_id', 'publish_time', 'id']).execute()
  await db.schema.createIndex('scheduled_events_due').on('scheduled_events').columns(['state', 'not_before']).execute()

  await db.schema.alterTable('server_groups').addColumn('spread_fault_domains', 'integer', (c) => c.notNull().defaultTo(0)).execute()

  // The status a server stranded on a failed host returns to once it is placed again.
  await db.schema.alterTable('servers').addColumn('stranded', 'text').execute()
  await sql`create index servers_stranded on servers (host_id) where stranded is not null`.execute(db)
}

import type { Kysely } from 'kysely'
import type { Dialect } from '../database.ts'

/**
 * What the OpenStack Compute (v2.1) surface records beside the servers both APIs share: the
 * Nova attributes of a server (reservation id, launch index, user, key pair, security groups,
 * description), its network interfaces, the project's key pairs, and the servers that placement
 * could not take — Nova's "cell0": they exist in ERROR with their fault, hold no host, and are
 * visible and deletable through the v2.1 API only.
 */
export async function up(db: Kysely<unknown>, _dialect: Dialect): Promise<void> {
  await db.schema
    .createTable('nova_servers')
    // Goes with its server, whoever deletes it (a job, the recycle bin's purge).
    .addColumn('server_id', 'text', (c) => c.primaryKey().references('servers.id').onDelete('cascade'))
    .addColumn('reservation_id', 'text', (c) => c.notNull())
    .addColumn('launch_index', 'integer', (c) => c.notNull())
    .addColumn('user_id', 'text', (c) => c.notNull())
    .addColumn('key_name', 'text')
    .addColumn('security_groups', 'text', (c) => c.notNull())
    .addColumn('description', 'text')
    .execute()
  await db.schema.createIndex('nova_servers_reservation').on('nova_servers').column('reservation_id').execute()

  await db.schema
    .createTable('server_interfaces')
    .addColumn('port_id', 'text', (c) => c.primaryKey())
    .addColumn('server_id', 'text', (c) => c.notNull().references('servers.id').onDelete('cascade'))
    .addColumn('net_id', 'text', (c) => c.notNull())
    .addColumn('subnet_id', 'text', (c) => c.notNull())
    .addColumn('ip_address', 'text', (c) => c.notNull())
    .addColumn('mac_addr', 'text', (c) => c.notNull())
    .addColumn('created_at', 'text', (c) => c.notNull())
    .execute()
  await db.schema.createIndex('server_interfaces_server').on('server_interfaces').column('server_id').execute()

  await db.schema
    .createTable('keypairs')
    .addColumn('project_id', 'text', (c) => c.notNull().references('projects.id'))
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('id', 'integer', (c) => c.notNull())
    .addColumn('user_id', 'text', (c) => c.notNull())
    .addColumn('type', 'text', (c) => c.notNull())
    .addColumn('public_key', 'text', (c) => c.notNull())
    .addColumn('fingerprint', 'text', (c) => c.notNull())
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addPrimaryKeyConstraint('keypairs_pk', ['project_id', 'name'])
    .execute()

  await db.schema
    .createTable('unscheduled_servers')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('project_id', 'text', (c) => c.notNull().references('projects.id'))
    .addColumn('user_id', 'text', (c) => c.notNull())
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('flavor_id', 'text', (c) => c.notNull())
    .addColumn('image_ref', 'text', (c) => c.notNull())
    .addColumn('az', 'text')
    // The group it was booted into; not a reference, a deleted group simply stops listing it.
    .addColumn('group_id', 'text')
    .addColumn('reservation_id', 'text', (c) => c.notNull())
    .addColumn('launch_index', 'integer', (c) => c.notNull())
    .addColumn('key_name', 'text')
    .addColumn('security_groups', 'text', (c) => c.notNull())
    .addColumn('description', 'text')
    .addColumn('metadata', 'text', (c) => c.notNull())
    .addColumn('fault', 'text', (c) => c.notNull())
    .addColumn('created_at', 'text', (c) => c.notNull())
    .execute()
  await db.schema.createIndex('unscheduled_servers_project').on('unscheduled_servers').columns(['project_id', 'created_at']).execute()
  await db.schema.createIndex('unscheduled_servers_group').on('unscheduled_servers').column('group_id').execute()
}

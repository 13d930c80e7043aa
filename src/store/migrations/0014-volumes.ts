import type { Kysely } from 'kysely'
import type { Dialect } from '../database.ts'

/**
 * Volumes and their attachments to servers. An attachment goes with its server or its volume;
 * what happens to the volume when its server is deleted for good (deleted, or left available)
 * is decided by the job that deletes the server, before the server row goes. The volume index
 * serves "who has this volume attached", the device constraint keeps device names apart.
 */
export async function up(db: Kysely<unknown>, _dialect: Dialect): Promise<void> {
  await db.schema
    .createTable('volumes')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('project_id', 'text', (c) => c.notNull().references('projects.id'))
    .addColumn('az', 'text', (c) => c.notNull())
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('size_gb', 'integer', (c) => c.notNull())
    .addColumn('volume_type', 'text', (c) => c.notNull())
    .addColumn('bus', 'text', (c) => c.notNull())
    .addColumn('multiattach', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('bootable', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('created_at', 'text', (c) => c.notNull())
    .execute()

  await db.schema
    .createTable('volume_attachments')
    .addColumn('server_id', 'text', (c) => c.notNull().references('servers.id').onDelete('cascade'))
    .addColumn('volume_id', 'text', (c) => c.notNull().references('volumes.id').onDelete('cascade'))
    .addColumn('device', 'text', (c) => c.notNull())
    .addColumn('boot_index', 'integer')
    .addColumn('delete_on_termination', 'integer', (c) => c.notNull())
    .addColumn('pci_address', 'text', (c) => c.notNull())
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addPrimaryKeyConstraint('volume_attachments_pk', ['server_id', 'volume_id'])
    .addUniqueConstraint('volume_attachments_device', ['server_id', 'device'])
    .execute()
  await db.schema.createIndex('volume_attachments_volume').on('volume_attachments').column('volume_id').execute()
}

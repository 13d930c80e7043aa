import type { Kysely } from 'kysely'
import type { Dialect } from '../database.ts'

/**
 * A server's settings beyond placement (`server_options`, one optional row per server) and its
 * tags (`server_tags`). Both go with their server, whoever deletes it. Tags are read per server
 * and per project (all tags in use, servers by tag): the project index serves the second.
 */
export async function up(db: Kysely<unknown>, _dialect: Dialect): Promise<void> {
  await db.schema
    .createTable('server_options')
    .addColumn('server_id', 'text', (c) => c.primaryKey().references('servers.id').onDelete('cascade'))
    .addColumn('description', 'text')
    .addColumn('hostname', 'text')
    .addColumn('user_data', 'text')
    .addColumn('key_name', 'text')
    .addColumn('imds_http_endpoint', 'text', (c) => c.notNull().defaultTo('enabled'))
    .addColumn('imds_http_tokens', 'text', (c) => c.notNull().defaultTo('optional'))
    .addColumn('auto_terminate_time', 'text')
    .addColumn('serial_console_enabled', 'integer', (c) => c.notNull().defaultTo(1))
    .addColumn('password_hash', 'text')
    .addColumn('password_blob', 'text')
    .addColumn('monitored', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('charging_mode', 'text', (c) => c.notNull().defaultTo('postPaid'))
    .execute()

  await db.schema
    .createTable('server_tags')
    .addColumn('server_id', 'text', (c) => c.notNull().references('servers.id').onDelete('cascade'))
    .addColumn('project_id', 'text', (c) => c.notNull())
    .addColumn('key', 'text', (c) => c.notNull())
    .addColumn('value', 'text', (c) => c.notNull())
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addPrimaryKeyConstraint('server_tags_pk', ['server_id', 'key'])
    .execute()
  await db.schema.createIndex('server_tags_project').on('server_tags').columns(['project_id', 'key', 'value']).execute()
}

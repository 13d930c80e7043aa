import type { Kysely } from 'kysely'
import type { Dialect } from '../database.ts'

/**
 * Identity: credentials can be revoked and described; users with scrypt password hashes sign
 * in for tokens (Identity v3 password method); failed signatures are counted per access key
 * for the lock-out.
 */
export async function up(db: Kysely<unknown>, _dialect: Dialect): Promise<void> {
  await db.schema.alterTable('credentials').addColumn('revoked_at', 'text').execute()
  await db.schema.alterTable('credentials').addColumn('description', 'text', (c) => c.notNull().defaultTo('')).execute()
  await db.schema.createIndex('credentials_project').on('credentials').column('project_id').execute()

  await db.schema
    .createTable('users')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('name', 'text', (c) => c.notNull().unique())
    .addColumn('project_id', 'text', (c) => c.notNull().references('projects.id'))
    .addColumn('password_hash', 'text', (c) => c.notNull())
    .addColumn('admin', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('created_at', 'text', (c) => c.notNull())
    .execute()

  await db.schema
    .createTable('tokens')
    .addColumn('token_hash', 'text', (c) => c.primaryKey())
    .addColumn('user_id', 'text', (c) => c.notNull().references('users.id').onDelete('cascade'))
    .addColumn('project_id', 'text', (c) => c.notNull().references('projects.id'))
    .addColumn('issued_at', 'text', (c) => c.notNull())
    .addColumn('expires_at', 'text', (c) => c.notNull())
    .execute()
  await db.schema.createIndex('tokens_expiry').on('tokens').column('expires_at').execute()

  await db.schema
    .createTable('auth_failures')
    .addColumn('access_key', 'text', (c) => c.primaryKey())
    .addColumn('consecutive', 'integer', (c) => c.notNull())
    .addColumn('locked_until', 'text')
    .addColumn('updated_at', 'text', (c) => c.notNull())
    .execute()
}

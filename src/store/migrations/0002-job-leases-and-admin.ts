import type { Kysely } from 'kysely'
import type { Dialect } from '../database.ts'

/**
 * Jobs get an owner and a lease, so that any replica can take over the jobs of one that died;
 * credentials get an admin flag for operator-only routes (audit).
 */
export async function up(db: Kysely<unknown>, _dialect: Dialect): Promise<void> {
  await db.schema.alterTable('jobs').addColumn('lease_owner', 'text').execute()
  await db.schema.alterTable('jobs').addColumn('lease_expires_at', 'text').execute()
  await db.schema.createIndex('jobs_running_lease').on('jobs').columns(['status', 'lease_expires_at']).execute()
  await db.schema.alterTable('credentials').addColumn('admin', 'integer', (c) => c.notNull().defaultTo(0)).execute()
}

import { sql, type Kysely } from 'kysely'
import type { Dialect } from '../database.ts'

/**
 * The authority generation: one row whose counter every transaction that withdraws or changes
 * authority (a revocation, a lock-out, a removed host's credential) increases. Processes cache
 * what authentication reads and drop the cache when they see the counter move, so a request
 * needs no credential read while revocations still reach every replica. bigint: a tenant can
 * bump it with every failed signature, and an integer could run out.
 */
export async function up(db: Kysely<unknown>, _dialect: Dialect): Promise<void> {
  await db.schema
    .createTable('auth_generation')
    .addColumn('id', 'integer', (c) => c.primaryKey())
    .addColumn('generation', 'bigint', (c) => c.notNull())
    // One row only: every process reads and bumps the same counter.
    .addCheckConstraint('auth_generation_single_row', sql`id = 1`)
    .execute()
  await sql`insert into auth_generation (id, generation) values (1, 0)`.execute(db)
}

import { sql, type Kysely } from 'kysely'
import type { Dialect } from '../database.ts'

/**
 * Per-project usage counters (servers, vCPUs, RAM), kept in step with the servers table by the
 * transactions that create and delete servers, so that the instance quota check of a create
 * reads one row instead of summing every server of the project (a cost that grew with the
 * tenant). Filled from the servers that exist; `ecsd audit` checks them against the sums.
 */
export async function up(db: Kysely<unknown>, _dialect: Dialect): Promise<void> {
  await db.schema.alterTable('projects').addColumn('servers_used', 'integer', (c) => c.notNull().defaultTo(0)).execute()
  await db.schema.alterTable('projects').addColumn('cores_used', 'integer', (c) => c.notNull().defaultTo(0)).execute()
  await db.schema.alterTable('projects').addColumn('ram_used_mb', 'bigint', (c) => c.notNull().defaultTo(0)).execute()
  await sql`
    update projects set
      servers_used = (select count(*) from servers where servers.project_id = projects.id),
      cores_used = (select coalesce(sum(vcpus), 0) from servers where servers.project_id = projects.id),
      ram_used_mb = (select coalesce(sum(ram_mb), 0) from servers where servers.project_id = projects.id)
  `.execute(db)
}

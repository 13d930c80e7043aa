import type { Kysely } from 'kysely'
import type { Dialect } from '../database.ts'

/**
 * Host agents: where an agent can be reached by the other agents (for disks and live
 * migrations), and the tasks the control plane hands to agents — one per physical step of a job,
 * with an id derived from the sub-job and the step so that a repeated step finds its task.
 */
export async function up(db: Kysely<unknown>, _dialect: Dialect): Promise<void> {
  await db.schema.alterTable('hosts').addColumn('agent_address', 'text').execute()

  await db.schema
    .createTable('agent_tasks')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('host_id', 'text', (c) => c.notNull().references('hosts.id').onDelete('cascade'))
    .addColumn('server_id', 'text')
    .addColumn('kind', 'text', (c) => c.notNull())
    .addColumn('spec', 'text', (c) => c.notNull())
    .addColumn('state', 'text', (c) => c.notNull())
    .addColumn('result', 'text')
    .addColumn('error', 'text')
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('claimed_at', 'text')
    .addColumn('claimed_by', 'text')
    .addColumn('finished_at', 'text')
    .execute()
  await db.schema.createIndex('agent_tasks_host_state').on('agent_tasks').columns(['host_id', 'state', 'created_at']).execute()
}

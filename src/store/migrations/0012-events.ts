import { sql, type Kysely } from 'kysely'
import type { Dialect } from '../database.ts'

/**
 * The event history (`events`, see `EventTable`). Every read is "newest first by id" within one
 * filter, so the filters that pick a few events out of many — server, group, host (its own,
 * a move's source and target) — have an index ending in the id; they are partial, leaving out
 * the rows a filter can never match (host events name no server, most events no group and no
 * move). Nothing else is indexed: every index is paid for by every change that records an
 * event, several per add_member. Time needs no index of its own, since ids are time-ordered
 * (the time filters and pruning by age bound the id); kind and project filters walk the history.
 *
 * PostgreSQL compares text by the database's collation; ids compare byte-wise ("C") so that
 * their order is the order they were made in on either engine.
 *
 * PostgreSQL also keeps `tx`, the recording transaction's id: transactions there commit side by
 * side, so an event may become visible after a newer one was read, and a reader following the
 * history (`after`) orders by `tx` and reads only transactions that have all ended (below the
 * snapshot's xmin), so that it never passes an event that commits late. SQLite commits one
 * transaction at a time, in the order its events were made: it needs no `tx`.
 */
export async function up(db: Kysely<unknown>, dialect: Dialect): Promise<void> {
  await db.schema
    .createTable('events')
    .addColumn('id', dialect === 'postgres' ? sql`text collate "C"` : 'text', (c) => c.primaryKey())
    .addColumn('at', 'text', (c) => c.notNull())
    .addColumn('kind', 'text', (c) => c.notNull())
    .addColumn('project_id', 'text')
    .addColumn('server_id', 'text')
    .addColumn('group_id', 'text')
    .addColumn('host', 'text')
    .addColumn('from_host', 'text')
    .addColumn('to_host', 'text')
    .addColumn('reason', 'text')
    .addColumn('status_from', 'text')
    .addColumn('status_to', 'text')
    .addColumn('job_id', 'text')
    .addColumn('detail', 'text')
    .addColumn('diagnosis', 'text')
    .$call((t) => (dialect === 'postgres' ? t.addColumn('tx', 'bigint', (c) => c.notNull().defaultTo(sql`pg_current_xact_id()::text::bigint`)) : t))
    .execute()
  for (const column of ['server_id', 'group_id', 'host', 'from_host', 'to_host']) {
    await sql`create index ${sql.id(`events_${column}`)} on events (${sql.id(column)}, id) where ${sql.id(column)} is not null`.execute(db)
  }
  if (dialect === 'postgres') await db.schema.createIndex('events_tx').on('events').columns(['tx', 'id']).execute()
}

import type { Expression, ExpressionBuilder, SqlBool } from 'kysely'
import type { Database } from '../store/database.ts'
import type { Schema } from '../store/schema.ts'
import { filterTerms, type ServerFilters } from './server-filters.ts'
import { nameContains, serverPage, withDetails, type ServerRecord } from './servers.ts'

/** `listCloudServers` (`GET /v1.1/{project_id}/cloudservers/detail`) filters and page. */
export interface CloudServerQuery extends ServerFilters {
  /** Exactly this server. */
  id: string | undefined
  /** The name contains this text, ignoring case. */
  name: string | undefined
  status: string | undefined
  /** true: only servers in the recycle bin; false or absent: only servers outside it. */
  inRecycleBin: boolean | undefined
  limit: number
  /** The last server of the previous page. */
  marker: string | undefined
}

/** A server as `listCloudServers` shows it: its record, and the dedicated host it is on, if any. */
export interface CloudServerRecord extends ServerRecord {
  dedicatedHostId: string | null
}

/** One page of `listCloudServers`. */
export interface CloudServerPage {
  /** Servers matching the filters, on every page. */
  total: number
  servers: CloudServerRecord[]
  /** The marker of the next page; undefined on the last. */
  nextMarker: string | undefined
}

/**
 * One page of a project's servers, newest first, with the count of all that match. Pages are
 * keyset pages (`marker` = the last id of the previous page), so a page costs the same however
 * deep it is, and servers created meanwhile do not shift it.
 */
export async function listCloudServers(database: Database, projectId: string, q: CloudServerQuery): Promise<CloudServerPage> {
  const db = database.db
  const matches = (eb: ExpressionBuilder<Schema, 'servers'>) => {
    const terms: Expression<SqlBool>[] = [eb('servers.project_id', '=', projectId), eb('servers.in_recycle_bin', '=', q.inRecycleBin === true ? 1 : 0)]
    if (q.id !== undefined) terms.push(eb('servers.id', '=', q.id))
    if (q.status !== undefined) terms.push(eb('servers.status', '=', q.status))
    if (q.name !== undefined) terms.push(nameContains(q.name))
    return eb.and([...terms, ...filterTerms(eb, projectId, q)])
  }
  const { total, rows } = await serverPage(db, projectId, matches, { marker: q.marker, skip: 0, take: q.limit + 1 })
  const page = rows.slice(0, q.limit)
  const records = await withDetails(db, page)
  const hostIds = [...new Set(records.map((r) => r.server.host_id))]
  const dedicated = hostIds.length === 0
    ? new Map<string, string | null>()
    : new Map((await db.selectFrom('hosts').select(['id', 'dedicated_to']).where('id', 'in', hostIds).execute()).map((h) => [h.id, h.dedicated_to]))
  return {
    total,
    servers: records.map((r) => ({ ...r, dedicatedHostId: dedicated.get(r.server.host_id) == null ? null : r.server.host_id })),
    nextMarker: rows.length > q.limit ? page[page.length - 1]!.server.id : undefined,
  }
}

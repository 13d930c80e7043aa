import { sql, type Expression, type ExpressionBuilder, type Kysely, type SqlBool } from 'kysely'
import { invalidParameter } from '../domain/errors.ts'
import type { Schema } from '../store/schema.ts'

/**
 * Filters of the server lists (`listServersDetails` on /v1, `listCloudServers` on /v1.1) beyond
 * status, name and flavor. Every filter is SQL on the list's own query — subqueries on indexed
 * columns, no query per server — so that a list stays one count and one page query whatever the
 * size of the project. Absent filters match everything.
 */
export interface ServerFilters {
  /** Tags every listed server has: `key=value` (that value) or `key` (any value). */
  tags?: TagFilter[] | undefined
  /** Servers that have all of these tags are left out (as Nova's `not-tags`). */
  notTags?: TagFilter[] | undefined
  /** A fixed address of one of the server's ports contains this text. */
  ip?: string | undefined
  /** A fixed address of one of the server's ports is exactly this. */
  ipEq?: string | undefined
  /** Servers booted together through the OpenStack API (`reservation_id`). */
  reservationId?: string | undefined
  /** Only these servers. */
  serverIds?: string[] | undefined
  /** Huawei's enterprise project: ecsd's servers are all in the default one, "0". */
  enterpriseProjectId?: string | undefined
  /** The availability zone contains this text, ignoring case. */
  availabilityZone?: string | undefined
  availabilityZoneEq?: string | undefined
  flavorName?: string | undefined
  imageId?: string | undefined
  /** A user metadata entry, exactly. */
  metadata?: { key: string; value: string } | undefined
  /** A user metadata key, any value. */
  metadataKey?: string | undefined
  chargingMode?: 'postPaid' | 'prePaid' | 'spot' | undefined
  keyName?: string | undefined
  /** Launched at or after this ISO-8601 time (`toISOString` form). */
  launchedSince?: string | undefined
  /** Batch id of bare-metal servers created per rack: ecsd has none, so any value matches nothing. */
  spodId?: string | undefined
}

/** One tag of a tag filter; `value` undefined matches any value of the key. */
export interface TagFilter {
  key: string
  value: string | undefined
}

/**
 * A tag filter as the API sends it: comma-separated tags, each `key=value` or `key` (the form
 * the server views show tags in). Empty items are ignored.
 */
export function parseTagFilter(text: string): TagFilter[] {
  return text
    .split(',')
    .map((item) => item.trim())
    .filter((item) => item !== '')
    .map((item) => {
      const eq = item.indexOf('=')
      return eq < 0 ? { key: item, value: undefined } : { key: item.slice(0, eq), value: item.slice(eq + 1) }
    })
}

/** Comma-separated ids (`server_id=a,b`), without blanks and repeats. */
export function listOfIds(text: string): string[] {
  return [...new Set(text.split(',').map((id) => id.trim()).filter((id) => id !== ''))]
}

/** The enterprise project every ecsd server is in, and the value that asks for all of them. */
const DEFAULT_ENTERPRISE_PROJECT = '0'
const ALL_ENTERPRISE_PROJECTS = 'all_granted_eps'

/** `filters` as conditions on `servers` rows of `projectId`. */
export function filterTerms(eb: ExpressionBuilder<Schema, 'servers'>, projectId: string, filters: ServerFilters): Expression<SqlBool>[] {
  const terms: Expression<SqlBool>[] = []
  const f = filters
  const hasTag = (tag: TagFilter) => {
    let tagged = eb.selectFrom('server_tags').select('server_tags.server_id').where('server_tags.project_id', '=', projectId).where('server_tags.key', '=', tag.key)
    if (tag.value !== undefined) tagged = tagged.where('server_tags.value', '=', tag.value)
    return eb('servers.id', 'in', tagged)
  }
  for (const tag of f.tags ?? []) terms.push(hasTag(tag))
  if (f.notTags !== undefined && f.notTags.length > 0) terms.push(eb.not(eb.and(f.notTags.map(hasTag))))
  if (f.ip !== undefined) {
    terms.push(eb('servers.id', 'in', eb.selectFrom('server_interfaces').select('server_interfaces.server_id').where(containsText('server_interfaces.ip_address', f.ip))))
  }
  if (f.ipEq !== undefined) {
    terms.push(eb('servers.id', 'in', eb.selectFrom('server_interfaces').select('server_interfaces.server_id').where('server_interfaces.ip_address', '=', f.ipEq)))
  }
  if (f.reservationId !== undefined) {
    terms.push(eb('servers.id', 'in', eb.selectFrom('nova_servers').select('nova_servers.server_id').where('nova_servers.reservation_id', '=', f.reservationId)))
  }
  if (f.serverIds !== undefined) terms.push(f.serverIds.length === 0 ? sql<SqlBool>`1 = 0` : eb('servers.id', 'in', f.serverIds))
  if (f.enterpriseProjectId !== undefined && f.enterpriseProjectId !== DEFAULT_ENTERPRISE_PROJECT && f.enterpriseProjectId !== ALL_ENTERPRISE_PROJECTS) {
    terms.push(sql<SqlBool>`1 = 0`)
  }
  if (f.spodId !== undefined) terms.push(sql<SqlBool>`1 = 0`)
  if (f.availabilityZone !== undefined) terms.push(containsText('servers.az', f.availabilityZone))
  if (f.availabilityZoneEq !== undefined) terms.push(eb('servers.az', '=', f.availabilityZoneEq))
  if (f.flavorName !== undefined) {
    terms.push(eb('servers.flavor_id', 'in', eb.selectFrom('flavors').select('flavors.id').where('flavors.name', '=', f.flavorName)))
  }
  if (f.imageId !== undefined) terms.push(eb('servers.image_ref', '=', f.imageId))
  if (f.metadata !== undefined) terms.push(metadataHas(`${JSON.stringify(f.metadata.key)}:${JSON.stringify(f.metadata.value)}`))
  if (f.metadataKey !== undefined) terms.push(metadataHas(`${JSON.stringify(f.metadataKey)}:`))
  if (f.chargingMode !== undefined) {
    const prePaid = eb('servers.id', 'in', eb.selectFrom('server_options').select('server_options.server_id').where('server_options.charging_mode', '=', 'prePaid'))
    // ecsd sells no spot servers; a server without an options row is pay-per-use.
    terms.push(f.chargingMode === 'prePaid' ? prePaid : f.chargingMode === 'postPaid' ? eb.not(prePaid) : sql<SqlBool>`1 = 0`)
  }
  if (f.keyName !== undefined) {
    terms.push(eb.or([
      eb('servers.id', 'in', eb.selectFrom('server_options').select('server_options.server_id').where('server_options.key_name', '=', f.keyName)),
      eb('servers.id', 'in', eb.selectFrom('nova_servers').select('nova_servers.server_id').where('nova_servers.key_name', '=', f.keyName)),
    ]))
  }
  if (f.launchedSince !== undefined) terms.push(eb('servers.launched_at', '>=', f.launchedSince))
  return terms
}

/** Where a server stands in the lists' order (newest first, then by id). */
export interface ListPosition {
  createdAt: string
  id: string
}

/** The position of the server a `marker` names, or 400 when it is not a server of the project. */
export async function listPosition(db: Kysely<Schema>, projectId: string, marker: string): Promise<ListPosition> {
  const row = await db.selectFrom('servers').select(['created_at', 'id']).where('id', '=', marker).where('project_id', '=', projectId).executeTakeFirst()
  if (!row) throw invalidParameter(`marker ${marker} is not a server of this project; send the id of the last server of the previous page`)
  return { createdAt: row.created_at, id: row.id }
}

/** Servers after `p` in the lists' order: older, or as old with a greater id. */
export function afterPosition(eb: ExpressionBuilder<Schema, 'servers'>, p: ListPosition): Expression<SqlBool> {
  return eb.or([
    eb('servers.created_at', '<', p.createdAt),
    eb.and([eb('servers.created_at', '=', p.createdAt), eb('servers.id', '>', p.id)]),
  ])
}

/**
 * The column contains `text` literally (LIKE metacharacters escaped), ignoring case the same way
 * on both databases (SQLite's LIKE ignores ASCII case, PostgreSQL's does not).
 */
export function containsText(column: string, text: string): Expression<SqlBool> {
  return sql<SqlBool>`lower(${sql.ref(column)}) like lower(${`%${escapeLike(text)}%`}) escape '\\'`
}

/**
 * `servers.metadata` (a JSON object written by `JSON.stringify`) has `"key":` or `"key":"value"`
 * as one of its members. A member starts right after `{` or `,`; inside a JSON string a quote is
 * always escaped, so text of a value can never pass for a member.
 */
function metadataHas(member: string): Expression<SqlBool> {
  const escaped = escapeLike(member)
  return sql<SqlBool>`(${sql.ref('servers.metadata')} like ${`{${escaped}%`} escape '\\' or ${sql.ref('servers.metadata')} like ${`%,${escaped}%`} escape '\\')`
}

function escapeLike(s: string): string {
  return s.replace(/[\\%_]/g, (c) => `\\${c}`)
}

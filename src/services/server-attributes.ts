import type { Insertable, Kysely } from 'kysely'
import {
  duplicateTagKey, EcsError, invalidParameter, invalidTag, metadataKeyNotFound, serverInRecycleBin, serverNotFound, serverWrongStatus,
  tooManyTags,
} from '../domain/errors.ts'
import { SERVER_NAME_MAX, vmStateOf, type ServerStatus } from '../domain/server.ts'
import { lockForUpdate, type Database, type Tx } from '../store/database.ts'
import { prepared } from '../store/prepared.ts'
import type { Schema } from '../store/schema.ts'
import type { ServerOptionsTable } from '../store/tables/server-attributes.ts'
import type { CreateResources, CreatedServer } from './server-resources.ts'
import { nameContains, type ServerService } from './servers.ts'
import { nowIso } from './time.ts'

/** A server's tags and settings as its views show them. */
export interface ServerAttributes {
  tags: Array<{ key: string; value: string }>
  description: string
  /** null: derived from the name. */
  hostname: string | null
  keyName: string | null
  userData: string | null
  /** `server_options.charging_mode`: 'postPaid' unless `changeServerChargeMode` made it 'prePaid'. */
  chargingMode: 'postPaid' | 'prePaid'
  /** `yyyy-MM-ddTHH:mm:ssZ` when the server is to be deleted; null when not set. */
  autoTerminateTime: string | null
}

/** A tag as requests give it and views show it; `value` is "" when the tag has none. */
export interface Tag {
  key: string
  value: string
}

/** At most this many tags per server (create, batch create). */
export const MAX_TAGS_PER_SERVER = 10
/** At most this many user metadata keys per server (`maxServerMeta` of the limits API). */
export const MAX_METADATA_ITEMS = 128
/** At most this many servers a tag query returns per page (`limit`, also its default). */
export const MAX_TAG_QUERY_LIMIT = 1000

// Unicode letters and digits stand for the documented "letters, digits and CJK characters".
const TAG_KEY = /^[\p{L}\p{N}_-]{1,36}$/u
const TAG_VALUE = /^[\p{L}\p{N}_.-]{0,43}$/u
const SERVER_NAME = new RegExp(`^[\\p{L}\\p{N}_.-]{1,${SERVER_NAME_MAX}}$`, 'u')
const HOSTNAME_LABEL = /^[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?$/
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/
/** `user_data` is at most 32 KiB before base64 encoding. */
const USER_DATA_MAX_BYTES = 32 * 1024

/**
 * Metadata keys the platform sets (`serverBody` adds them to every server's view): a user can
 * neither write nor delete them.
 */
const SYSTEM_METADATA_KEYS: ReadonlySet<string> = new Set([
  'charging_mode', 'vpc_id', 'image_name', 'os_type', 'os_bit', 'virtual_env_type', 'EcmResStatus',
])

/** Whether `key` is one of the platform's metadata keys (`metering.*` included). */
export function isSystemMetadataKey(key: string): boolean {
  return SYSTEM_METADATA_KEYS.has(key) || key.startsWith('metering.')
}

/** The vm states in which metadata and metadata options may change, as the API documents. */
const METADATA_VM_STATES: ReadonlySet<string> = new Set(['active', 'stopped', 'paused', 'suspended'])

/** Every column of a `server_options` row as a server without one reads it (the migration's defaults). */
const DEFAULT_OPTIONS: Omit<Insertable<ServerOptionsTable>, 'server_id'> = {
  description: null, hostname: null, user_data: null, key_name: null, imds_http_endpoint: 'enabled', imds_http_tokens: 'optional',
  auto_terminate_time: null, serial_console_enabled: 1, password_hash: null, password_blob: null, monitored: 0, charging_mode: 'postPaid',
}

/** Columns of a server's options row a change writes. */
/** Some of a server's options, by column. */
export type OptionsChange = Partial<Omit<Insertable<ServerOptionsTable>, 'server_id'>>

// ---- Validation ---------------------------------------------------------------------------

/** Checks the tags of one request: charset and lengths, each key once; values default to "". */
export function checkTags(tags: ReadonlyArray<{ key: string; value?: string | undefined }>): Tag[] {
  const seen = new Set<string>()
  return tags.map(({ key, value = '' }) => {
    if (!TAG_KEY.test(key)) throw invalidTag('key', key, '1 to 36 letters, digits, "-" or "_"')
    if (!TAG_VALUE.test(value)) throw invalidTag('value', value, 'at most 43 letters, digits, "-", "_" or "."')
    if (seen.has(key)) throw duplicateTagKey(key)
    seen.add(key)
    return { key, value }
  })
}

/**
 * A tag of the create body's older `tags` list: `key=value`, or Huawei's documented `key.value`
 * (a key holds neither `=` nor `.`, so the first one separates); a bare `key` has no value.
 */
function legacyTag(text: string): Tag {
  const at = text.includes('=') ? text.indexOf('=') : text.indexOf('.')
  return at < 0 ? { key: text, value: '' } : { key: text.slice(0, at), value: text.slice(at + 1) }
}

function checkServerName(name: string): void {
  if (!SERVER_NAME.test(name)) {
    throw invalidParameter(`name ${JSON.stringify(name)}: 1 to ${SERVER_NAME_MAX} letters, digits (CJK characters included), "_", "-" or "."`)
  }
}

function checkDescription(description: string): void {
  if (description.length > 85 || /[<>]/.test(description)) throw invalidParameter('description: at most 85 characters, without "<" or ">"')
}

function checkHostname(hostname: string): void {
  const labels = hostname.split('.')
  if (hostname.length > 64 || !labels.every((label) => HOSTNAME_LABEL.test(label))) {
    throw invalidParameter(`hostname ${JSON.stringify(hostname)}: 1 to 64 characters, dot-separated labels of letters, digits and "-", no label starting or ending with "-" and no empty label`)
  }
}

function checkUserData(userData: string): void {
  if (!BASE64.test(userData) || Buffer.byteLength(userData, 'base64') > USER_DATA_MAX_BYTES) {
    throw invalidParameter(`user_data: base64 text of at most ${USER_DATA_MAX_BYTES} bytes once decoded`)
  }
}

const ENDPOINTS: ReadonlySet<unknown> = new Set(['enabled', 'disabled'])
const TOKENS: ReadonlySet<unknown> = new Set(['optional', 'required'])

/** The instance metadata service settings a create or update gives; undefined keeps the current one. */
export interface MetadataOptions {
  httpEndpoint: 'enabled' | 'disabled'
  httpTokens: 'optional' | 'required'
}

function checkMetadataOptions(o: { http_endpoint?: unknown; http_tokens?: unknown }): Partial<MetadataOptions> {
  if (o.http_endpoint !== undefined && !ENDPOINTS.has(o.http_endpoint)) throw invalidParameter('metadata_options.http_endpoint: "enabled" or "disabled"')
  if (o.http_tokens !== undefined && !TOKENS.has(o.http_tokens)) throw invalidParameter('metadata_options.http_tokens: "optional" or "required"')
  return {
    ...(o.http_endpoint === undefined ? {} : { httpEndpoint: o.http_endpoint as MetadataOptions['httpEndpoint'] }),
    ...(o.http_tokens === undefined ? {} : { httpTokens: o.http_tokens as MetadataOptions['httpTokens'] }),
  }
}

/** `yyyy-MM-ddTHH:mm:ssZ` of an epoch time. */
function utcSeconds(ms: number): string {
  return `${new Date(ms).toISOString().slice(0, 19)}Z`
}

/**
 * An `auto_terminate_time` as stored: a UTC `yyyy-MM-ddTHH:mm:ssZ` truncated to the minute, at
 * least 30 minutes and at most 3 years from now; "" cancels (null).
 */
export function parseAutoTerminateTime(text: string, nowMs: number = Date.now()): string | null {
  if (text === '') return null
  const valid = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/.test(text) && !Number.isNaN(Date.parse(text)) && utcSeconds(Date.parse(text)) === text
  if (!valid) throw invalidParameter(`auto_terminate_time ${JSON.stringify(text)}: a UTC time as yyyy-MM-ddTHH:mm:ssZ (e.g. 2030-01-31T08:00:00Z), or "" to cancel`)
  const minute = `${text.slice(0, 16)}:00Z`
  const at = Date.parse(minute)
  const latest = new Date(nowMs)
  latest.setUTCFullYear(latest.getUTCFullYear() + 3)
  if (at < nowMs + 30 * 60_000) throw invalidParameter(`auto_terminate_time ${minute} is less than 30 minutes after now (${utcSeconds(nowMs)})`)
  if (at > latest.getTime()) throw invalidParameter(`auto_terminate_time ${minute} is more than 3 years after now (${utcSeconds(nowMs)})`)
  return minute
}

// ---- Create and views ---------------------------------------------------------------------

/**
 * Stores the tags and settings a create asked for, after checking them: a bad tag or setting
 * refuses the whole create (its transaction rolls back).
 */
export async function saveAttributesAtCreate(db: Kysely<Schema>, servers: CreatedServer[], resources: CreateResources): Promise<void> {
  if (servers.length === 0) return
  const tags = checkTags([...resources.serverTags, ...resources.legacyTags.map(legacyTag)])
  if (tags.length > MAX_TAGS_PER_SERVER) throw tooManyTags('(new)', tags.length, MAX_TAGS_PER_SERVER)
  const options = optionsAtCreate(resources)
  if (options !== undefined) {
    await insertInChunks(servers.map((s) => ({ ...DEFAULT_OPTIONS, ...options, server_id: s.id })), (rows) => db.insertInto('server_options').values(rows).execute())
  }
  if (tags.length > 0) {
    const rows = servers.flatMap((s) => tags.map((t) => ({ server_id: s.id, project_id: s.projectId, key: t.key, value: t.value, created_at: s.createdAt })))
    await insertInChunks(rows, (chunk) => db.insertInto('server_tags').values(chunk).execute())
  }
}

/** The `server_options` columns a create sets; undefined when it sets none (the server needs no row). */
function optionsAtCreate(r: CreateResources): OptionsChange | undefined {
  if (r.description !== undefined) checkDescription(r.description)
  if (r.userData !== undefined) checkUserData(r.userData)
  const imds = r.metadataOptions === undefined ? {} : checkMetadataOptions(r.metadataOptions)
  const serial = r.serialConsoleOptions?.enabled
  if (serial !== undefined && typeof serial !== 'boolean') throw invalidParameter('serial_console_options.enabled: true or false')
  const options: OptionsChange = {
    ...(r.description === undefined ? {} : { description: r.description }),
    ...(r.keyName === undefined ? {} : { key_name: r.keyName }),
    ...(r.userData === undefined ? {} : { user_data: r.userData }),
    ...(imds.httpEndpoint === undefined ? {} : { imds_http_endpoint: imds.httpEndpoint }),
    ...(imds.httpTokens === undefined ? {} : { imds_http_tokens: imds.httpTokens }),
    ...(serial === undefined ? {} : { serial_console_enabled: serial ? 1 : 0 }),
    ...(r.autoTerminateTime === undefined ? {} : { auto_terminate_time: parseAutoTerminateTime(r.autoTerminateTime) }),
  }
  return Object.keys(options).length === 0 ? undefined : options
}

/** Rows per multi-row insert: well under SQLite's limit of bound parameters per statement. */
const INSERT_CHUNK = 500

async function insertInChunks<T>(rows: T[], insert: (chunk: T[]) => Promise<unknown>): Promise<void> {
  for (let i = 0; i < rows.length; i += INSERT_CHUNK) await insert(rows.slice(i, i + INSERT_CHUNK))
}

/** Servers with their options and tags: one row per tag (one with null tag columns for a server without). */
function attributeRows(db: Kysely<Schema>) {
  return db
    .selectFrom('servers')
    .leftJoin('server_options', 'server_options.server_id', 'servers.id')
    .leftJoin('server_tags', 'server_tags.server_id', 'servers.id')
    .select([
      'servers.id', 'server_options.description', 'server_options.hostname', 'server_options.key_name', 'server_options.user_data',
      'server_options.charging_mode', 'server_options.auto_terminate_time', 'server_tags.key', 'server_tags.value',
    ])
}

// The show route is a hot path: one query, prepared.
const ATTRIBUTES_OF_ONE = prepared((db, p: { serverId: string }) => attributeRows(db).where('servers.id', '=', p.serverId).orderBy('server_tags.key'))

/**
 * The tags (by key) and settings of servers; every id gets an entry (the defaults when nothing
 * is stored). One query whatever the number of servers.
 */
export async function loadAttributes(db: Kysely<Schema>, serverIds: string[]): Promise<Map<string, ServerAttributes>> {
  if (serverIds.length === 0) return new Map()
  const rows = serverIds.length === 1
    ? await ATTRIBUTES_OF_ONE.all(db, { serverId: serverIds[0]! })
    : await attributeRows(db).where('servers.id', 'in', serverIds).orderBy('servers.id').orderBy('server_tags.key').execute()
  const found = new Map<string, ServerAttributes>()
  for (const r of rows) {
    let a = found.get(r.id)
    if (!a) {
      a = {
        tags: [],
        description: r.description ?? '',
        hostname: r.hostname,
        keyName: r.key_name,
        userData: r.user_data,
        chargingMode: r.charging_mode === 'prePaid' ? 'prePaid' : 'postPaid',
        autoTerminateTime: r.auto_terminate_time,
      }
      found.set(r.id, a)
    }
    if (r.key !== null) a.tags.push({ key: r.key, value: r.value ?? '' })
  }
  return new Map(serverIds.map((id) => [id, found.get(id) ?? defaultAttributes()]))
}

/** What a server without stored options or tags (or one deleted meanwhile) shows. */
function defaultAttributes(): ServerAttributes {
  return { tags: [], description: '', hostname: null, keyName: null, userData: null, chargingMode: 'postPaid', autoTerminateTime: null }
}

// ---- Reads and changes of one server ------------------------------------------------------

interface LockedServer {
  id: string
  status: string
  power_state: number
  metadata: string
}

/** The server of a change, locked; another project's server reads as unknown, a binned one is refused. */
async function lockServer(tx: Tx, projectId: string, serverId: string): Promise<LockedServer> {
  const s = await lockForUpdate(
    tx.db.selectFrom('servers').select(['id', 'status', 'power_state', 'metadata', 'in_recycle_bin']).where('id', '=', serverId).where('project_id', '=', projectId),
    tx.dialect,
  ).executeTakeFirst()
  if (!s) throw serverNotFound(serverId)
  if (s.in_recycle_bin === 1) throw serverInRecycleBin(serverId)
  return s
}

/** Reads need the server to exist in the project (a binned one too: its tags still show in the bin's list). */
async function assertServerExists(db: Kysely<Schema>, projectId: string, serverId: string): Promise<void> {
  const s = await db.selectFrom('servers').select('id').where('id', '=', serverId).where('project_id', '=', projectId).executeTakeFirst()
  if (!s) throw serverNotFound(serverId)
}

function assertMetadataWritable(s: LockedServer, operation: string): void {
  const vmState = vmStateOf(s.status as ServerStatus, s.power_state)
  if (!METADATA_VM_STATES.has(vmState)) throw serverWrongStatus(s.id, s.status, operation, 'running or stopped (vm_state active, stopped, paused or suspended)')
}

/**
 * Writes `set` into servers' options rows, creating a row (with the defaults) for a server that
 * has none: the one way every service changes a server's options.
 */
export async function saveServerOptions(db: Kysely<Schema>, serverIds: readonly string[], set: OptionsChange): Promise<void> {
  if (Object.keys(set).length === 0 || serverIds.length === 0) return
  await db
    .insertInto('server_options')
    .values(serverIds.map((id) => ({ ...DEFAULT_OPTIONS, ...set, server_id: id })))
    .onConflict((oc) => oc.column('server_id').doUpdateSet(set))
    .execute()
}

/** What `updateServer` changes; absent fields stay as they are. */
export interface ServerUpdate {
  name?: string | undefined
  description?: string | undefined
  hostname?: string | undefined
  userData?: string | undefined
}

/** `updateServer`: name, description, guest host name and user data. Placement is untouched. */
export async function updateServer(database: Database, projectId: string, serverId: string, change: ServerUpdate): Promise<void> {
  if (change.name !== undefined) checkServerName(change.name)
  if (change.description !== undefined) checkDescription(change.description)
  if (change.hostname !== undefined) checkHostname(change.hostname)
  if (change.userData !== undefined) checkUserData(change.userData)
  await database.transaction(async (tx) => {
    await lockServer(tx, projectId, serverId)
    await tx.db.updateTable('servers').set({ updated_at: nowIso(), ...(change.name === undefined ? {} : { name: change.name }) }).where('id', '=', serverId).execute()
    await saveServerOptions(tx.db, [serverId], {
      ...(change.description === undefined ? {} : { description: change.description }),
      ...(change.hostname === undefined ? {} : { hostname: change.hostname }),
      ...(change.userData === undefined ? {} : { user_data: change.userData }),
    })
  })
}

/**
 * `batchUpdateServersName`: every server gets the same name. All or nothing: an unknown or
 * binned server refuses the batch. A dry run only checks. Returns the servers, each once.
 */
export async function renameServers(database: Database, projectId: string, name: string, requested: string[], dryRun: boolean): Promise<string[]> {
  checkServerName(name)
  const serverIds = [...new Set(requested)]
  await database.transaction(async (tx) => {
    const rows = await lockForUpdate(
      tx.db.selectFrom('servers').select(['id', 'in_recycle_bin']).where('project_id', '=', projectId).where('id', 'in', serverIds).orderBy('id'),
      tx.dialect,
    ).execute()
    const byId = new Map(rows.map((r) => [r.id, r]))
    for (const id of serverIds) {
      const s = byId.get(id)
      if (!s) throw serverNotFound(id)
      if (s.in_recycle_bin === 1) throw serverInRecycleBin(id)
    }
    if (!dryRun) await tx.db.updateTable('servers').set({ name, updated_at: nowIso() }).where('id', 'in', serverIds).execute()
  })
  return serverIds
}

// ---- Tags ---------------------------------------------------------------------------------

/** `batchCreateServerTags`: adds tags, overwriting the value of a key the server has; at most 10 per server. */
export async function addTags(database: Database, projectId: string, serverId: string, requested: ReadonlyArray<{ key: string; value?: string }>): Promise<void> {
  const tags = checkTags(requested)
  await database.transaction(async (tx) => {
    await lockServer(tx, projectId, serverId)
    const existing = await tx.db.selectFrom('server_tags').select('key').where('server_id', '=', serverId).execute()
    const keys = new Set([...existing.map((t) => t.key), ...tags.map((t) => t.key)])
    if (keys.size > MAX_TAGS_PER_SERVER) throw tooManyTags(serverId, keys.size, MAX_TAGS_PER_SERVER)
    const now = nowIso()
    await tx.db
      .insertInto('server_tags')
      .values(tags.map((t) => ({ server_id: serverId, project_id: projectId, key: t.key, value: t.value, created_at: now })))
      .onConflict((oc) => oc.columns(['server_id', 'key']).doUpdateSet((eb) => ({ value: eb.ref('excluded.value') })))
      .execute()
  })
}

/**
 * `batchDeleteServerTags`: removes tags by key; a tag given with a value is removed only when
 * its value is that one. Tags the server does not have are no error.
 */
export async function deleteTags(database: Database, projectId: string, serverId: string, requested: ReadonlyArray<{ key: string; value?: string }>): Promise<void> {
  checkTags(requested)
  await database.transaction(async (tx) => {
    await lockServer(tx, projectId, serverId)
    for (const t of requested) {
      let query = tx.db.deleteFrom('server_tags').where('server_id', '=', serverId).where('key', '=', t.key)
      if (t.value !== undefined) query = query.where('value', '=', t.value)
      await query.execute()
    }
  })
}

/** `showServerTags`: a server's tags. */
export async function showTags(database: Database, projectId: string, serverId: string): Promise<Tag[]> {
  await assertServerExists(database.db, projectId, serverId)
  return (await loadAttributes(database.db, [serverId])).get(serverId)!.tags
}

/** `listServerTags`: every key used in the project with its values, both in order. */
export async function projectTags(database: Database, projectId: string): Promise<Array<{ key: string; values: string[] }>> {
  const rows = await database.db
    .selectFrom('server_tags')
    .select(['key', 'value'])
    .distinct()
    .where('project_id', '=', projectId)
    .orderBy('key')
    .orderBy('value')
    .execute()
  const byKey = new Map<string, string[]>()
  for (const r of rows) {
    const values = byKey.get(r.key)
    if (values) values.push(r.value)
    else byKey.set(r.key, [r.value])
  }
  return [...byKey].map(([key, values]) => ({ key, values }))
}

/** A tag condition of `listServersByTag`: the key, with one of the values (any value when none is given). */
export interface TagCondition {
  key: string
  values?: string[] | undefined
}

/** `listServersByTag`'s query; `limit` and `offset` as the API sends them (decimal strings). */
export interface TagQuery {
  /** The server has every one of these. */
  tags: TagCondition[]
  /** Servers that have every one of these are left out. */
  notTags: TagCondition[]
  /** Part of the server's name (`matches` with key `resource_name`). */
  name: string | undefined
  limit: string | undefined
  offset: string | undefined
}

/** A server `listServersByTag` finds. */
export interface TaggedServer {
  id: string
  name: string
  tags: Tag[]
}

function pageNumber(text: string | undefined, field: string, fallback: number, min: number, max: number): number {
  if (text === undefined) return fallback
  const n = /^\d{1,10}$/.test(text) ? Number(text) : Number.NaN
  if (!(n >= min && n <= max)) throw invalidParameter(`${field} ${JSON.stringify(text)}: a whole number from ${min} to ${max}, as a string`)
  return n
}

/**
 * `listServersByTag`: the project's servers (outside the recycle bin) that match, oldest first,
 * and how many match in all; `countOnly` skips the page. A fixed number of queries.
 */
export async function serversByTag(database: Database, projectId: string, q: TagQuery, countOnly: boolean): Promise<{ total: number; servers: TaggedServer[] }> {
  const limit = pageNumber(q.limit, 'limit', MAX_TAG_QUERY_LIMIT, 1, MAX_TAG_QUERY_LIMIT)
  const offset = pageNumber(q.offset, 'offset', 0, 0, Number.MAX_SAFE_INTEGER)
  const db = database.db
  const base = db
    .selectFrom('servers')
    .where('servers.project_id', '=', projectId)
    .where('servers.in_recycle_bin', '=', 0)
    .where((eb) => {
      const has = (c: TagCondition) => eb.exists(
        eb.selectFrom('server_tags').select('server_tags.key').whereRef('server_tags.server_id', '=', 'servers.id').where('server_tags.key', '=', c.key)
          .$if(c.values !== undefined && c.values.length > 0, (sq) => sq.where('server_tags.value', 'in', c.values!)),
      )
      return eb.and([
        ...q.tags.map(has),
        ...(q.notTags.length > 0 ? [eb.not(eb.and(q.notTags.map(has)))] : []),
        ...(q.name !== undefined && q.name !== '' ? [nameContains(q.name)] : []),
      ])
    })
  const { n } = await base.select((eb) => eb.fn.countAll<number | string>().as('n')).executeTakeFirstOrThrow()
  if (countOnly) return { total: Number(n), servers: [] }
  const rows = await base.select(['servers.id', 'servers.name']).orderBy('servers.created_at').orderBy('servers.id').limit(limit).offset(offset).execute()
  const attributes = await loadAttributes(db, rows.map((r) => r.id))
  return { total: Number(n), servers: rows.map((r) => ({ id: r.id, name: r.name, tags: attributes.get(r.id)!.tags })) }
}

// ---- Metadata -----------------------------------------------------------------------------

function checkMetadataKey(key: string): void {
  if (key.length < 1 || key.length > 255) throw invalidParameter(`metadata key ${JSON.stringify(key.slice(0, 64))}: 1 to 255 characters`)
  if (isSystemMetadataKey(key)) throw invalidParameter(`metadata key ${JSON.stringify(key)} is set by the platform and cannot be changed`)
}

/**
 * `updateServerMetadata`: merges `metadata` into the server's (keys it names are added or
 * overwritten, the others kept); returns the user metadata after the change.
 */
export async function updateMetadata(database: Database, projectId: string, serverId: string, metadata: Record<string, string>): Promise<Record<string, string>> {
  for (const [key, value] of Object.entries(metadata)) {
    checkMetadataKey(key)
    if (value.length > 255) throw invalidParameter(`the value of metadata key ${JSON.stringify(key)}: at most 255 characters`)
  }
  return database.transaction(async (tx) => {
    const s = await lockServer(tx, projectId, serverId)
    assertMetadataWritable(s, 'updateServerMetadata')
    const merged = { ...(JSON.parse(s.metadata) as Record<string, string>), ...metadata }
    const count = Object.keys(merged).length
    if (count > MAX_METADATA_ITEMS) throw invalidParameter(`ECS ${serverId} would have ${count} metadata items, at most ${MAX_METADATA_ITEMS} (maxServerMeta)`)
    await tx.db.updateTable('servers').set({ metadata: JSON.stringify(merged), updated_at: nowIso() }).where('id', '=', serverId).execute()
    return merged
  })
}

/** `deleteServerMetadata`: removes one user metadata key. */
export async function deleteMetadata(database: Database, projectId: string, serverId: string, key: string): Promise<void> {
  checkMetadataKey(key)
  await database.transaction(async (tx) => {
    const s = await lockServer(tx, projectId, serverId)
    assertMetadataWritable(s, 'deleteServerMetadata')
    const metadata = JSON.parse(s.metadata) as Record<string, string>
    if (!Object.hasOwn(metadata, key)) throw metadataKeyNotFound(serverId, key)
    delete metadata[key]
    await tx.db.updateTable('servers').set({ metadata: JSON.stringify(metadata), updated_at: nowIso() }).where('id', '=', serverId).execute()
  })
}

// ---- Metadata options ---------------------------------------------------------------------

/** `showMetadataOptions`: the server's instance metadata service settings. */
export async function showMetadataOptions(database: Database, projectId: string, serverId: string): Promise<MetadataOptions> {
  await assertServerExists(database.db, projectId, serverId)
  const o = await database.db.selectFrom('server_options').select(['imds_http_endpoint', 'imds_http_tokens']).where('server_id', '=', serverId).executeTakeFirst()
  return {
    httpEndpoint: o?.imds_http_endpoint === 'disabled' ? 'disabled' : 'enabled',
    httpTokens: o?.imds_http_tokens === 'required' ? 'required' : 'optional',
  }
}

/** `updateMetadataOptions`: changes the settings given, keeps the others. */
export async function updateMetadataOptions(database: Database, projectId: string, serverId: string, change: { http_endpoint?: string; http_tokens?: string }): Promise<void> {
  const o = checkMetadataOptions(change)
  await database.transaction(async (tx) => {
    const s = await lockServer(tx, projectId, serverId)
    assertMetadataWritable(s, 'updateMetadataOptions')
    await saveServerOptions(tx.db, [serverId], {
      ...(o.httpEndpoint === undefined ? {} : { imds_http_endpoint: o.httpEndpoint }),
      ...(o.httpTokens === undefined ? {} : { imds_http_tokens: o.httpTokens }),
    })
  })
}

// ---- Auto-terminate time ------------------------------------------------------------------

/** `updateServerAutoTerminateTime`: sets when a pay-per-use server is deleted; "" cancels. */
export async function setAutoTerminateTime(database: Database, projectId: string, serverId: string, text: string): Promise<void> {
  const at = parseAutoTerminateTime(text)
  await database.transaction(async (tx) => {
    await lockServer(tx, projectId, serverId)
    const o = await tx.db.selectFrom('server_options').select('charging_mode').where('server_id', '=', serverId).executeTakeFirst()
    if (o?.charging_mode === 'prePaid') throw invalidParameter(`ECS ${serverId} is yearly/monthly (prePaid); only a pay-per-use ECS can have an auto_terminate_time`)
    await saveServerOptions(tx.db, [serverId], { auto_terminate_time: at })
  })
}

/** Of `serverIds`, those with an auto-terminate time set: a delete takes them past the recycle bin. */
export async function scheduledForTermination(db: Kysely<Schema>, serverIds: string[]): Promise<Set<string>> {
  if (serverIds.length === 0) return new Set()
  const rows = await db.selectFrom('server_options').select('server_id').where('server_id', 'in', serverIds).where('auto_terminate_time', 'is not', null).execute()
  return new Set(rows.map((r) => r.server_id))
}

/** At most this many due servers are deleted per round. */
const TERMINATE_BATCH = 100
/** Times are whole minutes: a look twice a minute is on time. */
const TERMINATE_INTERVAL_MS = 30_000

/**
 * Deletes servers whose auto-terminate time has come, through the ordinary delete (a
 * `deleteServer` job of the server's project, which skips the recycle bin for them). The job
 * runner's sweep calls `runIfDue`; a server busy with another job waits for the next round.
 */
export class AutoTerminator {
  private dueAt = 0

  constructor(
    private readonly database: Database,
    private readonly servers: Pick<ServerService, 'delete'>,
    private readonly intervalMs: number = TERMINATE_INTERVAL_MS,
  ) {}

  /** Deletes the due servers if it is time to look; returns how many it deleted. */
  async runIfDue(): Promise<number> {
    if (Date.now() < this.dueAt) return 0
    this.dueAt = Date.now() + this.intervalMs
    return this.deleteDue()
  }

  /** Deletes the servers due now; returns how many deletes it started. */
  async deleteDue(): Promise<number> {
    const due = await this.database.db
      .selectFrom('server_options')
      .innerJoin('servers', 'servers.id', 'server_options.server_id')
      .select(['servers.id', 'servers.project_id'])
      .where('server_options.auto_terminate_time', 'is not', null)
      .where('server_options.auto_terminate_time', '<=', utcSeconds(Date.now()))
      .where('servers.in_recycle_bin', '=', 0)
      .where('servers.task_state', 'is', null)
      .orderBy('server_options.auto_terminate_time')
      .limit(TERMINATE_BATCH)
      .execute()
    let started = 0
    for (const s of due) {
      try {
        await this.servers.delete(s.project_id, [s.id])
        started++
      } catch (err) {
        // A job that started on the server since the read refuses the delete: the next round retries.
        if (!(err instanceof EcsError)) throw err
      }
    }
    return started
  }
}

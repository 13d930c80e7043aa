import { sql, type Kysely, type Selectable } from 'kysely'
import { EcsError, invalidParameter, NoValidHostError } from '../domain/errors.ts'
import { DRAIN_REASON, DRAINED_REASON } from '../domain/host.ts'
import { parseApiTime } from '../domain/scheduled-event.ts'
import type { Database } from '../store/database.ts'
import { prepared } from '../store/prepared.ts'
import type { Schema } from '../store/schema.ts'
import type { EventTable } from '../store/tables/events.ts'
import { newTimeOrderedId, nowIso } from './time.ts'

/**
 * The event history: the one place events are written and read. Each event is written in the
 * transaction of the change it records, so it exists exactly when the change committed — except
 * a refused placement, whose request rolls back: it is recorded afterwards, in a transaction of
 * its own (`recordRefusal`). Events are pruned by age and by count (`pruneEvents`).
 */

/** What an event records. */
export const EVENT_KINDS = [
  /** A new server got its host (a create). */
  'placed',
  /** A move began: placement chose its target (or it changes in place). */
  'move_started',
  /** A move finished: the server is on its target. */
  'moved',
  /** A move failed: the server is back on its source, or in ERROR. */
  'move_failed',
  /** Placement found no host for a request; `diagnosis` says which filter emptied the list. */
  'placement_refused',
  /** A server's status changed (entering and leaving the recycle bin included). */
  'state_changed',
  'member_added',
  'member_removed',
  /** A host was added or removed, went down or came back, or was disabled, enabled, drained or put in maintenance. */
  'host_state_changed',
  'group_created',
  'group_deleted',
] as const

/** One of `EVENT_KINDS`. */
export type EventKind = (typeof EVENT_KINDS)[number]

/** An event as readers see it; hosts by name. */
export interface EventView {
  id: string
  /** ISO 8601 UTC. */
  at: string
  kind: EventKind
  projectId: string | null
  serverId: string | null
  groupId: string | null
  host: string | null
  fromHost: string | null
  toHost: string | null
  reason: string | null
  statusFrom: string | null
  statusTo: string | null
  jobId: string | null
  /** One human sentence, e.g. "moved from host-a to host-b (add_member)". */
  message: string
  /** A refused placement's per-filter funnel; null otherwise. */
  diagnosis: string | null
}

/** Which events to read; every given field must match. */
export interface EventFilter {
  serverId?: string | undefined
  groupId?: string | undefined
  /** A host name: matches the event's host, a move's source or its target. */
  host?: string | undefined
  kind?: EventKind | undefined
  /** ISO 8601 with a zone: events at or after this time. */
  since?: string | undefined
  /** ISO 8601 with a zone: events before this time. */
  until?: string | undefined
  projectId?: string | undefined
}

/** Which page: `marker` pages back in time, `after` polls forward; not both. */
export interface EventPage {
  /** Default `DEFAULT_EVENT_LIMIT`, at most `MAX_EVENT_LIMIT`. */
  limit?: number | undefined
  /** The id of the last event of the previous page: the next page holds older events. */
  marker?: string | undefined
  /** An event id: the events recorded after it, oldest first (live updates). */
  after?: string | undefined
}

/**
 * A page of events. Newest first, with `nextMarker` the marker of the next (older) page, or null
 * when there is none. With `after`: oldest first, and `nextMarker` the `after` to poll with next
 * (the newest event returned, or the given `after` when nothing newer was recorded).
 */
export interface EventList {
  events: EventView[]
  nextMarker: string | null
}

/** Events a page holds unless asked otherwise, and at most. */
export const DEFAULT_EVENT_LIMIT = 100
export const MAX_EVENT_LIMIT = 1000

/** Event ids: lower-case UUIDs (time-ordered, version 7). */
export const EVENT_ID_PATTERN = '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'
const EVENT_ID = new RegExp(EVENT_ID_PATTERN)

/**
 * Reads a page of events. Throws `Ecs.0005` for a limit out of range, a marker that is not an
 * event id, both `marker` and `after`, or a time that is not ISO 8601 with a zone.
 */
export async function listEvents(database: Pick<Database, 'db' | 'dialect'>, filter: EventFilter, page: EventPage): Promise<EventList> {
  const { db } = database
  const limit = page.limit ?? DEFAULT_EVENT_LIMIT
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_EVENT_LIMIT) throw invalidParameter(`limit must be an integer from 1 to ${MAX_EVENT_LIMIT}, got ${limit}`)
  if (page.marker !== undefined && page.after !== undefined) throw invalidParameter('give marker (to page back to older events) or after (to poll for newer ones), not both')
  for (const [name, id] of [['marker', page.marker], ['after', page.after]] as const) {
    if (id !== undefined && !EVENT_ID.test(id)) throw invalidParameter(`${name} "${id}" is not an event id`)
  }
  let q = db.selectFrom('events').selectAll()
  if (filter.serverId !== undefined) q = q.where('server_id', '=', filter.serverId)
  if (filter.groupId !== undefined) q = q.where('group_id', '=', filter.groupId)
  if (filter.projectId !== undefined) q = q.where('project_id', '=', filter.projectId)
  if (filter.kind !== undefined) q = q.where('kind', '=', filter.kind)
  const host = filter.host
  if (host !== undefined) q = q.where((eb) => eb.or([eb('host', '=', host), eb('from_host', '=', host), eb('to_host', '=', host)]))
  if (filter.since !== undefined) {
    const since = isoTime('since', filter.since)
    // Also as ids, which the newest-first walk reads in order: it stops at the first id too old.
    q = q.where('at', '>=', since).where('id', '>=', firstIdAt(since))
  }
  if (filter.until !== undefined) q = q.where('at', '<', isoTime('until', filter.until))
  if (page.after !== undefined) {
    const after = page.after
    if (database.dialect === 'postgres') {
      // In the order transactions took their ids, and only those below the oldest one still
      // running: an event read here can no longer be preceded by one that commits late.
      const anchor = await db.selectFrom('events').select('tx').where('id', '=', after).executeTakeFirst()
      q = anchor === undefined
        ? q.where('id', '>', after)
        : q.where((eb) => eb.or([eb('tx', '>', anchor.tx), eb.and([eb('tx', '=', anchor.tx), eb('id', '>', after)])]))
      q = q.where('tx', '<', sql<string>`pg_snapshot_xmin(pg_current_snapshot())::text::bigint`).orderBy('tx', 'asc')
    } else {
      q = q.where('id', '>', after)
    }
    const rows = await q.orderBy('id', 'asc').limit(limit).execute()
    return { events: rows.map(toView), nextMarker: rows.at(-1)?.id ?? after }
  }
  if (page.marker !== undefined) q = q.where('id', '<', page.marker)
  const rows = await q.orderBy('id', 'desc').limit(limit + 1).execute()
  const events = rows.slice(0, limit).map(toView)
  return { events, nextMarker: rows.length > limit ? events.at(-1)!.id : null }
}

/** A filter's time as stored (ISO 8601 UTC, milliseconds), or `Ecs.0005`. */
function isoTime(name: string, text: string): string {
  if (parseApiTime(text) === undefined) throw invalidParameter(`${name} "${text}" is not a time; send ISO 8601 with a zone, e.g. 2025-06-01T02:00:00Z`)
  return new Date(text).toISOString()
}

/**
 * The smallest id of an event recorded at or after `iso`: an id is made after its event's time
 * was taken (`recordEvent`), and its first 48 bits are the milliseconds it was made at.
 */
function firstIdAt(iso: string): string {
  const hex = Math.max(0, Date.parse(iso)).toString(16).padStart(12, '0')
  return `${hex.slice(0, 8)}-${hex.slice(8)}-0000-0000-000000000000`
}

function toView(r: Selectable<EventTable>): EventView {
  return {
    id: r.id, at: r.at, kind: r.kind as EventKind, projectId: r.project_id, serverId: r.server_id, groupId: r.group_id, host: r.host,
    fromHost: r.from_host, toHost: r.to_host, reason: r.reason, statusFrom: r.status_from, statusTo: r.status_to, jobId: r.job_id,
    message: messageOf(r), diagnosis: r.diagnosis,
  }
}

/**
 * The event's sentence, composed when it is read from what was recorded, so that every event of
 * a kind reads alike.
 */
function messageOf(r: Selectable<EventTable>): string {
  const why = r.reason === null ? '' : ` (${r.reason})`
  const detail = r.detail === null ? '' : `: ${r.detail}`
  const inGroup = r.group_id === null ? '' : ` in group ${r.group_id}`
  switch (r.kind as EventKind) {
    case 'placed':
      return `placed on ${r.host}${inGroup}${why}`
    case 'move_started':
      return r.from_host === r.to_host ? `changing in place on ${r.to_host}${why}` : `moving from ${r.from_host} to ${r.to_host}${why}`
    case 'moved':
      return r.from_host === r.to_host ? `changed in place on ${r.to_host}${why}` : `moved from ${r.from_host} to ${r.to_host}${why}`
    case 'move_failed':
      return `move from ${r.from_host} to ${r.to_host} failed${why}${detail}; left on ${r.host} in ${r.status_to}`
    case 'placement_refused':
      return `placement refused${why}${detail}`
    case 'state_changed':
      return `status ${r.status_from ?? 'none'} → ${r.status_to}${why}${detail}`
    case 'member_added':
      return `joined group ${r.group_id} on ${r.host}${why}`
    case 'member_removed':
      return `left group ${r.group_id}${why}`
    case 'host_state_changed':
      if (r.status_from === null) return `host ${r.host} added${detail}`
      if (r.status_to === null) return `host ${r.host} removed`
      return `host ${r.host} ${r.status_from} → ${r.status_to}${why}${detail}`
    case 'group_created':
      return `group ${r.group_id} created${why}`
    case 'group_deleted':
      return `group ${r.group_id} deleted${detail}`
    default:
      return `${r.kind}${why}${detail}`
  }
}

/** An event to record. Hosts by id: the insert stores their names. */
export interface NewEvent {
  kind: EventKind
  /** The recording transaction's time (`nowIso()` as its change computed it); never later than now. */
  at: string
  projectId?: string | null | undefined
  serverId?: string | null | undefined
  groupId?: string | null | undefined
  hostId?: string | null | undefined
  fromHostId?: string | null | undefined
  toHostId?: string | null | undefined
  reason?: string | null | undefined
  statusFrom?: string | null | undefined
  statusTo?: string | null | undefined
  jobId?: string | null | undefined
  /** What the message ends with: a failure's reason, what a refused placement asked for. */
  detail?: string | null | undefined
  diagnosis?: string | null | undefined
}

/** Records an event in the caller's transaction: one insert, whatever the kind. */
export async function recordEvent(db: Kysely<Schema>, e: NewEvent): Promise<void> {
  await INSERT_EVENT.run(db, {
    id: newTimeOrderedId(), at: e.at, kind: e.kind, projectId: e.projectId ?? null, serverId: e.serverId ?? null, groupId: e.groupId ?? null,
    hostId: e.hostId ?? null, fromHostId: e.fromHostId ?? null, toHostId: e.toHostId ?? null, reason: e.reason ?? null,
    statusFrom: e.statusFrom ?? null, statusTo: e.statusTo ?? null, jobId: e.jobId ?? null, detail: e.detail ?? null, diagnosis: e.diagnosis ?? null,
  })
}

/**
 * Records a status change of a server, unless it is none (`from` equals `to`); `force` records
 * one whose status stays but whose state does not (into or out of the recycle bin).
 */
export async function recordStateChange(
  db: Kysely<Schema>,
  e: Omit<NewEvent, 'kind' | 'statusFrom' | 'statusTo'> & { from: string | null; to: string; force?: boolean },
): Promise<void> {
  if (e.from === e.to && e.force !== true) return
  const { from, to, force: _force, ...rest } = e
  await recordEvent(db, { ...rest, kind: 'state_changed', statusFrom: from, statusTo: to })
}

/**
 * A host's admin state as its events name it: `enabled`, `disabled`, `maintenance`, or — for a
 * host being drained, and one whose drain is done — `draining` and `drained`.
 */
export function hostAdminLabel(state: string, reason: string | null): string {
  if (state === 'maintenance' && reason === DRAIN_REASON) return 'draining'
  if (state === 'maintenance' && reason === DRAINED_REASON) return 'drained'
  return state
}

/**
 * Records a change of a host's power state (`up`, `down`, `fencing`) or admin state
 * (`hostAdminLabel`), unless it is none. `from` null: the host was added; `to` null: removed.
 */
export async function recordHostChange(
  db: Kysely<Schema>, e: { at: string; hostId: string; from: string | null; to: string | null; reason: string; detail?: string | null | undefined },
): Promise<void> {
  if (e.from === e.to) return
  await recordEvent(db, { kind: 'host_state_changed', at: e.at, hostId: e.hostId, statusFrom: e.from, statusTo: e.to, reason: e.reason, detail: e.detail })
}

/** The parameters of the insert: every field of `NewEvent`, absent ones null. */
type EventRow = { [K in keyof NewEvent]-?: Exclude<NewEvent[K], undefined> } & { id: string }

const INSERT_EVENT = prepared((db, p: EventRow) => {
  // A host's name as of now, so the event still names it after the host is gone. No host (null)
  // matches no row: the name is null.
  const nameOf = (hostId: string | null) => db.selectFrom('hosts').select('name').where('id', '=', hostId as string)
  return db.insertInto('events').values({
    id: p.id, at: p.at, kind: p.kind, project_id: p.projectId, server_id: p.serverId, group_id: p.groupId,
    host: nameOf(p.hostId), from_host: nameOf(p.fromHostId), to_host: nameOf(p.toHostId),
    reason: p.reason, status_from: p.statusFrom, status_to: p.statusTo, job_id: p.jobId, detail: p.detail, diagnosis: p.diagnosis,
  })
})

/** Where a refused placement was asked for. */
export interface RefusalContext {
  /** What asked: `create`, or the move's `MoveReason`. */
  reason: string
  projectId?: string | undefined
  /** The server that was to move; its host and group are recorded with the refusal. */
  serverId?: string | undefined
  /** The group a create placed into. */
  groupId?: string | undefined
  jobId?: string | undefined
  /**
   * A retry in the background (evacuation, drain) that may be refused again and again: recorded
   * only when it differs from the server's last event, so a stuck server leaves one entry, not
   * one per look.
   */
  repeated?: boolean | undefined
}

/**
 * Records `placement_refused` with placement's diagnosis when `err` is a refused placement
 * (`Ecs.0319`); anything else is not recorded. Its own transaction: the refused request's rolled
 * back. Never throws: the caller answers with the refusal itself, which a history that could
 * not be written must not replace.
 */
export async function recordRefusal(database: Database, err: unknown, ctx: RefusalContext): Promise<void> {
  if (!(err instanceof EcsError) || err.code !== 'Ecs.0319') return
  const { detail, diagnosis } = refusalOf(err)
  const { serverId } = ctx
  try {
    await database.transaction(async ({ db }) => {
      const server = serverId === undefined ? undefined : await REFUSED_SERVER.first(db, { serverId })
      if (ctx.repeated === true && serverId !== undefined) {
        const last = await LAST_EVENT_OF_SERVER.first(db, { serverId })
        if (last?.kind === 'placement_refused' && last.reason === ctx.reason && last.detail === detail && last.diagnosis === diagnosis) return
      }
      await recordEvent(db, {
        kind: 'placement_refused', at: nowIso(), projectId: ctx.projectId ?? server?.project_id, serverId, groupId: ctx.groupId ?? server?.group_id,
        hostId: server?.host_id, reason: ctx.reason, jobId: ctx.jobId, detail, diagnosis,
      })
    })
  } catch {
    // Deliberately empty: see the doc comment.
  }
}

/**
 * What a `placement_refused` event says of a refusal: what could not be placed, and placement's
 * diagnosis (null when the refusal was capacity lost to concurrent requests on every retry).
 */
export function refusalOf(err: EcsError): { detail: string; diagnosis: string | null } {
  if (err instanceof NoValidHostError) return { detail: `no host can take ${err.subject}`, diagnosis: err.diagnosis }
  return { detail: err.message, diagnosis: null }
}

const REFUSED_SERVER = prepared((db, p: { serverId: string }) =>
  db
    .selectFrom('servers')
    .leftJoin('server_group_members', 'server_group_members.server_id', 'servers.id')
    .select(['servers.project_id', 'servers.host_id', 'server_group_members.group_id'])
    .where('servers.id', '=', p.serverId),
)

const LAST_EVENT_OF_SERVER = prepared((db, p: { serverId: string }) =>
  db.selectFrom('events').select(['kind', 'reason', 'detail', 'diagnosis']).where('server_id', '=', p.serverId).orderBy('id', 'desc').limit(1),
)

/** How long events are kept: at most `days` old and at most `maxRows` of them. */
export interface EventRetention {
  days: number
  maxRows: number
}

/** Events deleted per transaction, and transactions per pruning round. */
export const PRUNE_BATCH = 1000
const PRUNE_BATCHES_PER_ROUND = 50

/** How often a process prunes when it has no backlog. */
export const EVENT_PRUNE_INTERVAL_MS = 5 * 60_000

/**
 * Deletes events older than the retention's days, then the oldest beyond its row count, in
 * transactions of `batch` rows — a large backlog never makes one large transaction — and at
 * most `batches` of them. Any number of processes may prune at once. Returns how many it
 * deleted and whether it stopped with more to delete.
 */
export async function pruneEvents(
  database: Database, retention: EventRetention, now: Date = new Date(), options: { batch?: number; batches?: number } = {},
): Promise<{ deleted: number; more: boolean }> {
  const batch = options.batch ?? PRUNE_BATCH
  let budget = options.batches ?? PRUNE_BATCHES_PER_ROUND
  let deleted = 0
  const oldest = (db: Kysely<Schema>) => db.selectFrom('events').select('id').limit(batch)
  /** Deletes one batch; true when it was full (more may be left). */
  const deleteBatch = async (ids: (db: Kysely<Schema>) => ReturnType<typeof oldest>): Promise<boolean> => {
    budget--
    const result = await database.transaction(({ db }) => db.deleteFrom('events').where('id', 'in', ids(db)).executeTakeFirst())
    const n = Number(result.numDeletedRows)
    deleted += n
    return n === batch
  }
  const cutoff = new Date(now.getTime() - retention.days * 86_400_000).toISOString()
  let full = true
  // By id, which is time-ordered and the primary key: an event older than the cutoff by its id
  // is older by its time too; one made within a millisecond of the cutoff goes next round.
  const beforeCutoff = firstIdAt(cutoff)
  while (full && budget > 0) full = await deleteBatch((db) => oldest(db).where('id', '<', beforeCutoff).where('at', '<', cutoff).orderBy('id'))
  if (full) return { deleted, more: true }
  // The newest event past the count: it and every older one go. Reading it walks `maxRows`
  // index entries, which is why rounds are minutes apart.
  const boundary = await database.db.selectFrom('events').select('id').orderBy('id', 'desc').limit(1).offset(retention.maxRows).executeTakeFirst()
  if (boundary === undefined) return { deleted, more: false }
  full = true
  while (full && budget > 0) full = await deleteBatch((db) => oldest(db).where('id', '<=', boundary.id).orderBy('id'))
  return { deleted, more: full }
}

/**
 * Prunes the event history now and then: on the first call, then every `intervalMs`, and at
 * once again while a backlog remains. The job runner's sweep calls it on every replica.
 */
export class EventPruner {
  private dueAt = 0

  constructor(
    private readonly database: Database,
    readonly retention: EventRetention,
    private readonly intervalMs: number = EVENT_PRUNE_INTERVAL_MS,
  ) {}

  /** Prunes if it is time to; returns how many events it deleted. */
  async pruneIfDue(): Promise<number> {
    if (Date.now() < this.dueAt) return 0
    // Set before the round: a round that fails is not retried on every sweep.
    this.dueAt = Date.now() + this.intervalMs
    const { deleted, more } = await pruneEvents(this.database, this.retention)
    if (more) this.dueAt = 0
    return deleted
  }
}

import { randomUUID } from 'node:crypto'
import type { Kysely } from 'kysely'
import type { Logger } from 'pino'
import {
  EcsError, hostNotFound, invalidParameter, maintenanceWindowOpen, notBeforeOutsideWindow, scheduledEventNotFound, scheduledEventWrongState,
} from '../domain/errors.ts'
import {
  apiTime, CLOCK_SKEW_MS, DEFAULT_MAINTENANCE_WINDOW_MS, eventDescription, maintenanceReason, OPEN_EVENT_STATES, parseMaintenanceReason,
  TERMINAL_EVENT_LISTED_MS, TERMINAL_EVENT_STATES, type EventState, type MaintenanceWindow, type WindowOutcome,
} from '../domain/scheduled-event.ts'
import { lockForUpdate, type Database } from '../store/database.ts'
import type { Schema } from '../store/schema.ts'
import type { ScheduledEventTable } from '../store/tables/host-lifecycle.ts'
import { hostAdminLabel, recordHostChange } from './events.ts'
import type { ServerMoveService } from './server-moves.ts'

/** A scheduled event as stored; the HTTP edge shapes it into Huawei's `EventResponse`. */
export type ScheduledEvent = ScheduledEventTable

/** Filters of `listScheduledEvents`; arrays match any of their values. */
export interface EventFilters {
  /** Id of the last event of the previous page. */
  marker?: string | undefined
  id?: string | undefined
  instanceIds?: readonly string[] | undefined
  types?: readonly string[] | undefined
  states?: readonly string[] | undefined
  publishSince?: Date | undefined
  publishUntil?: Date | undefined
  /** 1–100. */
  limit: number
}

/** One page of events, newest first; `nextMarker` is set when another page follows. */
export interface EventPage {
  events: ScheduledEvent[]
  nextMarker: string | undefined
}

/** What planning a host's maintenance did. */
export interface MaintenancePlan {
  window: MaintenanceWindow
  /** Instance events of the window, those created before included. */
  events: number
  /** Instance events this call created (0 when it repeated an earlier plan of the window). */
  created: number
}

/** Events started per tick, so that one tick stays short whatever falls due at once. */
const EVENTS_PER_TICK = 50

/**
 * An event claimed for execution that still has no job after this long lost its claimant (a
 * replica that died between claiming it and starting the move): it is due again. Far above the
 * few milliseconds between the claim and the move's transaction.
 */
const CLAIM_STALE_MS = 60_000

/** How an event ends, and why (null for a completed one). */
type EventEnding = { state: 'completed' | 'failed' | 'canceled'; reason: string | null }

/** The server left the event's host by other means (a redeploy, an evacuation): nothing left to do. */
const LEFT_THE_HOST: EventEnding = { state: 'completed', reason: null }

/** What trying to move a claimed event's server off its host did. */
type MoveStep = { kind: 'started'; jobId: string; live: boolean } | { kind: 'busy' } | { kind: 'ended'; ending: EventEnding }

/** A window a host under maintenance still names in its admin reason. */
interface WantedWindow {
  hostId: string
  reason: string
  window: MaintenanceWindow
}

/**
 * Huawei scheduled events: how tenants learn that the host under their servers is due for
 * maintenance, and choose when their servers move. An operator plans a host's maintenance
 * window; the host leaves placement and each server on it gets an event (`instance-migrate` for
 * running servers, moved live; `instance-redeploy` for the others, moved cold). Tenants list
 * them, reschedule them within the window, or accept them (move now or at a time); at the
 * window's deadline ecsd moves the servers nobody answered for. Every move goes through the
 * move primitive (`ServerMoveService.operatorMigrate`), so the group and capacity filters hold
 * as for any other move.
 *
 * All state is in the database: the events, and the window itself as the host's admin reason.
 * Any replica's host monitor carries the events forward (`executeDue`), every transition a
 * conditional update, so replicas never start one event twice.
 */
export class ScheduledEventService {
  constructor(
    private readonly database: Database,
    private readonly moves: ServerMoveService,
    private readonly logger: Logger,
  ) {}

  /**
   * Plans maintenance of a host (operators): it leaves placement (admin state `maintenance`, the
   * reason naming the window) and every server on it gets an `inquiring` event that tenants may
   * answer until `deadline` (default `notBefore` + 24 h). `notBefore` may not lie in the past
   * (beyond the clock skew a signed request may have); a deadline already passed means "move
   * them now". Repeating the request for the same window changes nothing (it only adds events
   * for servers that came onto the host since); another window is refused while the earlier
   * one still has events to carry out.
   */
  async planHostMaintenance(hostName: string, notBefore: Date, deadline?: Date): Promise<MaintenancePlan> {
    const now = Date.now()
    const start = wholeSeconds(notBefore)
    const end = wholeSeconds(deadline ?? new Date(start.getTime() + DEFAULT_MAINTENANCE_WINDOW_MS))
    return this.database.transaction(async ({ db, dialect }) => {
      const host = await lockForUpdate(db.selectFrom('hosts').select(['id', 'admin_state', 'admin_reason']).where('name', '=', hostName), dialect).executeTakeFirst()
      if (!host) throw hostNotFound(hostName)
      const current = host.admin_state === 'maintenance' ? parseMaintenanceReason(host.admin_reason) : undefined
      if (current && current.notBefore.getTime() === start.getTime() && current.deadline.getTime() === end.getTime()) {
        const created = await fillWindow(db, host.id, current)
        return { window: current, events: await countEvents(db, current.hostEventId), created }
      }
      if (start.getTime() < now - CLOCK_SKEW_MS) {
        throw invalidParameter(`not_before ${apiTime(start)} is in the past; a maintenance window starts now (${apiTime(new Date(now))}) or later`)
      }
      if (end < start) throw invalidParameter(`deadline ${apiTime(end)} is before not_before ${apiTime(start)}`)
      if (current) {
        const unfinished = await db.selectFrom('scheduled_events').select('id')
          .where('host_event_id', '=', current.hostEventId).where('state', 'in', [...OPEN_EVENT_STATES, 'executing']).limit(1).executeTakeFirst()
        if (unfinished) throw maintenanceWindowOpen(hostName, host.admin_reason!)
      }
      const window: MaintenanceWindow = { hostEventId: randomUUID(), notBefore: start, deadline: end }
      const at = new Date(now).toISOString()
      await db
        .updateTable('hosts')
        .set({ admin_state: 'maintenance', enabled: 0, admin_reason: maintenanceReason(window), admin_changed_at: at })
        .where('id', '=', host.id)
        .execute()
      await recordHostChange(db, {
        at, hostId: host.id, from: hostAdminLabel(host.admin_state, host.admin_reason), to: 'maintenance', reason: 'maintenance',
        detail: `window ${apiTime(start)} to ${apiTime(end)}`,
      })
      const created = await fillWindow(db, host.id, window)
      return { window, events: created, created }
    })
  }

  /**
   * `listScheduledEvents`: the project's events, newest first, without terminal events that
   * ended more than 7 days ago. `marker` must be an event of the project.
   */
  async list(projectId: string, f: EventFilters, now: Date = new Date()): Promise<EventPage> {
    const db = this.database.db
    const listedSince = new Date(now.getTime() - TERMINAL_EVENT_LISTED_MS).toISOString()
    let q = db
      .selectFrom('scheduled_events')
      .selectAll()
      .where('project_id', '=', projectId)
      .where((eb) => eb.or([eb('state', 'not in', [...TERMINAL_EVENT_STATES]), eb('finish_time', '>=', listedSince)]))
    if (f.marker !== undefined) {
      const marker = await db.selectFrom('scheduled_events').select(['id', 'publish_time']).where('project_id', '=', projectId).where('id', '=', f.marker).executeTakeFirst()
      if (!marker) throw invalidParameter(`marker ${f.marker} is not a scheduled event of this project`)
      q = q.where((eb) => eb.or([eb('publish_time', '<', marker.publish_time), eb.and([eb('publish_time', '=', marker.publish_time), eb('id', '<', marker.id)])]))
    }
    if (f.id !== undefined) q = q.where('id', '=', f.id)
    if (f.instanceIds !== undefined && f.instanceIds.length > 0) q = q.where('server_id', 'in', [...f.instanceIds])
    if (f.types !== undefined && f.types.length > 0) q = q.where('type', 'in', [...f.types])
    if (f.states !== undefined && f.states.length > 0) q = q.where('state', 'in', [...f.states])
    if (f.publishSince !== undefined) q = q.where('publish_time', '>=', wholeSeconds(f.publishSince).toISOString())
    // Times are whole seconds on the wire: an event shown as published at 10:00:05Z is published "until 10:00:05Z".
    if (f.publishUntil !== undefined) q = q.where('publish_time', '<', new Date(wholeSeconds(f.publishUntil).getTime() + 1000).toISOString())
    const rows = await q.orderBy('publish_time', 'desc').orderBy('id', 'desc').limit(f.limit + 1).execute()
    const events = rows.slice(0, f.limit)
    return { events, nextMarker: rows.length > f.limit ? events[events.length - 1]!.id : undefined }
  }

  /**
   * `updateScheduledEvent`: a new start for an `inquiring` or `scheduled` event, from now until
   * its deadline. The state stays: a scheduled event starts at the new time; an inquiring one
   * still waits for `accept` (or its deadline).
   */
  async update(projectId: string, eventId: string, notBefore: Date, now: Date = new Date()): Promise<void> {
    await this.database.transaction(async ({ db, dialect }) => {
      const event = await lockEvent(db, dialect, projectId, eventId)
      if (!isOpen(event.state)) throw scheduledEventWrongState(eventId, event.state, 'updateScheduledEvent', 'inquiring or scheduled')
      await db.updateTable('scheduled_events').set({ not_before: chosenStart(event, notBefore, now) }).where('id', '=', event.id).execute()
    })
  }

  /**
   * `acceptScheduledEvent`: an `inquiring` event is authorized and becomes `scheduled`, to start
   * at `notBefore` (within its window) or, without one, now.
   */
  async accept(projectId: string, eventId: string, notBefore: Date | undefined, now: Date = new Date()): Promise<void> {
    await this.database.transaction(async ({ db, dialect }) => {
      const event = await lockEvent(db, dialect, projectId, eventId)
      if (event.state !== 'inquiring') {
        throw scheduledEventWrongState(eventId, event.state, 'acceptScheduledEvent', 'inquiring (reschedule a scheduled event with updateScheduledEvent)')
      }
      // "Now" never lies beyond the deadline: an event accepted after its window closed is due at once either way.
      const start = notBefore === undefined ? new Date(Math.min(now.getTime(), Date.parse(event.not_before_deadline))).toISOString() : chosenStart(event, notBefore, now)
      await db.updateTable('scheduled_events').set({ state: 'scheduled', not_before: start }).where('id', '=', event.id).where('state', '=', 'inquiring').execute()
    })
  }

  /**
   * Carries the events forward; the host monitor of every replica calls it on each look, and
   * any number may run at once. In order: open events of windows called off (the host was
   * enabled, disabled, drained or removed) are `canceled`; servers that came onto a host under
   * maintenance get events; open events whose server was deleted are `canceled`, those whose
   * server already left the host `completed`; claims of replicas that died lapse; events whose
   * time has come — scheduled ones at `not_before`, inquiring ones at their deadline — start
   * their move (`executing`); events whose move ended become `completed` or `failed`; and hosts
   * whose window has no event left to carry out say so in their admin reason (they stay in
   * maintenance until an operator enables them). `now` is for tests that need time to pass.
   */
  async executeDue(now: Date = new Date()): Promise<void> {
    const { wanted, calledOff } = await this.readWindows()
    for (const id of calledOff) await this.guard(() => this.callOff(id, now), { hostEventId: id }, 'could not cancel the events of a called-off maintenance window')
    for (const w of wanted.values()) await this.guard(() => this.fillGaps(w.hostId, w.window), { hostEventId: w.window.hostEventId }, 'could not add events for servers new on a host under maintenance')
    await this.endOrphans(now)
    await this.recoverStaleClaims(now)
    await this.startDue(now)
    await this.followMoves(now)
    for (const w of wanted.values()) await this.guard(() => this.recordWindowProgress(w), { hostEventId: w.window.hostEventId }, 'could not record the progress of a maintenance window')
  }

  /**
   * The windows hosts still want (by host event id), and those that have open events but no
   * host that wants them. Events are read before hosts: a window whose events this look saw was
   * committed, with its host's reason, before the hosts are read, so a window just planned is
   * never taken for one called off.
   */
  private async readWindows(): Promise<{ wanted: Map<string, WantedWindow>; calledOff: string[] }> {
    const db = this.database.db
    const open = await db.selectFrom('scheduled_events').select('host_event_id').distinct().where('state', 'in', [...OPEN_EVENT_STATES]).execute()
    const hosts = await db
      .selectFrom('hosts')
      .select(['id', 'admin_reason'])
      .where('admin_state', '=', 'maintenance')
      .where('admin_reason', 'like', 'maintenance window %')
      .execute()
    const wanted = new Map<string, WantedWindow>()
    for (const h of hosts) {
      const window = parseMaintenanceReason(h.admin_reason)
      if (window) wanted.set(window.hostEventId, { hostId: h.id, reason: h.admin_reason!, window })
    }
    return { wanted, calledOff: open.map((o) => o.host_event_id).filter((id) => !wanted.has(id)) }
  }

  /** Cancels the open events of a window whose host no longer names it. */
  private async callOff(hostEventId: string, now: Date): Promise<void> {
    const open = await this.database.db.selectFrom('scheduled_events').selectAll().where('host_event_id', '=', hostEventId).where('state', 'in', [...OPEN_EVENT_STATES]).execute()
    for (const e of open) await this.end(e, [e.state], { state: 'canceled', reason: 'the maintenance of the host was called off' }, now)
    if (open.length > 0) this.logger.info({ hostEventId, canceled: open.length }, 'maintenance window called off: its open events are canceled')
  }

  /** Adds events for servers on a host under maintenance that its window has none for. */
  private async fillGaps(hostId: string, window: MaintenanceWindow): Promise<void> {
    const gap = await withoutEvent(this.database.db, hostId, window.hostEventId).select('servers.id').limit(1).executeTakeFirst()
    if (!gap) return
    const created = await this.database.transaction(async ({ db, dialect }) => {
      const host = await lockForUpdate(db.selectFrom('hosts').select(['admin_state', 'admin_reason']).where('id', '=', hostId), dialect).executeTakeFirst()
      if (host?.admin_state !== 'maintenance' || parseMaintenanceReason(host.admin_reason)?.hostEventId !== window.hostEventId) return 0
      return fillWindow(db, hostId, window)
    })
    if (created > 0) this.logger.info({ hostEventId: window.hostEventId, created }, 'servers came onto a host under maintenance: events added')
  }

  /**
   * Ends open events that no longer have anything to do: those of servers that were deleted
   * (`canceled`), and of servers that left the host by other means and are idle elsewhere
   * (`completed`).
   */
  private async endOrphans(now: Date): Promise<void> {
    const rows = await this.database.db
      .selectFrom('scheduled_events as e')
      .leftJoin('servers as s', 's.id', 'e.server_id')
      .selectAll('e')
      .select(['s.id as live_server', 's.in_recycle_bin', 's.host_id as server_host', 's.task_state'])
      .where('e.state', 'in', [...OPEN_EVENT_STATES])
      .where((eb) => eb.or([
        eb('s.id', 'is', null),
        eb('s.in_recycle_bin', '=', 1),
        eb.and([eb('s.host_id', '!=', eb.ref('e.host_id')), eb('s.task_state', 'is', null)]),
      ]))
      .orderBy('e.id')
      .execute()
    for (const r of rows) {
      const ending: EventEnding = r.live_server === null || r.in_recycle_bin === 1 ? deleted(r) : LEFT_THE_HOST
      await this.guard(async () => {
        await this.end(r, [r.state], ending, now)
      }, { eventId: r.id }, 'could not end an event')
    }
  }

  /** Events claimed by a replica that died before it started their move are due again. */
  private async recoverStaleClaims(now: Date): Promise<void> {
    const stale = new Date(now.getTime() - CLAIM_STALE_MS).toISOString()
    // A read first, so that a look with nothing to recover costs no write transaction.
    const any = await this.database.db.selectFrom('scheduled_events').select('id').where('state', '=', 'executing').where('job_id', 'is', null).where('start_time', '<', stale).limit(1).executeTakeFirst()
    if (!any) return
    const recovered = await this.database.transaction(({ db }) =>
      db.updateTable('scheduled_events')
        .set({ state: 'scheduled', start_time: null })
        .where('state', '=', 'executing')
        .where('job_id', 'is', null)
        .where('start_time', '<', stale)
        .executeTakeFirst(),
    )
    const n = Number(recovered.numUpdatedRows)
    if (n > 0) this.logger.warn({ count: n }, 'events whose claimant stopped before starting their move are due again')
  }

  /** Starts the moves of the events whose time has come. */
  private async startDue(now: Date): Promise<void> {
    const at = now.toISOString()
    const due = await this.database.db
      .selectFrom('scheduled_events')
      .selectAll()
      .where((eb) => eb.or([
        eb.and([eb('state', '=', 'scheduled'), eb('not_before', '<=', at)]),
        eb.and([eb('state', '=', 'inquiring'), eb('not_before_deadline', '<=', at)]),
      ]))
      .orderBy('not_before')
      .orderBy('id')
      .limit(EVENTS_PER_TICK)
      .execute()
    for (const e of due) await this.guard(() => this.startOne(e, now), { eventId: e.id, serverId: e.server_id }, 'could not start the move of an event; retried on the next look')
  }

  /**
   * Claims one due event (a conditional update: of the replicas looking at once, one wins) and
   * starts its server's move. A server busy with another job is left for a later look; one no
   * host can take ends the event `failed` with placement's diagnosis.
   */
  private async startOne(e: ScheduledEvent, now: Date): Promise<void> {
    const idle = await this.database.db.selectFrom('servers').select('task_state').where('id', '=', e.server_id).executeTakeFirst()
    if (idle && idle.task_state !== null) return
    const claimedAt = now.toISOString()
    const claim = await this.database.transaction(({ db }) =>
      db.updateTable('scheduled_events')
        .set({ state: 'executing', start_time: claimedAt })
        .where('id', '=', e.id)
        .where('state', '=', e.state)
        .where(e.state === 'scheduled' ? 'not_before' : 'not_before_deadline', '<=', claimedAt)
        .executeTakeFirst(),
    )
    if (Number(claim.numUpdatedRows) !== 1) return
    let step: MoveStep
    try {
      step = await this.moveOff(e)
    } catch (err) {
      await this.unclaim(e, claimedAt)
      throw err
    }
    if (step.kind === 'busy') return this.unclaim(e, claimedAt)
    if (step.kind === 'ended') {
      if (step.ending.state === 'failed') this.logger.warn({ eventId: e.id, serverId: e.server_id, reason: step.ending.reason }, 'the move of a scheduled event was refused: event failed')
      await this.end({ ...e, state: 'executing', start_time: claimedAt }, ['executing'], step.ending, now)
      return
    }
    const recorded = await this.database.transaction(({ db }) =>
      db.updateTable('scheduled_events')
        .set({ job_id: step.jobId })
        .where('id', '=', e.id)
        .where('state', '=', 'executing')
        .where('start_time', '=', claimedAt)
        .where('job_id', 'is', null)
        .executeTakeFirst(),
    )
    if (Number(recorded.numUpdatedRows) === 1) this.logger.info({ eventId: e.id, serverId: e.server_id, jobId: step.jobId, live: step.live }, 'scheduled event executing: server moving off the host')
  }

  /**
   * Starts the move of a claimed event's server off its host: live for an `instance-migrate`
   * event of a running server, cold otherwise (a stopped server cannot move live; a redeploy
   * restarts a running one on its new host).
   */
  private async moveOff(e: ScheduledEvent): Promise<MoveStep> {
    const db = this.database.db
    const server = await db.selectFrom('servers').select(['id', 'host_id', 'status', 'task_state', 'in_recycle_bin']).where('id', '=', e.server_id).executeTakeFirst()
    if (!server || server.in_recycle_bin === 1) return { kind: 'ended', ending: deleted(e) }
    if (server.task_state !== null) return { kind: 'busy' }
    if (server.host_id !== e.host_id) return { kind: 'ended', ending: LEFT_THE_HOST }
    const live = e.type === 'instance-migrate' && server.status === 'ACTIVE'
    try {
      return { kind: 'started', jobId: (await this.moves.operatorMigrate(server.id, { live, hostName: undefined })).jobId, live }
    } catch (err) {
      if (!(err instanceof EcsError)) throw err
      const after = await db.selectFrom('servers').select(['task_state', 'in_recycle_bin']).where('id', '=', e.server_id).executeTakeFirst()
      if (!after || after.in_recycle_bin === 1) return { kind: 'ended', ending: deleted(e) }
      // Another job took the server between the look and the move: its turn comes on a later look.
      if (after.task_state !== null && err.code !== 'Ecs.0319') return { kind: 'busy' }
      return { kind: 'ended', ending: { state: 'failed', reason: err.message } }
    }
  }

  /** Gives a claimed event back, as it was, when its server is busy. */
  private async unclaim(e: ScheduledEvent, claimedAt: string): Promise<void> {
    await this.database.transaction(({ db }) =>
      db.updateTable('scheduled_events')
        .set({ state: e.state, start_time: e.start_time })
        .where('id', '=', e.id)
        .where('state', '=', 'executing')
        .where('start_time', '=', claimedAt)
        .where('job_id', 'is', null)
        .execute(),
    )
  }

  /** Events whose move ended: `completed` when its job succeeded, `failed` with the job's reason otherwise. */
  private async followMoves(now: Date): Promise<void> {
    const ended = await this.database.db
      .selectFrom('scheduled_events as e')
      .innerJoin('jobs as j', 'j.id', 'e.job_id')
      .selectAll('e')
      .select(['j.status as job_status', 'j.fail_reason as job_reason', 'j.end_time as job_end'])
      .where('e.state', '=', 'executing')
      .where('j.status', 'in', ['SUCCESS', 'FAIL'])
      .execute()
    for (const r of ended) {
      await this.guard(async () => {
        let ending: EventEnding = { state: 'completed', reason: null }
        if (r.job_status === 'FAIL') {
          // The sub-job says what went wrong with this server; the parent only counts failures.
          const sub = await this.database.db.selectFrom('jobs').select('fail_reason').where('parent_id', '=', r.job_id).where('status', '=', 'FAIL').orderBy('end_time').limit(1).executeTakeFirst()
          ending = { state: 'failed', reason: sub?.fail_reason ?? r.job_reason ?? `the move (job ${r.job_id}) failed` }
        }
        const at = r.job_end === null ? now : new Date(r.job_end)
        if (await this.end(r, ['executing'], ending, at)) this.logger.info({ eventId: r.id, serverId: r.server_id, state: ending.state, reason: ending.reason }, 'scheduled event ended')
      }, { eventId: r.id }, 'could not record the end of an event')
    }
  }

  /**
   * A window with nothing left to carry out says so in its host's reason, with how its events
   * ended; one that has events to carry out again (servers came back) says it is planned.
   * Conditional on the reason read: an operator's change wins.
   */
  private async recordWindowProgress({ hostId, reason, window }: WantedWindow): Promise<void> {
    const counts = await this.database.db
      .selectFrom('scheduled_events')
      .select('state')
      .select((eb) => eb.fn.countAll<number | string>().as('n'))
      .where('host_event_id', '=', window.hostEventId)
      .groupBy('state')
      .execute()
    const count = (state: EventState) => Number(counts.find((c) => c.state === state)?.n ?? 0)
    const unfinished = count('inquiring') + count('scheduled') + count('executing')
    const outcome: WindowOutcome = { completed: count('completed'), failed: count('failed'), canceled: count('canceled') }
    const wanted = maintenanceReason(window, unfinished === 0 ? outcome : undefined)
    if (wanted === reason) return
    const changed = await this.database.transaction(({ db }) =>
      db.updateTable('hosts')
        .set({ admin_reason: wanted, admin_changed_at: new Date().toISOString() })
        .where('id', '=', hostId)
        .where('admin_state', '=', 'maintenance')
        .where('admin_reason', '=', reason)
        .executeTakeFirst(),
    )
    if (Number(changed.numUpdatedRows) === 1 && unfinished === 0) this.logger.info({ hostId, hostEventId: window.hostEventId, ...outcome }, 'maintenance window done: every event ended')
  }

  /**
   * Ends an event (conditional on it still being in one of `from`); a failed or canceled one
   * says why in its description too, the field tenants see. Answers whether it did.
   */
  private async end(e: ScheduledEvent, from: readonly string[], ending: EventEnding, at: Date = new Date()): Promise<boolean> {
    const description = ending.state === 'completed' || ending.reason === null
      ? e.description
      : eventDescription(e.type, e.not_before_deadline, { state: ending.state, reason: ending.reason })
    const result = await this.database.transaction(({ db }) =>
      db.updateTable('scheduled_events')
        .set({ state: ending.state, finish_time: at.toISOString(), fail_reason: ending.reason, description })
        .where('id', '=', e.id)
        .where('state', 'in', [...from])
        .where((eb) => (e.job_id === null ? eb('job_id', 'is', null) : eb('job_id', '=', e.job_id)))
        .executeTakeFirst(),
    )
    return Number(result.numUpdatedRows) === 1
  }

  /** Runs one step; a failure is logged and the step is tried again on the next look. */
  private async guard(step: () => Promise<void>, context: Record<string, string>, message: string): Promise<void> {
    try {
      await step()
    } catch (err) {
      this.logger.error({ err, ...context }, message)
    }
  }
}

function deleted(e: Pick<ScheduledEvent, 'server_id'>): EventEnding {
  return { state: 'canceled', reason: `ECS ${e.server_id} was deleted` }
}

function isOpen(state: string): boolean {
  return (OPEN_EVENT_STATES as readonly string[]).includes(state)
}

function wholeSeconds(date: Date): Date {
  return new Date(Math.floor(date.getTime() / 1000) * 1000)
}

async function lockEvent(db: Kysely<Schema>, dialect: Database['dialect'], projectId: string, eventId: string): Promise<ScheduledEvent> {
  const event = await lockForUpdate(db.selectFrom('scheduled_events').selectAll().where('id', '=', eventId).where('project_id', '=', projectId), dialect).executeTakeFirst()
  if (!event) throw scheduledEventNotFound(eventId)
  return event
}

/**
 * The start a tenant chose, checked against the event's window: from now (a time up to the
 * clock skew in the past counts as now) until its deadline. Stored as now when it has passed.
 */
function chosenStart(event: ScheduledEvent, notBefore: Date, now: Date): string {
  const start = Math.max(notBefore.getTime(), now.getTime())
  if (notBefore.getTime() < now.getTime() - CLOCK_SKEW_MS || start > Date.parse(event.not_before_deadline)) {
    throw notBeforeOutsideWindow(event.id, apiTime(notBefore), apiTime(now), apiTime(event.not_before_deadline))
  }
  return new Date(start).toISOString()
}

/** Servers on the host, outside the recycle bin, that the window has no event for. */
function withoutEvent(db: Kysely<Schema>, hostId: string, hostEventId: string) {
  return db
    .selectFrom('servers')
    .where('servers.host_id', '=', hostId)
    .where('servers.in_recycle_bin', '=', 0)
    .where((eb) => eb.not(eb.exists(eb.selectFrom('scheduled_events').select('scheduled_events.id').where('scheduled_events.host_event_id', '=', hostEventId).whereRef('scheduled_events.server_id', '=', 'servers.id'))))
}

/**
 * Creates the window's event for every server on the host that has none yet: `instance-migrate`
 * for a running server (it can move live), `instance-redeploy` for any other. Answers how many.
 */
async function fillWindow(db: Kysely<Schema>, hostId: string, window: MaintenanceWindow): Promise<number> {
  const servers = await withoutEvent(db, hostId, window.hostEventId).select(['servers.id', 'servers.project_id', 'servers.status']).orderBy('servers.id').execute()
  const now = new Date().toISOString()
  const deadline = window.deadline.toISOString()
  const rows = servers.map((s) => {
    const type = s.status === 'ACTIVE' ? 'instance-migrate' : 'instance-redeploy'
    return {
      id: randomUUID(), project_id: s.project_id, server_id: s.id, host_id: hostId, host_event_id: window.hostEventId, type, state: 'inquiring',
      publish_time: now, start_time: null, finish_time: null, not_before: window.notBefore.toISOString(), not_before_deadline: deadline,
      description: eventDescription(type, deadline), job_id: null, fail_reason: null,
    }
  })
  // Chunks keep each statement under SQLite's bound-parameter limit.
  for (let i = 0; i < rows.length; i += 500) await db.insertInto('scheduled_events').values(rows.slice(i, i + 500)).execute()
  return rows.length
}

async function countEvents(db: Kysely<Schema>, hostEventId: string): Promise<number> {
  const row = await db.selectFrom('scheduled_events').select((eb) => eb.fn.countAll<number | string>().as('n')).where('host_event_id', '=', hostEventId).executeTakeFirstOrThrow()
  return Number(row.n)
}

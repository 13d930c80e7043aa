import { sql, type SqlBool } from 'kysely'
import type { Logger } from 'pino'
import type { HostDriver } from '../compute/driver.ts'
import { DRAIN_REASON, DRAINED_REASON } from '../domain/host.ts'
import type { Database } from '../store/database.ts'
import { recordHostChange } from './events.ts'
import type { FaultService } from './faults.ts'
import type { HostService } from './hosts.ts'
import type { ScheduledEventService } from './scheduled-events.ts'
import type { ServerMoveService } from './server-moves.ts'
import { nowIso } from './time.ts'

/** Settings of the host monitor. */
export interface HostMonitorOptions {
  /** A host whose last heartbeat is older than this is down. */
  downAfterMs: number
  /** How often each replica looks. */
  intervalMs: number
  /** Simulated hosts (never heard from by an agent) heartbeat from inside the process. */
  simulateHeartbeats: boolean
}

/** Servers started per tick, so that one tick stays short whatever fails at once. */
const EVACUATIONS_PER_TICK = 50
/** Simulated hosts' heartbeats refreshed per look at most, and per write transaction. */
const HEARTBEATS_PER_TICK = 5000
const HEARTBEATS_PER_TRANSACTION = 500
/** Evacuations started at once. */
const EVACUATION_PARALLELISM = 8
/** Moves in flight off one drained host at a time. */
const DRAIN_PARALLELISM = 4
/** Stranded servers are retried at least this often, even if no replica saw capacity return. */
const STRANDED_RETRY_MS = 30_000

/**
 * Watches the hosts, on every replica, and heals: it heartbeats for the simulated hosts, marks
 * a host down when its heartbeats stop (a conditional update: exactly one replica wins each
 * host), evacuates the servers of down hosts through the move primitive, fences a host that
 * comes back, places stranded servers again when capacity returns, drains hosts that
 * operators drain, and carries scheduled events (planned maintenance) forward. All its state
 * is in the database — a server still on a down host is still to evacuate, a host still in
 * `drain` is still to drain, an event still due is still to start — so whichever replica looks
 * next carries on after a crash.
 */
export class HostMonitor {
  private timer: NodeJS.Timeout | undefined
  private running: Promise<void> | undefined
  /** Something asked for a look while one was running: look again as soon as it ends. */
  private again = false
  /** Looks happen on their own only once started (tests drive `tick` themselves). */
  private started = false
  private stopped = false
  private readonly startedAt = Date.now()
  private capacityReturned = true
  private lastStrandedRetry = 0

  constructor(
    private readonly database: Database,
    private readonly hosts: HostService,
    private readonly moves: ServerMoveService,
    private readonly faults: FaultService,
    private readonly driver: HostDriver,
    private readonly logger: Logger,
    private readonly options: HostMonitorOptions,
    private readonly scheduledEvents: ScheduledEventService,
  ) {
    hosts.onCapacity(() => {
      this.capacityReturned = true
      this.kick()
    })
    // A host declared down on this replica is evacuated now, not at the next interval.
    hosts.onDown(() => this.kick())
  }

  /** Looks now, then every `intervalMs`. */
  start(): void {
    this.started = true
    this.kick()
    this.timer = setInterval(() => this.kick(), this.options.intervalMs)
    this.timer.unref()
  }

  /** Runs a tick soon; if one is running, another right after it. */
  kick(): void {
    if (this.stopped || !this.started) return
    if (this.running) {
      this.again = true
      return
    }
    this.again = false
    this.running = this.tick()
      .catch((err: unknown) => this.logger.error({ err }, 'host monitor tick failed'))
      .finally(() => {
        this.running = undefined
        if (this.again) this.kick()
      })
  }

  /** Stops looking; waits for a tick in progress. */
  async stop(): Promise<void> {
    this.stopped = true
    if (this.timer) clearInterval(this.timer)
    await this.running
  }

  /** One look at the fleet; exposed so that tests can drive the monitor step by step. */
  async tick(): Promise<void> {
    if (this.options.simulateHeartbeats) await this.simulateHeartbeats()
    if (this.stopped) return
    await this.detectDown()
    await this.evacuate()
    await this.retryStranded()
    await this.drain()
    if (this.stopped) return
    await this.scheduledEvents.executeDue()
  }

  /**
   * The simulated hosts' heartbeats: one bulk refresh of the up ones (each written at most every
   * third of the down threshold, so a large fleet is not rewritten every second), and the full
   * heartbeat — fencing included — for the few that are down or fencing. Hosts whose heartbeats
   * an injected fault stops are left out.
   */
  private async simulateHeartbeats(): Promise<void> {
    const stopped = await this.faults.heartbeatsStopped()
    if (stopped.everyHost) return
    const now = nowIso()
    const stale = new Date(Date.now() - this.options.downAfterMs / 3).toISOString()
    const silenced = [...stopped.hosts]
    // Up to 5,000 hosts a look, in transactions of 500: between them the requests waiting for
    // the database get their turn, instead of waiting for one long write.
    for (let written = 0; written < HEARTBEATS_PER_TICK && !this.stopped; ) {
      const refreshed = await this.database.transaction(async ({ db }) => {
        let due = db
          .selectFrom('hosts')
          .select('id')
          .where('agent_seen_at', 'is', null)
          .where('state', '=', 'up')
          .where((eb) => eb.or([eb('last_heartbeat_at', 'is', null), eb('last_heartbeat_at', '<', stale)]))
        if (silenced.length > 0) due = due.where('name', 'not in', silenced)
        const result = await db.updateTable('hosts').set({ last_heartbeat_at: now }).where('id', 'in', due.limit(HEARTBEATS_PER_TRANSACTION)).executeTakeFirst()
        return Number(result.numUpdatedRows)
      })
      written += refreshed
      if (refreshed < HEARTBEATS_PER_TRANSACTION) break
    }
    const returning = await this.database.db
      .selectFrom('hosts')
      .select(['id', 'name'])
      .where(sql<SqlBool>`state <> 'up'`)
      .where('agent_seen_at', 'is', null)
      .execute()
    if (returning.length === 0) return
    // Read now, not from the faults cache: a host an operator just declared failed must not come
    // straight back because the cache has not seen its heartbeat fault yet.
    const silencedNow = await this.database.db
      .selectFrom('faults')
      .select('host_name')
      .where('step', '=', 'heartbeat')
      .where((eb) => eb.or([eb('host_name', 'is', null), eb('host_name', 'in', returning.map((h) => h.name))]))
      .execute()
    if (silencedNow.some((f) => f.host_name === null)) return
    const stillSilent = new Set(silencedNow.map((f) => f.host_name))
    for (const host of returning) {
      if (stopped.hosts.has(host.name) || stillSilent.has(host.name)) continue
      const answer = await this.hosts.heartbeat(host.id, { fenced: false, fromAgent: false })
      if (answer.fence) {
        await this.driver.fence?.(host.name, answer.fence.keep)
        await this.hosts.heartbeat(host.id, { fenced: true, fromAgent: false })
        this.logger.info({ host: host.name, kept: answer.fence.keep.length }, 'host came back: fenced, up again')
      }
    }
  }

  /**
   * Hosts whose last heartbeat is older than the threshold go down. The update is conditional,
   * so each host is taken down by exactly one replica. A replica waits one threshold after its
   * own start before judging: after the whole control plane was off, agents need that long to
   * report again, and their hosts must not all be declared dead at once.
   */
  private async detectDown(): Promise<void> {
    if (Date.now() - this.startedAt < this.options.downAfterMs) return
    const threshold = new Date(Date.now() - this.options.downAfterMs).toISOString()
    const now = nowIso()
    const down = await this.database.transaction(async ({ db }) => {
      const hosts = await db.updateTable('hosts')
        .set({ state: 'down', state_changed_at: now })
        .where('state', '=', 'up')
        .where('last_heartbeat_at', '<', threshold)
        .returning(['id', 'name', 'last_heartbeat_at'])
        .execute()
      for (const h of hosts) {
        await recordHostChange(db, { at: now, hostId: h.id, from: 'up', to: 'down', reason: 'heartbeats_missed', detail: `last heartbeat ${h.last_heartbeat_at ?? 'never'}` })
      }
      return hosts
    })
    for (const h of down) this.logger.warn({ host: h.name, lastHeartbeatAt: h.last_heartbeat_at }, 'host missed its heartbeats: down, evacuating')
  }

  /** Starts evacuations of the idle servers on down hosts (busy ones are taken when their job ends). */
  private async evacuate(): Promise<void> {
    const anyDown = await this.database.db.selectFrom('hosts').select('id').where(sql<SqlBool>`state <> 'up'`).where('state', '=', 'down').limit(1).executeTakeFirst()
    if (!anyDown) return
    // Down hosts first (a partial index has them), then their servers by host: ordered by id
    // and joined, SQLite would walk every server of the fleet on each look.
    const servers = await this.database.db
      .selectFrom('servers')
      .select('servers.id')
      .where('servers.host_id', 'in', (eb) => eb.selectFrom('hosts').select('id').where(sql<SqlBool>`state <> 'up'`).where('state', '=', 'down'))
      .where('servers.task_state', 'is', null)
      .where('servers.stranded', 'is', null)
      .where('servers.in_recycle_bin', '=', 0)
      .orderBy('servers.id')
      .limit(EVACUATIONS_PER_TICK)
      .execute()
    // A few at a time: each is its own transaction (evacuees of one group queue on its lock),
    // and on SQLite concurrent ones share a commit.
    for (let i = 0; i < servers.length; i += EVACUATION_PARALLELISM) {
      if (this.stopped) return
      await Promise.all(servers.slice(i, i + EVACUATION_PARALLELISM).map(async (s) => {
        const outcome = await this.moves.evacuate(s.id).catch((err: unknown) => {
          this.logger.error({ err, serverId: s.id }, 'evacuation failed; retried on the next look')
          return 'skipped' as const
        })
        if (outcome === 'stranded') this.logger.warn({ serverId: s.id }, 'no host can take an evacuated server: stranded in ERROR until capacity returns')
      }))
    }
    // A full batch: more may be waiting; look again at once instead of after the interval.
    if (servers.length === EVACUATIONS_PER_TICK) this.again = true
  }

  /** Places stranded servers again — when capacity may have returned, and now and then anyway. */
  private async retryStranded(): Promise<void> {
    const due = this.capacityReturned || Date.now() - this.lastStrandedRetry >= STRANDED_RETRY_MS
    if (!due) return
    this.capacityReturned = false
    this.lastStrandedRetry = Date.now()
    const stranded = await this.database.db
      .selectFrom('servers')
      .select('id')
      .where('stranded', 'is not', null)
      .where('task_state', 'is', null)
      .orderBy('updated_at')
      .limit(EVACUATIONS_PER_TICK)
      .execute()
    for (const s of stranded) {
      if (this.stopped) return
      const outcome = await this.moves.evacuate(s.id).catch((err: unknown) => {
        this.logger.error({ err, serverId: s.id }, 'placing a stranded server failed')
        return 'skipped' as const
      })
      if (outcome === 'moving') this.logger.info({ serverId: s.id }, 'stranded server placed again')
    }
  }

  /**
   * One look at the drains alone, of `hostName`'s only when given: for `ecsd hosts drain` on a
   * database no server process may be watching. Heartbeats, failure detection and evacuation
   * stay with the server processes. Answers why servers could not move yet, one line each.
   */
  async drainOnce(hostName?: string): Promise<string[]> {
    return this.drain(hostName)
  }

  /**
   * Moves servers off hosts being drained, a few at a time per host; a drained host with
   * nothing left on it — no server, no move off it in flight — is marked `drained`. Answers why
   * servers could not move yet (no host can take them, most often).
   */
  private async drain(hostName?: string): Promise<string[]> {
    const blocked: string[] = []
    let drainingQuery = this.database.db
      .selectFrom('hosts')
      .select(['id', 'name'])
      .where('admin_state', '=', 'maintenance')
      .where('admin_reason', '=', DRAIN_REASON)
    if (hostName !== undefined) drainingQuery = drainingQuery.where('name', '=', hostName)
    const draining = await drainingQuery.execute()
    for (const host of draining) {
      if (this.stopped) return blocked
      const db = this.database.db
      const movingOut = await db.selectFrom('moves').select((eb) => eb.fn.countAll<number | string>().as('n')).where('source_host_id', '=', host.id).whereRef('target_host_id', '!=', 'source_host_id').executeTakeFirstOrThrow()
      const left = await db.selectFrom('servers').select('id').where('host_id', '=', host.id).where('in_recycle_bin', '=', 0).where('task_state', 'is', null).orderBy('id').limit(DRAIN_PARALLELISM).execute()
      const busy = await db.selectFrom('servers').select('id').where('host_id', '=', host.id).where('in_recycle_bin', '=', 0).where('task_state', 'is not', null).limit(1).executeTakeFirst()
      if (left.length === 0 && !busy && Number(movingOut.n) === 0) {
        await this.database.transaction(async ({ db: tx }) => {
          const now = nowIso()
          const drained = await tx.updateTable('hosts').set({ admin_reason: DRAINED_REASON, admin_changed_at: now }).where('id', '=', host.id).where('admin_reason', '=', DRAIN_REASON).executeTakeFirst()
          if (Number(drained.numUpdatedRows) === 1) await recordHostChange(tx, { at: now, hostId: host.id, from: 'draining', to: 'drained', reason: 'drain' })
        })
        this.logger.info({ host: host.name }, 'host drained')
        continue
      }
      for (const s of left.slice(0, Math.max(0, DRAIN_PARALLELISM - Number(movingOut.n)))) {
        await this.moves.drainOne(s.id, host.id).catch((err: unknown) => {
          const why = err instanceof Error ? err.message : String(err)
          blocked.push(`server ${s.id} cannot move off ${host.name} yet: ${why}`)
          this.logger.warn({ err: why, serverId: s.id, host: host.name }, 'a drained server could not move yet; retried on the next look')
        })
      }
    }
    return blocked
  }
}

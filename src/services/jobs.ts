import { randomUUID } from 'node:crypto'
import { hostname } from 'node:os'
import type { Kysely } from 'kysely'
import type { Logger } from 'pino'
import { ServerLostOnTarget, type DriverCommand, type HostDriver } from '../compute/driver.ts'
import { jobNotFound } from '../domain/errors.ts'
import { JOB_TYPES, MOVE_OPERATIONS, type JobStatus, type DriverOperation, type ServerOperation } from '../domain/job.ts'
import { POWER_STATE, type TaskState } from '../domain/server.ts'
import { lockForUpdate, type Database, type Tx } from '../store/database.ts'
import { placeholders, prepared } from '../store/prepared.ts'
import type { Schema } from '../store/schema.ts'
import type { JobTable } from '../store/tables/jobs.ts'
import { adjustUsage, release } from './allocations.ts'
import { recordEvent, recordStateChange, type EventPruner } from './events.ts'
import { finishMove } from './moves.ts'
import { newJobId, nowIso } from './time.ts'
import { releaseVolumesOfDeletedServer } from './volumes.ts'

/** A job as `GET /v1/{project_id}/jobs/{job_id}` reports it: the parent and its per-server sub-jobs. */
export interface JobView {
  job: JobTable
  subJobs: JobTable[]
}

/**
 * The task states a server carries while a sub-job of each operation is running on it; the
 * first is the one a new job sets (a hard reboot sets `rebooting_hard` itself).
 */
export const TASK_STATE_OF: Record<DriverOperation, readonly [TaskState, ...TaskState[]]> = {
  create: ['spawning'],
  start: ['powering-on'],
  stop: ['powering-off'],
  delete: ['deleting'],
  recycle: ['deleting'],
  purge: ['deleting'],
  reboot: ['rebooting', 'rebooting_hard'],
  resize: ['resize_migrating'],
  migrate: ['migrating'],
  redeploy: ['migrating'],
  revert: ['restoring'],
  evacuate: ['rebuilding'],
}

/** The sub-job error code recorded when the driver fails an operation. */
const FAILURE_CODE: Record<DriverOperation, string> = {
  create: 'Ecs.0002',
  start: 'Ecs.0226',
  stop: 'Ecs.0000',
  delete: 'Ecs.0000',
  recycle: 'Ecs.0000',
  purge: 'Ecs.0000',
  reboot: 'Ecs.0227',
  resize: 'Ecs.0207',
  migrate: 'Ecs.0000',
  redeploy: 'Ecs.0000',
  revert: 'Ecs.0000',
  evacuate: 'Ecs.0000',
}

type SubJob = Pick<JobTable, 'id' | 'parent_id' | 'operation' | 'server_id'>

/** Lease settings of a job runner, and the event history it keeps within its retention. */
export interface JobRunnerOptions {
  leaseMs: number
  sweepMs: number
  events?: EventPruner | undefined
}

const EXPIRED = '1970-01-01T00:00:00.000Z'

/** At most this many expired recycle-bin servers are purged per sweep. */
const PURGE_BATCH = 100

/**
 * Runs the asynchronous part of server operations. A request commits its state change and its
 * RUNNING sub-jobs — leased to this runner — in one transaction and hands the parent job here
 * after commit; the runner asks the host driver to do the work, renewing the lease meanwhile,
 * and then commits the outcome. Every runner also sweeps for sub-jobs whose lease expired (their
 * runner died) and takes them over, so no job stays RUNNING; for recycle-bin servers whose
 * retention ended, which it deletes; and, now and then, for events past their retention. Each
 * completion is conditional on the job still being RUNNING and the server still carrying the
 * job's task state (or, for a move, the move still belonging to the job), so a step run twice (a
 * takeover racing a slow owner) changes nothing the second time.
 */
export class JobRunner {
  /** Identifies this runner in `jobs.lease_owner`; unique per process start. */
  readonly owner = `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`
  private readonly active = new Set<string>()
  private readonly databaseWork = new Set<Promise<unknown>>()
  private sweeper: NodeJS.Timeout | undefined
  private stopped = false
  /** Periodic work of other services that each sweep runs after its own (see `alsoSweep`). */
  private readonly sweepTasks: Array<() => Promise<unknown>> = []

  constructor(
    private readonly database: Database,
    private readonly driver: HostDriver,
    private readonly logger: Logger,
    private readonly options: JobRunnerOptions,
  ) {}

  /**
   * Whether a stopped server moves between these hosts without a driver step (shared disks);
   * the driver decides per pair of hosts when it can (a fleet may mix simulated and agent hosts).
   */
  async movesInstantly(db: Kysely<Schema>, sourceHostId: string, targetHostId: string): Promise<boolean> {
    // Through the caller's transaction: on SQLite's one connection, a query beside it would wait for it forever.
    if (this.driver.movesInstantly) return this.driver.movesInstantly(db, sourceHostId, targetHostId)
    return this.driver.movesStoppedServersInstantly === true
  }

  /** The lease a new sub-job gets when this runner's process accepted the request. */
  newLease(): Pick<JobTable, 'lease_owner' | 'lease_expires_at'> {
    return { lease_owner: this.owner, lease_expires_at: this.expiry() }
  }

  /**
   * Adds work each sweep runs after its own, for services that start jobs and so are built after
   * the runner (e.g. deleting servers whose auto-terminate time has come). A task keeps its own pace.
   */
  alsoSweep(task: () => Promise<unknown>): void {
    this.sweepTasks.push(task)
  }

  /** Takes over expired jobs now, then every `sweepMs`. */
  start(): void {
    this.track(this.sweepAll())
    this.sweeper = setInterval(() => this.track(this.sweepAll()), this.options.sweepMs)
    this.sweeper.unref()
  }

  /** Starts the sub-jobs of a committed parent job that this runner holds. */
  enqueue(parentJobId: string): void {
    this.track(
      (async () => {
        const subs = await LEASED_SUB_JOBS.all(this.database.db, { parentJobId, owner: this.owner })
        for (const sub of subs) void this.run(sub)
      })(),
    )
  }

  /** Starts sub-jobs that a committed transaction of this process leased to this runner. */
  runLeased(subs: readonly SubJob[]): void {
    for (const sub of subs) void this.run(sub)
  }

  private async sweepAll(): Promise<void> {
    await this.sweep()
    await this.purgeExpiredRecycleBin()
    for (const task of this.sweepTasks) if (!this.stopped) await task()
    if (this.stopped || !this.options.events) return
    const pruned = await this.options.events.pruneIfDue()
    if (pruned > 0) this.logger.info({ count: pruned }, 'deleted events past their retention')
  }

  /**
   * Claims every RUNNING sub-job whose lease has expired and runs it; returns how many. Two
   * runners sweeping at once cannot both claim a job: the claim is a conditional update.
   */
  async sweep(): Promise<number> {
    if (this.stopped) return 0
    const now = new Date().toISOString()
    const lease = this.expiry()
    const claimed = await this.database.transaction(async ({ db }) => {
      const expired = await db
        .selectFrom('jobs')
        .select('id')
        .where('status', '=', 'RUNNING')
        .where('parent_id', 'is not', null)
        .where((eb) => eb.or([eb('lease_expires_at', 'is', null), eb('lease_expires_at', '<', now)]))
        .orderBy('lease_expires_at')
        .limit(200)
        .execute()
      if (expired.length === 0) return []
      await db
        .updateTable('jobs')
        .set({ lease_owner: this.owner, lease_expires_at: lease })
        .where('id', 'in', expired.map((j) => j.id))
        .where('status', '=', 'RUNNING')
        .where((eb) => eb.or([eb('lease_expires_at', 'is', null), eb('lease_expires_at', '<', now)]))
        .execute()
      return db
        .selectFrom('jobs')
        .select(['id', 'parent_id', 'operation', 'server_id'])
        .where('id', 'in', expired.map((j) => j.id))
        .where('lease_owner', '=', this.owner)
        .where('lease_expires_at', '=', lease)
        .execute()
    })
    if (claimed.length > 0) this.logger.info({ count: claimed.length }, 'taking over jobs whose runner stopped')
    for (const sub of claimed) void this.run(sub)
    return claimed.length
  }

  /**
   * Deletes recycle-bin servers whose retention ended: each gets a `deleteRecycleBinServer` job
   * of its project, run like any other (the driver destroys what is left of it). Idle servers
   * only: one whose revert or delete is under way is left to that job.
   */
  async purgeExpiredRecycleBin(): Promise<number> {
    if (this.stopped) return 0
    const now = nowIso()
    // A read first (on a partial index), so that an empty bin costs no write transaction.
    const due = await this.database.db.selectFrom('servers').select('id').where('in_recycle_bin', '=', 1).where('bin_expires_at', '<', now).limit(1).executeTakeFirst()
    if (!due) return 0
    const parents = await this.database.transaction(async (tx) => {
      const expired = await lockForUpdate(
        tx.db
          .selectFrom('servers')
          .select(['id', 'project_id'])
          .where('in_recycle_bin', '=', 1)
          .where('bin_expires_at', '<', now)
          .where('task_state', 'is', null)
          .orderBy('bin_expires_at')
          .limit(PURGE_BATCH),
        tx.dialect,
      ).execute()
      const jobIds: string[] = []
      for (const s of expired) {
        await tx.db.updateTable('servers').set({ task_state: TASK_STATE_OF.purge[0], updated_at: now }).where('id', '=', s.id).execute()
        const { jobId } = await recordJob(tx, this, { projectId: s.project_id, operation: 'purge', work: [s.id] })
        jobIds.push(jobId)
      }
      return jobIds
    })
    if (parents.length > 0) this.logger.info({ count: parents.length }, 'deleting recycle-bin servers whose retention ended')
    return parents.length
  }

  /**
   * Stops taking work, waits for database work in progress, and hands back the leases of jobs
   * whose driver step is still running, so that the next runner takes them over at once
   * instead of after the lease.
   */
  async stop(): Promise<void> {
    this.stopped = true
    if (this.sweeper) clearInterval(this.sweeper)
    while (this.databaseWork.size > 0) await Promise.allSettled([...this.databaseWork])
    if (this.active.size === 0) return
    const ids = [...this.active]
    await this.database
      .transaction(({ db }) =>
        db.updateTable('jobs').set({ lease_expires_at: EXPIRED }).where('id', 'in', ids).where('lease_owner', '=', this.owner).where('status', '=', 'RUNNING').execute(),
      )
      .catch((err: unknown) => this.logger.warn({ err }, 'could not hand back job leases'))
  }

  private expiry(): string {
    return new Date(Date.now() + this.options.leaseMs).toISOString()
  }

  private track(p: Promise<unknown>): void {
    const tracked = p.catch((err: unknown) => this.logger.error({ err }, 'job step failed unexpectedly'))
    this.databaseWork.add(tracked)
    void tracked.finally(() => this.databaseWork.delete(tracked))
  }

  private async run(sub: SubJob): Promise<void> {
    if (this.stopped || sub.server_id === null || this.active.has(sub.id)) return
    this.active.add(sub.id)
    const renewal = setInterval(() => this.track(this.renew(sub.id)), Math.max(50, Math.floor(this.options.leaseMs / 3)))
    renewal.unref()
    try {
      const operation = sub.operation as DriverOperation
      const command = await commandFor(this.database.db, sub, operation)
      let failure: Error | undefined
      if (command) {
        try {
          await this.driver.perform(command)
        } catch (err) {
          failure = err instanceof Error ? err : new Error(String(err))
        }
      }
      if (this.stopped) return
      const completion = this.database.transaction((tx) => complete(tx, this, sub, operation, failure))
      this.track(completion)
      await completion
    } catch (err) {
      this.logger.error({ err, jobId: sub.id }, 'job step failed; the job will be taken over when its lease expires')
    } finally {
      clearInterval(renewal)
      this.active.delete(sub.id)
    }
  }

  private async renew(jobId: string): Promise<void> {
    if (this.stopped) return
    await this.database.transaction(({ db }) =>
      db.updateTable('jobs').set({ lease_expires_at: this.expiry() }).where('id', '=', jobId).where('lease_owner', '=', this.owner).where('status', '=', 'RUNNING').execute(),
    )
  }
}

/**
 * What the driver is told for a sub-job, read from the database as it is now (a step resumed
 * after a crash is told the same thing again); undefined when there is nothing left to do (the
 * server or its move is gone), which the completion then records.
 */
async function commandFor(db: Kysely<Schema>, sub: SubJob, operation: DriverOperation): Promise<DriverCommand | undefined> {
  const serverId = sub.server_id!
  if (MOVE_OPERATIONS.has(operation)) {
    const move = await db
      .selectFrom('moves')
      .innerJoin('hosts as source', 'source.id', 'moves.source_host_id')
      .innerJoin('hosts as target', 'target.id', 'moves.target_host_id')
      .innerJoin('servers', 'servers.id', 'moves.server_id')
      .select(['source.name as from', 'target.name as to', 'moves.kind', 'moves.final_status', 'servers.vcpus', 'servers.ram_mb', 'servers.image_ref'])
      .where('moves.job_id', '=', sub.id)
      .executeTakeFirst()
    if (!move) return undefined
    return {
      operation, jobId: sub.id, serverId, hostName: move.to, vm: { vcpus: move.vcpus, ramMb: move.ram_mb, image: move.image_ref },
      move: { from: move.from, to: move.to, kind: move.kind as 'cold' | 'live', vcpus: move.vcpus, ramMb: move.ram_mb, powerOnAfter: move.final_status === 'ACTIVE' },
    }
  }
  const target = await SERVER_COMMAND.first(db, { serverId })
  if (!target) return undefined
  return {
    operation, jobId: sub.id, serverId, hostName: target.hostName, vm: { vcpus: target.vcpus, ramMb: target.ram_mb, image: target.image_ref },
    ...(operation === 'reboot' ? { reboot: target.task_state === 'rebooting_hard' ? 'HARD' as const : 'SOFT' as const } : {}),
  }
}

type Outcome = { status: JobStatus; reason: string | null; code?: string }

async function complete(tx: Tx, runner: JobRunner, sub: SubJob, operation: DriverOperation, failure: Error | undefined): Promise<void> {
  const { db } = tx
  const serverId = sub.server_id!
  // Server before job, as in every other transaction that touches both.
  const server = await COMPLETING_SERVER.first(db, { serverId })
  const current = await JOB_STATUS_LOCKED.first(db, { jobId: sub.id })
  if (current?.status !== 'RUNNING') return
  const now = nowIso()
  let outcome: Outcome
  if (MOVE_OPERATIONS.has(operation)) {
    outcome = await completeMove(tx, runner, sub, operation, failure)
  } else if (!server) {
    outcome = operation === 'delete' || operation === 'purge'
      ? { status: 'SUCCESS', reason: null }
      : { status: 'FAIL', reason: `ECS ${serverId} no longer exists` }
  } else if (server.task_state === null || !TASK_STATE_OF[operation].includes(server.task_state as TaskState)) {
    outcome = { status: 'FAIL', reason: `ECS ${serverId} left task "${TASK_STATE_OF[operation][0]}" before the job finished` }
  } else if (failure !== undefined) {
    outcome = { status: 'FAIL', reason: failure.message }
    const change = { at: now, projectId: server.project_id, serverId, hostId: server.host_id, reason: operation, jobId: sub.parent_id, from: server.status }
    if (operation === 'create') await recordStateChange(db, { ...change, to: 'ERROR', detail: failure.message })
    if (operation === 'reboot') await recordStateChange(db, { ...change, to: 'ACTIVE', detail: `the reboot failed: ${failure.message}` })
    await db
      .updateTable('servers')
      .set(operation === 'create'
        ? { status: 'ERROR', task_state: null, fault: JSON.stringify({ code: FAILURE_CODE.create, message: failure.message, created: now }), updated_at: now }
        // A failed reboot leaves the server as it was: running.
        : operation === 'reboot' ? { status: 'ACTIVE', task_state: null, updated_at: now } : { task_state: null, updated_at: now })
      .where('id', '=', serverId)
      .execute()
  } else {
    outcome = { status: 'SUCCESS', reason: null }
    const event = { at: now, projectId: server.project_id, serverId, hostId: server.host_id, reason: operation, jobId: sub.parent_id }
    const change = { ...event, from: server.status }
    switch (operation) {
      case 'create':
        await SERVER_LAUNCHED.run(db, { serverId, now })
        await recordStateChange(db, { ...change, to: 'ACTIVE' })
        break
      case 'start':
      case 'reboot':
        await db.updateTable('servers')
          .set({ status: 'ACTIVE', task_state: null, power_state: POWER_STATE.RUNNING, updated_at: now })
          .where('id', '=', serverId).execute()
        await recordStateChange(db, { ...change, to: 'ACTIVE' })
        break
      case 'stop':
        await db.updateTable('servers')
          .set({ status: 'SHUTOFF', task_state: null, power_state: POWER_STATE.SHUTDOWN, updated_at: now })
          .where('id', '=', serverId).execute()
        await recordStateChange(db, { ...change, to: 'SHUTOFF' })
        break
      case 'recycle': {
        const groupId = await moveIntoRecycleBin(db, server, now)
        if (groupId !== null) await recordEvent(db, { ...event, kind: 'member_removed', groupId })
        await recordStateChange(db, { ...change, to: 'SHUTOFF', force: true, detail: 'moved into the recycle bin' })
        break
      }
      case 'delete':
      case 'purge': {
        const left = await db.deleteFrom('server_group_members').where('server_id', '=', serverId).returning('group_id').executeTakeFirst()
        if (left !== undefined) await recordEvent(db, { ...event, kind: 'member_removed', groupId: left.group_id })
        await recordStateChange(db, { ...change, to: 'DELETED' })
        await releaseVolumesOfDeletedServer(tx, serverId)
        await db.deleteFrom('servers').where('id', '=', serverId).execute()
        // Project before host, as a create takes them.
        await adjustUsage(db, server.project_id, { servers: -1, cores: -server.vcpus, ramMb: -server.ram_mb })
        // A binned server's allocation was released when it entered the bin.
        if (server.in_recycle_bin === 0) await release(db, { hostId: server.host_id, vcpus: server.vcpus, ramMb: server.ram_mb })
        break
      }
      default:
        throw new Error(`no completion for operation ${operation}`)
    }
  }
  await END_SUB_JOB.run(db, {
    jobId: sub.id, status: outcome.status, now, reason: outcome.reason,
    code: outcome.status === 'FAIL' ? (outcome.code ?? FAILURE_CODE[operation]) : null,
  })
  if (sub.parent_id !== null) await completeParentIfDone(db, sub.parent_id)
}

const LEASED_SUB_JOBS = prepared((db, p: { parentJobId: string; owner: string }) =>
  db.selectFrom('jobs').select(['id', 'parent_id', 'operation', 'server_id']).where('parent_id', '=', p.parentJobId).where('status', '=', 'RUNNING').where('lease_owner', '=', p.owner),
)

const SERVER_COMMAND = prepared((db, p: { serverId: string }) =>
  db
    .selectFrom('servers')
    .innerJoin('hosts', 'hosts.id', 'servers.host_id')
    .select(['hosts.name as hostName', 'servers.task_state', 'servers.vcpus', 'servers.ram_mb', 'servers.image_ref'])
    .where('servers.id', '=', p.serverId),
)

const COMPLETING_SERVER = prepared((db, p: { serverId: string }, dialect) =>
  lockForUpdate(db.selectFrom('servers').select(['id', 'project_id', 'status', 'task_state', 'host_id', 'vcpus', 'ram_mb', 'in_recycle_bin']).where('id', '=', p.serverId), dialect),
)

const JOB_STATUS_LOCKED = prepared((db, p: { jobId: string }, dialect) => lockForUpdate(db.selectFrom('jobs').select('status').where('id', '=', p.jobId), dialect))

const SERVER_LAUNCHED = prepared((db, p: { serverId: string; now: string }) =>
  db.updateTable('servers').set({ status: 'ACTIVE', task_state: null, power_state: POWER_STATE.RUNNING, launched_at: p.now, updated_at: p.now }).where('id', '=', p.serverId),
)

const END_SUB_JOB = prepared((db, p: { jobId: string; status: string; now: string; reason: string | null; code: string | null }) =>
  db.updateTable('jobs').set({ status: p.status, end_time: p.now, lease_owner: null, lease_expires_at: null, fail_reason: p.reason, error_code: p.code }).where('id', '=', p.jobId),
)

const PARENT_LOCKED = prepared((db, p: { parentId: string }, dialect) => lockForUpdate(db.selectFrom('jobs').select('id').where('id', '=', p.parentId), dialect))

const SUB_JOB_OUTCOMES = prepared((db, p: { parentId: string }) => db.selectFrom('jobs').select(['status', 'error_code', 'fail_reason']).where('parent_id', '=', p.parentId))

const END_PARENT_JOB = prepared((db, p: { parentId: string; status: string; now: string; code: string | null; reason: string | null }) =>
  db.updateTable('jobs').set({ status: p.status, end_time: p.now, error_code: p.code, fail_reason: p.reason }).where('id', '=', p.parentId).where('status', '=', 'RUNNING'),
)

const INSERT_JOB = prepared((db, row: JobTable) =>
  db.insertInto('jobs').values(
    placeholders(row, {
      id: true, project_id: true, parent_id: true, type: true, operation: true, status: true, server_id: true, error_code: true, fail_reason: true,
      client_token: true, server_ids: true, begin_time: true, end_time: true, lease_owner: true, lease_expires_at: true,
    } satisfies Record<keyof JobTable, true>),
  ),
)

/**
 * Records a move's outcome: the move row of this sub-job is authoritative (a move finished by
 * another runner is gone, and the job then fails as superseded), and starts queued behind the
 * move go ahead once it ends.
 */
async function completeMove(tx: Tx, runner: JobRunner, sub: SubJob, operation: DriverOperation, failure: Error | undefined): Promise<Outcome> {
  const move = await tx.db.selectFrom('moves').selectAll().where('job_id', '=', sub.id).executeTakeFirst()
  if (!move) return { status: 'FAIL', reason: `the move of ECS ${sub.server_id!} this job drove is no longer recorded` }
  const code = FAILURE_CODE[operation]
  const ended = failure === undefined
    ? await finishMove(tx.db, move, { ok: true }, sub.parent_id)
    : await finishMove(tx.db, failure instanceof ServerLostOnTarget ? { ...move, on_failure: 'error' } : move, { ok: false, code, reason: failure.message }, sub.parent_id)
  await releaseQueuedStarts(tx, runner, move.server_id, ended)
  if (failure === undefined) return { status: 'SUCCESS', reason: null }
  const where = ended === 'ERROR' ? 'the ECS is in ERROR on the target host' : 'the ECS is back where it was'
  return { status: 'FAIL', reason: `${failure.message} (${where})`, code }
}

/**
 * Starts that were accepted while the server was moving wait as INIT sub-jobs; once the move
 * has ended they run (the server is SHUTOFF), succeed at once (it already runs) or fail (it
 * ended in ERROR).
 */
async function releaseQueuedStarts(tx: Tx, runner: JobRunner, serverId: string, status: string): Promise<void> {
  const { db } = tx
  const queued = await db.selectFrom('jobs').select(['id', 'parent_id']).where('server_id', '=', serverId).where('status', '=', 'INIT').execute()
  if (queued.length === 0) return
  const now = nowIso()
  for (const [i, q] of queued.entries()) {
    if (status === 'SHUTOFF' && i === 0) {
      await db.updateTable('servers').set({ task_state: TASK_STATE_OF.start[0], updated_at: now }).where('id', '=', serverId).execute()
      await db.updateTable('jobs').set({ status: 'RUNNING', begin_time: now, ...runner.newLease() }).where('id', '=', q.id).execute()
      if (q.parent_id !== null) {
        const parent = q.parent_id
        tx.onCommit(() => runner.enqueue(parent))
      }
      continue
    }
    const ok = status === 'ACTIVE' || status === 'SHUTOFF'
    await db
      .updateTable('jobs')
      .set({ status: ok ? 'SUCCESS' : 'FAIL', end_time: now, error_code: ok ? null : FAILURE_CODE.start, fail_reason: ok ? null : `ECS ${serverId} ended its move in ${status}` })
      .where('id', '=', q.id)
      .execute()
    if (q.parent_id !== null) await completeParentIfDone(db, q.parent_id)
  }
}

/**
 * A deleted server with the recycle bin on: stopped, out of its group (remembered for a revert),
 * its host allocation given back; it still counts against the project's quotas until it is
 * deleted for good, after the retention the project's policy had when it was binned. Returns the
 * group it left, or null.
 */
async function moveIntoRecycleBin(db: Kysely<Schema>, server: { id: string; project_id: string; host_id: string; vcpus: number; ram_mb: number }, now: string): Promise<string | null> {
  const project = await db.selectFrom('projects').select('recycle_retention_hour').where('id', '=', server.project_id).executeTakeFirstOrThrow()
  const membership = await db.selectFrom('server_group_members').select('group_id').where('server_id', '=', server.id).executeTakeFirst()
  await db.deleteFrom('server_group_members').where('server_id', '=', server.id).execute()
  await release(db, { hostId: server.host_id, vcpus: server.vcpus, ramMb: server.ram_mb })
  await db
    .updateTable('servers')
    .set({
      status: 'SHUTOFF', task_state: null, power_state: POWER_STATE.SHUTDOWN, in_recycle_bin: 1, recycled_at: now,
      bin_expires_at: new Date(Date.parse(now) + project.recycle_retention_hour * 3_600_000).toISOString(),
      bin_group_id: membership?.group_id ?? null, updated_at: now,
    })
    .where('id', '=', server.id)
    .execute()
  return membership?.group_id ?? null
}

/**
 * Marks a parent job SUCCESS or FAIL once none of its sub-jobs is still running. The parent row
 * is locked first: two sibling sub-jobs finishing at once on PostgreSQL would otherwise each see
 * the other still RUNNING, and neither would close the parent.
 */
export async function completeParentIfDone(db: Kysely<Schema>, parentId: string): Promise<void> {
  await PARENT_LOCKED.first(db, { parentId })
  const subs = await SUB_JOB_OUTCOMES.all(db, { parentId })
  if (subs.some((s) => s.status === 'RUNNING' || s.status === 'INIT')) return
  const failed = subs.find((s) => s.status === 'FAIL')
  await END_PARENT_JOB.run(db, {
    parentId,
    status: failed ? 'FAIL' : 'SUCCESS',
    now: nowIso(),
    code: failed ? 'Ecs.0611' : null,
    reason: failed ? `${subs.filter((s) => s.status === 'FAIL').length} of ${subs.length} servers failed; first: ${failed.fail_reason}` : null,
  })
}

/** Records a sub-job as done without the runner (a step that needed no driver). */
export async function markSubJobDone(db: Kysely<Schema>, subJobId: string): Promise<void> {
  await SUB_JOB_DONE.run(db, { subJobId, now: nowIso() })
}

const SUB_JOB_DONE = prepared((db, p: { subJobId: string; now: string }) =>
  db.updateTable('jobs').set({ status: 'SUCCESS', end_time: p.now, lease_owner: null, lease_expires_at: null }).where('id', '=', p.subJobId).where('status', '=', 'RUNNING'),
)

/** A parent job and its sub-jobs to record in a request's transaction. */
export interface JobRecord {
  projectId: string
  operation: ServerOperation
  /** Parent type when it is not the operation's own (a batch resize). */
  parentType?: string
  /** Servers the runner works on now: RUNNING sub-jobs leased to this process. */
  work: string[]
  /** Servers whose sub-job waits for their move to end (INIT; see `releaseQueuedStarts`). */
  queued?: string[]
  /** Servers already in the requested state: finished sub-jobs. */
  alreadyDone?: string[]
  clientToken?: string | undefined
  /** A server's sub-job operation when it differs from the job's (a delete that goes to the recycle bin). */
  operationOf?: (serverId: string) => ServerOperation
}

/**
 * Records a parent job with one sub-job per server and hands the parent to the runner once the
 * transaction commits. Returns the parent id and each server's sub-job id (a move references
 * the sub-job that drives it).
 */
export async function recordJob(tx: Tx, runner: JobRunner, r: JobRecord): Promise<{ jobId: string; subJobIds: Map<string, string> }> {
  const { db } = tx
  const now = nowIso()
  const jobId = newJobId()
  const types = JOB_TYPES[r.operation]
  const queued = r.queued ?? []
  const alreadyDone = r.alreadyDone ?? []
  await INSERT_JOB.run(db, {
    id: jobId, project_id: r.projectId, parent_id: null, type: r.parentType ?? types.parent, operation: r.operation, status: 'RUNNING',
    server_id: null, error_code: null, fail_reason: null, client_token: r.clientToken ?? null,
    server_ids: JSON.stringify([...r.work, ...queued, ...alreadyDone]), begin_time: now, end_time: null,
    lease_owner: null, lease_expires_at: null,
  })
  const lease = runner.newLease()
  const none = { lease_owner: null, lease_expires_at: null }
  const subs = [
    ...r.work.map((id) => ({ id, status: 'RUNNING', end: null, ...lease })),
    ...queued.map((id) => ({ id, status: 'INIT', end: null, ...none })),
    ...alreadyDone.map((id) => ({ id, status: 'SUCCESS', end: now, ...none })),
  ].map((s) => ({ ...s, subId: newJobId() }))
  const rows = subs.map((s): JobTable => ({
    id: s.subId, project_id: r.projectId, parent_id: jobId, type: types.sub, operation: r.operationOf?.(s.id) ?? r.operation, status: s.status,
    server_id: s.id, error_code: null, fail_reason: null, client_token: null, server_ids: null,
    begin_time: now, end_time: s.end, lease_owner: s.lease_owner, lease_expires_at: s.lease_expires_at,
  }))
  if (rows.length === 1) await INSERT_JOB.run(db, rows[0]!)
  else if (rows.length > 1) await db.insertInto('jobs').values(rows).execute()
  if (r.work.length === 0 && queued.length === 0) await completeParentIfDone(db, jobId)
  else if (r.work.length > 0) {
    // This transaction leased them to this runner: nothing to read back once it commits.
    const leased = rows.filter((row) => row.status === 'RUNNING').map((row) => ({ id: row.id, parent_id: jobId, operation: row.operation, server_id: row.server_id }))
    tx.onCommit(() => runner.runLeased(leased))
  }
  return { jobId, subJobIds: new Map(subs.map((s) => [s.id, s.subId])) }
}

/** Reads a job of the project with its sub-jobs. */
export async function showJob(db: Kysely<Schema>, projectId: string, jobId: string): Promise<JobView> {
  const job = await db
    .selectFrom('jobs')
    .selectAll()
    .where('id', '=', jobId)
    .where('project_id', '=', projectId)
    .where('parent_id', 'is', null)
    .executeTakeFirst()
  if (!job) throw jobNotFound(jobId)
  const subJobs = await db.selectFrom('jobs').selectAll().where('parent_id', '=', jobId).orderBy('begin_time').orderBy('id').execute()
  return { job, subJobs }
}

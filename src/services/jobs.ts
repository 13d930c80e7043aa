import { randomUUID } from 'node:crypto'
import { hostname } from 'node:os'
import type { Kysely } from 'kysely'
import type { Logger } from 'pino'
import type { HostDriver } from '../compute/driver.ts'
import { jobNotFound } from '../domain/errors.ts'
import type { JobStatus, ServerOperation } from '../domain/job.ts'
import { POWER_STATE, type TaskState } from '../domain/server.ts'
import { lockForUpdate, type Database, type Dialect } from '../store/database.ts'
import type { Schema } from '../store/schema.ts'
import type { JobTable } from '../store/tables/jobs.ts'
import { adjustUsage, release } from './allocations.ts'
import { nowIso } from './time.ts'

/** A job as `GET /v1/{project_id}/jobs/{job_id}` reports it: the parent and its per-server sub-jobs. */
export interface JobView {
  job: JobTable
  subJobs: JobTable[]
}

/** The task state a server carries while a sub-job of each operation is running on it. */
export const TASK_STATE_OF: Record<ServerOperation, TaskState> = {
  create: 'spawning',
  start: 'powering-on',
  stop: 'powering-off',
  delete: 'deleting',
}

/** The sub-job error code recorded when the driver fails an operation. */
const FAILURE_CODE: Record<ServerOperation, string> = {
  create: 'Ecs.0002',
  start: 'Ecs.0226',
  stop: 'Ecs.0000',
  delete: 'Ecs.0000',
}

type SubJob = Pick<JobTable, 'id' | 'parent_id' | 'operation' | 'server_id'>

/** Lease settings of a job runner. */
export interface JobRunnerOptions {
  leaseMs: number
  sweepMs: number
}

const EXPIRED = '1970-01-01T00:00:00.000Z'

/**
 * Runs the asynchronous part of server operations. A request commits its state change and its
 * RUNNING sub-jobs — leased to this runner — in one transaction and hands the parent job here
 * after commit; the runner asks the host driver to do the work, renewing the lease meanwhile,
 * and then commits the outcome. Every runner also sweeps for sub-jobs whose lease expired (their
 * runner died) and takes them over, so no job stays RUNNING. Each completion is conditional on
 * the job still being RUNNING and the server still carrying the job's task state, so a step run
 * twice (a takeover racing a slow owner) changes nothing the second time.
 */
export class JobRunner {
  /** Identifies this runner in `jobs.lease_owner`; unique per process start. */
  readonly owner = `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`
  private readonly active = new Set<string>()
  private readonly databaseWork = new Set<Promise<unknown>>()
  private sweeper: NodeJS.Timeout | undefined
  private stopped = false

  constructor(
    private readonly database: Database,
    private readonly driver: HostDriver,
    private readonly logger: Logger,
    private readonly options: JobRunnerOptions,
  ) {}

  /** The lease a new sub-job gets when this runner's process accepted the request. */
  newLease(): Pick<JobTable, 'lease_owner' | 'lease_expires_at'> {
    return { lease_owner: this.owner, lease_expires_at: this.expiry() }
  }

  /** Takes over expired jobs now, then every `sweepMs`. */
  start(): void {
    this.track(this.sweep())
    this.sweeper = setInterval(() => this.track(this.sweep()), this.options.sweepMs)
    this.sweeper.unref()
  }

  /** Starts the sub-jobs of a committed parent job that this runner holds. */
  enqueue(parentJobId: string): void {
    this.track(
      (async () => {
        const subs = await this.database.db
          .selectFrom('jobs')
          .select(['id', 'parent_id', 'operation', 'server_id'])
          .where('parent_id', '=', parentJobId)
          .where('status', '=', 'RUNNING')
          .where('lease_owner', '=', this.owner)
          .execute()
        for (const sub of subs) void this.run(sub)
      })(),
    )
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
      const operation = sub.operation as ServerOperation
      const target = await this.database.db
        .selectFrom('servers')
        .innerJoin('hosts', 'hosts.id', 'servers.host_id')
        .select(['hosts.name as hostName'])
        .where('servers.id', '=', sub.server_id)
        .executeTakeFirst()
      let failure: string | undefined
      if (target) {
        try {
          await this.driver.perform({ operation, serverId: sub.server_id, hostName: target.hostName })
        } catch (err) {
          failure = err instanceof Error ? err.message : String(err)
        }
      }
      if (this.stopped) return
      const completion = this.database.transaction(({ db, dialect }) => complete(db, dialect, sub, operation, failure))
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

async function complete(db: Kysely<Schema>, dialect: Dialect, sub: SubJob, operation: ServerOperation, failure: string | undefined): Promise<void> {
  const serverId = sub.server_id!
  // Server before job, as in every other transaction that touches both.
  const server = await lockForUpdate(
    db.selectFrom('servers').select(['id', 'project_id', 'task_state', 'host_id', 'vcpus', 'ram_mb']).where('id', '=', serverId),
    dialect,
  ).executeTakeFirst()
  const current = await lockForUpdate(db.selectFrom('jobs').select('status').where('id', '=', sub.id), dialect).executeTakeFirst()
  if (current?.status !== 'RUNNING') return
  const now = nowIso()
  let outcome: { status: JobStatus; reason: string | null }
  if (!server) {
    outcome = operation === 'delete'
      ? { status: 'SUCCESS', reason: null }
      : { status: 'FAIL', reason: `ECS ${serverId} no longer exists` }
  } else if (server.task_state !== TASK_STATE_OF[operation]) {
    outcome = { status: 'FAIL', reason: `ECS ${serverId} left task "${TASK_STATE_OF[operation]}" before the job finished` }
  } else if (failure !== undefined) {
    outcome = { status: 'FAIL', reason: failure }
    await db
      .updateTable('servers')
      .set(operation === 'create' ? { status: 'ERROR', task_state: null, updated_at: now } : { task_state: null, updated_at: now })
      .where('id', '=', serverId)
      .execute()
  } else {
    outcome = { status: 'SUCCESS', reason: null }
    switch (operation) {
      case 'create':
        await db.updateTable('servers')
          .set({ status: 'ACTIVE', task_state: null, power_state: POWER_STATE.RUNNING, launched_at: now, updated_at: now })
          .where('id', '=', serverId).execute()
        break
      case 'start':
        await db.updateTable('servers')
          .set({ status: 'ACTIVE', task_state: null, power_state: POWER_STATE.RUNNING, updated_at: now })
          .where('id', '=', serverId).execute()
        break
      case 'stop':
        await db.updateTable('servers')
          .set({ status: 'SHUTOFF', task_state: null, power_state: POWER_STATE.SHUTDOWN, updated_at: now })
          .where('id', '=', serverId).execute()
        break
      case 'delete':
        await db.deleteFrom('server_group_members').where('server_id', '=', serverId).execute()
        await db.deleteFrom('servers').where('id', '=', serverId).execute()
        // Project before host, as a create takes them.
        await adjustUsage(db, server.project_id, { servers: -1, cores: -server.vcpus, ramMb: -server.ram_mb })
        await release(db, { hostId: server.host_id, vcpus: server.vcpus, ramMb: server.ram_mb })
        break
    }
  }
  await db
    .updateTable('jobs')
    .set({
      status: outcome.status,
      end_time: now,
      lease_owner: null,
      lease_expires_at: null,
      fail_reason: outcome.reason,
      error_code: outcome.status === 'FAIL' ? FAILURE_CODE[operation] : null,
    })
    .where('id', '=', sub.id)
    .execute()
  if (sub.parent_id !== null) await completeParentIfDone(db, dialect, sub.parent_id)
}

/**
 * Marks a parent job SUCCESS or FAIL once none of its sub-jobs is still running. The parent row
 * is locked first: two sibling sub-jobs finishing at once on PostgreSQL would otherwise each see
 * the other still RUNNING, and neither would close the parent.
 */
export async function completeParentIfDone(db: Kysely<Schema>, dialect: Dialect, parentId: string): Promise<void> {
  await lockForUpdate(db.selectFrom('jobs').select('id').where('id', '=', parentId), dialect).executeTakeFirst()
  const subs = await db.selectFrom('jobs').select(['status', 'error_code', 'fail_reason']).where('parent_id', '=', parentId).execute()
  if (subs.some((s) => s.status === 'RUNNING' || s.status === 'INIT')) return
  const failed = subs.find((s) => s.status === 'FAIL')
  await db
    .updateTable('jobs')
    .set({
      status: failed ? 'FAIL' : 'SUCCESS',
      end_time: nowIso(),
      error_code: failed ? 'Ecs.0611' : null,
      fail_reason: failed ? `${subs.filter((s) => s.status === 'FAIL').length} of ${subs.length} servers failed; first: ${failed.fail_reason}` : null,
    })
    .where('id', '=', parentId)
    .where('status', '=', 'RUNNING')
    .execute()
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

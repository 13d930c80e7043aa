import type { Kysely } from 'kysely'
import type { Logger } from 'pino'
import type { HostDriver } from '../compute/driver.ts'
import { jobNotFound } from '../domain/errors.ts'
import type { JobStatus, ServerOperation } from '../domain/job.ts'
import { POWER_STATE, type TaskState } from '../domain/server.ts'
import type { Database } from '../store/database.ts'
import type { Schema } from '../store/schema.ts'
import type { JobTable } from '../store/tables/jobs.ts'
import { release } from './allocations.ts'
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

/**
 * Runs the asynchronous part of server operations. A request commits its state change and its
 * RUNNING jobs in one transaction and hands the parent job id here after commit; the runner
 * asks the host driver to do the work and then commits the outcome. Each completion is
 * conditional on the server still carrying the task state the job set, so running a step twice
 * (after a crash, on resume) is harmless. Jobs found RUNNING at start-up are resumed.
 */
export class JobRunner {
  private readonly inFlight = new Set<Promise<void>>()
  private stopped = false

  constructor(
    private readonly database: Database,
    private readonly driver: HostDriver,
    private readonly logger: Logger,
  ) {}

  /** Starts the sub-jobs of a committed parent job. */
  enqueue(parentJobId: string): void {
    this.track(
      (async () => {
        const subs = await this.database.db
          .selectFrom('jobs')
          .select(['id', 'parent_id', 'operation', 'server_id'])
          .where('parent_id', '=', parentJobId)
          .where('status', '=', 'RUNNING')
          .execute()
        await Promise.all(subs.map((s) => this.run(s)))
      })(),
    )
  }

  /** Resumes every sub-job left RUNNING by a previous process; returns how many. */
  async resumeInterrupted(): Promise<number> {
    const subs = await this.database.db
      .selectFrom('jobs')
      .select(['id', 'parent_id', 'operation', 'server_id'])
      .where('parent_id', 'is not', null)
      .where('status', '=', 'RUNNING')
      .execute()
    for (const s of subs) this.track(this.run(s))
    if (subs.length > 0) this.logger.info({ count: subs.length }, 'resuming interrupted jobs')
    return subs.length
  }

  /** Waits until no job step is in progress. */
  async idle(): Promise<void> {
    while (this.inFlight.size > 0) await Promise.allSettled([...this.inFlight])
  }

  /**
   * Stops taking new steps and waits for those in progress. Jobs not finished stay RUNNING in
   * the database and are resumed by the next start.
   */
  async stop(): Promise<void> {
    this.stopped = true
    await this.idle()
  }

  private track(p: Promise<void>): void {
    const tracked = p.catch((err) => this.logger.error({ err }, 'job step failed unexpectedly'))
    this.inFlight.add(tracked)
    void tracked.finally(() => this.inFlight.delete(tracked))
  }

  private async run(sub: SubJob): Promise<void> {
    if (this.stopped || sub.server_id === null) return
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
    await this.database.transaction(({ db }) => complete(db, sub, operation, failure))
  }
}

async function complete(db: Kysely<Schema>, sub: SubJob, operation: ServerOperation, failure: string | undefined): Promise<void> {
  const current = await db.selectFrom('jobs').select('status').where('id', '=', sub.id).executeTakeFirst()
  if (current?.status !== 'RUNNING') return
  const serverId = sub.server_id!
  const server = await db
    .selectFrom('servers')
    .select(['id', 'task_state', 'host_id', 'vcpus', 'ram_mb'])
    .where('id', '=', serverId)
    .executeTakeFirst()
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
        await release(db, { hostId: server.host_id, vcpus: server.vcpus, ramMb: server.ram_mb })
        break
    }
  }
  await db
    .updateTable('jobs')
    .set({
      status: outcome.status,
      end_time: now,
      fail_reason: outcome.reason,
      error_code: outcome.status === 'FAIL' ? FAILURE_CODE[operation] : null,
    })
    .where('id', '=', sub.id)
    .execute()
  if (sub.parent_id !== null) await completeParentIfDone(db, sub.parent_id)
}

/** Marks a parent job SUCCESS or FAIL once none of its sub-jobs is still running. */
export async function completeParentIfDone(db: Kysely<Schema>, parentId: string): Promise<void> {
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

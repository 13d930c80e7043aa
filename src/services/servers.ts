import { sql, type Expression, type ExpressionBuilder, type Kysely, type SqlBool } from 'kysely'
import type { Quotas } from '../config.ts'
import {
  createCountExceeded, flavorNotFound, groupMemberQuota, groupPolicyNotSupported, instanceQuota,
  invalidParameter, serverBusy, serverNotFound, serverNotKvm, serverWrongStatus, tooManyServersInBatch,
} from '../domain/errors.ts'
import { requiresDistinctHosts, type GroupPolicy } from '../domain/group.ts'
import { JOB_TYPES, type ServerOperation } from '../domain/job.ts'
import { nthServerName, POWER_STATE, type ServerStatus } from '../domain/server.ts'
import type { PlacementEngine } from '../placement/engine.ts'
import { lockForUpdate, type Database, type Tx } from '../store/database.ts'
import type { Schema } from '../store/schema.ts'
import { adjustUsage, claim } from './allocations.ts'
import { findGroup, lockProject } from './groups.ts'
import { completeParentIfDone, TASK_STATE_OF, type JobRunner } from './jobs.ts'
import { newJobId, nowIso } from './time.ts'

/** At most this many servers in one create request (`count`). */
export const MAX_CREATE_COUNT = 500
/** At most this many servers in one batch start/stop/delete. */
export const MAX_BATCH = 1000

/** What a create request asks for, already validated for shape. */
export interface CreateServersInput {
  name: string
  flavorRef: string
  imageRef: string
  vpcId: string
  count: number
  availabilityZone: string | undefined
  groupId: string | undefined
  metadata: Record<string, string>
  clientToken: string | undefined
  /** Check everything, place everything, then roll back: the API's `dry_run`. */
  dryRun: boolean
}

/** The job that carries an accepted request, and the servers it works on. */
export interface AcceptedJob {
  jobId: string
  serverIds: string[]
}

/** A server row joined with what its API view needs. */
export interface ServerRecord {
  server: Schema['servers']
  hostName: string
  flavorName: string
  diskGb: number
  groupId: string | null
}

/** Filters of the server list; `offset` is a 1-based page number, as in the API. */
export interface ServerListQuery {
  offset: number
  limit: number
  status: string | undefined
  name: string | undefined
  flavor: string | undefined
}

/** Dependencies of the server use cases. */
export interface ServerServiceDeps {
  database: Database
  placement: PlacementEngine
  quotas: Quotas
  jobs: JobRunner
}

/**
 * Server lifecycle use cases. A request validates, places and records its change together with
 * RUNNING jobs in one transaction, then the job runner does the slow part; the API answers with
 * the job id, as the real cloud does.
 */
export class ServerService {
  constructor(private readonly deps: ServerServiceDeps) {}

  /**
   * Creates `count` servers. Every server is placed before anything is written; with a group
   * hint, each one excludes the hosts of the members before it, so the batch lands on distinct
   * hosts or fails whole with `Ecs.0319`. A repeated `X-Client-Token` returns the first job.
   */
  async create(projectId: string, input: CreateServersInput): Promise<AcceptedJob> {
    if (input.count > MAX_CREATE_COUNT) throw createCountExceeded(input.count, MAX_CREATE_COUNT)
    try {
      return await this.createInTransaction(projectId, input)
    } catch (err) {
      if (err instanceof DryRunPassed) return { jobId: '', serverIds: [] }
      throw err
    }
  }

  private async createInTransaction(projectId: string, input: CreateServersInput): Promise<AcceptedJob> {
    return this.deps.database.transaction(async (tx) => {
      const { db, dialect } = tx
      await lockProject(db, dialect, projectId)
      if (input.clientToken !== undefined) {
        const previous = await db
          .selectFrom('jobs')
          .select(['id', 'server_ids'])
          .where('project_id', '=', projectId)
          .where('client_token', '=', input.clientToken)
          .executeTakeFirst()
        if (previous) return { jobId: previous.id, serverIds: JSON.parse(previous.server_ids ?? '[]') as string[] }
      }
      const flavor = await db.selectFrom('flavors').selectAll().where('id', '=', input.flavorRef).executeTakeFirst()
      if (!flavor) throw flavorNotFound(input.flavorRef)
      if (input.availabilityZone !== undefined) await assertZoneExists(db, input.availabilityZone)
      await this.checkInstanceQuota(db, projectId, input.count, flavor.vcpus * input.count, flavor.ram_mb * input.count)

      const taken = new Set<string>()
      let policy: GroupPolicy | undefined
      if (input.groupId !== undefined) {
        const group = await findGroup(db, projectId, input.groupId, dialect)
        policy = group.policy as GroupPolicy
        if (policy !== 'anti-affinity') throw groupPolicyNotSupported(group.id, policy)
        if (flavor.virtualization !== 'kvm') throw serverNotKvm('(new)', flavor.id)
        const members = await db.selectFrom('server_group_members').select('host_id').where('group_id', '=', group.id).execute()
        const limit = this.deps.quotas.maxServerGroupMembers
        if (members.length + input.count > limit) throw groupMemberQuota(group.id, limit)
        for (const m of members) taken.add(m.host_id)
      }

      const now = nowIso()
      const serverIds: string[] = []
      for (let i = 0; i < input.count; i++) {
        const id = crypto.randomUUID()
        const host = await this.deps.placement.place(db, {
          vcpus: flavor.vcpus,
          ramMb: flavor.ram_mb,
          az: input.availabilityZone,
          groupHostIds: taken,
          subject: `server ${i + 1} of ${input.count} (${flavor.id}: ${flavor.vcpus} vCPU, ${flavor.ram_mb} MiB)${input.groupId ? ` in group ${input.groupId}` : ''}`,
        })
        await claim(db, { hostId: host.id, vcpus: flavor.vcpus, ramMb: flavor.ram_mb })
        await db
          .insertInto('servers')
          .values({
            id, project_id: projectId, name: nthServerName(input.name, i, input.count), status: 'BUILD',
            task_state: TASK_STATE_OF.create, power_state: POWER_STATE.NOSTATE, flavor_id: flavor.id,
            vcpus: flavor.vcpus, ram_mb: flavor.ram_mb, virtualization: flavor.virtualization, az: host.az,
            host_id: host.id, image_ref: input.imageRef, vpc_id: input.vpcId, metadata: JSON.stringify(input.metadata),
            created_at: now, updated_at: now, launched_at: null,
          })
          .execute()
        if (input.groupId !== undefined && policy !== undefined) {
          await db
            .insertInto('server_group_members')
            .values({ group_id: input.groupId, server_id: id, host_id: host.id, distinct_host: requiresDistinctHosts(policy) ? 1 : 0, created_at: now })
            .execute()
          taken.add(host.id)
        }
        serverIds.push(id)
      }
      // The project row is already locked (lockProject), so the counters move under the same lock.
      await adjustUsage(db, projectId, { servers: input.count, cores: flavor.vcpus * input.count, ramMb: flavor.ram_mb * input.count })
      if (input.dryRun) throw new DryRunPassed()
      const jobId = await this.recordJob(tx, projectId, 'create', serverIds, [], input.clientToken)
      return { jobId, serverIds }
    })
  }

  /** Starts stopped servers. Servers already ACTIVE are reported as done without work. */
  async start(projectId: string, serverIds: string[]): Promise<AcceptedJob> {
    return this.batch(projectId, 'start', serverIds)
  }

  /** Stops running servers (SOFT and HARD behave alike in the simulation). Servers already SHUTOFF are done without work. */
  async stop(projectId: string, serverIds: string[]): Promise<AcceptedJob> {
    return this.batch(projectId, 'stop', serverIds)
  }

  /** Deletes servers; their allocations and memberships go with them when the job completes. */
  async delete(projectId: string, serverIds: string[]): Promise<AcceptedJob> {
    return this.batch(projectId, 'delete', serverIds)
  }

  async show(projectId: string, serverId: string): Promise<ServerRecord> {
    const row = await selectRecords(this.deps.database.db, projectId).where('servers.id', '=', serverId).executeTakeFirst()
    if (!row) throw serverNotFound(serverId)
    return toRecord(row)
  }

  /** One page of servers, newest first, and the total count matching the filters. */
  async list(projectId: string, q: ServerListQuery): Promise<{ total: number; servers: ServerRecord[] }> {
    const db = this.deps.database.db
    const matches = (eb: ExpressionBuilder<Schema, 'servers'>) => {
      const terms: Expression<SqlBool>[] = [eb('servers.project_id', '=', projectId)]
      if (q.status !== undefined) terms.push(eb('servers.status', '=', q.status))
      if (q.flavor !== undefined) terms.push(eb('servers.flavor_id', '=', q.flavor))
      // lower() on both sides: SQLite's LIKE ignores ASCII case and PostgreSQL's does not.
      if (q.name !== undefined) terms.push(sql<SqlBool>`lower(${sql.ref('servers.name')}) like lower(${`%${escapeLike(q.name)}%`}) escape '\\'`)
      return eb.and(terms)
    }
    const { n } = await db
      .selectFrom('servers')
      .select((eb) => eb.fn.countAll<number | string>().as('n'))
      .where(matches)
      .executeTakeFirstOrThrow()
    const page = Math.max(1, q.offset)
    const rows = await selectRecords(db, projectId)
      .where(matches)
      .orderBy('servers.created_at', 'desc')
      .orderBy('servers.id')
      .limit(q.limit)
      .offset((page - 1) * q.limit)
      .execute()
    return { total: Number(n), servers: rows.map(toRecord) }
  }

  private async batch(projectId: string, operation: Exclude<ServerOperation, 'create'>, requested: string[]): Promise<AcceptedJob> {
    const serverIds = [...new Set(requested)]
    if (serverIds.length > MAX_BATCH) throw tooManyServersInBatch(serverIds.length, MAX_BATCH)
    return this.deps.database.transaction(async (tx) => {
      const { db, dialect } = tx
      const rows = await lockForUpdate(
        db.selectFrom('servers').select(['id', 'status', 'task_state']).where('project_id', '=', projectId).where('id', 'in', serverIds).orderBy('id'),
        dialect,
      ).execute()
      const byId = new Map(rows.map((r) => [r.id, r]))
      const work: string[] = []
      const alreadyDone: string[] = []
      for (const id of serverIds) {
        const s = byId.get(id)
        if (!s) throw serverNotFound(id)
        if (s.task_state !== null) throw serverBusy(id, s.status, s.task_state)
        const status = s.status as ServerStatus
        if (operation === 'start') {
          if (status === 'ACTIVE') alreadyDone.push(id)
          else if (status === 'SHUTOFF') work.push(id)
          else throw serverWrongStatus(id, status, 'os-start', 'SHUTOFF')
        } else if (operation === 'stop') {
          if (status === 'SHUTOFF') alreadyDone.push(id)
          else if (status === 'ACTIVE') work.push(id)
          else throw serverWrongStatus(id, status, 'os-stop', 'ACTIVE')
        } else {
          work.push(id)
        }
      }
      if (work.length > 0) {
        await db
          .updateTable('servers')
          .set({ task_state: TASK_STATE_OF[operation], updated_at: nowIso() })
          .where('id', 'in', work)
          .execute()
      }
      const jobId = await this.recordJob(tx, projectId, operation, work, alreadyDone, undefined)
      return { jobId, serverIds }
    })
  }

  /**
   * Records a parent job with one RUNNING sub-job per server in `work` and one finished sub-job
   * per server in `alreadyDone`, and hands the parent to the runner once the transaction commits.
   */
  private async recordJob(
    tx: Tx, projectId: string, operation: ServerOperation, work: string[], alreadyDone: string[], clientToken: string | undefined,
  ): Promise<string> {
    const { db } = tx
    const now = nowIso()
    const jobId = newJobId()
    const types = JOB_TYPES[operation]
    await db
      .insertInto('jobs')
      .values({
        id: jobId, project_id: projectId, parent_id: null, type: types.parent, operation, status: 'RUNNING',
        server_id: null, error_code: null, fail_reason: null, client_token: clientToken ?? null,
        server_ids: JSON.stringify([...work, ...alreadyDone]), begin_time: now, end_time: null,
        lease_owner: null, lease_expires_at: null,
      })
      .execute()
    const lease = this.deps.jobs.newLease()
    const subs = [
      ...work.map((id) => ({ id, status: 'RUNNING', end: null, ...lease })),
      ...alreadyDone.map((id) => ({ id, status: 'SUCCESS', end: now, lease_owner: null, lease_expires_at: null })),
    ]
    if (subs.length > 0) {
      await db
        .insertInto('jobs')
        .values(subs.map((s) => ({
          id: newJobId(), project_id: projectId, parent_id: jobId, type: types.sub, operation, status: s.status,
          server_id: s.id, error_code: null, fail_reason: null, client_token: null, server_ids: null,
          begin_time: now, end_time: s.end, lease_owner: s.lease_owner, lease_expires_at: s.lease_expires_at,
        })))
        .execute()
    }
    if (work.length === 0) await completeParentIfDone(db, tx.dialect, jobId)
    else tx.onCommit(() => this.deps.jobs.enqueue(jobId))
    return jobId
  }

  private async checkInstanceQuota(db: Kysely<Schema>, projectId: string, count: number, vcpus: number, ramMb: number): Promise<void> {
    const used = await usage(db, projectId)
    const { maxTotalInstances, maxTotalCores, maxTotalRAMSize } = this.deps.quotas
    if (used.instances + count > maxTotalInstances) throw instanceQuota('instances', count, used.instances, maxTotalInstances)
    if (used.cores + vcpus > maxTotalCores) throw instanceQuota('vCPUs', vcpus, used.cores, maxTotalCores)
    if (used.ramMb + ramMb > maxTotalRAMSize) throw instanceQuota('RAM (MiB)', ramMb, used.ramMb, maxTotalRAMSize)
  }
}

/** Thrown at the end of a successful dry run so that the transaction rolls back. */
class DryRunPassed extends Error {
  override name = 'DryRunPassed'
}

/**
 * What a project's servers use, for quotas and the limits API: the project's usage counters,
 * one row whatever the size of the tenant (kept in step by `adjustUsage`).
 */
export async function usage(db: Kysely<Schema>, projectId: string): Promise<{ instances: number; cores: number; ramMb: number }> {
  const row = await db
    .selectFrom('projects')
    .select(['servers_used', 'cores_used', 'ram_used_mb'])
    .where('id', '=', projectId)
    .executeTakeFirst()
  return { instances: Number(row?.servers_used ?? 0), cores: Number(row?.cores_used ?? 0), ramMb: Number(row?.ram_used_mb ?? 0) }
}

async function assertZoneExists(db: Kysely<Schema>, az: string): Promise<void> {
  const found = await db.selectFrom('hosts').select('az').where('az', '=', az).limit(1).executeTakeFirst()
  if (found) return
  const zones = await db.selectFrom('hosts').select('az').distinct().orderBy('az').execute()
  throw invalidParameter(`availability_zone "${az}" does not exist; zones: ${zones.map((z) => z.az).join(', ') || 'none'}`)
}

function selectRecords(db: Kysely<Schema>, projectId: string) {
  return db
    .selectFrom('servers')
    .innerJoin('hosts', 'hosts.id', 'servers.host_id')
    .innerJoin('flavors', 'flavors.id', 'servers.flavor_id')
    .leftJoin('server_group_members', 'server_group_members.server_id', 'servers.id')
    .selectAll('servers')
    .select(['hosts.name as host_name', 'flavors.name as flavor_name', 'flavors.disk_gb', 'server_group_members.group_id'])
    .where('servers.project_id', '=', projectId)
}

function toRecord(row: Schema['servers'] & { host_name: string; flavor_name: string; disk_gb: number; group_id: string | null }): ServerRecord {
  const { host_name, flavor_name, disk_gb, group_id, ...server } = row
  return { server, hostName: host_name, flavorName: flavor_name, diskGb: disk_gb, groupId: group_id }
}

function escapeLike(s: string): string {
  return s.replace(/[\\%_]/g, (c) => `\\${c}`)
}

import { sql, type Expression, type ExpressionBuilder, type Kysely, type SqlBool } from 'kysely'
import type { Quotas } from '../config.ts'
import {
  createCountExceeded, dedicatedHostNotFound, dedicatedHostWithGroup, flavorNotFound, flavorNotSold, groupMemberQuota,
  instanceQuota, invalidParameter, serverBusy, serverInRecycleBin, serverNotFound, serverNotKvm,
  serverWrongStatus, tooManyServersInBatch,
} from '../domain/errors.ts'
import type { ServerOperation } from '../domain/job.ts'
import { nthServerName, POWER_STATE, type ServerStatus, type TaskState } from '../domain/server.ts'
import type { PlacementEngine } from '../placement/engine.ts'
import { lockForUpdate, type Database, type Dialect } from '../store/database.ts'
import { placeholders, prepared } from '../store/prepared.ts'
import type { Schema } from '../store/schema.ts'
import { FRESH_SERVER_COLUMNS } from '../store/tables/servers.ts'
import { adjustUsage, claim } from './allocations.ts'
import { recordEvent, recordRefusal, recordStateChange } from './events.ts'
import { findGroup, lockProject } from './groups.ts'
import { recordJob, TASK_STATE_OF, type JobRunner } from './jobs.ts'
import { createServerResources, loadServerDetails, type CreatedServer, type CreateResources, type ServerDetails } from './server-resources.ts'
import { scheduledForTermination } from './server-attributes.ts'
import { groupHolds, holdHost, insertMemberships, memberCount, noGroupHolds } from './membership.ts'
import { afterPosition, filterTerms, listPosition, type ServerFilters } from './server-filters.ts'
import { newTimeOrderedId, nowIso } from './time.ts'

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
  /** `os:scheduler_hints.dedicated_host_id`: create on this dedicated host of the project. */
  dedicatedHostId: string | undefined
  /** `os:scheduler_hints.tenancy`: `dedicated` places on any dedicated host of the project. */
  tenancy: string | undefined
  metadata: Record<string, string>
  clientToken: string | undefined
  /** Check everything, place everything, then roll back: the API's `dry_run`. */
  dryRun: boolean
  /** What each server gets beyond placement: NICs, volumes, tags, settings. */
  resources: CreateResources
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
  /** Tags, settings, NICs and volumes: loaded by the reads whose views show them. */
  details?: ServerDetails
}

/**
 * Filters of the server list; `offset` is a 1-based page number, as in the API, counted from the
 * server after `marker` when one is given. With `serverIds`, the other filters are ignored, as
 * the API documents for `server_id`.
 */
export interface ServerListQuery extends ServerFilters {
  offset: number
  limit: number
  status: string | undefined
  name: string | undefined
  flavor: string | undefined
  /** The last server of the previous page. */
  marker?: string | undefined
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
   * hint, each one sees the members placed before it in the same request, as Nova's scheduler
   * does: in an anti-affinity group it keeps to hosts with a place left (and, in a group that
   * spreads over fault domains, away from their fault domains), in an affinity group it goes to
   * the host the first member took, and the soft policies rank hosts by those members — so the
   * batch obeys its group's policy or fails whole with `Ecs.0319`. A repeated `X-Client-Token`
   * returns the first job.
   */
  async create(projectId: string, input: CreateServersInput): Promise<AcceptedJob> {
    if (input.count > MAX_CREATE_COUNT) throw createCountExceeded(input.count, MAX_CREATE_COUNT)
    try {
      return await this.createInTransaction(projectId, input)
    } catch (err) {
      if (err instanceof DryRunPassed) return { jobId: '', serverIds: [] }
      // A dry run is a question, not a request: its refusal is only the answer.
      if (!input.dryRun) await recordRefusal(this.deps.database, err, { reason: 'create', projectId, groupId: input.groupId })
      throw err
    }
  }

  private async createInTransaction(projectId: string, input: CreateServersInput): Promise<AcceptedJob> {
    return this.deps.database.transaction(async (tx) => {
      const { db } = tx
      await lockProject(db, projectId)
      if (input.clientToken !== undefined) {
        const previous = await db
          .selectFrom('jobs')
          .select(['id', 'server_ids'])
          .where('project_id', '=', projectId)
          .where('client_token', '=', input.clientToken)
          .executeTakeFirst()
        if (previous) return { jobId: previous.id, serverIds: JSON.parse(previous.server_ids ?? '[]') as string[] }
      }
      const flavor = await FLAVOR.first(db, { id: input.flavorRef })
      if (!flavor) throw flavorNotFound(input.flavorRef)
      if (flavor.sell_status !== 'normal') throw flavorNotSold(flavor.id, flavor.sell_status)
      if (input.availabilityZone !== undefined) await assertZoneExists(db, input.availabilityZone)
      const dedicated = input.dedicatedHostId !== undefined || input.tenancy === 'dedicated'
      if (dedicated && input.groupId !== undefined) throw dedicatedHostWithGroup()
      if (input.dedicatedHostId !== undefined) await assertDedicatedHost(db, projectId, input.dedicatedHostId)
      await this.checkInstanceQuota(db, projectId, input.count, flavor.vcpus * input.count, flavor.ram_mb * input.count)

      let holds = noGroupHolds()
      if (input.groupId !== undefined) {
        // Every policy: a group created on the OpenStack surface is usable here too.
        const group = await findGroup(db, projectId, input.groupId, { lock: true })
        if (flavor.virtualization !== 'kvm') throw serverNotKvm('(new)', flavor.id)
        const limit = this.deps.quotas.maxServerGroupMembers
        if ((await memberCount(db, group.id)) + input.count > limit) throw groupMemberQuota(group.id, limit)
        holds = await groupHolds(db, group.id)
      }

      const now = nowIso()
      const serverIds: string[] = []
      const placed: Array<{ serverId: string; hostId: string }> = []
      const created: CreatedServer[] = []
      for (let i = 0; i < input.count; i++) {
        const id = newTimeOrderedId()
        const host = await this.deps.placement.place(db, {
          vcpus: flavor.vcpus,
          ramMb: flavor.ram_mb,
          az: input.availabilityZone,
          ...holds,
          ...(dedicated ? { dedicatedTo: projectId, requestedHostId: input.dedicatedHostId } : {}),
          subject: `server ${i + 1} of ${input.count} (${flavor.id}: ${flavor.vcpus} vCPU, ${flavor.ram_mb} MiB)${input.groupId ? ` in group ${input.groupId}` : ''}${dedicated ? ' on a dedicated host' : ''}`,
        })
        await claim(db, { hostId: host.id, vcpus: flavor.vcpus, ramMb: flavor.ram_mb })
        await INSERT_SERVER.run(db, {
          id, project_id: projectId, name: nthServerName(input.name, i, input.count), status: 'BUILD',
          task_state: TASK_STATE_OF.create[0], power_state: POWER_STATE.NOSTATE, flavor_id: flavor.id,
          vcpus: flavor.vcpus, ram_mb: flavor.ram_mb, virtualization: flavor.virtualization, az: host.az,
          host_id: host.id, image_ref: input.imageRef, vpc_id: input.vpcId, metadata: JSON.stringify(input.metadata),
          created_at: now, updated_at: now, launched_at: null, ...FRESH_SERVER_COLUMNS,
        })
        if (input.groupId !== undefined) {
          await insertMemberships(db, [{ groupId: input.groupId, serverId: id, hostId: host.id, createdAt: now }])
          holdHost(holds, host)
        }
        serverIds.push(id)
        placed.push({ serverId: id, hostId: host.id })
        created.push({
          id, projectId, name: nthServerName(input.name, i, input.count), az: host.az, vpcId: input.vpcId, flavorId: flavor.id,
          imageRef: input.imageRef, virtualization: flavor.virtualization, vcpus: flavor.vcpus, index: i, createdAt: now,
        })
      }
      await createServerResources(db, created, input.resources)
      // The project row is already locked (lockProject), so the counters move under the same lock.
      await adjustUsage(db, projectId, { servers: input.count, cores: flavor.vcpus * input.count, ramMb: flavor.ram_mb * input.count })
      if (input.dryRun) throw new DryRunPassed()
      const { jobId } = await recordJob(tx, this.deps.jobs, { projectId, operation: 'create', work: serverIds, clientToken: input.clientToken })
      for (const p of placed) {
        const event = { at: now, projectId, serverId: p.serverId, groupId: input.groupId, hostId: p.hostId, reason: 'create', jobId }
        await recordEvent(db, { ...event, kind: 'placed', statusTo: 'BUILD' })
        if (input.groupId !== undefined) await recordEvent(db, { ...event, kind: 'member_added' })
      }
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

  /**
   * Deletes servers; their allocations and memberships go with them when the job completes.
   * With the project's recycle bin on, a server old enough for it (`recycle_threshold_day`) and
   * not in ERROR goes into the bin instead; the job is the same `deleteServer` job.
   */
  async delete(projectId: string, serverIds: string[]): Promise<AcceptedJob> {
    return this.batch(projectId, 'delete', serverIds)
  }

  /** Reboots running servers, SOFT or HARD. */
  async reboot(projectId: string, serverIds: string[], type: 'SOFT' | 'HARD'): Promise<AcceptedJob> {
    return this.batch(projectId, 'reboot', serverIds, type)
  }

  async show(projectId: string, serverId: string): Promise<ServerRecord> {
    const row = await SERVER_RECORD.first(this.deps.database.db, { projectId, serverId })
    if (!row) throw serverNotFound(serverId)
    return withDetails(this.deps.database.db, [toRecord(row)]).then((records) => records[0]!)
  }

  /** One page of servers, newest first, and the total count matching the filters. */
  async list(projectId: string, q: ServerListQuery): Promise<{ total: number; servers: ServerRecord[] }> {
    const db = this.deps.database.db
    const matches = (eb: ExpressionBuilder<Schema, 'servers'>) => {
      const terms: Expression<SqlBool>[] = [eb('servers.project_id', '=', projectId), eb('servers.in_recycle_bin', '=', 0)]
      if (q.serverIds !== undefined) return eb.and([...terms, ...filterTerms(eb, projectId, { serverIds: q.serverIds })])
      if (q.status !== undefined) terms.push(eb('servers.status', '=', q.status))
      if (q.flavor !== undefined) terms.push(eb('servers.flavor_id', '=', q.flavor))
      if (q.name !== undefined) terms.push(nameContains(q.name))
      return eb.and([...terms, ...filterTerms(eb, projectId, q)])
    }
    const { total, rows } = await serverPage(db, projectId, matches, { marker: q.marker, skip: (Math.max(1, q.offset) - 1) * q.limit, take: q.limit })
    return { total, servers: await withDetails(db, rows) }
  }

  private async batch(projectId: string, operation: 'start' | 'stop' | 'delete' | 'reboot', requested: string[], rebootType: 'SOFT' | 'HARD' = 'SOFT'): Promise<AcceptedJob> {
    const serverIds = [...new Set(requested)]
    if (serverIds.length > MAX_BATCH) throw tooManyServersInBatch(serverIds.length, MAX_BATCH)
    return this.deps.database.transaction(async (tx) => {
      const { db, dialect } = tx
      const rows = await lockForUpdate(
        db.selectFrom('servers').select(['id', 'status', 'task_state', 'in_recycle_bin', 'created_at', 'host_id']).where('project_id', '=', projectId).where('id', 'in', serverIds).orderBy('id'),
        dialect,
      ).execute()
      const byId = new Map(rows.map((r) => [r.id, r]))
      const bin = operation === 'delete' ? await recycleBinOf(db, projectId) : undefined
      // As on the real cloud, a server with an auto-terminate time is deleted at once, never binned.
      const scheduled = bin ? await scheduledForTermination(db, serverIds) : new Set<string>()
      const work: string[] = []
      const queued: string[] = []
      const alreadyDone: string[] = []
      const recycled = new Set<string>()
      for (const id of serverIds) {
        const s = byId.get(id)
        if (!s) throw serverNotFound(id)
        if (s.in_recycle_bin === 1) throw serverInRecycleBin(id)
        const status = s.status as ServerStatus
        if (s.task_state !== null) {
          // A stopped server moving cold (add_member's re-placement, a migration, a resize) stays
          // stopped: a stop is already done, and a start waits for the move.
          const endsStopped = (operation === 'start' || operation === 'stop') && (await moveEndsStopped(db, id))
          if (endsStopped && operation === 'stop') {
            alreadyDone.push(id)
            continue
          }
          if (endsStopped && operation === 'start' && !(await startQueued(db, id))) {
            queued.push(id)
            continue
          }
          throw serverBusy(id, s.status, s.task_state)
        }
        if (operation === 'start') {
          if (status === 'ACTIVE') alreadyDone.push(id)
          else if (status === 'SHUTOFF') work.push(id)
          else throw serverWrongStatus(id, status, 'os-start', 'SHUTOFF')
        } else if (operation === 'stop') {
          if (status === 'SHUTOFF') alreadyDone.push(id)
          else if (status === 'ACTIVE') work.push(id)
          else throw serverWrongStatus(id, status, 'os-stop', 'ACTIVE')
        } else if (operation === 'reboot') {
          if (status === 'ACTIVE') work.push(id)
          else throw serverWrongStatus(id, status, `reboot (${rebootType})`, 'ACTIVE (running); start a stopped ECS with os-start instead')
        } else {
          work.push(id)
          if (bin && status !== 'ERROR' && !scheduled.has(id) && Date.parse(s.created_at) <= Date.now() - bin.thresholdDays * 86_400_000) recycled.add(id)
        }
      }
      const now = nowIso()
      const taskState: TaskState = operation === 'reboot' && rebootType === 'HARD' ? 'rebooting_hard' : TASK_STATE_OF[operation][0]
      if (work.length > 0) {
        await db
          .updateTable('servers')
          .set(operation === 'reboot'
            ? { task_state: taskState, status: rebootType === 'HARD' ? 'HARD_REBOOT' : 'REBOOT', updated_at: now }
            : { task_state: taskState, updated_at: now })
          .where('id', 'in', work)
          .execute()
      }
      const { jobId } = await recordJob(tx, this.deps.jobs, {
        projectId, operation, work, queued, alreadyDone,
        ...(recycled.size > 0 ? { operationOf: (id: string): ServerOperation => (recycled.has(id) ? 'recycle' : operation) } : {}),
      })
      if (operation === 'reboot') {
        const to = rebootType === 'HARD' ? 'HARD_REBOOT' : 'REBOOT'
        for (const id of work) {
          const s = byId.get(id)!
          await recordStateChange(db, { at: now, projectId, serverId: id, hostId: s.host_id, reason: 'reboot', jobId, from: s.status, to })
        }
      }
      return { jobId, serverIds }
    })
  }

  private async checkInstanceQuota(db: Kysely<Schema>, projectId: string, count: number, vcpus: number, ramMb: number): Promise<void> {
    await checkQuota(db, this.deps.quotas, projectId, { instances: count, cores: vcpus, ramMb })
  }
}

/**
 * Refuses with `Ecs.0001` when adding `more` to what the project uses would pass a quota. Call
 * with the project row locked (`lockProject`), so that two requests cannot both take the last unit.
 */
export async function checkQuota(db: Kysely<Schema>, quotas: Quotas, projectId: string, more: { instances: number; cores: number; ramMb: number }): Promise<void> {
  const used = await usage(db, projectId)
  const { maxTotalInstances, maxTotalCores, maxTotalRAMSize } = quotas
  if (more.instances > 0 && used.instances + more.instances > maxTotalInstances) throw instanceQuota('instances', more.instances, used.instances, maxTotalInstances)
  if (more.cores > 0 && used.cores + more.cores > maxTotalCores) throw instanceQuota('vCPUs', more.cores, used.cores, maxTotalCores)
  if (more.ramMb > 0 && used.ramMb + more.ramMb > maxTotalRAMSize) throw instanceQuota('RAM (MiB)', more.ramMb, used.ramMb, maxTotalRAMSize)
}

/** Thrown at the end of a successful dry run so that the transaction rolls back. */
export class DryRunPassed extends Error {
  override name = 'DryRunPassed'
}

/**
 * What a project's servers use, for quotas and the limits API: the project's usage counters,
 * one row whatever the size of the tenant (kept in step by `adjustUsage`).
 */
export async function usage(db: Kysely<Schema>, projectId: string): Promise<{ instances: number; cores: number; ramMb: number }> {
  const row = await PROJECT_USAGE.first(db, { projectId })
  return { instances: Number(row?.servers_used ?? 0), cores: Number(row?.cores_used ?? 0), ramMb: Number(row?.ram_used_mb ?? 0) }
}

/**
 * A project's recycle bin when it is on: servers at least `thresholdDays` old go into it when
 * deleted (younger ones are deleted at once, as the real bin does).
 */
async function recycleBinOf(db: Kysely<Schema>, projectId: string): Promise<{ thresholdDays: number } | undefined> {
  const p = await db.selectFrom('projects').select(['recycle_bin', 'recycle_threshold_day']).where('id', '=', projectId).executeTakeFirst()
  return p?.recycle_bin === 'on' ? { thresholdDays: p.recycle_threshold_day } : undefined
}

/**
 * The server is in a move that leaves it stopped (add_member's re-placement, a cold migration,
 * a resize of a stopped server). As on the real cloud, `add_member` then `os-start` works
 * without waiting in between: the start waits for the move.
 */
async function moveEndsStopped(db: Kysely<Schema>, serverId: string): Promise<boolean> {
  const move = await db.selectFrom('moves').select('final_status').where('server_id', '=', serverId).executeTakeFirst()
  return move?.final_status === 'SHUTOFF'
}

/** A start already waits for the server's move; one waits at a time. */
async function startQueued(db: Kysely<Schema>, serverId: string): Promise<boolean> {
  const waiting = await db.selectFrom('jobs').select('id').where('server_id', '=', serverId).where('status', '=', 'INIT').executeTakeFirst()
  return waiting !== undefined
}

/** A dedicated host of the project, or `Ecs.0005`. */
export async function assertDedicatedHost(db: Kysely<Schema>, projectId: string, hostId: string): Promise<void> {
  const host = await db.selectFrom('hosts').select('id').where('id', '=', hostId).where('dedicated_to', '=', projectId).executeTakeFirst()
  if (!host) throw dedicatedHostNotFound(hostId)
}

const PROJECT_USAGE = prepared((db, p: { projectId: string }) => db.selectFrom('projects').select(['servers_used', 'cores_used', 'ram_used_mb']).where('id', '=', p.projectId))

const FLAVOR = prepared((db, p: { id: string }) => db.selectFrom('flavors').selectAll().where('id', '=', p.id))

const HOST_IN_ZONE = prepared((db, p: { az: string }) => db.selectFrom('hosts').select('az').where('az', '=', p.az).limit(1))

const INSERT_SERVER = prepared((db, row: Schema['servers']) =>
  db.insertInto('servers').values(
    placeholders(row, {
      id: true, project_id: true, name: true, status: true, task_state: true, power_state: true, flavor_id: true, vcpus: true, ram_mb: true,
      virtualization: true, az: true, host_id: true, image_ref: true, vpc_id: true, metadata: true, created_at: true, updated_at: true,
      launched_at: true, in_recycle_bin: true, recycled_at: true, bin_expires_at: true, bin_group_id: true, fault: true, stranded: true,
    } satisfies Record<keyof Schema['servers'], true>),
  ),
)

async function assertZoneExists(db: Kysely<Schema>, az: string): Promise<void> {
  const found = await HOST_IN_ZONE.first(db, { az })
  if (found) return
  const zones = await db.selectFrom('hosts').select('az').distinct().orderBy('az').execute()
  throw invalidParameter(`availability_zone "${az}" does not exist; zones: ${zones.map((z) => z.az).join(', ') || 'none'}`)
}

/** Servers whose name contains `text`, literally and ignoring case. */
export function nameContains(text: string): Expression<SqlBool> {
  // lower() on both sides: SQLite's LIKE ignores ASCII case and PostgreSQL's does not.
  return sql<SqlBool>`lower(${sql.ref('servers.name')}) like lower(${`%${escapeLike(text)}%`}) escape '\\'`
}

/** Server rows of a project joined with what their API view needs (host, flavor, group). */
export function selectRecords(db: Kysely<Schema>, projectId: string) {
  return db
    .selectFrom('servers')
    .innerJoin('hosts', 'hosts.id', 'servers.host_id')
    .innerJoin('flavors', 'flavors.id', 'servers.flavor_id')
    .leftJoin('server_group_members', 'server_group_members.server_id', 'servers.id')
    .selectAll('servers')
    .select(['hosts.name as host_name', 'flavors.name as flavor_name', 'flavors.disk_gb', 'server_group_members.group_id'])
    .where('servers.project_id', '=', projectId)
}

/** One server of a project outside the recycle bin, as `show` reads it. */
const SERVER_RECORD = prepared((db, p: { projectId: string; serverId: string }) => selectRecords(db, p.projectId).where('servers.id', '=', p.serverId).where('servers.in_recycle_bin', '=', 0))

/**
 * Servers of the project a change applies to, locked in id order (so that two requests lock them
 * in one order) and returned in the order asked. Another project's server answers as an unknown
 * one; a server in the recycle bin is refused (it must be reverted first).
 */
export async function lockProjectServers(db: Kysely<Schema>, dialect: Dialect, projectId: string, serverIds: readonly string[]): Promise<Array<Schema['servers']>> {
  const rows = await lockForUpdate(db.selectFrom('servers').selectAll().where('project_id', '=', projectId).where('id', 'in', [...serverIds]).orderBy('id'), dialect).execute()
  const byId = new Map(rows.map((r) => [r.id, r]))
  return serverIds.map((id) => usableServer(byId.get(id), id))
}

/** A server of the project read without a lock, refused as `lockProjectServers` refuses. */
export async function findProjectServer(db: Kysely<Schema>, projectId: string, serverId: string): Promise<Schema['servers']> {
  return usableServer(await db.selectFrom('servers').selectAll().where('project_id', '=', projectId).where('id', '=', serverId).executeTakeFirst(), serverId)
}

function usableServer(server: Schema['servers'] | undefined, serverId: string): Schema['servers'] {
  if (!server) throw serverNotFound(serverId)
  if (server.in_recycle_bin === 1) throw serverInRecycleBin(serverId)
  return server
}

/**
 * How many servers of the project match, and one page of them, newest first: after the server
 * `marker` (a keyset page: servers created meanwhile do not shift it), skipping `skip`, at most `take`.
 */
export async function serverPage(
  db: Kysely<Schema>, projectId: string, matches: (eb: ExpressionBuilder<Schema, 'servers'>) => Expression<SqlBool>,
  page: { marker: string | undefined; skip: number; take: number },
): Promise<{ total: number; rows: ServerRecord[] }> {
  const { n } = await db.selectFrom('servers').select((eb) => eb.fn.countAll<number | string>().as('n')).where(matches).executeTakeFirstOrThrow()
  const after = page.marker === undefined ? undefined : await listPosition(db, projectId, page.marker)
  const rows = await selectRecords(db, projectId)
    .where(matches)
    .$if(after !== undefined, (query) => query.where((eb) => afterPosition(eb, after!)))
    .orderBy('servers.created_at', 'desc')
    .orderBy('servers.id')
    .limit(page.take)
    .offset(page.skip)
    .execute()
  return { total: Number(n), rows: rows.map(toRecord) }
}

/** Records with their details (tags, settings, NICs, volumes) loaded. */
export async function withDetails(db: Kysely<Schema>, records: ServerRecord[]): Promise<ServerRecord[]> {
  const details = await loadServerDetails(db, records.map((r) => r.server.id))
  return records.map((r) => ({ ...r, details: details.get(r.server.id)! }))
}

/** A joined server row as a `ServerRecord`. */
export function toRecord(row: Schema['servers'] & { host_name: string; flavor_name: string; disk_gb: number; group_id: string | null }): ServerRecord {
  const { host_name, flavor_name, disk_gb, group_id, ...server } = row
  return { server, hostName: host_name, flavorName: flavor_name, diskGb: disk_gb, groupId: group_id }
}

function escapeLike(s: string): string {
  return s.replace(/[\\%_]/g, (c) => `\\${c}`)
}

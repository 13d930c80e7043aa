import type { Kysely } from 'kysely'
import type { Quotas } from '../config.ts'
import { groupMemberQuota, invalidParameter, recycleBinNotEmpty, serverBusy, serverNotFound, serverNotInRecycleBin } from '../domain/errors.ts'
import type { PlacementEngine } from '../placement/engine.ts'
import { lockForUpdate, type Database } from '../store/database.ts'
import type { Schema } from '../store/schema.ts'
import { recordRefusal } from './events.ts'
import { lockProject } from './groups.ts'
import { recordJob, TASK_STATE_OF, type JobRunner } from './jobs.ts'
import { describeHolds, groupHolds, heldByGroup, memberCount, memberGroupOf, noGroupHolds, type MemberGroup } from './membership.ts'
import { MOVING_SERVER_COLUMNS, startMoves } from './moves.ts'
import { nameContains, selectRecords, toRecord, withDetails, type AcceptedJob, type ServerRecord } from './servers.ts'
import { nowIso } from './time.ts'

/** A project's recycle bin settings, as `showRecycleBin` reports them. */
export interface RecycleBinSettings {
  projectId: string
  on: boolean
  recycleThresholdDay: number
  retentionHour: number
}

/** Filters of the recycle-bin list. */
export interface RecycleBinQuery {
  limit: number
  offset: number
  /** Id of the last server of the previous page. */
  marker: string | undefined
  name: string | undefined
  availabilityZone: string | undefined
}

/** Dependencies of the recycle-bin use cases. */
export interface RecycleBinServiceDeps {
  database: Database
  placement: PlacementEngine
  quotas: Quotas
  jobs: JobRunner
}

/**
 * The recycle bin. While a server sits in it, it holds no host capacity and no group slot —
 * other servers and members may take its place — but it still counts against the project's
 * quotas, as Huawei documents. A revert brings it back through the move primitive: onto its old
 * host when that host still has room, its group does not hold it and it is not dedicated to
 * another project, otherwise onto another host that passes every filter; it rejoins its group
 * if the group still exists.
 */
export class RecycleBinService {
  constructor(private readonly deps: RecycleBinServiceDeps) {}

  async show(projectId: string): Promise<RecycleBinSettings> {
    const p = await this.deps.database.db
      .selectFrom('projects')
      .select(['id', 'recycle_bin', 'recycle_threshold_day', 'recycle_retention_hour'])
      .where('id', '=', projectId)
      .executeTakeFirstOrThrow()
    return { projectId: p.id, on: p.recycle_bin === 'on', recycleThresholdDay: p.recycle_threshold_day, retentionHour: p.recycle_retention_hour }
  }

  /**
   * Switches the bin on or off; off only when it is empty — a server on its way out of it (a
   * revert in flight, which goes back into the bin if it fails) counts as in it.
   */
  async setSwitch(projectId: string, on: boolean): Promise<void> {
    await this.deps.database.transaction(async ({ db, dialect }) => {
      await lockProject(db, projectId)
      if (!on) {
        const { n } = await db
          .selectFrom('servers')
          .select((eb) => eb.fn.countAll<number | string>().as('n'))
          .where('project_id', '=', projectId)
          .where((eb) => eb.or([
            eb('in_recycle_bin', '=', 1),
            eb('id', 'in', eb.selectFrom('moves').select('server_id').where('reason', '=', 'revert')),
          ]))
          .executeTakeFirstOrThrow()
        if (Number(n) > 0) throw recycleBinNotEmpty(Number(n))
      }
      await db.updateTable('projects').set({ recycle_bin: on ? 'on' : 'off' }).where('id', '=', projectId).execute()
    })
  }

  /** Sets the policy; servers already in the bin keep the retention they were binned with. */
  async setPolicy(projectId: string, recycleThresholdDay: number, retentionHour: number): Promise<void> {
    await this.deps.database.transaction(({ db }) =>
      db.updateTable('projects').set({ recycle_threshold_day: recycleThresholdDay, recycle_retention_hour: retentionHour }).where('id', '=', projectId).execute(),
    )
  }

  /**
   * Servers in the bin, most recently binned first; after `marker` (a server of the list) and
   * then `offset` servers. The bin is bounded by the project's instance quota, so it is read whole.
   */
  async list(projectId: string, q: RecycleBinQuery): Promise<ServerRecord[]> {
    let query = selectRecords(this.deps.database.db, projectId).where('servers.in_recycle_bin', '=', 1)
    if (q.name !== undefined) query = query.where(nameContains(q.name))
    if (q.availabilityZone !== undefined) query = query.where('servers.az', '=', q.availabilityZone)
    const rows = (await query.orderBy('servers.recycled_at', 'desc').orderBy('servers.id').execute()).map(toRecord)
    let start = 0
    if (q.marker !== undefined) {
      start = rows.findIndex((r) => r.server.id === q.marker) + 1
      if (start === 0) throw invalidParameter(`marker ${q.marker} is not a server in the recycle bin`)
    }
    return withDetails(this.deps.database.db, rows.slice(start + q.offset, start + q.offset + q.limit))
  }

  /** `revertRecycleBinServer`: a job that re-places the server and brings it back, stopped. */
  async revert(projectId: string, serverId: string): Promise<AcceptedJob> {
    return this.revertInTransaction(projectId, serverId).catch(async (err: unknown) => {
      await recordRefusal(this.deps.database, err, { reason: 'revert', projectId, serverId })
      throw err
    })
  }

  private async revertInTransaction(projectId: string, serverId: string): Promise<AcceptedJob> {
    return this.deps.database.transaction(async (tx) => {
      const { db, dialect } = tx
      const peek = await db.selectFrom('servers').select('bin_group_id').where('id', '=', serverId).where('project_id', '=', projectId).executeTakeFirst()
      // Group before server, as every writer locks them; a group deleted meanwhile is not rejoined.
      const group = peek?.bin_group_id
        ? await lockForUpdate(db.selectFrom('server_groups').select(['id', 'policy', 'max_server_per_host']).where('id', '=', peek.bin_group_id), dialect).executeTakeFirst()
        : undefined
      const server = await this.lockBinned(db, dialect, projectId, serverId)
      let joinGroup: MemberGroup | undefined
      let holds = noGroupHolds()
      if (group && server.bin_group_id === group.id) {
        const limit = this.deps.quotas.maxServerGroupMembers
        if ((await memberCount(db, group.id)) >= limit) throw groupMemberQuota(group.id, limit)
        joinGroup = memberGroupOf(group)
        holds = await groupHolds(db, group.id)
      }
      const old = await db.selectFrom('hosts').select(['id', 'state', 'enabled', 'free_vcpus', 'free_ram_mb', 'dedicated_to', 'fault_domain']).where('id', '=', server.host_id).executeTakeFirstOrThrow()
      // The bin holds nothing on the old host, so it may have been dedicated to another project meanwhile.
      const oldStillOurs = old.dedicated_to === null || old.dedicated_to === projectId
      const fitsOld = oldStillOurs && old.state === 'up' && old.enabled === 1 && old.free_vcpus >= server.vcpus && old.free_ram_mb >= server.ram_mb && !heldByGroup(holds, old)
      const targetHostId = fitsOld
        ? old.id
        : (await this.deps.placement.place(db, {
            vcpus: server.vcpus,
            ramMb: server.ram_mb,
            az: server.az,
            ...holds,
            dedicatedTo: old.dedicated_to === projectId ? projectId : undefined,
            subject: `ECS ${server.id} (revert from the recycle bin: ${server.vcpus} vCPU, ${server.ram_mb} MiB) in ${server.az}${joinGroup ? ` ${describeHolds(holds, joinGroup.id)}` : ''}`,
          })).id
      return startMoves(tx, this.deps.jobs, {
        projectId,
        operation: 'revert',
        moves: [{
          plan: {
            server, reason: 'revert', kind: 'cold', flavor: { id: server.flavor_id, vcpus: server.vcpus, ramMb: server.ram_mb },
            currentGroup: null, joinGroup, statusDuring: 'SHUTOFF', taskState: TASK_STATE_OF.revert[0], finalStatus: 'SHUTOFF', onFailure: 'rollback',
          },
          target: async () => targetHostId,
        }],
      })
    })
  }

  /** `deleteRecycleBinServer`: a job that deletes a binned server for good. */
  async deleteForGood(projectId: string, serverId: string): Promise<AcceptedJob> {
    return this.deps.database.transaction(async (tx) => {
      const server = await this.lockBinned(tx.db, tx.dialect, projectId, serverId)
      await tx.db.updateTable('servers').set({ task_state: TASK_STATE_OF.purge[0], updated_at: nowIso() }).where('id', '=', server.id).execute()
      const { jobId } = await recordJob(tx, this.deps.jobs, { projectId, operation: 'purge', work: [server.id] })
      return { jobId, serverIds: [server.id] }
    })
  }

  private async lockBinned(db: Kysely<Schema>, dialect: Database['dialect'], projectId: string, serverId: string) {
    const server = await lockForUpdate(
      db.selectFrom('servers')
        .select(MOVING_SERVER_COLUMNS)
        .where('id', '=', serverId)
        .where('project_id', '=', projectId),
      dialect,
    ).executeTakeFirst()
    if (!server) throw serverNotFound(serverId)
    if (server.in_recycle_bin !== 1) throw serverNotInRecycleBin(serverId)
    if (server.task_state !== null) throw serverBusy(serverId, server.status, server.task_state)
    return server
  }
}

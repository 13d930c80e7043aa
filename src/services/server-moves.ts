import type { Kysely } from 'kysely'
import type { Quotas } from '../config.ts'
import {
  EcsError, batchResizeMismatch, flavorNotFound, flavorNotResizable, flavorNotSold, invalidParameter, migrateNeedsDedicatedHost,
  sameDedicatedHost, sameFlavor, serverBusy, serverInRecycleBin, serverMustBeStopped, serverNotFound, serverWrongStatus,
  tooManyServersInBatch,
} from '../domain/errors.ts'
import { BATCH_RESIZE_JOB_TYPE, type ServerOperation } from '../domain/job.ts'
import type { MoveFailure, MoveKind, MoveReason } from '../domain/move.ts'
import { POWER_STATE, type ServerStatus, type TaskState } from '../domain/server.ts'
import type { PlacementEngine } from '../placement/engine.ts'
import type { HostCandidate } from '../placement/types.ts'
import { lockForUpdate, type Database, type Tx } from '../store/database.ts'
import type { Schema } from '../store/schema.ts'
import { recordRefusal, recordStateChange, type RefusalContext } from './events.ts'
import { lockProject } from './groups.ts'
import type { JobRunner } from './jobs.ts'
import { describeHolds, groupHolds, noGroupHolds } from './membership.ts'
import { lockServersForMove, startMoves, type LockedServer } from './moves.ts'
import { assertDedicatedHost, checkQuota, DryRunPassed, type AcceptedJob } from './servers.ts'
import { nowIso } from './time.ts'

/** At most this many servers in one batch resize (the API's limit). */
export const MAX_BATCH_RESIZE = 50

/** Dependencies of the move use cases. */
export interface ServerMoveServiceDeps {
  database: Database
  placement: PlacementEngine
  quotas: Quotas
  jobs: JobRunner
}

/** What a resize request asks for. */
export interface ResizeInput {
  flavorRef: string
  /** `withStopServer`: a running server is stopped, resized and started again. */
  mode: 'withStopServer' | undefined
  /** The dedicated host to resize onto (servers on dedicated hosts only). */
  dedicatedHostId?: string | undefined
  dryRun: boolean
}

/** What an operator's migration asks for. */
export interface OperatorMigrateInput {
  /** Keep the server running while it moves; it must be ACTIVE. */
  live: boolean
  /** A host name; absent: placement chooses. */
  hostName: string | undefined
}

/** How one locked server is to move: everything but the target. */
interface MoveIntent {
  locked: LockedServer
  reason: MoveReason
  kind: MoveKind
  flavor: { id: string; vcpus: number; ramMb: number }
  statusDuring: ServerStatus
  taskState: TaskState
  finalStatus: ServerStatus
  /** Place here if the host can take the change (a resize in place). */
  stayIfRoom: boolean
  /** Only this host (a named dedicated host, an operator's choice). */
  requestedHostId?: string | undefined
  /** Dedicated hosts of this project, or the shared pool when absent. */
  dedicatedTo: string | undefined
  /** Leave the current host (redeploy, migration). */
  leave: boolean
  /** What a failure leaves; default `rollback`. */
  onFailure?: MoveFailure
}

/** What an evacuation attempt did. */
export type EvacuationOutcome = 'moving' | 'stranded' | 'skipped'

/**
 * The operations that change a server's host or size — resize, cold migration between dedicated
 * hosts and the shared pool, redeploy, and operators' live and cold migrations. Each one checks
 * its preconditions, chooses a target with the same placement filters as a create (the group's
 * held hosts excluded, in-flight moves included) and starts a move with a job, all in one
 * transaction; the job runner and the driver do the rest.
 */
export class ServerMoveService {
  constructor(private readonly deps: ServerMoveServiceDeps) {}

  /**
   * Resizes one server (`resizeServer`, `resizePostPaidServer`) or a batch (`batchResizeServers`:
   * same zone, same flavor, at most 50). A server stays on its host when the host has room for
   * the growth; otherwise it moves to a host of its zone with room that its group does not hold.
   * Batches are placed one server after another in the same transaction, so two members can
   * never be sent to one host.
   */
  async resize(projectId: string, serverIds: readonly string[], input: ResizeInput, batch: boolean): Promise<AcceptedJob> {
    const ids = [...new Set(serverIds)]
    if (ids.length > MAX_BATCH_RESIZE) throw tooManyServersInBatch(ids.length, MAX_BATCH_RESIZE)
    const refusal = { reason: 'resize', projectId, serverId: ids.length === 1 ? ids[0] : undefined }
    return this.inTransaction(input.dryRun, refusal, async (tx) => {
      const { db, dialect } = tx
      // Project first: the usage counters change, and a create takes the project before groups.
      await lockProject(db, projectId)
      const locked = await lockServersForMove(db, dialect, projectId, ids)
      const flavor = await db.selectFrom('flavors').selectAll().where('id', '=', input.flavorRef).executeTakeFirst()
      if (!flavor) throw flavorNotFound(input.flavorRef)
      const first = locked[0]!.server
      if (batch) {
        for (const { server } of locked) {
          if (server.az !== first.az) throw batchResizeMismatch(`ECS ${server.id} is in ${server.az}, ECS ${first.id} in ${first.az}`)
          if (server.flavor_id !== first.flavor_id) throw batchResizeMismatch(`ECS ${server.id} has flavor ${server.flavor_id}, ECS ${first.id} has ${first.flavor_id}`)
        }
      }
      const intents: MoveIntent[] = []
      for (const l of locked) {
        const { server } = l
        assertMovable(server, 'resize')
        const running = server.status === 'ACTIVE'
        if (!(server.status === 'SHUTOFF' || (running && input.mode === 'withStopServer'))) {
          throw serverMustBeStopped(server.id, server.status, 'resize', 'Stop it first, or send "mode": "withStopServer" to have it stopped, resized and started again.')
        }
        if (flavor.id === server.flavor_id) throw sameFlavor(server.id, flavor.id)
        if (flavor.virtualization !== server.virtualization) {
          throw flavorNotResizable(server.id, server.flavor_id, flavor.id, `a ${virtualizationName(server.virtualization)} ECS cannot become a ${virtualizationName(flavor.virtualization)} one`)
        }
        if (flavor.sell_status !== 'normal') throw flavorNotSold(flavor.id, flavor.sell_status)
        const dedicatedTo = await dedicatedOwner(db, server.host_id)
        if (input.dedicatedHostId !== undefined) {
          if (dedicatedTo === undefined) throw invalidParameter(`dedicated_host_id: ECS ${server.id} runs in the shared pool; move it to a dedicated host with migrate first`)
          await assertDedicatedHost(db, projectId, input.dedicatedHostId)
        }
        intents.push({
          locked: l, reason: 'resize', kind: 'cold', flavor: { id: flavor.id, vcpus: flavor.vcpus, ramMb: flavor.ram_mb },
          statusDuring: 'RESIZE', taskState: 'resize_migrating', finalStatus: running ? 'ACTIVE' : 'SHUTOFF',
          stayIfRoom: input.dedicatedHostId === undefined || input.dedicatedHostId === server.host_id,
          requestedHostId: input.dedicatedHostId, dedicatedTo, leave: false,
        })
      }
      const growth = locked.reduce((sum, { server }) => ({
        cores: sum.cores + flavor.vcpus - server.vcpus, ramMb: sum.ramMb + flavor.ram_mb - server.ram_mb,
      }), { cores: 0, ramMb: 0 })
      await checkQuota(db, this.deps.quotas, projectId, { instances: 0, ...growth })
      return this.start(tx, projectId, 'resize', intents, batch ? BATCH_RESIZE_JOB_TYPE : undefined)
    })
  }

  /**
   * `migrateServer`: a stopped server moves to a dedicated host of its project
   * (`dedicatedHostId`), between dedicated hosts, or back to the shared pool (`null`). The
   * target passes every filter; a named host that the group holds is refused with the diagnosis.
   */
  async migrate(projectId: string, serverId: string, dedicatedHostId: string | null): Promise<AcceptedJob> {
    return this.inTransaction(false, { reason: 'migrate', projectId, serverId }, async (tx) => {
      const { db, dialect } = tx
      const [locked] = await lockServersForMove(db, dialect, projectId, [serverId])
      const { server } = locked!
      assertMovable(server, 'migrate')
      if (server.status !== 'SHUTOFF') throw serverMustBeStopped(server.id, server.status, 'migrate', 'Stop it (os-stop), wait for the job, and retry.')
      const onDedicated = (await dedicatedOwner(db, server.host_id)) !== undefined
      if (dedicatedHostId === null && !onDedicated) throw migrateNeedsDedicatedHost(server.id)
      if (dedicatedHostId !== null) {
        await assertDedicatedHost(db, projectId, dedicatedHostId)
        if (dedicatedHostId === server.host_id) throw sameDedicatedHost(server.id, dedicatedHostId)
      }
      return this.start(tx, projectId, 'migrate', [{
        locked: locked!, reason: 'migrate', kind: 'cold', flavor: flavorOf(server), statusDuring: 'MIGRATING', taskState: 'migrating',
        finalStatus: 'SHUTOFF', stayIfRoom: false, requestedHostId: dedicatedHostId ?? undefined,
        dedicatedTo: dedicatedHostId === null ? undefined : projectId, leave: true,
      }])
    })
  }

  /**
   * `executeServerRedeploy`: the server is deployed on another host of its zone and tenancy
   * that its group does not hold, keeping its power state (a running server is restarted there;
   * one in ERROR comes back stopped).
   */
  async redeploy(projectId: string, serverId: string): Promise<AcceptedJob> {
    return this.inTransaction(false, { reason: 'redeploy', projectId, serverId }, async (tx) => {
      const { db, dialect } = tx
      const [locked] = await lockServersForMove(db, dialect, projectId, [serverId])
      const { server } = locked!
      assertMovable(server, 'redeploy')
      if (!['ACTIVE', 'SHUTOFF', 'ERROR'].includes(server.status)) throw serverWrongStatus(server.id, server.status, 'redeploy', 'ACTIVE, SHUTOFF or ERROR')
      return this.start(tx, projectId, 'redeploy', [{
        locked: locked!, reason: 'redeploy', kind: 'cold', flavor: flavorOf(server), statusDuring: 'MIGRATING', taskState: 'migrating',
        finalStatus: server.status === 'ACTIVE' ? 'ACTIVE' : 'SHUTOFF', stayIfRoom: false,
        dedicatedTo: await dedicatedOwner(db, server.host_id), leave: true,
      }])
    })
  }

  /**
   * An operator's migration of any project's server: live (the server keeps running; it must be
   * ACTIVE) or cold, to a named host or where placement chooses. The same filters apply —
   * naming a host never bypasses capacity or the group's held hosts.
   */
  async operatorMigrate(serverId: string, input: OperatorMigrateInput): Promise<AcceptedJob> {
    const owner = await this.deps.database.db.selectFrom('servers').select('project_id').where('id', '=', serverId).executeTakeFirst()
    if (!owner) throw serverNotFound(serverId)
    const projectId = owner.project_id
    return this.inTransaction(false, { reason: input.live ? 'live_migrate' : 'migrate', projectId, serverId }, async (tx) => {
      const { db, dialect } = tx
      const [locked] = await lockServersForMove(db, dialect, projectId, [serverId])
      const { server } = locked!
      assertMovable(server, 'migrate')
      if (input.live && server.status !== 'ACTIVE') throw serverWrongStatus(server.id, server.status, 'a live migration', 'ACTIVE (running); migrate a stopped ECS cold')
      if (!['ACTIVE', 'SHUTOFF'].includes(server.status)) throw serverWrongStatus(server.id, server.status, 'migrate', 'ACTIVE or SHUTOFF')
      let requestedHostId: string | undefined
      if (input.hostName !== undefined) {
        const host = await db.selectFrom('hosts').select('id').where('name', '=', input.hostName).executeTakeFirst()
        if (!host) throw invalidParameter(`host "${input.hostName}" does not exist`)
        if (host.id === server.host_id) throw invalidParameter(`ECS ${server.id} already runs on ${input.hostName}`)
        requestedHostId = host.id
      }
      return this.start(tx, projectId, 'migrate', [{
        locked: locked!, reason: input.live ? 'live_migrate' : 'migrate', kind: input.live ? 'live' : 'cold', flavor: flavorOf(server),
        statusDuring: 'MIGRATING', taskState: 'migrating', finalStatus: server.status === 'ACTIVE' ? 'ACTIVE' : 'SHUTOFF', stayIfRoom: false,
        requestedHostId, dedicatedTo: await dedicatedOwner(db, server.host_id), leave: true,
      }])
    })
  }

  /**
   * Evacuates a server off a failed host (the host monitor calls it, on any replica): rebuilt on
   * another host of its zone and tenancy that has room and that its group does not hold — the
   * group row is locked, so two evacuees of one group never pick the same host — coming back as
   * it was (running servers run again, stopped ones stay stopped). A server that no host can take
   * is stranded: ERROR with the diagnosis as its fault, still a member, still on the failed host,
   * until capacity returns; this also places stranded servers again, onto their own host if it is
   * back. Idempotent: a server that is busy, or no longer on a down host nor stranded, is skipped.
   */
  async evacuate(serverId: string): Promise<EvacuationOutcome> {
    const owner = await this.deps.database.db.selectFrom('servers').select('project_id').where('id', '=', serverId).executeTakeFirst()
    if (!owner) return 'skipped'
    let finalStatus: ServerStatus = 'SHUTOFF'
    try {
      await this.deps.database.transaction(async (tx) => {
        const { db, dialect } = tx
        const [locked] = await lockServersForMove(db, dialect, owner.project_id, [serverId])
        const { server } = locked!
        const host = await db.selectFrom('hosts').select(['state', 'enabled', 'dedicated_to']).where('id', '=', server.host_id).executeTakeFirstOrThrow()
        if (server.in_recycle_bin === 1 || server.task_state !== null) throw new Skip()
        if (host.state !== 'down' && server.stranded === null) throw new Skip()
        finalStatus = (server.stranded as ServerStatus | null) ?? (server.status === 'ACTIVE' ? 'ACTIVE' : 'SHUTOFF')
        await this.start(tx, owner.project_id, 'evacuate', [{
          locked: locked!, reason: 'evacuate', kind: 'cold', flavor: flavorOf(server), statusDuring: 'REBUILD', taskState: 'rebuilding', finalStatus,
          // A stranded server whose own host is back stays there.
          stayIfRoom: host.state === 'up' && host.enabled === 1, dedicatedTo: host.dedicated_to ?? undefined, leave: false, onFailure: 'strand',
        }])
      })
      return 'moving'
    } catch (err) {
      if (err instanceof Skip) return 'skipped'
      if (!(err instanceof EcsError) || err.code !== 'Ecs.0319') throw err
      const stranded = await this.strand(serverId, finalStatus, err)
      // After the strand, so that a retry refused alike finds its refusal last and adds none.
      await recordRefusal(this.deps.database, err, { reason: 'evacuate', projectId: owner.project_id, serverId, repeated: true })
      return stranded
    }
  }

  /**
   * A drained host's server moves off it: live if it runs, cold if not (a server in ERROR comes
   * back stopped, unless it was stranded: it comes back as it was before its host failed), where
   * placement chooses. Skipped when the server is busy or no longer there.
   */
  async drainOne(serverId: string, hostId: string): Promise<'moving' | 'skipped'> {
    const owner = await this.deps.database.db.selectFrom('servers').select('project_id').where('id', '=', serverId).executeTakeFirst()
    if (!owner) return 'skipped'
    try {
      await this.deps.database.transaction(async (tx) => {
        const { db, dialect } = tx
        const [locked] = await lockServersForMove(db, dialect, owner.project_id, [serverId])
        const { server } = locked!
        if (server.host_id !== hostId || server.in_recycle_bin === 1 || server.task_state !== null) throw new Skip()
        const live = server.status === 'ACTIVE'
        // A server stranded on a failed host being drained returns to the status it was
        // stranded in, as its evacuation would have brought it back.
        const finalStatus = (server.stranded as ServerStatus | null) ?? (live ? 'ACTIVE' : 'SHUTOFF')
        await this.start(tx, owner.project_id, 'migrate', [{
          locked: locked!, reason: 'drain', kind: live ? 'live' : 'cold', flavor: flavorOf(server), statusDuring: 'MIGRATING', taskState: 'migrating',
          finalStatus, stayIfRoom: false, dedicatedTo: await dedicatedOwner(db, server.host_id), leave: true,
        }])
      })
      return 'moving'
    } catch (err) {
      if (err instanceof Skip) return 'skipped'
      await recordRefusal(this.deps.database, err, { reason: 'drain', projectId: owner.project_id, serverId, repeated: true })
      throw err
    }
  }

  /** Marks a server that no host could take as stranded, once (a later failed retry changes nothing). */
  private async strand(serverId: string, finalStatus: ServerStatus, why: EcsError): Promise<'stranded'> {
    await this.deps.database.transaction(async ({ db, dialect }) => {
      const server = await lockForUpdate(db.selectFrom('servers').select(['project_id', 'host_id', 'status', 'stranded', 'task_state']).where('id', '=', serverId), dialect).executeTakeFirst()
      if (!server || server.stranded !== null || server.task_state !== null) return
      const now = nowIso()
      await recordStateChange(db, {
        at: now, projectId: server.project_id, serverId, hostId: server.host_id, reason: 'evacuate', from: server.status, to: 'ERROR',
        detail: 'stranded: no host can take it; placed again when capacity returns',
      })
      await db
        .updateTable('servers')
        .set({
          status: 'ERROR', power_state: POWER_STATE.NOSTATE, stranded: finalStatus, updated_at: now,
          fault: JSON.stringify({ code: why.code, message: `evacuation found no host: ${why.message}`, created: now }),
        })
        .where('id', '=', serverId)
        .execute()
    })
    return 'stranded'
  }

  /**
   * Runs `fn` in a write transaction; a dry run stops at the end and rolls everything back. A
   * refused placement (of a real request) is recorded as `refusal` says.
   */
  private async inTransaction(dryRun: boolean, refusal: RefusalContext, fn: (tx: Tx) => Promise<AcceptedJob>): Promise<AcceptedJob> {
    try {
      return await this.deps.database.transaction(async (tx) => {
        const accepted = await fn(tx)
        if (dryRun) throw new DryRunPassed()
        return accepted
      })
    } catch (err) {
      if (err instanceof DryRunPassed) return { jobId: '', serverIds: [] }
      if (!dryRun) await recordRefusal(this.deps.database, err, refusal)
      throw err
    }
  }

  /**
   * Records the job, then places and begins each move in turn: each later placement sees the
   * claims and group holds of the earlier ones.
   */
  private async start(tx: Tx, projectId: string, operation: ServerOperation, intents: MoveIntent[], parentType?: string): Promise<AcceptedJob> {
    return startMoves(tx, this.deps.jobs, {
      projectId, operation, parentType,
      moves: intents.map((intent) => ({
        plan: {
          server: intent.locked.server, reason: intent.reason, kind: intent.kind, flavor: intent.flavor, currentGroup: intent.locked.group,
          statusDuring: intent.statusDuring, taskState: intent.taskState, finalStatus: intent.finalStatus, onFailure: intent.onFailure ?? 'rollback',
        },
        target: () => this.target(tx.db, intent),
      })),
    })
  }

  /** The host a move goes to: the current one when it can take the change, else placement's choice. */
  private async target(db: Kysely<Schema>, intent: MoveIntent): Promise<string> {
    const { server, group } = intent.locked
    const { flavor } = intent
    if (intent.stayIfRoom) {
      const host = await db.selectFrom('hosts').select(['id', 'state', 'enabled', 'free_vcpus', 'free_ram_mb']).where('id', '=', server.host_id).executeTakeFirstOrThrow()
      const growV = Math.max(0, flavor.vcpus - server.vcpus)
      const growR = Math.max(0, flavor.ramMb - server.ram_mb)
      if (host.state === 'up' && host.enabled === 1 && host.free_vcpus >= growV && host.free_ram_mb >= growR) return host.id
    }
    const holds = group ? await groupHolds(db, group.id, server.id) : noGroupHolds()
    const chosen: HostCandidate = await this.deps.placement.place(db, {
      vcpus: flavor.vcpus,
      ramMb: flavor.ramMb,
      az: server.az,
      ...holds,
      dedicatedTo: intent.dedicatedTo,
      requestedHostId: intent.requestedHostId,
      ...(intent.leave ? { avoidHostIds: new Set([server.host_id]) } : {}),
      subject: `ECS ${server.id} (${intent.reason}: ${flavor.vcpus} vCPU, ${flavor.ramMb} MiB) in ${server.az}${group ? ` ${describeHolds(holds, group.id)}` : ''}`,
    })
    return chosen.id
  }
}

/** Thrown inside a transaction to leave it without a change: there was nothing to do. */
class Skip extends Error {
  override name = 'Skip'
}

/** The preconditions every move shares: not in the recycle bin, no job in progress. */
function assertMovable(server: LockedServer['server'], _operation: string): void {
  if (server.in_recycle_bin === 1) throw serverInRecycleBin(server.id)
  if (server.task_state !== null) throw serverBusy(server.id, server.status, server.task_state)
}

function flavorOf(server: LockedServer['server']) {
  return { id: server.flavor_id, vcpus: server.vcpus, ramMb: server.ram_mb }
}

function virtualizationName(v: string): string {
  return v === 'kvm' ? 'KVM' : 'Xen'
}

/** The project a host is dedicated to, or undefined for a shared host. */
async function dedicatedOwner(db: Kysely<Schema>, hostId: string): Promise<string | undefined> {
  const host = await db.selectFrom('hosts').select('dedicated_to').where('id', '=', hostId).executeTakeFirst()
  return host?.dedicated_to ?? undefined
}

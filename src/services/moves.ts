import type { Kysely } from 'kysely'
import { serverBusy, serverNotFound } from '../domain/errors.ts'
import type { MoveFailure, MoveKind, MovePrior, MoveReason } from '../domain/move.ts'
import { POWER_STATE, type ServerStatus, type TaskState } from '../domain/server.ts'
import type { ServerOperation } from '../domain/job.ts'
import { lockForUpdate, TransientConflictError, type Dialect, type Tx } from '../store/database.ts'
import { placeholders, prepared } from '../store/prepared.ts'
import type { Schema } from '../store/schema.ts'
import type { MoveTable } from '../store/tables/moves.ts'
import { adjustUsage, claim, release } from './allocations.ts'
import { recordEvent, recordStateChange } from './events.ts'
import { completeParentIfDone, markSubJobDone, recordJob, type JobRunner } from './jobs.ts'
import { holdBothEnds, insertMemberships, memberGroupOf, returnToSource, type MemberGroup } from './membership.ts'
import { newTimeOrderedId, nowIso } from './time.ts'

/**
 * The one way a server changes host or size (ARCHITECTURE §2b). `beginMove` runs inside the
 * transaction that decided the move: it claims the target, points the server and its
 * membership at the target, keeps the source's allocation and the group's hold on the source,
 * and records the move. The driver then carries it out, and `finishMove` — in the transaction
 * that records the driver's outcome — releases the source (success) or puts everything back
 * (failure). Between the two, both hosts count: against capacity, and as used by the group.
 */

/** The columns of a server a move reads; the caller has locked the row. */
export type MovingServer = Pick<
  Schema['servers'],
  'id' | 'project_id' | 'host_id' | 'flavor_id' | 'vcpus' | 'ram_mb' | 'status' | 'power_state' | 'in_recycle_bin' | 'az' | 'task_state' | 'virtualization' | 'bin_group_id' | 'stranded'
>

/** A server locked for a move, with the group it is a member of. */
export interface LockedServer {
  server: MovingServer
  group: MemberGroup | null
}

/** Everything `beginMove` needs; the target has passed placement (or is the current host). */
export interface MovePlan {
  server: MovingServer
  /** The sub-job that drives the move. */
  jobId: string
  /** The job the request was answered with (the sub-job's parent): its events name it. */
  parentJobId: string
  reason: MoveReason
  kind: MoveKind
  targetHostId: string
  /** The server's flavor once moved (its current one unless it is resized). */
  flavor: { id: string; vcpus: number; ramMb: number }
  /** The group the server is a member of now; its membership and hold follow the server. */
  currentGroup: MemberGroup | null
  /** A group the server joins on the target (add_member, recycle-bin revert). */
  joinGroup?: MemberGroup | undefined
  statusDuring: ServerStatus
  taskState: TaskState
  finalStatus: ServerStatus
  onFailure: MoveFailure
}

/** How a move ended, as the driver reported it. */
export type MoveOutcome = { ok: true } | { ok: false; code: string; reason: string }

/** The columns of `MovingServer`: what every use case that may move a server reads of it. */
export const MOVING_SERVER_COLUMNS = ['id', 'project_id', 'host_id', 'flavor_id', 'vcpus', 'ram_mb', 'status', 'power_state', 'in_recycle_bin', 'az', 'task_state', 'virtualization', 'bin_group_id', 'stranded'] as const

/**
 * Locks a server of the project for a move, in the lock order every writer uses: its group
 * first (so the group's membership cannot change under the placement), then the server. The
 * membership is read once unlocked to know which group to lock and again under the locks; if it
 * changed in between, the transaction is retried.
 */
export async function lockServerForMove(db: Kysely<Schema>, dialect: Dialect, projectId: string, serverId: string): Promise<LockedServer> {
  const [locked] = await lockServersForMove(db, dialect, projectId, [serverId])
  return locked!
}

/** `lockServerForMove` for several servers: all their groups, then all of them, each in id order. */
export async function lockServersForMove(db: Kysely<Schema>, dialect: Dialect, projectId: string, serverIds: readonly string[]): Promise<LockedServer[]> {
  const ids = [...new Set(serverIds)].sort()
  const membership = async () =>
    new Map(
      (await db
        .selectFrom('server_group_members as m')
        .innerJoin('server_groups as g', 'g.id', 'm.group_id')
        .select(['m.server_id', 'g.id', 'g.policy', 'g.max_server_per_host'])
        .where('m.server_id', 'in', ids)
        .execute())
        .map((m) => [m.server_id, memberGroupOf(m)]),
    )
  const before = await membership()
  const groups = [...new Set([...before.values()].map((g) => g.id))].sort()
  if (groups.length > 0) await lockForUpdate(db.selectFrom('server_groups').select('id').where('id', 'in', groups).orderBy('id'), dialect).execute()
  const rows = await lockForUpdate(db.selectFrom('servers').select(MOVING_SERVER_COLUMNS).where('project_id', '=', projectId).where('id', 'in', ids).orderBy('id'), dialect).execute()
  const byId = new Map(rows.map((r) => [r.id, r]))
  const after = dialect === 'postgres' ? await membership() : before
  return serverIds.map((id) => {
    const server = byId.get(id)
    if (!server) throw serverNotFound(id)
    const group = after.get(id) ?? null
    if ((before.get(id)?.id ?? null) !== (group?.id ?? null)) {
      throw new TransientConflictError(`membership of ${id} changed while it was being locked`, serverBusy(id, server.status, 'group membership changing'))
    }
    return { server, group }
  })
}

/** What the source keeps and the target takes, dimension by dimension. */
function amounts(server: MovingServer, targetHostId: string, flavor: MovePlan['flavor']) {
  if (server.in_recycle_bin === 1) {
    // A binned server holds nothing; it takes its whole flavor wherever it comes back.
    return { held: { vcpus: 0, ramMb: 0 }, claimed: { vcpus: flavor.vcpus, ramMb: flavor.ramMb } }
  }
  if (targetHostId === server.host_id) {
    // In place: the host takes only the growth, and keeps the shrinkage until the move succeeds.
    return {
      held: { vcpus: Math.max(0, server.vcpus - flavor.vcpus), ramMb: Math.max(0, server.ram_mb - flavor.ramMb) },
      claimed: { vcpus: Math.max(0, flavor.vcpus - server.vcpus), ramMb: Math.max(0, flavor.ramMb - server.ram_mb) },
    }
  }
  return { held: { vcpus: server.vcpus, ramMb: server.ram_mb }, claimed: { vcpus: flavor.vcpus, ramMb: flavor.ramMb } }
}

/**
 * Starts a move inside the deciding transaction. Throws `TransientConflictError` (the
 * transaction is retried) when the target filled up since placement read it. When the flavor
 * changes, the project's usage counters must already be locked by the caller (project before
 * group, as a create takes them).
 */
export async function beginMove(db: Kysely<Schema>, plan: MovePlan): Promise<MoveTable> {
  const { server, flavor } = plan
  const source = server.host_id
  const target = plan.targetHostId
  const { held, claimed } = amounts(server, target, flavor)
  const now = nowIso()

  await claim(db, { hostId: target, ...claimed })
  const cores = flavor.vcpus - server.vcpus
  const ramMb = flavor.ramMb - server.ram_mb
  if (cores !== 0 || ramMb !== 0) await adjustUsage(db, server.project_id, { servers: 0, cores, ramMb })
  await SERVER_MOVING.run(db, { serverId: server.id, hostId: target, flavorId: flavor.id, vcpus: flavor.vcpus, ramMb: flavor.ramMb, status: plan.statusDuring, taskState: plan.taskState, now })

  if (plan.currentGroup && target !== source) await holdBothEnds(db, plan.currentGroup, server.id, source, target)
  if (plan.joinGroup) {
    await insertMemberships(db, [{ groupId: plan.joinGroup.id, serverId: server.id, hostId: target, createdAt: now }])
  }

  const prior: MovePrior = {
    hostId: source, flavorId: server.flavor_id, vcpus: server.vcpus, ramMb: server.ram_mb, status: server.status,
    powerState: server.power_state, inRecycleBin: server.in_recycle_bin === 1, groupId: plan.currentGroup?.id ?? null,
  }
  const move: MoveTable = {
    id: newTimeOrderedId(), server_id: server.id, job_id: plan.jobId, reason: plan.reason, kind: plan.kind,
    group_id: plan.currentGroup?.id ?? plan.joinGroup?.id ?? null, source_host_id: source, target_host_id: target,
    held_vcpus: held.vcpus, held_ram_mb: held.ramMb, claimed_vcpus: claimed.vcpus, claimed_ram_mb: claimed.ramMb,
    prior: JSON.stringify(prior), final_status: plan.finalStatus, on_failure: plan.onFailure, created_at: now,
  }
  await INSERT_MOVE.run(db, move)
  const event = { at: now, projectId: server.project_id, serverId: server.id, groupId: move.group_id, reason: plan.reason, jobId: plan.parentJobId }
  if (plan.joinGroup) await recordEvent(db, { ...event, kind: 'member_added', groupId: plan.joinGroup.id, hostId: target })
  await recordEvent(db, { ...event, kind: 'move_started', fromHostId: source, toHostId: target })
  await recordStateChange(db, { ...event, hostId: target, from: server.status, to: plan.statusDuring })
  return move
}

const SERVER_MOVING = prepared((db, p: { serverId: string; hostId: string; flavorId: string; vcpus: number; ramMb: number; status: string; taskState: string; now: string }) =>
  db
    .updateTable('servers')
    .set({ host_id: p.hostId, flavor_id: p.flavorId, vcpus: p.vcpus, ram_mb: p.ramMb, status: p.status, task_state: p.taskState, in_recycle_bin: 0, updated_at: p.now })
    .where('id', '=', p.serverId),
)

const INSERT_MOVE = prepared((db, row: MoveTable) =>
  db.insertInto('moves').values(
    placeholders(row, {
      id: true, server_id: true, job_id: true, reason: true, kind: true, group_id: true, source_host_id: true, target_host_id: true, held_vcpus: true,
      held_ram_mb: true, claimed_vcpus: true, claimed_ram_mb: true, prior: true, final_status: true, on_failure: true, created_at: true,
    } satisfies Record<keyof MoveTable, true>),
  ),
)

const DROP_SOURCE_HOLD = prepared((db, p: { serverId: string }) => db.deleteFrom('group_host_holds').where('server_id', '=', p.serverId).where('kind', '=', 'move-source'))

const MOVED_SERVER = prepared((db, p: { serverId: string }) => db.selectFrom('servers').select(['project_id', 'status', 'power_state', 'vcpus', 'ram_mb']).where('id', '=', p.serverId))

const SERVER_ARRIVED = prepared((db, p: { serverId: string; status: string; powerState: number; now: string }) =>
  db.updateTable('servers').set({ status: p.status, task_state: null, power_state: p.powerState, fault: null, stranded: null, updated_at: p.now }).where('id', '=', p.serverId),
)

const DELETE_MOVE = prepared((db, p: { moveId: string }) => db.deleteFrom('moves').where('id', '=', p.moveId))

/** A move to start: its plan but the job and the target, and how to choose the target. */
export interface MoveRequest {
  plan: Omit<MovePlan, 'jobId' | 'parentJobId' | 'targetHostId'>
  /** Chooses the target; called in order, so each sees the claims of the moves before it. */
  target(): Promise<string>
}

/**
 * Records the job of one or more moves and begins each, in order. A cold move of a stopped
 * server that stays stopped, on hosts whose disks are shared (the driver says so), has nothing
 * for the driver to do: it ends here, in the deciding transaction, and its sub-job is recorded
 * as done — still through `beginMove`/`finishMove`, so the same claims, holds and checks apply.
 */
export async function startMoves(
  tx: Tx, runner: JobRunner, r: { projectId: string; operation: ServerOperation; parentType?: string | undefined; moves: MoveRequest[] },
): Promise<{ jobId: string; serverIds: string[] }> {
  const stoppedStaysStopped = (p: MoveRequest['plan']) =>
    p.kind === 'cold' && p.finalStatus === 'SHUTOFF' && (p.server.status === 'SHUTOFF' || p.server.in_recycle_bin === 1)
  const serverIds = r.moves.map((m) => m.plan.server.id)
  const { jobId, subJobIds } = await recordJob(tx, runner, {
    projectId: r.projectId, operation: r.operation, ...(r.parentType === undefined ? {} : { parentType: r.parentType }),
    work: serverIds,
  })
  let instantly = 0
  for (const m of r.moves) {
    const subJobId = subJobIds.get(m.plan.server.id)!
    const targetHostId = await m.target()
    const move = await beginMove(tx.db, { ...m.plan, jobId: subJobId, parentJobId: jobId, targetHostId })
    // Whether the driver has anything to do is known once the target is: a stopped server
    // between hosts with shared disks moves by its records alone.
    if (stoppedStaysStopped(m.plan) && (await runner.movesInstantly(tx.db, m.plan.server.host_id, targetHostId))) {
      await finishMove(tx.db, move, { ok: true }, jobId)
      await markSubJobDone(tx.db, subJobId)
      instantly++
    }
  }
  if (instantly > 0) await completeParentIfDone(tx.db, jobId)
  return { jobId, serverIds }
}

/** The power state a server has in a settled status. */
function powerOf(status: string, fallback: number): number {
  if (status === 'ACTIVE') return POWER_STATE.RUNNING
  if (status === 'SHUTOFF') return POWER_STATE.SHUTDOWN
  return fallback
}

/**
 * Ends a move in the transaction that records the driver's outcome; the caller has locked the
 * server. Success: the source gives back what it held and the group lets go of it. Failure with
 * `rollback`: the target gives back its claim and the server, its flavor, its usage and its
 * membership return to the source. Failure with `error`: the server stays on the target in
 * ERROR with the fault, and the source is released. Returns the status the server ends in.
 * `jobId` is the job the move's events name (the request's).
 */
export async function finishMove(db: Kysely<Schema>, move: MoveTable, outcome: MoveOutcome, jobId: string | null): Promise<string> {
  const prior = JSON.parse(move.prior) as MovePrior
  const now = nowIso()
  const serverId = move.server_id
  const server = await MOVED_SERVER.first(db, { serverId })
  if (!server) throw new Error(`server ${serverId} of move ${move.id} does not exist`)
  const event = { at: now, projectId: server.project_id, serverId, groupId: move.group_id, reason: move.reason, jobId }
  let status: string
  if (outcome.ok) {
    await DROP_SOURCE_HOLD.run(db, { serverId })
    await release(db, { hostId: move.source_host_id, vcpus: move.held_vcpus, ramMb: move.held_ram_mb })
    status = move.final_status
    if (prior.inRecycleBin) {
      await db
        .updateTable('servers')
        .set({ status, task_state: null, power_state: powerOf(status, server.power_state), fault: null, stranded: null, updated_at: now, recycled_at: null, bin_expires_at: null, bin_group_id: null })
        .where('id', '=', serverId)
        .execute()
    } else {
      await SERVER_ARRIVED.run(db, { serverId, status, powerState: powerOf(status, server.power_state), now })
    }
  } else if (move.on_failure === 'rollback' || move.on_failure === 'strand') {
    await release(db, { hostId: move.target_host_id, vcpus: move.claimed_vcpus, ramMb: move.claimed_ram_mb })
    const cores = prior.vcpus - server.vcpus
    const ramMb = prior.ramMb - server.ram_mb
    if (cores !== 0 || ramMb !== 0) await adjustUsage(db, server.project_id, { servers: 0, cores, ramMb })
    if (prior.groupId === null) {
      const left = await db.deleteFrom('server_group_members').where('server_id', '=', serverId).executeTakeFirst()
      if (Number(left.numDeletedRows) > 0) await recordEvent(db, { ...event, kind: 'member_removed', hostId: move.target_host_id, reason: 'move_failed' })
    } else if (move.source_host_id !== move.target_host_id) {
      await returnToSource(db, serverId, move.source_host_id)
    }
    // Stranded: back on the failed host it could not leave, in ERROR until capacity returns.
    const strand = move.on_failure === 'strand'
    status = strand ? 'ERROR' : prior.status
    await db
      .updateTable('servers')
      .set({
        host_id: prior.hostId, flavor_id: prior.flavorId, vcpus: prior.vcpus, ram_mb: prior.ramMb, status, power_state: strand ? POWER_STATE.NOSTATE : prior.powerState,
        task_state: null, in_recycle_bin: prior.inRecycleBin ? 1 : 0, updated_at: now,
        ...(strand ? { stranded: move.final_status, fault: JSON.stringify({ code: outcome.ok ? '' : outcome.code, message: outcome.ok ? '' : outcome.reason, created: now }) } : {}),
      })
      .where('id', '=', serverId)
      .execute()
  } else {
    await db.deleteFrom('group_host_holds').where('server_id', '=', serverId).where('kind', '=', 'move-source').execute()
    await release(db, { hostId: move.source_host_id, vcpus: move.held_vcpus, ramMb: move.held_ram_mb })
    status = 'ERROR'
    await db
      .updateTable('servers')
      .set({ status, task_state: null, power_state: POWER_STATE.NOSTATE, fault: JSON.stringify({ code: outcome.code, message: outcome.reason, created: now }), updated_at: now })
      .where('id', '=', serverId)
      .execute()
  }
  const hostId = outcome.ok || move.on_failure === 'error' ? move.target_host_id : prior.hostId
  const ends = { fromHostId: move.source_host_id, toHostId: move.target_host_id }
  if (outcome.ok) await recordEvent(db, { ...event, ...ends, kind: 'moved' })
  else await recordEvent(db, { ...event, ...ends, kind: 'move_failed', hostId, statusTo: status, detail: outcome.reason })
  await recordStateChange(db, {
    ...event, hostId, from: server.status, to: status,
    // A revert leaves the recycle bin when its move succeeds, whatever the status.
    ...(outcome.ok && prior.inRecycleBin ? { force: true, detail: 'restored from the recycle bin' } : {}),
  })
  await DELETE_MOVE.run(db, { moveId: move.id })
  return status
}

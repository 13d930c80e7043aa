import type { Kysely } from 'kysely'
import type { Logger } from 'pino'
import type { Quotas } from '../config.ts'
import {
  groupMemberQuota, groupNotFound, groupPolicyNotSupported, groupQuota, invalidParameter,
  serverBusy, serverInOtherGroup, serverInRecycleBin, serverNotFound, serverNotKvm, serverNotStopped,
} from '../domain/errors.ts'
import { validateGroupOptions, type GroupPolicy } from '../domain/group.ts'
import type { PlacementEngine } from '../placement/engine.ts'
import { lockForUpdate, type Database } from '../store/database.ts'
import { prepared } from '../store/prepared.ts'
import type { Schema } from '../store/schema.ts'
import { recordEvent, recordRefusal } from './events.ts'
import type { JobRunner } from './jobs.ts'
import { describeHolds, groupHolds, heldByGroup, insertMemberships, memberCount, memberGroupOf } from './membership.ts'
import { MOVING_SERVER_COLUMNS, startMoves } from './moves.ts'
import { nowIso } from './time.ts'

/** A group as the API shows it. */
export interface GroupView {
  id: string
  name: string
  policy: GroupPolicy
  /** Server ids, in the order they joined. */
  members: string[]
  createdAt: string
  /** Anti-affinity: Nova 2.64's `rules.max_server_per_host` as it was given; undefined when not given (one member per host). */
  maxServerPerHost: number | undefined
  /** Who created the group (Nova's `user_id`); undefined for groups created through the v1 API. */
  userId: string | undefined
  /**
   * For a group that spreads over fault domains (an ecsd extension): the distinct fault domains
   * its members' hosts are in, sorted (hosts without one are not named). Undefined for other groups.
   */
  faultDomains: string[] | undefined
}

/** One page of groups; `nextMarker` is set when another page follows. */
export interface GroupPage {
  groups: GroupView[]
  nextMarker: string | undefined
}

/** Dependencies of the group use cases. */
export interface GroupServiceDeps {
  database: Database
  placement: PlacementEngine
  quotas: Quotas
  jobs: JobRunner
  logger: Logger
}

/**
 * ECS group use cases. Each write is one transaction; the seed operation, `addMember`, decides
 * and records a re-placement under the same write lock, so no interleaving can put two members
 * on one host.
 */
export class GroupService {
  constructor(private readonly deps: GroupServiceDeps) {}

  /**
   * Creates a group of any of Nova's four policies; the project's group quota is checked under
   * the write lock. `maxServerPerHost` is Nova 2.64's anti-affinity rule (a positive integer,
   * anti-affinity only); `userId` is who creates it; with `spreadFaultDomains` (an ecsd extension,
   * anti-affinity only) its members also go to distinct fault domains. Invalid options are refused
   * with `Ecs.0005` before anything is written.
   */
  async create(
    projectId: string, name: string, policy: GroupPolicy,
    options: { spreadFaultDomains?: boolean; maxServerPerHost?: number; userId?: string } = {},
  ): Promise<GroupView> {
    validateGroupOptions(policy, options)
    return this.deps.database.transaction(async ({ db }) => {
      await lockProject(db, projectId)
      const { n } = await db
        .selectFrom('server_groups')
        .select((eb) => eb.fn.countAll<number | string>().as('n'))
        .where('project_id', '=', projectId)
        .executeTakeFirstOrThrow()
      if (Number(n) >= this.deps.quotas.maxServerGroups) throw groupQuota(this.deps.quotas.maxServerGroups)
      const group: Schema['server_groups'] = {
        id: crypto.randomUUID(), project_id: projectId, name, policy, created_at: nowIso(), spread_fault_domains: options.spreadFaultDomains === true ? 1 : 0,
        max_server_per_host: options.maxServerPerHost ?? null, user_id: options.userId ?? null, affinity_host_id: null,
      }
      await db.insertInto('server_groups').values(group).execute()
      await recordEvent(db, { kind: 'group_created', at: group.created_at, projectId, groupId: group.id, reason: policy })
      return toView(group, [], [])
    })
  }

  /** Lists groups oldest first; `marker` is the id of the last group of the previous page. */
  async list(projectId: string, limit: number | undefined, marker: string | undefined): Promise<GroupPage> {
    const db = this.deps.database.db
    if (limit === undefined && marker === undefined) {
      // The whole list, as the SDK asks for it: two prepared reads, whatever the number of groups.
      const groups = await PROJECT_GROUPS.all(db, { projectId })
      const members = listsByGroup(await PROJECT_GROUP_MEMBERS.all(db, { projectId }), (r) => r.server_id)
      const domains = await faultDomainsOf(db, groups.filter((g) => g.spread_fault_domains === 1).map((g) => g.id))
      return { groups: groups.map((g) => toView(g, members.get(g.id) ?? [], domains.get(g.id) ?? [])), nextMarker: undefined }
    }
    let query = db
      .selectFrom('server_groups')
      .selectAll()
      .where('project_id', '=', projectId)
      .orderBy('created_at')
      .orderBy('id')
    if (marker !== undefined) {
      const after = await db
        .selectFrom('server_groups')
        .select(['created_at', 'id'])
        .where('project_id', '=', projectId)
        .where('id', '=', marker)
        .executeTakeFirst()
      if (!after) throw invalidParameter(`marker ${marker} is not an ECS group of this project`)
      query = query.where((eb) =>
        eb.or([
          eb('created_at', '>', after.created_at),
          eb.and([eb('created_at', '=', after.created_at), eb('id', '>', after.id)]),
        ]),
      )
    }
    if (limit !== undefined) query = query.limit(limit + 1)
    const rows = await query.execute()
    const more = limit !== undefined && rows.length > limit
    const page = more ? rows.slice(0, limit) : rows
    const members = await membersOf(db, page.map((g) => g.id))
    const domains = await faultDomainsOf(db, page.filter((g) => g.spread_fault_domains === 1).map((g) => g.id))
    return {
      groups: page.map((g) => toView(g, members.get(g.id) ?? [], domains.get(g.id) ?? [])),
      nextMarker: more ? page[page.length - 1]?.id : undefined,
    }
  }

  async show(projectId: string, groupId: string): Promise<GroupView> {
    const db = this.deps.database.db
    const group = await findGroup(db, projectId, groupId)
    const members = await membersOf(db, [group.id])
    const domains = await faultDomainsOf(db, group.spread_fault_domains === 1 ? [group.id] : [])
    return toView(group, members.get(group.id) ?? [], domains.get(group.id) ?? [])
  }

  /**
   * Deletes a group. Members are released from it (as Nova does); the servers themselves stay
   * where they are.
   */
  async delete(projectId: string, groupId: string): Promise<void> {
    await this.deps.database.transaction(async ({ db }) => {
      await findGroup(db, projectId, groupId, { lock: true })
      const released = await db.deleteFrom('server_group_members').where('group_id', '=', groupId).returning(['server_id', 'host_id']).execute()
      await db.deleteFrom('server_groups').where('id', '=', groupId).execute()
      const at = nowIso()
      for (const m of released) await recordEvent(db, { kind: 'member_removed', at, projectId, groupId, serverId: m.server_id, hostId: m.host_id, reason: 'group_deleted' })
      await recordEvent(db, { kind: 'group_deleted', at, projectId, groupId, detail: released.length === 0 ? null : `${released.length} member${released.length === 1 ? '' : 's'} released` })
    })
  }

  /**
   * Adds a stopped KVM server to an anti-affinity group (the v1 API's extension; other policies
   * are refused, as the API defines). If other members already hold as many places on the
   * server's host as `max_server_per_host` allows (moves away from it included), or in a group
   * that spreads over fault domains the host's fault domain, the server is re-placed — through
   * the move primitive, as a cold move whose job the driver carries out — on a host of its
   * availability zone with a place left (and a free fault domain) and room; if there is none,
   * nothing changes and the caller gets `Ecs.0319` with the placement diagnosis. Adding a
   * current member again changes nothing.
   */
  async addMember(projectId: string, groupId: string, serverId: string): Promise<void> {
    await this.addMemberInTransaction(projectId, groupId, serverId).catch(async (err: unknown) => {
      await recordRefusal(this.deps.database, err, { reason: 'add_member', projectId, serverId, groupId })
      throw err
    })
  }

  private async addMemberInTransaction(projectId: string, groupId: string, serverId: string): Promise<void> {
    await this.deps.database.transaction(async (tx) => {
      const { db, onCommit } = tx
      // Lock order everywhere: project, group, servers (by id), job. The group lock serialises
      // every membership change of the group, across replicas.
      const group = await findGroup(db, projectId, groupId, { lock: true })
      const server = await MOVING_SERVER_LOCKED.first(db, { serverId, projectId })
      if (!server) throw serverNotFound(serverId)
      if (server.in_recycle_bin === 1) throw serverInRecycleBin(serverId)
      const membership = await MEMBERSHIP_OF.first(db, { serverId })
      if (membership?.group_id === groupId) return
      if (server.status !== 'SHUTOFF') throw serverNotStopped(serverId, server.status)
      if (server.task_state !== null) throw serverBusy(serverId, server.status, server.task_state)
      if (server.virtualization !== 'kvm') throw serverNotKvm(serverId, server.flavor_id)
      const policy = group.policy as GroupPolicy
      if (policy !== 'anti-affinity') throw groupPolicyNotSupported(groupId, policy)
      if (membership) throw serverInOtherGroup(serverId, membership.group_id)

      const limit = this.deps.quotas.maxServerGroupMembers
      if ((await memberCount(db, groupId)) >= limit) throw groupMemberQuota(groupId, limit)

      const holds = await groupHolds(db, groupId)
      const host = await HOST_OF_MEMBER.first(db, { hostId: server.host_id })
      if (!host) throw new Error(`host ${server.host_id} of server ${serverId} does not exist`)
      if (!heldByGroup(holds, host)) {
        const now = nowIso()
        await insertMemberships(db, [{ groupId, serverId, hostId: server.host_id, createdAt: now }])
        await recordEvent(db, { kind: 'member_added', at: now, projectId, groupId, serverId, hostId: server.host_id, reason: 'add_member' })
        return
      }
      const target = await this.deps.placement.place(db, {
        vcpus: server.vcpus,
        ramMb: server.ram_mb,
        az: server.az,
        ...holds,
        // A server on a dedicated host stays on its project's dedicated hosts, as in every other move.
        dedicatedTo: host.dedicated_to ?? undefined,
        subject: `ECS ${serverId} (${server.vcpus} vCPU, ${server.ram_mb} MiB) in ${server.az} ${describeHolds(holds, groupId)}`,
      })
      // The re-placement is a cold move with a job of its own (the add_member answer stays an
      // empty 200, as the API defines it); a start sent while it runs waits for it.
      await startMoves(tx, this.deps.jobs, {
        projectId,
        operation: 'migrate',
        moves: [{
          plan: {
            server, reason: 'add_member', kind: 'cold', flavor: { id: server.flavor_id, vcpus: server.vcpus, ramMb: server.ram_mb },
            currentGroup: null, joinGroup: memberGroupOf(group), statusDuring: 'SHUTOFF', taskState: 'migrating', finalStatus: 'SHUTOFF',
            // The source is another member's host (or fault domain): a failed move cannot go back there.
            onFailure: 'error',
          },
          target: async () => target.id,
        }],
      })
      const from = server.host_id
      onCommit(() => this.deps.logger.info({ serverId, groupId, from, to: target.id }, 'server re-placed for anti-affinity (cold move)'))
    })
  }

  /**
   * Removes a server from a group. The server does not move. Removing a server that is not a
   * member of this group changes nothing and succeeds, so a retried request is harmless.
   */
  async removeMember(projectId: string, groupId: string, serverId: string): Promise<void> {
    await this.deps.database.transaction(async ({ db }) => {
      await findGroup(db, projectId, groupId, { lock: true })
      const server = await PROJECT_SERVER.first(db, { serverId, projectId })
      if (!server) throw serverNotFound(serverId)
      const left = await DELETE_MEMBERSHIP.first(db, { groupId, serverId })
      if (left) await recordEvent(db, { kind: 'member_removed', at: nowIso(), projectId, groupId, serverId, hostId: left.host_id, reason: 'remove_member' })
    })
  }
}

/**
 * Finds a group of the project or throws the not-found error (another project's id included).
 * Inside a write transaction pass `{ lock: true }`: the group row is then locked on PostgreSQL.
 */
export async function findGroup(db: Kysely<Schema>, projectId: string, groupId: string, options: { lock: boolean } = { lock: false }) {
  const group = await (options.lock ? GROUP_LOCKED : GROUP).first(db, { groupId, projectId })
  if (!group) throw groupNotFound(groupId)
  return group
}

const GROUP = prepared((db, p: { groupId: string; projectId: string }) => db.selectFrom('server_groups').selectAll().where('id', '=', p.groupId).where('project_id', '=', p.projectId))

const GROUP_LOCKED = prepared((db, p: { groupId: string; projectId: string }, dialect) =>
  lockForUpdate(db.selectFrom('server_groups').selectAll().where('id', '=', p.groupId).where('project_id', '=', p.projectId), dialect),
)

const PROJECT_LOCK = prepared((db, p: { projectId: string }, dialect) => {
  const query = db.selectFrom('projects').select('id').where('id', '=', p.projectId)
  return dialect === 'postgres' ? query.forNoKeyUpdate() : query
})

const PROJECT_GROUPS = prepared((db, p: { projectId: string }) => db.selectFrom('server_groups').selectAll().where('project_id', '=', p.projectId).orderBy('created_at').orderBy('id'))

const PROJECT_GROUP_MEMBERS = prepared((db, p: { projectId: string }) =>
  db
    .selectFrom('server_group_members')
    .innerJoin('server_groups', 'server_groups.id', 'server_group_members.group_id')
    .select(['server_group_members.group_id', 'server_group_members.server_id'])
    .where('server_groups.project_id', '=', p.projectId)
    .orderBy('server_group_members.created_at')
    .orderBy('server_group_members.server_id'),
)

const MOVING_SERVER_LOCKED = prepared((db, p: { serverId: string; projectId: string }, dialect) =>
  lockForUpdate(db.selectFrom('servers').select(MOVING_SERVER_COLUMNS).where('id', '=', p.serverId).where('project_id', '=', p.projectId), dialect),
)

const MEMBERSHIP_OF = prepared((db, p: { serverId: string }) => db.selectFrom('server_group_members').select('group_id').where('server_id', '=', p.serverId))

const HOST_OF_MEMBER = prepared((db, p: { hostId: string }) => db.selectFrom('hosts').select(['id', 'dedicated_to', 'fault_domain']).where('id', '=', p.hostId))

const PROJECT_SERVER = prepared((db, p: { serverId: string; projectId: string }) => db.selectFrom('servers').select('id').where('id', '=', p.serverId).where('project_id', '=', p.projectId))

const DELETE_MEMBERSHIP = prepared((db, p: { groupId: string; serverId: string }) =>
  db.deleteFrom('server_group_members').where('group_id', '=', p.groupId).where('server_id', '=', p.serverId).returning('host_id'),
)

/**
 * Locks the project row on PostgreSQL, serialising the writes that check a per-project quota
 * (group count, instances) so two concurrent requests cannot both take the last unit.
 *
 * FOR NO KEY UPDATE, not FOR UPDATE: a transaction that already holds a group or a server and
 * then inserts a job of the project takes FOR KEY SHARE on the project row through the foreign
 * key. FOR UPDATE would make it wait for the holder of the project lock, which in turn waits for
 * that group or server (project → group → server is the lock order): a deadlock. The two lock
 * modes still exclude each other, so quota writers stay serialised.
 */
export async function lockProject(db: Kysely<Schema>, projectId: string): Promise<void> {
  await PROJECT_LOCK.first(db, { projectId })
}

/**
 * Rows that name their group, as one list per group in row order (`value` of each); rows of no
 * group (`group_id` null) are left out.
 */
export function listsByGroup<R extends { group_id: string | null }>(rows: readonly R[], value: (row: R) => string | null): Map<string, string[]> {
  const byGroup = new Map<string, string[]>()
  for (const r of rows) {
    const v = value(r)
    if (r.group_id === null || v === null) continue
    const list = byGroup.get(r.group_id)
    if (list) list.push(v)
    else byGroup.set(r.group_id, [v])
  }
  return byGroup
}

async function membersOf(db: Kysely<Schema>, groupIds: string[]): Promise<Map<string, string[]>> {
  if (groupIds.length === 0) return new Map()
  const rows = await db
    .selectFrom('server_group_members')
    .select(['group_id', 'server_id'])
    .where('group_id', 'in', groupIds)
    .orderBy('created_at')
    .orderBy('server_id')
    .execute()
  return listsByGroup(rows, (r) => r.server_id)
}

/** The distinct fault domains of the members' hosts, sorted, per group. */
async function faultDomainsOf(db: Kysely<Schema>, groupIds: string[]): Promise<Map<string, string[]>> {
  if (groupIds.length === 0) return new Map()
  const rows = await db
    .selectFrom('server_group_members')
    .innerJoin('hosts', 'hosts.id', 'server_group_members.host_id')
    .select(['server_group_members.group_id', 'hosts.fault_domain'])
    .distinct()
    .where('server_group_members.group_id', 'in', groupIds)
    .where('hosts.fault_domain', 'is not', null)
    .execute()
  const byGroup = listsByGroup(rows, (r) => r.fault_domain)
  // Sorted here, not by the database: PostgreSQL's collation would order names differently from SQLite's.
  for (const list of byGroup.values()) list.sort()
  return byGroup
}

/** `faultDomains` is read only for a group that spreads over fault domains. */
function toView(g: Schema['server_groups'], members: string[], faultDomains: string[]): GroupView {
  return {
    id: g.id, name: g.name, policy: g.policy as GroupPolicy, members, createdAt: g.created_at,
    maxServerPerHost: g.max_server_per_host ?? undefined, userId: g.user_id ?? undefined,
    faultDomains: g.spread_fault_domains === 1 ? faultDomains : undefined,
  }
}

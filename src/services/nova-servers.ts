import { createHash, randomBytes, randomUUID } from 'node:crypto'
import { sql, type Expression, type ExpressionBuilder, type Kysely, type SqlBool } from 'kysely'
import type { Quotas } from '../config.ts'
import {
  createCountExceeded, dedicatedHostWithGroup, EcsError, flavorNotFound, flavorNotSold, groupMemberQuota, imageNotFound, interfaceNotFound,
  invalidParameter, securityGroupAlreadyOnServer, securityGroupNotOnServer, serverNotFound, serverNotKvm, serverWrongStatus,
} from '../domain/errors.ts'
import { POWER_STATE, type ServerStatus } from '../domain/server.ts'
import type { PlacementEngine } from '../placement/engine.ts'
import type { Database, Tx } from '../store/database.ts'
import type { Schema } from '../store/schema.ts'
import { FRESH_SERVER_COLUMNS } from '../store/tables/servers.ts'
import { adjustUsage, claim } from './allocations.ts'
import { recordEvent, refusalOf } from './events.ts'
import { findGroup, lockProject } from './groups.ts'
import { findImage } from './images.ts'
import { recordJob, TASK_STATE_OF, type JobRunner } from './jobs.ts'
import { groupHolds, holdHost, insertMemberships, memberCount, noGroupHolds } from './membership.ts'
import { insertNic } from './nics.ts'
import { assertDedicatedHost, checkQuota, MAX_CREATE_COUNT, nameContains, usage, type ServerService } from './servers.ts'
import { newTimeOrderedId, nowIso } from './time.ts'

/** Nova's fault message for a boot placement could not satisfy (`NoValidHost`). */
export const NO_VALID_HOST = 'No valid host was found. There are not enough hosts available.'

/** A network a new server is attached to: Nova's `networks` entries. */
export interface RequestedNetwork {
  netId?: string | undefined
  portId?: string | undefined
  fixedIp?: string | undefined
}

/** A `POST /servers` request, validated for shape, in ecsd's terms. */
export interface NovaCreateInput {
  name: string
  flavorRef: string
  /** An image of the catalogue, or '' when booting from a volume. */
  imageRef: string
  availabilityZone: string | undefined
  groupId: string | undefined
  dedicatedHostId: string | undefined
  tenancy: string | undefined
  metadata: Record<string, string>
  minCount: number
  maxCount: number
  keyName: string | undefined
  securityGroups: string[]
  /** `auto` (or absent before 2.37): one port on the project's network; `none`: no port. */
  networks: 'auto' | 'none' | RequestedNetwork[]
  description: string | null
}

/** What a create did: the reservation and the servers, placed or not. */
export interface NovaCreated {
  reservationId: string
  serverIds: string[]
  /** False when placement could not take the request: the servers exist in ERROR, hostless. */
  placed: boolean
}

/** A network interface of a server. */
export interface NovaInterface {
  portId: string
  netId: string
  subnetId: string
  ipAddress: string
  macAddr: string
}

/** A server as the OpenStack Compute API shows it, placed or not. */
export interface NovaServer {
  id: string
  projectId: string
  userId: string
  name: string
  status: ServerStatus
  taskState: string | null
  powerState: number
  flavor: { id: string; name: string; vcpus: number; ramMb: number; diskGb: number; virtualization: string }
  imageRef: string
  az: string | null
  /** Null for a server placement could not take. */
  hostName: string | null
  createdAt: string
  updatedAt: string
  launchedAt: string | null
  metadata: Record<string, string>
  /** Why it is in ERROR; `details` (for admins) is ecsd's placement diagnosis. */
  fault: { code: string; message: string; created: string; details?: string } | null
  reservationId: string
  launchIndex: number
  keyName: string | null
  securityGroups: string[]
  description: string | null
  groupId: string | null
  interfaces: NovaInterface[]
  /** Still working on something (a job holds it). */
  busy: boolean
}

/** `GET /servers` filters, in ecsd's terms. */
export interface NovaListQuery {
  /** Undefined: every project (admins' `all_tenants`). */
  projectId: string | undefined
  reservationId?: string | undefined
  name?: string | undefined
  status?: string | undefined
  flavor?: string | undefined
  image?: string | undefined
  host?: string | undefined
  limit: number
  marker?: string | undefined
}

/** Dependencies of the OpenStack server use cases. */
export interface NovaServerServiceDeps {
  database: Database
  placement: PlacementEngine
  quotas: Quotas
  jobs: JobRunner
  /** The v1 API's server use cases, whose delete job placed servers go through. */
  servers: ServerService
}

/** Thrown inside the create transaction when placement cannot take the request, to roll it back. */
class NotPlaced extends Error {
  override name = 'NotPlaced'
  constructor(readonly why: EcsError) {
    super(why.message)
  }
}

/**
 * Server use cases of the OpenStack Compute API that differ from the Huawei API's: Nova's
 * multi-create (`min_count`/`max_count` within what the quota allows, one reservation id),
 * boots into groups of any policy, and an unsatisfiable placement that is accepted and leaves
 * the servers in ERROR with Nova's fault (the v1 API refuses it with `Ecs.0319` instead).
 * Placed servers are the v1 API's servers; their Nova attributes are kept beside them.
 */
export class NovaServerService {
  constructor(private readonly deps: NovaServerServiceDeps) {}

  /**
   * Creates `maxCount` servers, or fewer down to `minCount` when the quota allows no more, in one
   * transaction: checked, placed one after another (each placement sees the hosts chosen before
   * it, so a group's policy holds across the request), recorded with a create job. If placement
   * cannot take them all, nothing is placed and the servers are recorded in ERROR instead.
   */
  async create(projectId: string, userId: string, input: NovaCreateInput): Promise<NovaCreated> {
    if (input.minCount > input.maxCount) throw invalidParameter(`min_count (${input.minCount}) must be less than or equal to max_count (${input.maxCount})`)
    if (input.maxCount > MAX_CREATE_COUNT) throw createCountExceeded(input.maxCount, MAX_CREATE_COUNT)
    if (input.imageRef !== '' && !findImage(input.imageRef)) throw imageNotFound(input.imageRef, 400)
    const reservationId = `r-${randomBytes(4).toString('hex')}`
    try {
      return await this.deps.database.transaction((tx) => this.place(tx, projectId, userId, input, reservationId))
    } catch (err) {
      if (!(err instanceof NotPlaced)) throw err
      return this.deps.database.transaction((tx) => this.recordUnplaced(tx, projectId, userId, input, reservationId, err.why))
    }
  }

  private async place(tx: Tx, projectId: string, userId: string, input: NovaCreateInput, reservationId: string): Promise<NovaCreated> {
    const { db } = tx
    await lockProject(db, projectId)
    const { flavor, count, group } = await this.check(db, projectId, input)
    let holds = noGroupHolds()
    if (group) holds = await groupHolds(db, group.id)
    const dedicated = input.dedicatedHostId !== undefined || input.tenancy === 'dedicated'
    const now = nowIso()
    const serverIds: string[] = []
    const placed: Array<{ serverId: string; hostId: string }> = []
    for (let i = 0; i < count; i++) {
      const id = newTimeOrderedId()
      let host
      try {
        host = await this.deps.placement.place(db, {
          vcpus: flavor.vcpus,
          ramMb: flavor.ram_mb,
          az: input.availabilityZone,
          ...holds,
          ...(dedicated ? { dedicatedTo: projectId, requestedHostId: input.dedicatedHostId } : {}),
          subject: `server ${i + 1} of ${count} (${flavor.id}: ${flavor.vcpus} vCPU, ${flavor.ram_mb} MiB)${group ? ` in group ${group.id}` : ''}${dedicated ? ' on a dedicated host' : ''}`,
        })
        await claim(db, { hostId: host.id, vcpus: flavor.vcpus, ramMb: flavor.ram_mb })
      } catch (err) {
        if (err instanceof EcsError && err.code === 'Ecs.0319') throw new NotPlaced(err)
        throw err
      }
      await db.insertInto('servers').values({
        id, project_id: projectId, name: novaServerName(input.name, i, count), status: 'BUILD', task_state: TASK_STATE_OF.create[0],
        power_state: POWER_STATE.NOSTATE, flavor_id: flavor.id, vcpus: flavor.vcpus, ram_mb: flavor.ram_mb,
        virtualization: flavor.virtualization, az: host.az, host_id: host.id, image_ref: input.imageRef, vpc_id: '',
        metadata: JSON.stringify(input.metadata), created_at: now, updated_at: now, launched_at: null, ...FRESH_SERVER_COLUMNS,
      }).execute()
      if (group) {
        await insertMemberships(db, [{ groupId: group.id, serverId: id, hostId: host.id, createdAt: now }])
        holdHost(holds, host)
      }
      placed.push({ serverId: id, hostId: host.id })
      await db.insertInto('nova_servers').values({
        server_id: id, reservation_id: reservationId, launch_index: i, user_id: userId, key_name: input.keyName ?? null,
        security_groups: JSON.stringify(input.securityGroups), description: input.description,
      }).execute()
      await attachPorts(db, projectId, id, input.networks, 0, now)
      serverIds.push(id)
    }
    await adjustUsage(db, projectId, { servers: count, cores: flavor.vcpus * count, ramMb: flavor.ram_mb * count })
    const { jobId } = await recordJob(tx, this.deps.jobs, { projectId, operation: 'create', work: serverIds })
    for (const p of placed) {
      const event = { at: now, projectId, serverId: p.serverId, groupId: group?.id, hostId: p.hostId, reason: 'create', jobId }
      await recordEvent(db, { ...event, kind: 'placed', statusTo: 'BUILD' })
      if (group) await recordEvent(db, { ...event, kind: 'member_added' })
    }
    return { reservationId, serverIds, placed: true }
  }

  /**
   * The servers of a request placement could not take, recorded as Nova records them (in its
   * cell0): ERROR, with the fault, members of the group they were booted into, on no host.
   * The request's checks are made again: what was refused before is refused now.
   */
  private async recordUnplaced(tx: Tx, projectId: string, userId: string, input: NovaCreateInput, reservationId: string, why: EcsError): Promise<NovaCreated> {
    const { db } = tx
    await lockProject(db, projectId)
    const { flavor, count, group } = await this.check(db, projectId, input)
    const now = nowIso()
    const fault = JSON.stringify({ code: why.code, message: NO_VALID_HOST, created: now, details: why.message })
    const rows = Array.from({ length: count }, (_, i) => ({
      id: randomUUID(), project_id: projectId, user_id: userId, name: novaServerName(input.name, i, count), flavor_id: flavor.id,
      image_ref: input.imageRef, az: input.availabilityZone ?? null, group_id: group?.id ?? null, reservation_id: reservationId,
      launch_index: i, key_name: input.keyName ?? null, security_groups: JSON.stringify(input.securityGroups),
      description: input.description, metadata: JSON.stringify(input.metadata), fault, created_at: now,
    }))
    await db.insertInto('unscheduled_servers').values(rows).execute()
    // One refusal for the request; the servers it leaves in ERROR carry its fault.
    await recordEvent(db, {
      kind: 'placement_refused', at: now, projectId, serverId: rows.length === 1 ? rows[0]!.id : null, groupId: group?.id, reason: 'create', ...refusalOf(why),
    })
    return { reservationId, serverIds: rows.map((r) => r.id), placed: false }
  }

  /** The checks of a create, in Nova's order; returns the flavor, how many to create and the group. */
  private async check(db: Kysely<Schema>, projectId: string, input: NovaCreateInput) {
    const flavor = await db.selectFrom('flavors').selectAll().where('id', '=', input.flavorRef).executeTakeFirst()
    if (!flavor) throw flavorNotFound(input.flavorRef)
    if (flavor.sell_status !== 'normal') throw flavorNotSold(flavor.id, flavor.sell_status)
    if (input.availabilityZone !== undefined) {
      const zone = await db.selectFrom('hosts').select('az').where('az', '=', input.availabilityZone).limit(1).executeTakeFirst()
      if (!zone) throw new EcsError('Ecs.0005', 400, `Invalid parameter values: availability_zone "${input.availabilityZone}" does not exist.`, { message: `The requested availability zone is not available` })
    }
    const dedicated = input.dedicatedHostId !== undefined || input.tenancy === 'dedicated'
    if (dedicated && input.groupId !== undefined) throw dedicatedHostWithGroup()
    if (input.dedicatedHostId !== undefined) await assertDedicatedHost(db, projectId, input.dedicatedHostId)
    if (input.keyName !== undefined) {
      const key = await db.selectFrom('keypairs').select('name').where('project_id', '=', projectId).where('name', '=', input.keyName).executeTakeFirst()
      if (!key) throw new EcsError('Ecs.0005', 400, `Invalid parameter values: key_name "${input.keyName}" is not a key pair of this project.`, { message: 'Invalid key_name provided.' })
    }
    // Nova creates as many as the quota allows between min_count and max_count.
    const used = await usage(db, projectId)
    const q = this.deps.quotas
    const room = Math.min(
      q.maxTotalInstances - used.instances,
      Math.floor((q.maxTotalCores - used.cores) / Math.max(1, flavor.vcpus)),
      Math.floor((q.maxTotalRAMSize - used.ramMb) / Math.max(1, flavor.ram_mb)),
    )
    const count = Math.min(input.maxCount, Math.max(room, 0))
    if (count < input.minCount) {
      await checkQuota(db, q, projectId, { instances: input.minCount, cores: flavor.vcpus * input.minCount, ramMb: flavor.ram_mb * input.minCount })
    }
    let group: { id: string } | undefined
    if (input.groupId !== undefined) {
      const row = await findGroup(db, projectId, input.groupId, { lock: true }).catch((err: unknown) => {
        // Booting into an unknown group is a bad request in Nova, not a missing resource.
        if (err instanceof EcsError && err.code === 'Ecs.0313') throw new EcsError('Ecs.0313', 400, err.message, { status: 400, message: err.nova?.message ?? err.message })
        throw err
      })
      if (flavor.virtualization !== 'kvm') throw serverNotKvm('(new)', flavor.id)
      const limit = q.maxServerGroupMembers
      const waiting = await db.selectFrom('unscheduled_servers').select((eb) => eb.fn.countAll<number | string>().as('n')).where('group_id', '=', row.id).executeTakeFirstOrThrow()
      if ((await memberCount(db, row.id)) + Number(waiting.n) + count > limit) throw groupMemberQuota(row.id, limit)
      group = { id: row.id }
    }
    return { flavor, count, group }
  }

  /** One server of the project (any project for `anyProject`), placed or not; not-found otherwise. */
  async show(projectId: string, serverId: string, anyProject = false): Promise<NovaServer> {
    const db = this.deps.database.db
    const placed = await selectPlaced(db)
      .where('servers.id', '=', serverId)
      .where('servers.in_recycle_bin', '=', 0)
      .$if(!anyProject, (q) => q.where('servers.project_id', '=', projectId))
      .executeTakeFirst()
    if (placed) return (await this.withInterfaces([toPlaced(placed)]))[0]!
    const waiting = await selectUnplaced(db)
      .where('unscheduled_servers.id', '=', serverId)
      .$if(!anyProject, (q) => q.where('unscheduled_servers.project_id', '=', projectId))
      .executeTakeFirst()
    if (waiting) return toUnplaced(waiting)
    throw serverNotFound(serverId)
  }

  /**
   * Servers newest first (Nova's default order), placed and unplaced merged, after `marker`,
   * at most `limit`. Each table is read with the same order and bound, so a page costs two
   * index walks whatever the project's size.
   */
  async list(q: NovaListQuery): Promise<NovaServer[]> {
    const db = this.deps.database.db
    let after: { createdAt: string; id: string } | undefined
    if (q.marker !== undefined) {
      const a = await db.selectFrom('servers').select(['created_at', 'id']).where('id', '=', q.marker).$if(q.projectId !== undefined, (x) => x.where('project_id', '=', q.projectId!)).executeTakeFirst()
        ?? await db.selectFrom('unscheduled_servers').select(['created_at', 'id']).where('id', '=', q.marker).$if(q.projectId !== undefined, (x) => x.where('project_id', '=', q.projectId!)).executeTakeFirst()
      if (!a) throw new EcsError('Ecs.0005', 400, `Invalid parameter values: marker ${q.marker} is not a server of this project.`, { message: `marker [${q.marker}] not found` })
      after = { createdAt: a.created_at, id: a.id }
    }
    const placedRows = await selectPlaced(db)
      .where((eb) => eb.and(placedFilters(eb, q, after)))
      .orderBy('servers.created_at', 'desc')
      .orderBy('servers.id', 'desc')
      .limit(q.limit)
      .execute()
    // Servers placement could not take have no host and are ERROR: a host or other status filter excludes them.
    const unplacedWanted = q.host === undefined && (q.status === undefined || q.status === 'ERROR')
    const unplacedRows = unplacedWanted
      ? await selectUnplaced(db)
          .where((eb) => eb.and(unplacedFilters(eb, q, after)))
          .orderBy('unscheduled_servers.created_at', 'desc')
          .orderBy('unscheduled_servers.id', 'desc')
          .limit(q.limit)
          .execute()
      : []
    const merged = [...(await this.withInterfaces(placedRows.map(toPlaced))), ...unplacedRows.map(toUnplaced)]
    merged.sort((a, b) => (a.createdAt === b.createdAt ? (a.id < b.id ? 1 : -1) : a.createdAt < b.createdAt ? 1 : -1))
    return merged.slice(0, q.limit)
  }

  /**
   * Deletes a server: a placed one through the same delete job as the v1 API (its host and group
   * slot are released when it completes; the recycle bin applies as there); one that was never
   * placed is simply removed.
   */
  async delete(projectId: string, serverId: string, anyProject = false): Promise<void> {
    const server = await this.show(projectId, serverId, anyProject)
    if (server.hostName !== null) {
      await this.deps.servers.delete(server.projectId, [serverId])
      return
    }
    await this.deps.database.transaction(({ db }) => db.deleteFrom('unscheduled_servers').where('id', '=', serverId).execute())
  }

  /** Adds a security group (by name) to a placed server. */
  async addSecurityGroup(projectId: string, serverId: string, name: string): Promise<void> {
    await this.changeSecurityGroups(projectId, serverId, (groups) => {
      if (groups.includes(name)) throw securityGroupAlreadyOnServer(name, serverId)
      return [...groups, name]
    })
  }

  /** Removes a security group (by name) from a placed server. */
  async removeSecurityGroup(projectId: string, serverId: string, name: string): Promise<void> {
    await this.changeSecurityGroups(projectId, serverId, (groups) => {
      if (!groups.includes(name)) throw securityGroupNotOnServer(name, serverId)
      return groups.filter((g) => g !== name)
    })
  }

  private async changeSecurityGroups(projectId: string, serverId: string, change: (groups: string[]) => string[]): Promise<void> {
    await this.deps.database.transaction(async ({ db }) => {
      const server = await this.placedForUpdate(db, projectId, serverId, 'changing security groups')
      const row = await db.selectFrom('nova_servers').select('security_groups').where('server_id', '=', server.id).executeTakeFirst()
      const groups = change(row ? (JSON.parse(row.security_groups) as string[]) : ['default'])
      if (row) await db.updateTable('nova_servers').set({ security_groups: JSON.stringify(groups) }).where('server_id', '=', server.id).execute()
      else await db.insertInto('nova_servers').values({ ...V1_DEFAULTS(server.project_id), server_id: server.id, security_groups: JSON.stringify(groups) }).execute()
    })
  }

  /** Attaches a port to a placed server: on `netId` (default: the project's network) at `fixedIp` or a chosen address. */
  async attachInterface(projectId: string, serverId: string, request: RequestedNetwork): Promise<NovaInterface> {
    return this.deps.database.transaction(async ({ db }) => {
      const server = await this.placedForUpdate(db, projectId, serverId, 'attach_interface')
      const last = await db.selectFrom('server_interfaces').select((eb) => eb.fn.max('position').as('position')).where('server_id', '=', server.id).executeTakeFirst()
      const [port] = await attachPorts(db, server.project_id, server.id, [request], (last?.position ?? -1) + 1, nowIso())
      return interfaceOf(port!)
    })
  }

  /** Detaches a port from a placed server. */
  async detachInterface(projectId: string, serverId: string, portId: string): Promise<void> {
    await this.deps.database.transaction(async ({ db }) => {
      const server = await this.placedForUpdate(db, projectId, serverId, 'detach_interface')
      const gone = await db.deleteFrom('server_interfaces').where('server_id', '=', server.id).where('port_id', '=', portId).executeTakeFirst()
      if (Number(gone.numDeletedRows) === 0) throw interfaceNotFound(serverId, portId)
    })
  }

  /** One port of a server. */
  async showInterface(projectId: string, serverId: string, portId: string, anyProject = false): Promise<NovaInterface> {
    const server = await this.show(projectId, serverId, anyProject)
    const port = server.interfaces.find((p) => p.portId === portId)
    if (!port) throw interfaceNotFound(serverId, portId)
    return port
  }

  /** The placed server, or the not-found error; a server placement never took cannot change (409 in Nova's words). */
  private async placedForUpdate(db: Kysely<Schema>, projectId: string, serverId: string, operation: string) {
    const server = await db.selectFrom('servers').select(['id', 'project_id', 'status']).where('id', '=', serverId).where('project_id', '=', projectId).where('in_recycle_bin', '=', 0).executeTakeFirst()
    if (server) return server
    const waiting = await db.selectFrom('unscheduled_servers').select('id').where('id', '=', serverId).where('project_id', '=', projectId).executeTakeFirst()
    if (waiting) throw serverWrongStatus(serverId, 'ERROR', operation, 'placed on a host (it never was)')
    throw serverNotFound(serverId)
  }

  private async withInterfaces(servers: NovaServer[]): Promise<NovaServer[]> {
    if (servers.length === 0) return servers
    const rows = await this.deps.database.db.selectFrom('server_interfaces').selectAll().where('server_id', 'in', servers.map((s) => s.id)).orderBy('position').orderBy('created_at').orderBy('port_id').execute()
    for (const s of servers) s.interfaces = rows.filter((r) => r.server_id === s.id).map(interfaceOf)
    return servers
  }
}

/** Nova names the servers of a multi-create `name-1`, `name-2`, … (`multi_instance_display_name_template`). */
export function novaServerName(base: string, index: number, count: number): string {
  return count > 1 ? `${base}-${index + 1}` : base
}

/** The Nova attributes a server created through the v1 API is shown with. */
const V1_DEFAULTS = (projectId: string) => ({ reservation_id: '', launch_index: 0, user_id: projectId, key_name: null, security_groups: JSON.stringify(['default']), description: null })

/** The network of a project that `auto` and a network-less request attach to. */
export function defaultNetworkId(projectId: string): string {
  return stableUuid(`network:${projectId}`)
}

/**
 * A UUID that is always the same for the same text (SHA-1 name-based, like UUID v5): ids of
 * things ecsd does not store one for (a project's default network, a security group by name).
 */
export function stableUuid(text: string): string {
  const h = createHash('sha1').update(`ecsd:${text}`).digest()
  h[6] = (h[6]! & 0x0f) | 0x50
  h[8] = (h[8]! & 0x3f) | 0x80
  const x = h.subarray(0, 16).toString('hex')
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20, 32)}`
}

/**
 * Gives a server one port per requested network, from `position` on, with the allocator both APIs
 * share: the lowest free address of the network's subnet, or the fixed IP asked for (unique in
 * its subnet; anywhere, since a Nova client cannot see the simulated range).
 */
async function attachPorts(db: Kysely<Schema>, projectId: string, serverId: string, networks: NovaCreateInput['networks'], position: number, now: string) {
  const wanted: RequestedNetwork[] = networks === 'none' ? [] : networks === 'auto' ? [{}] : networks
  const ports = []
  for (const [i, n] of wanted.entries()) {
    const netId = n.netId ?? defaultNetworkId(projectId)
    ports.push(await insertNic(db, {
      projectId, serverId, subnetId: stableUuid(`subnet:${netId}`), netId, ipAddress: n.fixedIp, portId: n.portId, position: position + i,
      deleteOnTermination: n.portId === undefined, anywhere: true, createdAt: now,
    }))
  }
  return ports
}

function interfaceOf(p: { port_id: string; net_id: string; subnet_id: string; ip_address: string; mac_addr: string }): NovaInterface {
  return { portId: p.port_id, netId: p.net_id, subnetId: p.subnet_id, ipAddress: p.ip_address, macAddr: p.mac_addr }
}

function selectPlaced(db: Kysely<Schema>) {
  return db
    .selectFrom('servers')
    .innerJoin('hosts', 'hosts.id', 'servers.host_id')
    .innerJoin('flavors', 'flavors.id', 'servers.flavor_id')
    .leftJoin('server_group_members', 'server_group_members.server_id', 'servers.id')
    .leftJoin('nova_servers', 'nova_servers.server_id', 'servers.id')
    .selectAll('servers')
    .select([
      'hosts.name as host_name', 'flavors.name as flavor_name', 'flavors.disk_gb', 'server_group_members.group_id',
      'nova_servers.reservation_id', 'nova_servers.launch_index', 'nova_servers.user_id', 'nova_servers.key_name',
      'nova_servers.security_groups', 'nova_servers.description',
    ])
}

function selectUnplaced(db: Kysely<Schema>) {
  return db
    .selectFrom('unscheduled_servers')
    .innerJoin('flavors', 'flavors.id', 'unscheduled_servers.flavor_id')
    .selectAll('unscheduled_servers')
    .select(['flavors.name as flavor_name', 'flavors.vcpus', 'flavors.ram_mb', 'flavors.disk_gb', 'flavors.virtualization'])
}

type PlacedRow = Awaited<ReturnType<ReturnType<typeof selectPlaced>['executeTakeFirstOrThrow']>>
type UnplacedRow = Awaited<ReturnType<ReturnType<typeof selectUnplaced>['executeTakeFirstOrThrow']>>

function placedFilters(eb: ExpressionBuilder<Schema & { nova_servers: Schema['nova_servers']; hosts: Schema['hosts'] }, 'servers' | 'hosts' | 'nova_servers'>, q: NovaListQuery, after: { createdAt: string; id: string } | undefined): Expression<SqlBool>[] {
  const terms: Expression<SqlBool>[] = [eb('servers.in_recycle_bin', '=', 0)]
  if (q.projectId !== undefined) terms.push(eb('servers.project_id', '=', q.projectId))
  if (q.reservationId !== undefined) terms.push(eb('nova_servers.reservation_id', '=', q.reservationId))
  if (q.status !== undefined) terms.push(eb('servers.status', '=', q.status))
  if (q.flavor !== undefined) terms.push(eb('servers.flavor_id', '=', q.flavor))
  if (q.image !== undefined) terms.push(eb('servers.image_ref', '=', q.image))
  if (q.host !== undefined) terms.push(eb('hosts.name', '=', q.host))
  if (q.name !== undefined) terms.push(nameContains(q.name))
  if (after) terms.push(eb.or([eb('servers.created_at', '<', after.createdAt), eb.and([eb('servers.created_at', '=', after.createdAt), eb('servers.id', '<', after.id)])]))
  return terms
}

function unplacedFilters(eb: ExpressionBuilder<Schema, 'unscheduled_servers'>, q: NovaListQuery, after: { createdAt: string; id: string } | undefined): Expression<SqlBool>[] {
  const terms: Expression<SqlBool>[] = []
  if (q.projectId !== undefined) terms.push(eb('unscheduled_servers.project_id', '=', q.projectId))
  if (q.reservationId !== undefined) terms.push(eb('unscheduled_servers.reservation_id', '=', q.reservationId))
  if (q.flavor !== undefined) terms.push(eb('unscheduled_servers.flavor_id', '=', q.flavor))
  if (q.image !== undefined) terms.push(eb('unscheduled_servers.image_ref', '=', q.image))
  if (q.name !== undefined) terms.push(sql<SqlBool>`lower(${sql.ref('unscheduled_servers.name')}) like lower(${`%${q.name.replace(/[\\%_]/g, (c) => `\\${c}`)}%`}) escape '\\'`)
  if (after) terms.push(eb.or([eb('unscheduled_servers.created_at', '<', after.createdAt), eb.and([eb('unscheduled_servers.created_at', '=', after.createdAt), eb('unscheduled_servers.id', '<', after.id)])]))
  return terms.length > 0 ? terms : [sql<SqlBool>`1 = 1`]
}

function toPlaced(r: PlacedRow): NovaServer {
  const hasExtras = r.reservation_id !== null
  const defaults = V1_DEFAULTS(r.project_id)
  return {
    id: r.id, projectId: r.project_id, userId: r.user_id ?? defaults.user_id, name: r.name, status: r.status as ServerStatus,
    taskState: r.task_state, powerState: r.power_state,
    flavor: { id: r.flavor_id, name: r.flavor_name, vcpus: r.vcpus, ramMb: r.ram_mb, diskGb: r.disk_gb, virtualization: r.virtualization },
    imageRef: r.image_ref, az: r.az, hostName: r.host_name, createdAt: r.created_at, updatedAt: r.updated_at, launchedAt: r.launched_at,
    metadata: JSON.parse(r.metadata) as Record<string, string>,
    fault: r.fault === null ? null : (JSON.parse(r.fault) as NovaServer['fault']),
    reservationId: hasExtras ? r.reservation_id! : defaults.reservation_id,
    launchIndex: r.launch_index ?? 0,
    keyName: r.key_name ?? null,
    securityGroups: JSON.parse(r.security_groups ?? defaults.security_groups) as string[],
    description: r.description ?? null,
    groupId: r.group_id, interfaces: [], busy: r.task_state !== null,
  }
}

function toUnplaced(r: UnplacedRow): NovaServer {
  return {
    id: r.id, projectId: r.project_id, userId: r.user_id, name: r.name, status: 'ERROR', taskState: null, powerState: POWER_STATE.NOSTATE,
    flavor: { id: r.flavor_id, name: r.flavor_name, vcpus: r.vcpus, ramMb: r.ram_mb, diskGb: r.disk_gb, virtualization: r.virtualization },
    imageRef: r.image_ref, az: r.az, hostName: null, createdAt: r.created_at, updatedAt: r.created_at, launchedAt: null,
    metadata: JSON.parse(r.metadata) as Record<string, string>, fault: JSON.parse(r.fault) as NovaServer['fault'],
    reservationId: r.reservation_id, launchIndex: r.launch_index, keyName: r.key_name,
    securityGroups: JSON.parse(r.security_groups) as string[], description: r.description, groupId: r.group_id, interfaces: [], busy: false,
  }
}

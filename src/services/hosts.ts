import type { Kysely } from 'kysely'
import { EcsError, hostExists, hostNotEmpty, hostNotFound, invalidParameter } from '../domain/errors.ts'
import { DRAIN_REASON, type AdminState, type PowerState } from '../domain/host.ts'
import { lockForUpdate, type Database } from '../store/database.ts'
import type { Schema } from '../store/schema.ts'
import { NEW_HOST_COLUMNS } from '../store/tables/hosts.ts'
import { hostAdminLabel, recordHostChange } from './events.ts'
import type { IdentityService } from './identity/index.ts'
import { nowIso } from './time.ts'

/** A host as operators see it. */
export interface HostView {
  id: string
  name: string
  az: string
  /** The rack (failure unit); null: a fault domain of its own. */
  faultDomain: string | null
  /** Physical size. */
  vcpus: number
  ramMb: number
  cpuAllocationRatio: number
  ramAllocationRatio: number
  /** What placement may allocate: size × allocation ratio. */
  capacityVcpus: number
  capacityRamMb: number
  usedVcpus: number
  usedRamMb: number
  freeVcpus: number
  freeRamMb: number
  state: PowerState
  stateChangedAt: string | null
  lastHeartbeatAt: string | null
  adminState: AdminState
  adminReason: string | null
  adminChangedAt: string | null
  /** Takes new servers: up and enabled. */
  schedulable: boolean
  /** The project the host is dedicated to (a DeH), or null for the shared pool. */
  dedicatedTo: string | null
  /** `simulated`: the process heartbeats for it; `agent`: a host agent has reported with its credential. */
  agent: 'simulated' | 'agent'
  /** Servers on it (not those in the recycle bin that last ran there). */
  servers: number
  /** Servers moving off it, whose allocation it still holds. */
  movingOut: number
}

/** A server on a host, as `show` lists it. */
export interface HostServer {
  id: string
  name: string
  projectId: string
  status: string
  taskState: string | null
  vcpus: number
  ramMb: number
  /** `in`: moving onto this host; `out`: moving off it (its allocation is still held here). */
  moving: 'in' | 'out' | null
}

/** A host with its servers. */
export interface HostDetail extends HostView {
  serverList: HostServer[]
}

/** What `add` needs. */
export interface NewHost {
  name: string
  az: string
  vcpus: number
  ramMb: number
  faultDomain?: string | undefined
  dedicatedTo?: string | undefined
  cpuAllocationRatio?: number | undefined
  ramAllocationRatio?: number | undefined
}

/** A host's agent credential, shown once when the host is added. */
export interface HostCredential {
  accessKey: string
  secretKey: string
}

/** What a host's agent is told after a heartbeat. */
export interface HeartbeatAnswer {
  state: PowerState
  /** Set while the host is fencing: destroy every server it runs except these, then report `fenced`. */
  fence?: { keep: string[] }
}

/** Told when capacity may have returned (a host added, enabled, or back up): stranded servers get another chance. */
export type CapacityListener = () => void

/**
 * Operator use cases on hosts, and the heartbeat of their agents. Power state (up, down,
 * fencing) and admin state (enabled, disabled, maintenance) are separate, as in Nova's service
 * records: a host may be enabled and down. Only up and enabled hosts take new servers; what
 * happens to the servers of a host that goes down, or is drained, is the host monitor's work.
 */
export class HostService {
  private readonly capacityListeners: CapacityListener[] = []
  private readonly downListeners: Array<() => void> = []

  constructor(
    private readonly database: Database,
    private readonly identity: IdentityService,
  ) {}

  /** Registers a listener for "capacity may have returned". */
  onCapacity(listener: CapacityListener): void {
    this.capacityListeners.push(listener)
  }

  /** Registers a listener for "an operator declared a host down here". */
  onDown(listener: () => void): void {
    this.downListeners.push(listener)
  }

  /** The inventory, by zone and name. */
  async list(): Promise<HostView[]> {
    const db = this.database.db
    const hosts = await db.selectFrom('hosts').selectAll().orderBy('az').orderBy('name').execute()
    const servers = await db
      .selectFrom('servers')
      .select('host_id')
      .select((eb) => eb.fn.countAll<number | string>().as('n'))
      .where('in_recycle_bin', '=', 0)
      .groupBy('host_id')
      .execute()
    const moving = await db
      .selectFrom('moves')
      .select('source_host_id')
      .select((eb) => eb.fn.countAll<number | string>().as('n'))
      .whereRef('source_host_id', '!=', 'target_host_id')
      .groupBy('source_host_id')
      .execute()
    const count = new Map(servers.map((s) => [s.host_id, Number(s.n)]))
    const out = new Map(moving.map((m) => [m.source_host_id, Number(m.n)]))
    return hosts.map((h) => toView(h, count.get(h.id) ?? 0, out.get(h.id) ?? 0))
  }

  /** One host with the servers on it and those moving on or off it. */
  async show(name: string): Promise<HostDetail> {
    const db = this.database.db
    const host = await db.selectFrom('hosts').selectAll().where('name', '=', name).executeTakeFirst()
    if (!host) throw hostNotFound(name)
    return detail(db, host)
  }

  /**
   * Adds a host (shared, or dedicated to a project) and issues its agent's credential — shown
   * only in this answer. The host starts up and enabled; until an agent reports with the
   * credential, the process heartbeats for it (a simulated host).
   */
  async add(h: NewHost): Promise<{ host: HostDetail; credential: HostCredential }> {
    const now = nowIso()
    const id = crypto.randomUUID()
    const cpuRatio = h.cpuAllocationRatio ?? 1
    const ramRatio = h.ramAllocationRatio ?? 1
    const credential = await this.database.transaction(async ({ db }) => {
      if (await db.selectFrom('hosts').select('id').where('name', '=', h.name).executeTakeFirst()) throw hostExists(h.name)
      if (h.dedicatedTo !== undefined) await assertProject(db, h.dedicatedTo)
      await db
        .insertInto('hosts')
        .values({
          ...NEW_HOST_COLUMNS,
          id, name: h.name, az: h.az, vcpus: h.vcpus, ram_mb: h.ramMb, cpu_allocation_ratio: cpuRatio, ram_allocation_ratio: ramRatio,
          free_vcpus: Math.floor(h.vcpus * cpuRatio), free_ram_mb: Math.floor(h.ramMb * ramRatio), state: 'up', enabled: 1, created_at: now,
          dedicated_to: h.dedicatedTo ?? null, fault_domain: h.faultDomain ?? null, state_changed_at: now, admin_changed_at: now,
          last_heartbeat_at: now,
        })
        .execute()
      await recordHostChange(db, {
        at: now, hostId: id, from: null, to: 'up', reason: 'add',
        detail: `${h.az}${h.faultDomain === undefined ? '' : ` (fault domain ${h.faultDomain})`}, ${h.vcpus} vCPU, ${h.ramMb} MiB${h.dedicatedTo === undefined ? '' : `, dedicated to project ${h.dedicatedTo}`}`,
      })
      return this.identity.issueHostCredential(db, id)
    })
    this.capacityMayHaveReturned()
    return { host: await this.show(h.name), credential }
  }

  /**
   * Changes what a host is for: dedicated to a project (a DeH: shared placement no longer uses
   * it, and the project creates and migrates onto it by its id) or back to the shared pool
   * (`null`), and its fault domain. Dedicating is refused while servers of another project are
   * on it or moving off it.
   */
  async update(name: string, change: { dedicatedTo?: string | null | undefined; faultDomain?: string | null | undefined }): Promise<HostDetail> {
    await this.database.transaction(async ({ db, dialect }) => {
      const host = await lockHost(db, dialect, name)
      const set: Partial<Schema['hosts']> = {}
      if (change.dedicatedTo !== undefined) {
        const projectId = change.dedicatedTo
        if (projectId !== null) {
          await assertProject(db, projectId)
          const foreign = await db
            .selectFrom('servers')
            .select('id')
            .where('project_id', '!=', projectId)
            .where('in_recycle_bin', '=', 0)
            .where((eb) => eb.or([eb('host_id', '=', host.id), eb('id', 'in', eb.selectFrom('moves').select('server_id').where('source_host_id', '=', host.id))]))
            .limit(1)
            .executeTakeFirst()
          if (foreign) {
            throw new EcsError('Ecs.0005', 409, `Host ${name} runs servers of other projects (e.g. ${foreign.id}); move them off it before dedicating it to project ${projectId}.`)
          }
        }
        set.dedicated_to = projectId
      }
      if (change.faultDomain !== undefined && change.faultDomain !== null && change.faultDomain !== host.fault_domain) {
        // Relabelling must not put two members of a group that spreads over fault domains into one.
        const clash = await db
          .selectFrom('group_host_holds as here')
          .innerJoin('server_groups as g', 'g.id', 'here.group_id')
          .innerJoin('group_host_holds as there', (j) => j.onRef('there.group_id', '=', 'here.group_id').onRef('there.server_id', '!=', 'here.server_id'))
          .innerJoin('hosts as other', 'other.id', 'there.host_id')
          .select(['g.id as group_id', 'there.server_id'])
          .where('here.host_id', '=', host.id)
          .where('g.spread_fault_domains', '=', 1)
          .where('other.fault_domain', '=', change.faultDomain)
          .where('other.id', '!=', host.id)
          .executeTakeFirst()
        if (clash) {
          throw new EcsError('Ecs.0005', 409, `Host ${name} holds a member of group ${clash.group_id}, which spreads over fault domains, and member ${clash.server_id} is already in ${change.faultDomain}; move one of them first.`)
        }
      }
      if (change.faultDomain !== undefined) set.fault_domain = change.faultDomain
      if (Object.keys(set).length === 0) throw invalidParameter('give dedicated_to and/or fault_domain')
      await db.updateTable('hosts').set(set).where('id', '=', host.id).execute()
    })
    return this.show(name)
  }

  /**
   * An agent registering on its host: its address for the other agents, and — when it reports
   * them — the machine's capacity and fault domain instead of the host record's. The free
   * capacity follows; a capacity smaller than what the host's servers take is refused.
   */
  async register(hostId: string, report: { address: string; vcpus?: number | undefined; ramMb?: number | undefined; faultDomain?: string | undefined }): Promise<HostView> {
    const name = await this.database.transaction(async ({ db, dialect }) => {
      const host = await lockForUpdate(db.selectFrom('hosts').selectAll().where('id', '=', hostId), dialect).executeTakeFirst()
      if (!host) throw new EcsError('Ecs.0005', 404, `Host ${hostId} no longer exists.`)
      const set: Partial<Schema['hosts']> = { agent_address: report.address }
      const vcpus = report.vcpus ?? host.vcpus
      const ramMb = report.ramMb ?? host.ram_mb
      if (vcpus !== host.vcpus || ramMb !== host.ram_mb) {
        const usedV = Math.floor(host.vcpus * host.cpu_allocation_ratio) - host.free_vcpus
        const usedR = Math.floor(host.ram_mb * host.ram_allocation_ratio) - host.free_ram_mb
        const freeV = Math.floor(vcpus * host.cpu_allocation_ratio) - usedV
        const freeR = Math.floor(ramMb * host.ram_allocation_ratio) - usedR
        if (freeV < 0 || freeR < 0) {
          throw new EcsError('Ecs.0005', 409, `Host ${host.name} reports ${vcpus} vCPU / ${ramMb} MiB, less than its servers take (${usedV} / ${usedR}); move servers off it first.`)
        }
        Object.assign(set, { vcpus, ram_mb: ramMb, free_vcpus: freeV, free_ram_mb: freeR })
      }
      await db.updateTable('hosts').set(set).where('id', '=', host.id).execute()
      return host.name
    })
    if (report.faultDomain !== undefined) await this.update(name, { faultDomain: report.faultDomain })
    this.capacityMayHaveReturned()
    return (await this.show(name))
  }

  /** Takes the host out of placement; its servers stay. */
  async disable(name: string, reason: string | undefined): Promise<HostDetail> {
    await this.setAdminState(name, 'disabled', reason ?? null, 'disable')
    return this.show(name)
  }

  /** Puts the host back into placement (also ends a drain or maintenance); stranded servers may come to it. */
  async enable(name: string): Promise<HostDetail> {
    await this.setAdminState(name, 'enabled', null, 'enable')
    this.capacityMayHaveReturned()
    return this.show(name)
  }

  /**
   * Starts draining a host, as `kubectl drain` does: cordoned first (maintenance, reason
   * `drain`: no new servers), then every server is moved off it — live if it runs, cold if
   * not — by the host monitor of any replica, which resumes after a crash since the state is
   * the host row. When nothing is left on it, the reason becomes `drained`.
   */
  async drain(name: string): Promise<HostDetail> {
    await this.setAdminState(name, 'maintenance', DRAIN_REASON, 'drain')
    return this.show(name)
  }

  /**
   * Declares a host dead now, as a missed heartbeat would after `ECSD_HOST_DOWN_AFTER_S`: it goes
   * down and its servers are evacuated. A simulated host's heartbeats stop too (an injected
   * heartbeat fault), so it stays down until that fault is removed; a real agent's host comes
   * back — and is fenced — when its agent reports again.
   */
  async fail(name: string): Promise<HostDetail> {
    await this.database.transaction(async ({ db, dialect }) => {
      const host = await lockHost(db, dialect, name)
      const now = nowIso()
      if (host.state !== 'down') await db.updateTable('hosts').set({ state: 'down', state_changed_at: now }).where('id', '=', host.id).execute()
      await recordHostChange(db, { at: now, hostId: host.id, from: host.state, to: 'down', reason: 'fail', detail: 'declared failed by an operator' })
      if (host.agent_seen_at === null) {
        const stopped = await db.selectFrom('faults').select('id').where('host_name', '=', name).where('step', '=', 'heartbeat').executeTakeFirst()
        if (!stopped) {
          await db
            .insertInto('faults')
            .values({
              id: crypto.randomUUID(), host_name: name, step: 'heartbeat', mode: 'fail', probability: 1, created_at: now,
              reason: `declared failed by an operator; delete this fault (DELETE /admin/faults/{id}) to let the host come back`,
            })
            .execute()
        }
      }
    })
    for (const listener of this.downListeners) listener()
    return this.show(name)
  }

  /**
   * Removes an empty host: no server on it or moving off it, and no recycle-bin server that last
   * ran on it. Its agent credential and faults go with it.
   */
  async remove(name: string): Promise<void> {
    await this.database.transaction(async (tx) => {
      const { db, dialect } = tx
      const host = await lockHost(db, dialect, name)
      const servers = await db.selectFrom('servers').select(['id', 'in_recycle_bin']).where('host_id', '=', host.id).limit(5).execute()
      if (servers.length > 0) {
        const binned = servers.filter((s) => s.in_recycle_bin === 1).length
        throw hostNotEmpty(name, binned === servers.length ? `recycle-bin servers last ran on it (e.g. ${servers[0]!.id})` : `servers are on it (e.g. ${servers.find((s) => s.in_recycle_bin === 0)!.id})`)
      }
      const moving = await db.selectFrom('moves').select('server_id').where((eb) => eb.or([eb('source_host_id', '=', host.id), eb('target_host_id', '=', host.id)])).executeTakeFirst()
      if (moving) throw hostNotEmpty(name, `server ${moving.server_id} is moving on or off it`)
      // Before the row goes: the event names the host.
      await recordHostChange(db, { at: nowIso(), hostId: host.id, from: host.state, to: null, reason: 'remove' })
      await db.deleteFrom('faults').where('host_name', '=', name).execute()
      await db.deleteFrom('hosts').where('id', '=', host.id).execute()
      await this.identity.withdrawHostCredentials(tx, host.id)
    })
  }

  /**
   * A heartbeat of a host's agent (or of the process for a simulated host). An up host stays up;
   * a down one starts fencing and is told which servers to keep (every server the database puts
   * on it; any other copy it still runs was evacuated and must be destroyed); a fencing host that
   * reports `fenced` is up again.
   */
  async heartbeat(hostId: string, report: { fenced: boolean; fromAgent: boolean }): Promise<HeartbeatAnswer> {
    const answer = await this.database.transaction(async ({ db, dialect }) => {
      const host = await lockForUpdate(db.selectFrom('hosts').select(['id', 'state']).where('id', '=', hostId), dialect).executeTakeFirst()
      if (!host) throw new EcsError('Ecs.0005', 404, `Host ${hostId} no longer exists.`)
      const now = nowIso()
      let state = host.state as PowerState
      if (state === 'down') state = 'fencing'
      else if (state === 'fencing' && report.fenced) state = 'up'
      await db
        .updateTable('hosts')
        .set({
          last_heartbeat_at: now,
          ...(report.fromAgent ? { agent_seen_at: now } : {}),
          ...(state === host.state ? {} : { state, state_changed_at: now }),
        })
        .where('id', '=', host.id)
        .execute()
      await recordHostChange(db, { at: now, hostId: host.id, from: host.state, to: state, reason: state === 'up' ? 'fenced' : 'heartbeat' })
      if (state !== 'fencing') return { state, cameUp: host.state !== 'up' && state === 'up' }
      const keep = await db.selectFrom('servers').select('id').where('host_id', '=', host.id).orderBy('id').execute()
      return { state, cameUp: false, fence: { keep: keep.map((k) => k.id) } }
    })
    if (answer.cameUp) this.capacityMayHaveReturned()
    return answer.fence ? { state: answer.state, fence: answer.fence } : { state: answer.state }
  }

  private async setAdminState(name: string, state: AdminState, reason: string | null, action: string): Promise<void> {
    await this.database.transaction(async ({ db, dialect }) => {
      const host = await lockHost(db, dialect, name)
      const now = nowIso()
      await db
        .updateTable('hosts')
        .set({ admin_state: state, enabled: state === 'enabled' ? 1 : 0, admin_reason: reason, admin_changed_at: now })
        .where('id', '=', host.id)
        .execute()
      await recordHostChange(db, {
        at: now, hostId: host.id, from: hostAdminLabel(host.admin_state, host.admin_reason), to: hostAdminLabel(state, reason), reason: action,
        detail: state === 'disabled' ? reason : null,
      })
    })
  }

  private capacityMayHaveReturned(): void {
    for (const listener of this.capacityListeners) listener()
  }
}

async function lockHost(db: Kysely<Schema>, dialect: Database['dialect'], name: string) {
  const host = await lockForUpdate(db.selectFrom('hosts').selectAll().where('name', '=', name), dialect).executeTakeFirst()
  if (!host) throw hostNotFound(name)
  return host
}

async function assertProject(db: Kysely<Schema>, projectId: string): Promise<void> {
  const project = await db.selectFrom('projects').select('id').where('id', '=', projectId).executeTakeFirst()
  if (!project) throw invalidParameter(`project ${projectId} does not exist`)
}

function toView(h: Schema['hosts'], servers: number, movingOut: number): HostView {
  const capacityVcpus = Math.floor(h.vcpus * h.cpu_allocation_ratio)
  const capacityRamMb = Math.floor(h.ram_mb * h.ram_allocation_ratio)
  return {
    id: h.id, name: h.name, az: h.az, faultDomain: h.fault_domain, vcpus: h.vcpus, ramMb: h.ram_mb,
    cpuAllocationRatio: h.cpu_allocation_ratio, ramAllocationRatio: h.ram_allocation_ratio, capacityVcpus, capacityRamMb,
    usedVcpus: capacityVcpus - h.free_vcpus, usedRamMb: capacityRamMb - h.free_ram_mb, freeVcpus: h.free_vcpus, freeRamMb: h.free_ram_mb,
    state: h.state as PowerState, stateChangedAt: h.state_changed_at, lastHeartbeatAt: h.last_heartbeat_at,
    adminState: h.admin_state as AdminState, adminReason: h.admin_reason, adminChangedAt: h.admin_changed_at,
    schedulable: h.state === 'up' && h.enabled === 1, dedicatedTo: h.dedicated_to, agent: h.agent_seen_at === null ? 'simulated' : 'agent',
    servers, movingOut,
  }
}

async function detail(db: Kysely<Schema>, host: Schema['hosts']): Promise<HostDetail> {
  const on = await db
    .selectFrom('servers')
    .leftJoin('moves', 'moves.server_id', 'servers.id')
    .select(['servers.id', 'servers.name', 'servers.project_id', 'servers.status', 'servers.task_state', 'servers.vcpus', 'servers.ram_mb', 'moves.source_host_id'])
    .where('servers.host_id', '=', host.id)
    .where('servers.in_recycle_bin', '=', 0)
    .orderBy('servers.name')
    .orderBy('servers.id')
    .execute()
  const leaving = await db
    .selectFrom('moves')
    .innerJoin('servers', 'servers.id', 'moves.server_id')
    .select(['servers.id', 'servers.name', 'servers.project_id', 'servers.status', 'servers.task_state', 'moves.held_vcpus', 'moves.held_ram_mb'])
    .where('moves.source_host_id', '=', host.id)
    .whereRef('moves.target_host_id', '!=', 'moves.source_host_id')
    .orderBy('servers.name')
    .execute()
  const serverList: HostServer[] = [
    ...on.map((s) => ({
      id: s.id, name: s.name, projectId: s.project_id, status: s.status, taskState: s.task_state, vcpus: s.vcpus, ramMb: s.ram_mb,
      moving: s.source_host_id !== null && s.source_host_id !== host.id ? 'in' as const : null,
    })),
    ...leaving.map((s) => ({ id: s.id, name: s.name, projectId: s.project_id, status: s.status, taskState: s.task_state, vcpus: s.held_vcpus, ramMb: s.held_ram_mb, moving: 'out' as const })),
  ]
  return { ...toView(host, on.length, leaving.length), serverList }
}

/**
 * The dashboard's read model: the whole fleet in one compact answer (hosts with their use and
 * server counts, every group with where its members are), and the servers of a few hosts, of a
 * group or matching a search, asked for as the page shows them. Reads only; nothing here locks.
 */
import { sql, type Kysely } from 'kysely'
import type { HostService } from '../services/hosts.ts'
import type { Schema } from '../store/schema.ts'

/** A host as the fleet view draws it. */
export interface FleetHost {
  name: string
  az: string
  faultDomain: string | null
  state: string
  adminState: string
  adminReason: string | null
  dedicatedTo: string | null
  /** Allocatable (size × allocation ratio) and allocated. */
  vcpus: number
  usedVcpus: number
  ramMb: number
  usedRamMb: number
  servers: number
  movingOut: number
}

/** A member of a group and the host it holds. */
export interface FleetMember {
  serverId: string
  name: string
  status: string
  host: string
}

/** A server group of any project with its members. */
export interface FleetGroup {
  id: string
  name: string
  projectId: string
  policy: string
  spreadFaultDomains: boolean
  maxServerPerHost: number | null
  members: FleetMember[]
}

/** The fleet: every host (by zone, fault domain, name) and every group (by name). */
export interface Fleet {
  generatedAt: string
  hosts: FleetHost[]
  groups: FleetGroup[]
}

/** A server as the dashboard shows it. */
export interface FleetServer {
  id: string
  name: string
  projectId: string
  status: string
  taskState: string | null
  host: string
  az: string
  flavorId: string
  vcpus: number
  ramMb: number
  groupId: string | null
  /** Set while it moves: the host it is leaving, which still holds its allocation. */
  movingFrom: string | null
  createdAt: string
  updatedAt: string
}

/** Which servers: any combination, all of which must hold. */
export interface ServerFilter {
  /** On (or moving off) one of these hosts. */
  hosts?: readonly string[] | undefined
  groupId?: string | undefined
  serverId?: string | undefined
  /** An id that starts with it, or a name that contains it (case-insensitive). */
  search?: string | undefined
  limit: number
}

/** The fleet as the dashboard loads it. */
export async function readFleet(db: Kysely<Schema>, hosts: HostService): Promise<Fleet> {
  const generatedAt = new Date().toISOString()
  const views = await hosts.list()
  const rows = await db
    .selectFrom('server_groups as g')
    .leftJoin('server_group_members as m', 'm.group_id', 'g.id')
    .leftJoin('servers as s', 's.id', 'm.server_id')
    .leftJoin('hosts as h', 'h.id', 'm.host_id')
    .select([
      'g.id', 'g.name', 'g.project_id', 'g.policy', 'g.spread_fault_domains', 'g.max_server_per_host',
      'm.server_id', 's.name as server_name', 's.status', 'h.name as host_name',
    ])
    .orderBy('g.name')
    .orderBy('g.id')
    .orderBy('h.name')
    .execute()
  const groups: FleetGroup[] = []
  for (const r of rows) {
    let group = groups.at(-1)
    if (group?.id !== r.id) {
      group = {
        id: r.id, name: r.name, projectId: r.project_id, policy: r.policy, spreadFaultDomains: r.spread_fault_domains === 1,
        maxServerPerHost: r.max_server_per_host, members: [],
      }
      groups.push(group)
    }
    if (r.server_id !== null) group.members.push({ serverId: r.server_id, name: r.server_name ?? '', status: r.status ?? '', host: r.host_name ?? '' })
  }
  const fleetHosts = views.map((h): FleetHost => ({
    name: h.name, az: h.az, faultDomain: h.faultDomain, state: h.state, adminState: h.adminState, adminReason: h.adminReason,
    dedicatedTo: h.dedicatedTo, vcpus: h.capacityVcpus, usedVcpus: h.usedVcpus, ramMb: h.capacityRamMb, usedRamMb: h.usedRamMb,
    servers: h.servers, movingOut: h.movingOut,
  }))
  return { generatedAt, hosts: byPlace(fleetHosts), groups }
}

/**
 * The order the page groups hosts in: zone, then fault domain (hosts without one last), then
 * name, numbers inside names compared as numbers (rack-2 before rack-10). Keys are built once
 * per host, as a collator would cost more than the rest of the read at 10,000 hosts.
 */
function byPlace(hosts: FleetHost[]): FleetHost[] {
  const keyed = hosts.map((h) => ({ h, key: `${naturalKey(h.az)}\u0000${h.faultDomain === null ? '\uffff' : naturalKey(h.faultDomain)}\u0000${naturalKey(h.name)}` }))
  keyed.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))
  return keyed.map((k) => k.h)
}

/** Digit runs padded to one width, so that text order is numeric order. */
function naturalKey(text: string): string {
  return text.replace(/\d+/g, (digits) => digits.padStart(12, '0'))
}

/** Servers (not those in the recycle bin) matching a filter, by name; at most `limit`, and whether more matched. */
export async function readServers(db: Kysely<Schema>, filter: ServerFilter): Promise<{ servers: FleetServer[]; truncated: boolean }> {
  let query = db
    .selectFrom('servers as s')
    .innerJoin('hosts as h', 'h.id', 's.host_id')
    .leftJoin('moves as mv', (j) => j.onRef('mv.server_id', '=', 's.id').onRef('mv.source_host_id', '!=', 'mv.target_host_id'))
    .leftJoin('hosts as src', 'src.id', 'mv.source_host_id')
    .leftJoin('server_group_members as gm', 'gm.server_id', 's.id')
    .select([
      's.id', 's.name', 's.project_id', 's.status', 's.task_state', 'h.name as host', 's.az', 's.flavor_id', 's.vcpus', 's.ram_mb',
      'gm.group_id', 'src.name as moving_from', 's.created_at', 's.updated_at',
    ])
    .where('s.in_recycle_bin', '=', 0)
  const { hosts, groupId, serverId, search } = filter
  if (hosts !== undefined) {
    if (hosts.length === 0) return { servers: [], truncated: false }
    query = query.where((eb) => eb.or([eb('h.name', 'in', hosts), eb('src.name', 'in', hosts)]))
  }
  if (groupId !== undefined) query = query.where('gm.group_id', '=', groupId)
  if (serverId !== undefined) query = query.where('s.id', '=', serverId)
  if (search !== undefined && search !== '') {
    // Typed text is matched literally: LIKE's wildcards in it are escaped.
    const escaped = search.toLowerCase().replace(/[\\%_]/g, (c) => `\\${c}`)
    query = query.where(sql<boolean>`(s.id like ${`${escaped}%`} escape '\\' or lower(s.name) like ${`%${escaped}%`} escape '\\')`)
  }
  const rows = await query.orderBy('s.name').orderBy('s.id').limit(filter.limit + 1).execute()
  const servers = rows.slice(0, filter.limit).map((r): FleetServer => ({
    id: r.id, name: r.name, projectId: r.project_id, status: r.status, taskState: r.task_state, host: r.host, az: r.az, flavorId: r.flavor_id,
    vcpus: r.vcpus, ramMb: r.ram_mb, groupId: r.group_id, movingFrom: r.moving_from, createdAt: r.created_at, updatedAt: r.updated_at,
  }))
  return { servers, truncated: rows.length > filter.limit }
}

import { createHash, randomUUID } from 'node:crypto'
import type { Kysely } from 'kysely'
import {
  interfaceNotFound, invalidParameter, ipAddressInUse, nicNotFound, portInUse, primaryNicNotDeletable, serverBusy, serverInRecycleBin,
  serverNotFound, subnetExhausted, tooManyNics,
} from '../domain/errors.ts'
import { lockForUpdate, type Database, type Tx } from '../store/database.ts'
import { prepared } from '../store/prepared.ts'
import type { Schema } from '../store/schema.ts'
import type { ServerInterfaceTable } from '../store/tables/openstack.ts'
import { lockProject } from './groups.ts'
import { recordJob, type JobRunner } from './jobs.ts'
import type { CreateResources, CreatedServer } from './server-resources.ts'
import { nowIso } from './time.ts'

/**
 * ecsd has no VPC API, so a subnet is simulated: its CIDR is `10.h.0.0/16`, `h` taken from a hash
 * of the subnet id (stable, nothing to configure). As in a Huawei subnet, the network address,
 * the gateway (`.0.1`) and the last three addresses (system interface, DHCP, broadcast) are
 * reserved; a new NIC gets the address after the highest in use, and once the subnet's end is
 * reached, the lowest free one. A NIC's `host` is its address's offset in the CIDR, which the
 * allocator's index orders by.
 */
const FIRST_HOST = 2
const LAST_HOST = 65_532

/** A NIC of a server as its views show it. */
export interface ServerNic {
  portId: string
  netId: string
  subnetId: string
  ipAddress: string
  macAddr: string
  /** The server's first NIC: it cannot be deleted, and `changeVpc` replaces it. */
  primary: boolean
  deleteOnTermination: boolean
}

/**
 * How many NICs a server of `vcpus` may have. The catalogue carries no NIC extra spec, so ecsd
 * follows the shape of Huawei's flavor tables (more vCPUs, more NICs): one per vCPU, at least 2,
 * at most 12 (the most a create may name).
 */
export function maxNicsOf(vcpus: number): number {
  return Math.min(12, Math.max(2, vcpus))
}

/** The simulated CIDR of a subnet, e.g. `10.37.0.0/16`. */
export function subnetCidr(subnetId: string): string {
  return `${formatIpv4(subnetBase(subnetId))}/16`
}

function subnetBase(subnetId: string): number {
  const h = createHash('sha256').update(`subnet:${subnetId}`).digest()
  return (10 * 2 ** 24) + h[0]! * 2 ** 16
}

/** An IPv4 address in dotted-quad form as a number; null when the text is not one (no leading zeros, no spaces). */
export function parseIpv4(text: string): number | null {
  const parts = text.split('.')
  if (parts.length !== 4) return null
  let value = 0
  for (const p of parts) {
    if (!/^(0|[1-9]\d{0,2})$/.test(p) || Number(p) > 255) return null
    value = value * 256 + Number(p)
  }
  return value
}

function formatIpv4(value: number): string {
  return [24, 16, 8, 0].map((shift) => Math.floor(value / 2 ** shift) % 256).join('.')
}

/** The offset of `address` in the subnet's CIDR when it is one of its usable addresses, else null. */
function usableHost(subnetId: string, address: number): number | null {
  const host = address - subnetBase(subnetId)
  return host >= FIRST_HOST && host <= LAST_HOST ? host : null
}

/** A MAC address in OpenStack's `fa:16:3e` range, from the port id (stable for a port). */
export function macAddressOf(portId: string): string {
  const h = createHash('sha256').update(`mac:${portId}`).digest()
  return `fa:16:3e:${[h[0], h[1], h[2]].map((b) => b!.toString(16).padStart(2, '0')).join(':')}`
}

/** An address to take in a subnet of a project. */
export interface AddressRequest {
  projectId: string
  subnetId: string
  /** A fixed address the client asked for; absent: the next free one. */
  ipAddress?: string | undefined
  /**
   * The OpenStack surface has no subnet a client can see the range of, so a fixed IP there may
   * lie outside the simulated CIDR; it is still unique in its subnet.
   */
  anywhere?: boolean
}

/**
 * Takes an address of a subnet for a NIC or a virtual IP, in the caller's transaction. The
 * project row is locked first, so concurrent allocations in one project are serialised on
 * PostgreSQL; the unique indexes on (project, subnet, address) stand behind the lock.
 */
export async function allocateAddress(db: Kysely<Schema>, r: AddressRequest): Promise<{ ipAddress: string; host: number | null }> {
  await lockProject(db, r.projectId)
  if (r.ipAddress !== undefined) {
    const value = parseIpv4(r.ipAddress)
    if (value === null) throw invalidParameter(`ip_address "${r.ipAddress}" is not an IPv4 address`)
    const host = usableHost(r.subnetId, value)
    if (host === null && !r.anywhere) {
      throw invalidParameter(`ip_address ${r.ipAddress} is not a usable address of subnet ${r.subnetId} (${subnetCidr(r.subnetId)}, hosts ${formatIpv4(subnetBase(r.subnetId) + FIRST_HOST)} to ${formatIpv4(subnetBase(r.subnetId) + LAST_HOST)})`)
    }
    const ipAddress = formatIpv4(value)
    if (await ADDRESS_HOLDER.first(db, { projectId: r.projectId, subnetId: r.subnetId, ipAddress })) throw ipAddressInUse(ipAddress, r.subnetId)
    return { ipAddress, host }
  }
  const host = await nextFreeHost(db, r.projectId, r.subnetId)
  return { ipAddress: formatIpv4(subnetBase(r.subnetId) + host), host }
}

/**
 * The host a new address of a subnet takes: the one after the highest in use (one index read per
 * table, whatever the size of the subnet), or, once that passes the subnet's end, the lowest free
 * one (every address of the subnet is read once). A taken candidate — an address outside the
 * subnet's own range, from the OpenStack surface — sends it to the lowest free one too.
 */
async function nextFreeHost(db: Kysely<Schema>, projectId: string, subnetId: string): Promise<number> {
  const p = { projectId, subnetId }
  const [nics, vips] = [await NIC_HIGHEST.first(db, p), await VIP_HIGHEST.first(db, p)]
  const next = Math.max(Number(nics?.highest ?? FIRST_HOST - 1), Number(vips?.highest ?? FIRST_HOST - 1)) + 1
  if (next <= LAST_HOST && !(await ADDRESS_HOLDER.first(db, { ...p, ipAddress: formatIpv4(subnetBase(subnetId) + next) }))) return next
  const taken = new Set((await SUBNET_ADDRESSES.all(db, p)).map((r) => r.ip_address))
  const base = subnetBase(subnetId)
  for (let host = FIRST_HOST; host <= LAST_HOST; host++) {
    if (!taken.has(formatIpv4(base + host))) return host
  }
  throw subnetExhausted(subnetId)
}

const NIC_HIGHEST = prepared((db, p: { projectId: string; subnetId: string }) =>
  db.selectFrom('server_interfaces').select((eb) => eb.fn.max('host').as('highest'))
    .where('project_id', '=', p.projectId).where('subnet_id', '=', p.subnetId).where('host', 'is not', null),
)

const VIP_HIGHEST = prepared((db, p: { projectId: string; subnetId: string }) =>
  db.selectFrom('virtual_ips').select((eb) => eb.fn.max('host').as('highest'))
    .where('project_id', '=', p.projectId).where('subnet_id', '=', p.subnetId).where('host', 'is not', null),
)

const ADDRESS_HOLDER = prepared((db, p: { projectId: string; subnetId: string; ipAddress: string }) =>
  db.selectFrom('server_interfaces').select('port_id')
    .where('project_id', '=', p.projectId).where('subnet_id', '=', p.subnetId).where('ip_address', '=', p.ipAddress)
    .unionAll(db.selectFrom('virtual_ips').select('port_id').where('project_id', '=', p.projectId).where('subnet_id', '=', p.subnetId).where('ip_address', '=', p.ipAddress)),
)

const SUBNET_ADDRESSES = prepared((db, p: { projectId: string; subnetId: string }) =>
  db.selectFrom('server_interfaces').select('ip_address').where('project_id', '=', p.projectId).where('subnet_id', '=', p.subnetId)
    .unionAll(db.selectFrom('virtual_ips').select('ip_address').where('project_id', '=', p.projectId).where('subnet_id', '=', p.subnetId)),
)

/** A NIC to give a server. */
export interface NicRequest {
  projectId: string
  serverId: string
  subnetId: string
  /** The network the port belongs to; on the Huawei surface the subnet id is the network id. */
  netId: string
  ipAddress?: string | undefined
  /** A port id the client chose (OpenStack `port`); absent: a new one. */
  portId?: string | undefined
  position: number
  deleteOnTermination: boolean
  anywhere?: boolean
  createdAt: string
}

/** Gives a server a NIC with an address of its subnet and a MAC address; returns the stored row. */
export async function insertNic(db: Kysely<Schema>, n: NicRequest): Promise<ServerInterfaceTable> {
  if (n.portId !== undefined && (await PORT_OWNER.first(db, { portId: n.portId }))) throw portInUse(n.portId)
  const { ipAddress, host } = await allocateAddress(db, { projectId: n.projectId, subnetId: n.subnetId, ipAddress: n.ipAddress, anywhere: n.anywhere ?? false })
  const portId = n.portId ?? randomUUID()
  const row: ServerInterfaceTable = {
    port_id: portId, server_id: n.serverId, net_id: n.netId, subnet_id: n.subnetId, ip_address: ipAddress, mac_addr: macAddressOf(portId),
    created_at: n.createdAt, project_id: n.projectId, position: n.position, host, delete_on_termination: n.deleteOnTermination ? 1 : 0,
  }
  await db.insertInto('server_interfaces').values(row).execute()
  return row
}

const PORT_OWNER = prepared((db, p: { portId: string }) => db.selectFrom('server_interfaces').select('server_id').where('port_id', '=', p.portId))

/**
 * Allocates the NICs a create asked for, in the create's transaction: one per `nics` entry of
 * each server, in order (the first is the primary NIC), each with the next free address of its
 * subnet or the `ip_address` it names. A refusal rolls the whole create back.
 */
export async function allocateNicsAtCreate(db: Kysely<Schema>, servers: CreatedServer[], resources: CreateResources): Promise<void> {
  if (servers.length === 0 || resources.nics.length === 0) return
  const limit = maxNicsOf(servers[0]!.vcpus)
  if (resources.nics.length > limit) throw tooManyNics(undefined, resources.nics.length, limit)
  const fixed = resources.nics.filter((n) => n.ip_address !== undefined)
  if (fixed.length > 0 && servers.length > 1) throw invalidParameter('nics[].ip_address can be given only when count is 1: two servers cannot have one address')
  for (const s of servers) {
    for (const [position, nic] of resources.nics.entries()) {
      if (nic.ip_address !== undefined && typeof nic.ip_address !== 'string') throw invalidParameter('nics[].ip_address must be a string')
      await insertNic(db, {
        projectId: s.projectId, serverId: s.id, subnetId: nic.subnet_id, netId: nic.subnet_id, ipAddress: nic.ip_address,
        position, deleteOnTermination: true, createdAt: s.createdAt,
      })
    }
  }
}

/** The NICs of servers, primary first (two queries, whatever the number of servers). */
export async function loadNics(db: Kysely<Schema>, serverIds: string[]): Promise<Map<string, ServerNic[]>> {
  const out = new Map<string, ServerNic[]>()
  if (serverIds.length === 0) return out
  // One server (show, the hot read) by a prepared statement; a page of them by one query.
  const rows = serverIds.length === 1
    ? await NICS_OF_ONE.all(db, { serverId: serverIds[0]! })
    : await db.selectFrom('server_interfaces').selectAll().where('server_id', 'in', serverIds)
      .orderBy('server_id').orderBy('position').orderBy('created_at').orderBy('port_id').execute()
  for (const r of rows) {
    const list = out.get(r.server_id)
    const nic = nicOf(r, list === undefined)
    if (list) list.push(nic)
    else out.set(r.server_id, [nic])
  }
  return out
}

const NICS_OF_ONE = prepared((db, p: { serverId: string }) =>
  db.selectFrom('server_interfaces').selectAll().where('server_id', '=', p.serverId).orderBy('position').orderBy('created_at').orderBy('port_id'),
)

function nicOf(r: ServerInterfaceTable, primary: boolean): ServerNic {
  return {
    portId: r.port_id, netId: r.net_id, subnetId: r.subnet_id, ipAddress: r.ip_address, macAddr: r.mac_addr, primary,
    deleteOnTermination: r.delete_on_termination === 1,
  }
}

/** A server's NICs with what the NIC views need of the server. */
export interface ServerNics {
  nics: ServerNic[]
  /** ACTIVE or DOWN: a port is up while its server runs. */
  portState: string
  /** How many more NICs the server may have. */
  freeNic: number
  vcpus: number
}

/** A NIC the Huawei API adds: on a subnet (a new port), or a port the client names. */
export interface AddNic {
  subnetId?: string | undefined
  portId?: string | undefined
  ipAddress?: string | undefined
  ipv6Enable?: boolean | undefined
}

/** The NIC a VPC change gives a server in the new VPC. */
export interface VpcChange {
  vpcId: string
  subnetId?: string | undefined
  portId?: string | undefined
  ipAddress?: string | undefined
}

/** A server's NICs, virtual IPs and VPC through the Huawei API. */
export class NicService {
  constructor(private readonly deps: { database: Database; jobs: JobRunner }) {}

  /** The NICs of a server of the project, with its NIC allowance. */
  async list(projectId: string, serverId: string): Promise<ServerNics> {
    const { db } = this.deps.database
    const server = await db.selectFrom('servers').select(['id', 'status', 'vcpus']).where('id', '=', serverId).where('project_id', '=', projectId).executeTakeFirst()
    if (!server) throw serverNotFound(serverId)
    const nics = (await loadNics(db, [serverId])).get(serverId) ?? []
    return { nics, portState: server.status === 'ACTIVE' ? 'ACTIVE' : 'DOWN', freeNic: Math.max(0, maxNicsOf(server.vcpus) - nics.length), vcpus: server.vcpus }
  }

  /** batchAddServerNics: new NICs on the named subnets, recorded as a finished `addNics` job. */
  async add(projectId: string, serverId: string, wanted: AddNic[]): Promise<{ jobId: string }> {
    return this.deps.database.transaction(async (tx) => {
      const { db } = tx
      const server = await serverForChange(tx, projectId, serverId)
      const nics = await NIC_POSITIONS.all(db, { serverId })
      const limit = maxNicsOf(server.vcpus)
      if (nics.length + wanted.length > limit) throw tooManyNics(serverId, nics.length + wanted.length, limit)
      let position = nics.reduce((max, n) => Math.max(max, n.position), -1)
      const now = nowIso()
      for (const w of wanted) {
        if (w.ipv6Enable === true) throw invalidParameter('ipv6_enable: the simulated subnets of ecsd have no IPv6 range')
        const subnetId = subnetOfRequest(w.subnetId, w.portId, 'nics[]')
        await insertNic(db, { projectId, serverId, subnetId, netId: subnetId, ipAddress: w.ipAddress, position: ++position, deleteOnTermination: true, createdAt: now })
      }
      return { jobId: (await recordJob(tx, this.deps.jobs, { projectId, operation: 'addNics', work: [], alreadyDone: [serverId] })).jobId }
    })
  }

  /** batchDeleteServerNics: removes extension NICs (never the primary one), as a finished `deleteNics` job. */
  async remove(projectId: string, serverId: string, portIds: string[]): Promise<{ jobId: string }> {
    return this.deps.database.transaction(async (tx) => {
      const { db } = tx
      await serverForChange(tx, projectId, serverId)
      const nics = await NIC_POSITIONS.all(db, { serverId })
      const primary = nics[0]?.port_id
      for (const portId of new Set(portIds)) {
        if (!nics.some((n) => n.port_id === portId)) throw interfaceNotFound(serverId, portId)
        if (portId === primary) throw primaryNicNotDeletable(serverId, portId)
      }
      await db.deleteFrom('server_interfaces').where('server_id', '=', serverId).where('port_id', 'in', [...new Set(portIds)]).execute()
      return { jobId: (await recordJob(tx, this.deps.jobs, { projectId, operation: 'deleteNics', work: [], alreadyDone: [serverId] })).jobId }
    })
  }

  /** updateServerInterface: only `delete_on_termination` can change. */
  async update(projectId: string, serverId: string, portId: string, deleteOnTermination: boolean | undefined): Promise<void> {
    await this.deps.database.transaction(async (tx) => {
      await serverForChange(tx, projectId, serverId)
      const nic = await tx.db.selectFrom('server_interfaces').select('port_id').where('server_id', '=', serverId).where('port_id', '=', portId).executeTakeFirst()
      if (!nic) throw interfaceNotFound(serverId, portId)
      if (deleteOnTermination === undefined) return
      await tx.db.updateTable('server_interfaces').set({ delete_on_termination: deleteOnTermination ? 1 : 0 }).where('port_id', '=', portId).execute()
    })
  }

  /**
   * changeServerNetworkInterface: a new address for a NIC, in its own subnet (the named one or
   * `""` for the lowest free); the port, its MAC and its place stay.
   */
  async changeAddress(projectId: string, serverId: string, portId: string, subnetId: string, ipAddress: string): Promise<{ portId: string; subnetId: string; ipAddress: string }> {
    return this.deps.database.transaction(async (tx) => {
      const { db } = tx
      await serverForChange(tx, projectId, serverId)
      const nic = await db.selectFrom('server_interfaces').select(['port_id', 'subnet_id', 'ip_address']).where('server_id', '=', serverId).where('port_id', '=', portId).executeTakeFirst()
      if (!nic) throw interfaceNotFound(serverId, portId)
      if (subnetId !== nic.subnet_id) throw invalidParameter(`subnet_id ${subnetId} is not the subnet of NIC ${portId} (${nic.subnet_id}); only the address can change`)
      if (ipAddress === nic.ip_address) return { portId, subnetId, ipAddress }
      const address = await allocateAddress(db, { projectId, subnetId, ipAddress: ipAddress === '' ? undefined : ipAddress })
      await db.updateTable('server_interfaces').set({ ip_address: address.ipAddress, host: address.host }).where('port_id', '=', portId).execute()
      return { portId, subnetId, ipAddress: address.ipAddress }
    })
  }

  /**
   * associateServerVirtualIp: binds a virtual IP of the NIC's subnet to the NIC, making the
   * virtual IP when the address is not one yet. Binding it again only updates `reverse_binding`.
   */
  async associateVirtualIp(projectId: string, nicId: string, subnetId: string, ipAddress: string, reverseBinding: boolean): Promise<string> {
    return this.deps.database.transaction(async (tx) => {
      const { db } = tx
      const nic = await nicForChange(tx, projectId, nicId)
      if (subnetId !== nic.subnet_id) throw invalidParameter(`subnet_id ${subnetId} is not the subnet of NIC ${nicId} (${nic.subnet_id}); a virtual IP binds to NICs of its own subnet`)
      const value = parseIpv4(ipAddress)
      if (value === null) throw invalidParameter(`ip_address "${ipAddress}" is not an IPv4 address`)
      const canonical = formatIpv4(value)
      let vip = await db.selectFrom('virtual_ips').select('port_id').where('project_id', '=', projectId).where('subnet_id', '=', subnetId).where('ip_address', '=', canonical).executeTakeFirst()
      const now = nowIso()
      if (!vip) {
        const address = await allocateAddress(db, { projectId, subnetId, ipAddress: canonical })
        vip = { port_id: randomUUID() }
        await db.insertInto('virtual_ips').values({ port_id: vip.port_id, project_id: projectId, subnet_id: subnetId, ip_address: address.ipAddress, host: address.host, created_at: now }).execute()
      }
      const reverse = reverseBinding ? 1 : 0
      const bound = await db.updateTable('virtual_ip_bindings').set({ reverse_binding: reverse }).where('vip_port_id', '=', vip.port_id).where('nic_port_id', '=', nicId).executeTakeFirst()
      if (Number(bound.numUpdatedRows) === 0) await db.insertInto('virtual_ip_bindings').values({ vip_port_id: vip.port_id, nic_port_id: nicId, reverse_binding: reverse, created_at: now }).execute()
      return nicId
    })
  }

  /** disassociateServerVirtualIp: unbinds every virtual IP from the NIC; the virtual IPs stay (VPC resources). */
  async disassociateVirtualIps(projectId: string, nicId: string): Promise<string> {
    return this.deps.database.transaction(async (tx) => {
      await nicForChange(tx, projectId, nicId)
      await tx.db.deleteFrom('virtual_ip_bindings').where('nic_port_id', '=', nicId).execute()
      return nicId
    })
  }

  /**
   * changeVpc: the server's primary NIC is replaced by a new one in the new VPC (new port, MAC
   * and address; the virtual IPs bound to the old one are unbound with it). As in Huawei, only a
   * server with the primary NIC alone can change VPC. Recorded as a finished `changeVpc` job.
   */
  async changeVpc(projectId: string, serverId: string, change: VpcChange): Promise<{ jobId: string }> {
    return this.deps.database.transaction(async (tx) => {
      const { db } = tx
      await serverForChange(tx, projectId, serverId)
      const nics = await NIC_POSITIONS.all(db, { serverId })
      if (nics.length > 1) throw invalidParameter(`ECS ${serverId} has ${nics.length} NICs; only an ECS with its primary NIC alone can change VPC: delete the extension NICs first (POST /v1/{project_id}/cloudservers/${serverId}/nics/delete)`)
      const subnetId = subnetOfRequest(change.subnetId, change.portId, 'nic')
      if (nics[0]) await db.deleteFrom('server_interfaces').where('port_id', '=', nics[0].port_id).execute()
      await insertNic(db, { projectId, serverId, subnetId, netId: subnetId, ipAddress: change.ipAddress, position: nics[0]?.position ?? 0, deleteOnTermination: true, createdAt: nowIso() })
      await db.updateTable('servers').set({ vpc_id: change.vpcId, updated_at: nowIso() }).where('id', '=', serverId).execute()
      return { jobId: (await recordJob(tx, this.deps.jobs, { projectId, operation: 'changeVpc', work: [], alreadyDone: [serverId] })).jobId }
    })
  }
}

/**
 * The subnet of a NIC request. A named port must be a free port of the project; ecsd has no VPC
 * port API, so no port is ever free: a port that is a NIC is in use, any other is unknown.
 */
function subnetOfRequest(subnetId: string | undefined, portId: string | undefined, field: string): string {
  if (portId !== undefined) {
    throw invalidParameter(`${field}.port_id ${portId} is not a free port of this project (ecsd has no VPC port API and keeps no detached ports); name ${field}.subnet_id to get a new NIC`)
  }
  if (subnetId === undefined) throw invalidParameter(`${field} needs subnet_id (or port_id)`)
  return subnetId
}

/**
 * The server a NIC change applies to, locked after the project (the lock order of every writer:
 * project, then server): of the project, not in the recycle bin, no job working on it.
 */
async function serverForChange(tx: Tx, projectId: string, serverId: string): Promise<{ vcpus: number }> {
  await lockProject(tx.db, projectId)
  const server = await lockForUpdate(
    tx.db.selectFrom('servers').select(['id', 'status', 'task_state', 'in_recycle_bin', 'vcpus']).where('id', '=', serverId).where('project_id', '=', projectId),
    tx.dialect,
  ).executeTakeFirst()
  if (!server) throw serverNotFound(serverId)
  if (server.in_recycle_bin === 1) throw serverInRecycleBin(serverId)
  if (server.task_state !== null) throw serverBusy(serverId, server.status, server.task_state)
  return server
}

/** A NIC of the project (by port id) whose server may change now. */
async function nicForChange(tx: Tx, projectId: string, nicId: string): Promise<{ subnet_id: string }> {
  const owner = await NIC_OF_PROJECT.first(tx.db, { projectId, nicId })
  if (!owner) throw nicNotFound(nicId)
  await serverForChange(tx, projectId, owner.server_id)
  // Read again under the server's lock: the NIC may have gone (or moved) meanwhile.
  const nic = await NIC_OF_PROJECT.first(tx.db, { projectId, nicId })
  if (!nic || nic.server_id !== owner.server_id) throw nicNotFound(nicId)
  return nic
}

const NIC_OF_PROJECT = prepared((db, p: { projectId: string; nicId: string }) =>
  db.selectFrom('server_interfaces').select(['server_id', 'subnet_id']).where('port_id', '=', p.nicId).where('project_id', '=', p.projectId),
)

const NIC_POSITIONS = prepared((db, p: { serverId: string }) =>
  db.selectFrom('server_interfaces').select(['port_id', 'position']).where('server_id', '=', p.serverId).orderBy('position').orderBy('created_at').orderBy('port_id'),
)

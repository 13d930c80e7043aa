import type { Kysely } from 'kysely'
import { inHeldFaultDomain } from '../placement/filters/fault-domain-spread.ts'
import type { Schema } from '../store/schema.ts'

/** One server joining one group on the host it occupies. */
export interface NewMembership {
  groupId: string
  serverId: string
  hostId: string
  /** The group's policy needs distinct hosts (anti-affinity). */
  distinctHost: boolean
  createdAt: string
}

/**
 * Records memberships: the membership rows and, for each, the hold of its host by the group.
 * The only way members are written (creates, add_member, recycle-bin reverts, the fleet
 * generator), so the two tables never disagree; a hold goes with its membership by cascade.
 */
export async function insertMemberships(db: Kysely<Schema>, rows: readonly NewMembership[], chunk = 500): Promise<void> {
  for (let i = 0; i < rows.length; i += chunk) {
    const part = rows.slice(i, i + chunk)
    await db
      .insertInto('server_group_members')
      .values(part.map((r) => ({ group_id: r.groupId, server_id: r.serverId, host_id: r.hostId, distinct_host: r.distinctHost ? 1 : 0, created_at: r.createdAt })))
      .execute()
    await db
      .insertInto('group_host_holds')
      .values(part.map((r) => ({ group_id: r.groupId, server_id: r.serverId, host_id: r.hostId, kind: 'member', distinct_host: r.distinctHost ? 1 : 0 })))
      .execute()
  }
}

/**
 * Hosts the group holds for members other than `exceptServer`: their current hosts and the
 * sources of their moves in flight. What anti-affinity keeps a server away from.
 */
export async function hostsHeldByGroup(db: Kysely<Schema>, groupId: string, exceptServer?: string): Promise<Set<string>> {
  let q = db.selectFrom('group_host_holds').select('host_id').where('group_id', '=', groupId)
  if (exceptServer !== undefined) q = q.where('server_id', '!=', exceptServer)
  return new Set((await q.execute()).map((r) => r.host_id))
}

/**
 * What placement keeps a member of a group away from, spread into its `PlacementRequest`: the
 * hosts the other members hold (`hostsHeldByGroup`) and, when the group spreads over fault
 * domains, the fault domains of those hosts — in-flight move sources included, so a member
 * moving between racks holds both until its move ends.
 */
export interface GroupHolds {
  groupHostIds: Set<string>
  /** Undefined when the group does not spread over fault domains. */
  groupFaultDomains: Set<string> | undefined
}

/** The holds of a server outside any group: nothing. */
export function noGroupHolds(): GroupHolds {
  return { groupHostIds: new Set(), groupFaultDomains: undefined }
}

/**
 * The holds of the group's members other than `exceptServer`. Every placement of a group member
 * (create, add_member, a move, a recycle-bin revert) reads them here, so none can forget the
 * fault domains.
 */
export async function groupHolds(db: Kysely<Schema>, groupId: string, exceptServer?: string): Promise<GroupHolds> {
  const groupHostIds = await hostsHeldByGroup(db, groupId, exceptServer)
  const group = await db.selectFrom('server_groups').select('spread_fault_domains').where('id', '=', groupId).executeTakeFirst()
  if (group?.spread_fault_domains !== 1) return { groupHostIds, groupFaultDomains: undefined }
  const domains = groupHostIds.size === 0
    ? []
    : await db.selectFrom('hosts').select('fault_domain').distinct().where('id', 'in', [...groupHostIds]).where('fault_domain', 'is not', null).execute()
  return { groupHostIds, groupFaultDomains: new Set(domains.flatMap((r) => (r.fault_domain === null ? [] : [r.fault_domain]))) }
}

/** Adds a host just chosen for a member, so that the next member placed in the same transaction stays away from it. */
export function holdHost(holds: GroupHolds, host: { id: string; fault_domain: string | null }): void {
  holds.groupHostIds.add(host.id)
  if (host.fault_domain !== null) holds.groupFaultDomains?.add(host.fault_domain)
}

/** The holds in the words of a placement's subject: `3 hosts`, or `3 hosts and 2 fault domains`. */
export function describeHolds(holds: GroupHolds): string {
  const hosts = `${holds.groupHostIds.size} hosts`
  return holds.groupFaultDomains === undefined ? hosts : `${hosts} and ${holds.groupFaultDomains.size} fault domains`
}

/** True when a member may not be on `host`: another member holds it or, in a spreading group, its fault domain. */
export function heldByGroup(holds: GroupHolds, host: { id: string; fault_domain: string | null }): boolean {
  return holds.groupHostIds.has(host.id) || inHeldFaultDomain(host, holds)
}

/** How many members a group has. */
export async function memberCount(db: Kysely<Schema>, groupId: string): Promise<number> {
  const row = await db
    .selectFrom('server_group_members')
    .select((eb) => eb.fn.countAll<number | string>().as('n'))
    .where('group_id', '=', groupId)
    .executeTakeFirstOrThrow()
  return Number(row.n)
}

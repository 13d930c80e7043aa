import type { Kysely } from 'kysely'
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

/** How many members a group has. */
export async function memberCount(db: Kysely<Schema>, groupId: string): Promise<number> {
  const row = await db
    .selectFrom('server_group_members')
    .select((eb) => eb.fn.countAll<number | string>().as('n'))
    .where('group_id', '=', groupId)
    .executeTakeFirstOrThrow()
  return Number(row.n)
}

import type { Kysely } from 'kysely'
import { membersPerHost, requiresDistinctHosts, type GroupPolicy, type GroupRules } from '../domain/group.ts'
import { offAffinityHost } from '../placement/filters/affinity.ts'
import { hostFullForGroup } from '../placement/filters/anti-affinity.ts'
import { inHeldFaultDomain } from '../placement/filters/fault-domain-spread.ts'
import { placeholders, prepared } from '../store/prepared.ts'
import type { Schema } from '../store/schema.ts'

/** A group as the writers of memberships and holds see it: its id and the rules they obey. */
export interface MemberGroup extends GroupRules {
  id: string
}

/** One server joining one group on the host it occupies. */
export interface NewMembership {
  groupId: string
  serverId: string
  hostId: string
  createdAt: string
}

/** The hold columns a group's policy demands (migration 0009 says what the database checks). */
type HoldRules = Pick<Schema['group_host_holds'], 'policy' | 'slot' | 'max_server_per_host' | 'affinity_host_id'>

/** The group's policy and rule as a `MemberGroup`. */
export function memberGroupOf(row: Pick<Schema['server_groups'], 'id' | 'policy' | 'max_server_per_host'>): MemberGroup {
  return { id: row.id, policy: row.policy as GroupPolicy, maxServerPerHost: row.max_server_per_host }
}

/** What a hold of `group` on `hostId` in `slot` carries. */
function holdRules(group: MemberGroup, hostId: string, slot: number | null): HoldRules {
  const anti = group.policy === 'anti-affinity'
  return {
    policy: group.policy,
    slot: anti ? slot : null,
    max_server_per_host: anti ? group.maxServerPerHost : null,
    affinity_host_id: group.policy === 'affinity' ? hostId : null,
  }
}

/** The lowest of a host's places for the group that no hold takes (`used`), marked as taken. */
function takeSlot(used: Set<number>): number {
  let slot = 0
  while (used.has(slot)) slot++
  used.add(slot)
  return slot
}

/**
 * The places of `hostId` the group's holds take. Beyond `max_server_per_host` − 1 there is no
 * place: a caller that got past placement with a full host gets a slot the database refuses.
 */
async function usedSlots(db: Kysely<Schema>, groupId: string, hostId: string): Promise<Set<number>> {
  const rows = await db.selectFrom('group_host_holds').select('slot').where('group_id', '=', groupId).where('host_id', '=', hostId).where('slot', 'is not', null).execute()
  return new Set(rows.map((r) => r.slot!))
}

/**
 * Records memberships: the membership rows and, for each, the hold of its host by the group,
 * with what the group's policy demands of the hold — an anti-affinity place on the host, the
 * affinity group's pinned host, which its first member sets. The only way members are written
 * (creates, add_member, recycle-bin reverts, the fleet generator), so the two tables never
 * disagree; a hold goes with its membership by cascade. Call with the groups locked.
 */
export async function insertMemberships(db: Kysely<Schema>, rows: readonly NewMembership[], chunk = 500): Promise<void> {
  for (let i = 0; i < rows.length; i += chunk) {
    const part = rows.slice(i, i + chunk)
    const groupIds = [...new Set(part.map((r) => r.groupId))]
    // One group (every request's case) reads through the prepared statements; the fleet
    // generator's batches of many groups build theirs.
    const only = groupIds.length === 1 ? groupIds[0]! : undefined
    const groupRows = only !== undefined ? await MEMBER_GROUP.all(db, { groupId: only }) : await db.selectFrom('server_groups').select(['id', 'policy', 'max_server_per_host']).where('id', 'in', groupIds).execute()
    const groups = new Map(groupRows.map((g) => [g.id, memberGroupOf(g)]))
    const held = only !== undefined ? await GROUP_HOLDS.all(db, { groupId: only }) : await db.selectFrom('group_host_holds').select(['group_id', 'host_id', 'slot']).where('group_id', 'in', groupIds).execute()
    const slots = new Map<string, Set<number>>()
    const slotsOf = (groupId: string, hostId: string) => {
      const key = `${groupId} ${hostId}`
      let used = slots.get(key)
      if (used === undefined) slots.set(key, (used = new Set()))
      return used
    }
    for (const h of held) if (h.slot !== null) slotsOf(h.group_id, h.host_id).add(h.slot)
    // An affinity group whose members are all gone starts afresh: its next member picks its host.
    const heldGroups = new Set(held.map((h) => h.group_id))
    for (const groupId of groupIds) {
      const first = part.find((r) => r.groupId === groupId)!
      if (groups.get(groupId)?.policy === 'affinity' && !heldGroups.has(groupId)) {
        await db.updateTable('server_groups').set({ affinity_host_id: first.hostId }).where('id', '=', groupId).execute()
      }
    }
    const groupOf = (r: NewMembership) => {
      const g = groups.get(r.groupId)
      if (g === undefined) throw new Error(`group ${r.groupId} does not exist`)
      return g
    }
    const members = part.map((r) => ({ group_id: r.groupId, server_id: r.serverId, host_id: r.hostId, distinct_host: requiresDistinctHosts(groupOf(r)) ? 1 : 0, created_at: r.createdAt }))
    const holds = part.map((r) => {
      const g = groupOf(r)
      const slot = g.policy === 'anti-affinity' ? takeSlot(slotsOf(r.groupId, r.hostId)) : null
      return { group_id: r.groupId, server_id: r.serverId, host_id: r.hostId, kind: 'member', ...holdRules(g, r.hostId, slot) }
    })
    if (part.length === 1) {
      await INSERT_MEMBER.run(db, members[0]!)
      await INSERT_HOLD.run(db, holds[0]!)
    } else {
      await db.insertInto('server_group_members').values(members).execute()
      await db.insertInto('group_host_holds').values(holds).execute()
    }
  }
}

/**
 * A member starts moving from `sourceHostId` to `targetHostId`: its membership and its own hold
 * go to the target (taking a free place there, for anti-affinity), and a 'move-source' hold
 * keeps the source — in the place the member had there — until the move ends (invariant 7).
 * The member's hold leaves the source before the source hold takes its place, so the two never
 * meet in the unique index. Call with the group locked.
 */
export async function holdBothEnds(db: Kysely<Schema>, group: MemberGroup, serverId: string, sourceHostId: string, targetHostId: string): Promise<void> {
  const own = await db.selectFrom('group_host_holds').select('slot').where('server_id', '=', serverId).where('kind', '=', 'member').executeTakeFirst()
  const targetSlot = group.policy === 'anti-affinity' ? takeSlot(await usedSlots(db, group.id, targetHostId)) : null
  await db.updateTable('server_group_members').set({ host_id: targetHostId }).where('server_id', '=', serverId).execute()
  await db
    .updateTable('group_host_holds')
    .set({ host_id: targetHostId, ...holdRules(group, targetHostId, targetSlot) })
    .where('server_id', '=', serverId)
    .where('kind', '=', 'member')
    .execute()
  const sourceSlot = group.policy !== 'anti-affinity' ? null : (own?.slot ?? takeSlot(await usedSlots(db, group.id, sourceHostId)))
  await db
    .insertInto('group_host_holds')
    .values({ group_id: group.id, server_id: serverId, host_id: sourceHostId, kind: 'move-source', ...holdRules(group, sourceHostId, sourceSlot) })
    .execute()
}

/**
 * A member's move failed and the member goes back to `sourceHostId`: its 'move-source' hold
 * gives way to its own hold, which takes the very place the source hold kept — nobody else
 * could take it meanwhile, so this needs no lock of the group.
 */
export async function returnToSource(db: Kysely<Schema>, serverId: string, sourceHostId: string): Promise<void> {
  const source = await db.selectFrom('group_host_holds').select(['slot', 'affinity_host_id']).where('server_id', '=', serverId).where('kind', '=', 'move-source').executeTakeFirst()
  await db.deleteFrom('group_host_holds').where('server_id', '=', serverId).where('kind', '=', 'move-source').execute()
  await db.updateTable('server_group_members').set({ host_id: sourceHostId }).where('server_id', '=', serverId).execute()
  await db
    .updateTable('group_host_holds')
    .set({ host_id: sourceHostId, ...(source ? { slot: source.slot, affinity_host_id: source.affinity_host_id } : {}) })
    .where('server_id', '=', serverId)
    .where('kind', '=', 'member')
    .execute()
}

/**
 * What placement keeps in mind for a member of a group, spread into its `PlacementRequest`: the
 * group's policy and rule, the hosts the other members hold (`groupHostIds`, with how many holds
 * each) and, when the group spreads over fault domains, the fault domains of those hosts —
 * in-flight move sources included, so a member moving between hosts holds both until its move
 * ends.
 */
export interface GroupHolds {
  groupPolicy: GroupPolicy | undefined
  groupHostIds: Set<string>
  groupHostCounts: Map<string, number>
  /** Anti-affinity: members one host may hold; undefined for other policies. */
  maxServerPerHost: number | undefined
  /** Undefined when the group does not spread over fault domains. */
  groupFaultDomains: Set<string> | undefined
}

/** The holds of a server outside any group: nothing. */
export function noGroupHolds(): GroupHolds {
  return { groupPolicy: undefined, groupHostIds: new Set(), groupHostCounts: new Map(), maxServerPerHost: undefined, groupFaultDomains: undefined }
}

/**
 * The holds of the group's members other than `exceptServer`. Every placement of a group member
 * (create, add_member, a move, a recycle-bin revert) reads them here, so none can forget the
 * policy, its rule or the fault domains.
 *
 * An affinity group's holds always include `exceptServer`'s own: as in Nova, whose affinity
 * filter reads the hosts of every member (`InstanceGroup.get_hosts()`), the moving member's own
 * host is the group's host, so a member of an affinity group never leaves it — not even the only
 * member. This is also what the database enforces: every hold of the group names its pinned
 * host, and a move holds both its ends.
 */
export async function groupHolds(db: Kysely<Schema>, groupId: string, exceptServer?: string): Promise<GroupHolds> {
  const group = await GROUP_RULES.first(db, { groupId })
  if (!group) return noGroupHolds()
  const policy = group.policy as GroupPolicy
  const held = exceptServer !== undefined && policy !== 'affinity' ? await HELD_HOSTS_EXCEPT.all(db, { groupId, exceptServer }) : await HELD_HOSTS.all(db, { groupId })
  const groupHostCounts = new Map<string, number>()
  for (const r of held) groupHostCounts.set(r.host_id, (groupHostCounts.get(r.host_id) ?? 0) + 1)
  const groupHostIds = new Set(groupHostCounts.keys())
  const maxServerPerHost = membersPerHost({ policy, maxServerPerHost: group.max_server_per_host })
  const base = { groupPolicy: policy, groupHostIds, groupHostCounts, maxServerPerHost }
  if (group.spread_fault_domains !== 1) return { ...base, groupFaultDomains: undefined }
  const domains = groupHostIds.size === 0
    ? []
    : await db.selectFrom('hosts').select('fault_domain').distinct().where('id', 'in', [...groupHostIds]).where('fault_domain', 'is not', null).execute()
  return { ...base, groupFaultDomains: new Set(domains.flatMap((r) => (r.fault_domain === null ? [] : [r.fault_domain]))) }
}

/** Adds a host just chosen for a member, so that the next member placed in the same transaction sees it. */
export function holdHost(holds: GroupHolds, host: { id: string; fault_domain: string | null }): void {
  holds.groupHostIds.add(host.id)
  holds.groupHostCounts.set(host.id, (holds.groupHostCounts.get(host.id) ?? 0) + 1)
  if (host.fault_domain !== null) holds.groupFaultDomains?.add(host.fault_domain)
}

/**
 * The group in the words of a placement's subject: `away from the 3 hosts of group G`
 * (`… (at most 2 members each)`, `… and 2 fault domains`), `on host H with affinity group G`, or
 * `with soft-affinity group G`.
 */
export function describeHolds(holds: GroupHolds, groupId: string): string {
  const policy = holds.groupPolicy
  if (policy === 'affinity') {
    return holds.groupHostIds.size === 0 ? `as the first member of affinity group ${groupId}` : `on host ${[...holds.groupHostIds].sort().join(', ')} with affinity group ${groupId}`
  }
  if (policy !== 'anti-affinity') return `with ${policy ?? 'no'} group ${groupId}`
  const max = holds.maxServerPerHost ?? 1
  const hosts = `${holds.groupHostIds.size} hosts${max > 1 ? ` (at most ${max} members each)` : ''}`
  return `away from the ${holds.groupFaultDomains === undefined ? hosts : `${hosts} and ${holds.groupFaultDomains.size} fault domains`} of group ${groupId}`
}

/**
 * True when the group's policy keeps a member off `host`: an anti-affinity group already holds
 * as many places on it as its rule allows, an affinity group is on another host, or a spreading
 * group holds its fault domain. The soft policies never keep a member off a host.
 */
export function heldByGroup(holds: GroupHolds, host: { id: string; fault_domain: string | null }): boolean {
  return hostFullForGroup(host.id, holds) || offAffinityHost(host.id, holds) || inHeldFaultDomain(host, holds)
}

/** How many members a group has. */
export async function memberCount(db: Kysely<Schema>, groupId: string): Promise<number> {
  const row = await MEMBER_COUNT.first(db, { groupId })
  return Number(row?.n ?? 0)
}

const MEMBER_COUNT = prepared((db, p: { groupId: string }) =>
  db.selectFrom('server_group_members').select((eb) => eb.fn.countAll<number | string>().as('n')).where('group_id', '=', p.groupId),
)

const GROUP_RULES = prepared((db, p: { groupId: string }) => db.selectFrom('server_groups').select(['policy', 'max_server_per_host', 'spread_fault_domains']).where('id', '=', p.groupId))

const HELD_HOSTS = prepared((db, p: { groupId: string }) => db.selectFrom('group_host_holds').select('host_id').where('group_id', '=', p.groupId))

const HELD_HOSTS_EXCEPT = prepared((db, p: { groupId: string; exceptServer: string }) =>
  db.selectFrom('group_host_holds').select('host_id').where('group_id', '=', p.groupId).where('server_id', '!=', p.exceptServer),
)

const MEMBER_GROUP = prepared((db, p: { groupId: string }) => db.selectFrom('server_groups').select(['id', 'policy', 'max_server_per_host']).where('id', '=', p.groupId))

const GROUP_HOLDS = prepared((db, p: { groupId: string }) => db.selectFrom('group_host_holds').select(['group_id', 'host_id', 'slot']).where('group_id', '=', p.groupId))

const INSERT_MEMBER = prepared((db, row: Schema['server_group_members']) =>
  db.insertInto('server_group_members').values(placeholders(row, { group_id: true, server_id: true, host_id: true, distinct_host: true, created_at: true } satisfies Record<keyof Schema['server_group_members'], true>)),
)

const INSERT_HOLD = prepared((db, row: Schema['group_host_holds']) =>
  db.insertInto('group_host_holds').values(
    placeholders(row, {
      group_id: true, server_id: true, host_id: true, kind: true, policy: true, slot: true, max_server_per_host: true, affinity_host_id: true,
    } satisfies Record<keyof Schema['group_host_holds'], true>),
  ),
)

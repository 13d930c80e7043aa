import type { HostFilter, PlacementRequest } from '../types.ts'

type GroupView = Pick<PlacementRequest, 'groupPolicy' | 'groupHostIds'>

/**
 * True when an affinity group keeps a member off `hostId`: the group's members are on another
 * host. A group without members (held hosts) lets its first member go anywhere; that member
 * picks the group's host. Shared with the services that let a server stay where it is.
 */
export function offAffinityHost(hostId: string, req: GroupView): boolean {
  return req.groupPolicy === 'affinity' && req.groupHostIds.size > 0 && !req.groupHostIds.has(hostId)
}

/**
 * Nova's ServerGroupAffinityFilter: every member of an affinity group is on the host of the
 * members before it. When that host cannot take one more (it is full, down or disabled), no
 * host passes: the filter never falls back to another host, as the soft policy would. A
 * member's own host counts as the group's (as Nova's `group.hosts` does), so a member never
 * moves off it: resizes stay in place or fail, migrations and evacuations find no host.
 */
export const affinityFilter: HostFilter = {
  name: 'Affinity',
  where: (eb, req) => (req.groupPolicy !== 'affinity' || req.groupHostIds.size === 0 ? undefined : eb('id', 'in', [...req.groupHostIds])),
  passes: (host, req) => !offAffinityHost(host.id, req),
  describe: (req) => {
    if (req.groupPolicy !== 'affinity') return undefined
    return req.groupHostIds.size === 0 ? 'Affinity(first member: any host)' : `Affinity(the host of the group: ${[...req.groupHostIds].sort().join(', ')})`
  },
}

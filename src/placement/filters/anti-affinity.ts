import type { HostFilter, PlacementRequest } from '../types.ts'

type GroupView = Pick<PlacementRequest, 'groupPolicy' | 'groupHostIds' | 'groupHostCounts' | 'maxServerPerHost'>

/**
 * How many holds of the group's other members `hostId` carries: members on it and moves away
 * from it. Shared with the score of the soft policies, so that both count alike.
 */
export function groupHoldsOn(hostId: string, req: Pick<PlacementRequest, 'groupHostIds' | 'groupHostCounts'>): number {
  return req.groupHostCounts?.get(hostId) ?? (req.groupHostIds.has(hostId) ? 1 : 0)
}

/** The hosts an anti-affinity group has filled: as many holds as `max_server_per_host` allows. */
export function fullHosts(req: GroupView): string[] {
  if (req.groupPolicy !== 'anti-affinity') return []
  const max = req.maxServerPerHost ?? 1
  return [...req.groupHostIds].filter((id) => groupHoldsOn(id, req) >= max)
}

/**
 * True when an anti-affinity group keeps a member off `hostId`: the other members already hold
 * `max_server_per_host` places on it. Shared with the services that let a server stay where it
 * is (add_member, a recycle-bin revert), so that staying and being placed follow one rule.
 */
export function hostFullForGroup(hostId: string, req: GroupView): boolean {
  return req.groupPolicy === 'anti-affinity' && groupHoldsOn(hostId, req) >= (req.maxServerPerHost ?? 1)
}

/**
 * Nova's ServerGroupAntiAffinityFilter, with 2.64's `max_server_per_host` (default 1): a host
 * on which the other members of the group already hold that many places is out. The member
 * being moved is not among the "other members", so its own host does not count against it
 * (Nova: a resize may stay on its host). The excluded set is at most the group's member quota
 * (twice that with moves in flight), so the `not in` list stays short.
 */
export const antiAffinityFilter: HostFilter = {
  name: 'AntiAffinity',
  where: (eb, req) => {
    const full = fullHosts(req)
    return full.length === 0 ? undefined : eb('id', 'not in', full)
  },
  passes: (host, req) => !hostFullForGroup(host.id, req),
  describe: (req) => {
    if (req.groupPolicy !== 'anti-affinity') return undefined
    const max = req.maxServerPerHost ?? 1
    const full = fullHosts(req).length
    return max === 1 ? `AntiAffinity(${full} hosts used by other members)` : `AntiAffinity(${full} hosts holding ${max} members, the most one host may)`
  },
}

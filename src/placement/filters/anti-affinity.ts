import type { HostFilter } from '../types.ts'

/**
 * Nova's ServerGroupAntiAffinityFilter with `max_server_per_host` = 1: a host already used by
 * another member of the group is out. The excluded set is at most the group's member quota,
 * so the `not in` list stays short.
 */
export const antiAffinityFilter: HostFilter = {
  name: 'AntiAffinity',
  where: (eb, req) => (req.groupHostIds.size === 0 ? undefined : eb('id', 'not in', [...req.groupHostIds])),
  passes: (host, req) => !req.groupHostIds.has(host.id),
  describe: (req) => `AntiAffinity(${req.groupHostIds.size} hosts used by other members)`,
}

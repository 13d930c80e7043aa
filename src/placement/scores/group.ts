import { groupHoldsOn } from '../filters/anti-affinity.ts'
import type { GroupScore } from '../types.ts'

/**
 * Nova's ServerGroupSoftAffinityWeigher: the more members of the group a host already holds,
 * the better — `100 · n / (n + 1)`, so an empty host scores 0 and the score grows with every
 * member while staying below 100. It never blocks: when the members' hosts are full, the
 * server goes elsewhere.
 */
export const softAffinityScore: GroupScore = {
  name: 'SoftAffinity',
  policy: 'soft-affinity',
  prefer: 'more-members',
  score: (host, req) => {
    const n = groupHoldsOn(host.id, req)
    return (100 * n) / (n + 1)
  },
}

/**
 * Nova's ServerGroupSoftAntiAffinityWeigher: the fewer members of the group a host holds, the
 * better — `100 / (n + 1)`, so a host without members scores 100. It never blocks: when every
 * feasible host holds members, the server goes to one that holds the fewest.
 */
export const softAntiAffinityScore: GroupScore = {
  name: 'SoftAntiAffinity',
  policy: 'soft-anti-affinity',
  prefer: 'fewer-members',
  score: (host, req) => 100 / (groupHoldsOn(host.id, req) + 1),
}

/** The soft group policies placement knows, one per policy. */
export const DEFAULT_GROUP_SCORES: readonly GroupScore[] = [softAffinityScore, softAntiAffinityScore]

import type { HostCandidate, HostFilter, PlacementRequest } from '../types.ts'

/**
 * True when `host` is in a fault domain that another member of a spreading group holds. A host
 * without a fault domain is a domain of its own, so it is held only when it is itself held.
 * Shared with the services that let a server stay where it is (add_member, a recycle-bin
 * revert), so that staying and being placed follow one rule.
 */
export function inHeldFaultDomain(
  host: Pick<HostCandidate, 'id' | 'fault_domain'>,
  req: Pick<PlacementRequest, 'groupHostIds' | 'groupFaultDomains'>,
): boolean {
  if (req.groupFaultDomains === undefined) return false
  return host.fault_domain === null ? req.groupHostIds.has(host.id) : req.groupFaultDomains.has(host.fault_domain)
}

/**
 * An ecsd extension: members of a group that spreads over fault domains (racks) are placed in
 * pairwise distinct fault domains, so one rack failing takes at most one member. Like
 * anti-affinity at the rack level; the excluded lists are at most the group's member quota
 * (twice that with moves in flight), so the `not in` lists stay short.
 */
export const faultDomainSpreadFilter: HostFilter = {
  name: 'FaultDomainSpread',
  where: (eb, req) => {
    const domains = req.groupFaultDomains
    if (domains === undefined) return undefined
    const held = [...req.groupHostIds]
    if (domains.size === 0 && held.length === 0) return undefined
    // `fault_domain not in (…)` is unknown for a null domain, so the host-as-its-own-domain case
    // needs its own branch.
    const ownDomain = held.length === 0 ? eb('fault_domain', 'is', null) : eb.and([eb('fault_domain', 'is', null), eb('id', 'not in', held)])
    const freeDomain = domains.size === 0 ? eb('fault_domain', 'is not', null) : eb('fault_domain', 'not in', [...domains])
    return eb.or([ownDomain, freeDomain])
  },
  passes: (host, req) => !inHeldFaultDomain(host, req),
  describe: (req) => (req.groupFaultDomains === undefined ? undefined : `FaultDomainSpread(${req.groupFaultDomains.size} fault domains used by other members)`),
}

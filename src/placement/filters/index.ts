import type { HostFilter } from '../types.ts'
import { affinityFilter } from './affinity.ts'
import { antiAffinityFilter } from './anti-affinity.ts'
import { availabilityZoneFilter } from './availability-zone.ts'
import { capacityFilter } from './capacity.ts'
import { faultDomainSpreadFilter } from './fault-domain-spread.ts'
import { hostStateFilter } from './host-state.ts'
import { differentHostFilter, requestedHostFilter } from './requested-host.ts'
import { tenancyFilter } from './tenancy.ts'

/**
 * The hard filters, in the order a diagnosis reports them: cheapest and broadest first, so the
 * line reads as a funnel (`HostState: 16 → AvailabilityZone(az1): 8 → … → AntiAffinity: 0`).
 */
export const DEFAULT_FILTERS: readonly HostFilter[] = [
  hostStateFilter,
  requestedHostFilter,
  availabilityZoneFilter,
  tenancyFilter,
  differentHostFilter,
  capacityFilter,
  antiAffinityFilter,
  affinityFilter,
  faultDomainSpreadFilter,
]

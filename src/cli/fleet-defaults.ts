/**
 * Defaults of the optional settings of `ecsd fleet generate`, apart from the generator so that
 * the command line's help does not load it.
 */
export const FLEET_DEFAULTS = { groups: 10, groupMembers: 8, zones: 3, faultDomains: 0, seed: 1, batchServers: 2000 } as const

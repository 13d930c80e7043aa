/** Vocabulary of ECS groups (server groups). */

/** Policies a group can carry. The v1 API creates only `anti-affinity`. */
export const GROUP_POLICIES = ['anti-affinity', 'affinity', 'soft-anti-affinity', 'soft-affinity'] as const
/** One of `GROUP_POLICIES`. */
export type GroupPolicy = (typeof GROUP_POLICIES)[number]

/** Policies whose members must each sit on a distinct host (enforced by a unique index too). */
export function requiresDistinctHosts(policy: GroupPolicy): boolean {
  return policy === 'anti-affinity'
}

/** Group names: the API allows 1–255 characters. */
export const GROUP_NAME_MAX = 255

/** Vocabulary of ECS groups (server groups). */

import { invalidParameter, rulesNeedAntiAffinity } from './errors.ts'

/** Policies a group can carry. The v1 API creates only `anti-affinity`. */
export const GROUP_POLICIES = ['anti-affinity', 'affinity', 'soft-anti-affinity', 'soft-affinity'] as const
/** One of `GROUP_POLICIES`. */
export type GroupPolicy = (typeof GROUP_POLICIES)[number]

/**
 * Members one host may hold in an anti-affinity group that has no `max_server_per_host` rule
 * (Nova's default).
 */
export const DEFAULT_MAX_SERVER_PER_HOST = 1

/** What placement and the database enforce for a group: its policy and its anti-affinity rule. */
export interface GroupRules {
  policy: GroupPolicy
  /** Nova 2.64's `rules.max_server_per_host`, as given; null: not given (1 applies). Anti-affinity only. */
  maxServerPerHost: number | null
}

/**
 * Hard policies block a placement that would break them (no valid host); soft ones
 * (`soft-anti-affinity`, `soft-affinity`) only rank hosts and never block.
 */
export function isHardPolicy(policy: GroupPolicy): boolean {
  return policy === 'anti-affinity' || policy === 'affinity'
}

/**
 * How many members of the group one host may hold, or undefined when the policy does not limit
 * it: anti-affinity allows `max_server_per_host` (default 1); the other policies have no such
 * limit (affinity keeps every member on one host instead).
 */
export function membersPerHost(rules: GroupRules): number | undefined {
  return rules.policy === 'anti-affinity' ? (rules.maxServerPerHost ?? DEFAULT_MAX_SERVER_PER_HOST) : undefined
}

/**
 * Policies whose members must each sit on a distinct host: anti-affinity with at most one member
 * per host. Its membership rows carry `distinct_host` = 1, which a unique index also guards.
 */
export function requiresDistinctHosts(rules: GroupRules): boolean {
  return membersPerHost(rules) === 1
}

/**
 * Checks the options of a new group against its policy: `max_server_per_host` is a positive
 * integer and only an anti-affinity group takes it (Nova: "Only anti-affinity policy supports
 * rules."); fault-domain spread (an ecsd extension) puts one member in each fault domain, so it
 * only goes with anti-affinity and one member per host.
 */
export function validateGroupOptions(policy: GroupPolicy, options: { spreadFaultDomains?: boolean | undefined; maxServerPerHost?: number | undefined }): void {
  const max = options.maxServerPerHost
  if (max !== undefined) {
    if (!Number.isSafeInteger(max) || max < 1) throw invalidParameter(`max_server_per_host must be a positive integer, got ${String(max)}`)
    if (policy !== 'anti-affinity') throw rulesNeedAntiAffinity()
  }
  if (options.spreadFaultDomains === true) {
    if (policy !== 'anti-affinity') throw invalidParameter(`fault_domain.spread needs the anti-affinity policy, not "${policy}"`)
    if (max !== undefined && max > 1) throw invalidParameter(`fault_domain.spread puts one member in each fault domain, so it cannot go with max_server_per_host ${max}`)
  }
}

/** Group names: the API allows 1–255 characters. */
export const GROUP_NAME_MAX = 255

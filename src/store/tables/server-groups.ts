/** An ECS group (server group). */
export interface ServerGroupTable {
  id: string
  project_id: string
  name: string
  /** See `GroupPolicy`. */
  policy: string
  created_at: string
  /** 0 | 1: an ecsd extension — members also go to pairwise distinct fault domains. */
  spread_fault_domains: number
  /**
   * Anti-affinity only: Nova 2.64's `rules.max_server_per_host`, as given; null when not given
   * (then one member per host). Parent key, with `id`, of the copy every hold carries.
   */
  max_server_per_host: number | null
  /** Who created the group (Nova shows it from 2.13); null for groups of the v1 API. */
  user_id: string | null
  /**
   * Affinity only: the host every member must be on, chosen by the first member. Parent key, with
   * `id`, of every affinity hold, so it cannot change while a member holds a host.
   */
  affinity_host_id: string | null
}

/**
 * Membership of a server in a group. It carries the member's `host_id` so that a partial unique
 * index on (group_id, host_id) where `distinct_host` = 1 makes the database itself refuse two
 * members of an anti-affinity group on one host, whatever the code above it does.
 */
export interface ServerGroupMemberTable {
  group_id: string
  /** Unique: a server belongs to one group at most. */
  server_id: string
  host_id: string
  /** 0 | 1: 1 for an anti-affinity group with one member per host (`requiresDistinctHosts`). */
  distinct_host: number
  created_at: string
}

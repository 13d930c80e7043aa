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
  /** 0 | 1: copied from the group's policy (anti-affinity → 1). */
  distinct_host: number
  created_at: string
}

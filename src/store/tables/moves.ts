/**
 * A server whose host or size is changing. While the row exists the source host still holds
 * `held_*` (what the servers row no longer accounts for) and the target holds what the servers
 * row says, so both count against capacity; when the server is a member of a group, a
 * `group_host_holds` row of kind 'move-source' keeps the source used by the group. The sub-job
 * `job_id` drives the move; finishing it (success or failure) deletes the row.
 */
export interface MoveTable {
  id: string
  /** Unique: one move at a time per server. */
  server_id: string
  job_id: string
  /** Why it moves: see `MoveReason`. */
  reason: string
  /** 'cold' (stopped, or stopped and restarted) | 'live' (keeps running). */
  kind: string
  group_id: string | null
  source_host_id: string
  target_host_id: string
  /** Kept on the source until the move ends: released on success, restored to the server on failure. */
  held_vcpus: number
  held_ram_mb: number
  /** Taken on the target when the move began: given back on failure. */
  claimed_vcpus: number
  claimed_ram_mb: number
  /** JSON `MovePrior`: the server's fields to restore if the move fails. */
  prior: string
  /** Status the server ends in when the move succeeds. */
  final_status: string
  /** 'rollback' (back on the source) | 'error' (ERROR on the target, source released). */
  on_failure: string
  created_at: string
}

/**
 * Every host a group member holds: its current host, and while it moves, its source too. Each
 * hold carries what its group's policy demands of it, so that the database refuses a hold that
 * breaks the policy (migration 0009 explains the constraints).
 */
export interface GroupHostHoldTable {
  group_id: string
  server_id: string
  host_id: string
  /** 'member' | 'move-source' */
  kind: string
  /** The group's policy (a foreign key keeps it equal). */
  policy: string
  /** Anti-affinity: which of the host's N places for the group this hold takes, 0…N−1; null otherwise. */
  slot: number | null
  /** Anti-affinity: a copy of the group's `max_server_per_host` (a foreign key keeps it equal); null when the group has none. */
  max_server_per_host: number | null
  /** Affinity: the group's pinned host, equal to `host_id`; null otherwise. */
  affinity_host_id: string | null
}

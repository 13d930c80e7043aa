import type { Generated } from 'kysely'

/**
 * One entry of the event history: a placement, a move, a refused placement, a change of a
 * server's status, of a group's membership or of a host's state. Rows are only ever inserted
 * (in the transaction of the change they record) and pruned by age and count; nothing refers to
 * them, and they refer to nothing by foreign key, so they outlive the servers, groups and hosts
 * they name. Hosts are named, not referred to by id: the history stays readable after a host is
 * removed.
 */
export interface EventTable {
  /** Time-ordered (UUID v7): id order is the order events were recorded in. */
  id: string
  /** ISO 8601 UTC: the time of the transaction that recorded it. */
  at: string
  /** See `EventKind`. */
  kind: string
  project_id: string | null
  server_id: string | null
  group_id: string | null
  /** The host the event happened on (a placement, a server's status, a host's own state). */
  host: string | null
  /** A move's source and target. */
  from_host: string | null
  to_host: string | null
  /** Why: a move's `MoveReason`, the operation that changed a status, a host action. */
  reason: string | null
  /** A server's status, or a host's state, before and after. */
  status_from: string | null
  status_to: string | null
  /** The job (the one the API answered with) that carried the change. */
  job_id: string | null
  /** What the event's message ends with: a failure's reason, what a refused placement asked for. */
  detail: string | null
  /** A refused placement: placement's per-filter funnel. */
  diagnosis: string | null
  /**
   * PostgreSQL only: the id of the transaction that recorded it (set by the database), which a
   * reader following the history orders by (migration 0012 says why). pg answers a bigint as text.
   */
  tx: Generated<string>
}

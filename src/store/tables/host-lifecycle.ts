/** A host agent's credential: it can do nothing but its own host's agent work. */
export interface HostCredentialTable {
  access_key: string
  host_id: string
  /** Sealed with the master key (`SecretBox`), never plaintext. */
  secret_key: string
  created_at: string
  revoked_at: string | null
}

/**
 * An injected fault of the simulated hosts, read by every replica: a step of the host driver
 * (or the host's heartbeats) that fails or stalls, on one host or on all.
 */
export interface FaultTable {
  id: string
  /** Host name; null for every host. */
  host_name: string | null
  /** See `FAULT_STEPS`. */
  step: string
  /** 'fail' | 'stall' */
  mode: string
  /** 0 < p ≤ 1: chance that one step is hit. */
  probability: number
  reason: string
  created_at: string
}

/** A Huawei scheduled event: planned maintenance of a server's host, as its tenant sees it. */
export interface ScheduledEventTable {
  id: string
  project_id: string
  server_id: string
  host_id: string
  /** Ties the instance events of one host's maintenance together (`source.host_scheduled_event_id`). */
  host_event_id: string
  /** 'instance-migrate' | 'instance-redeploy' */
  type: string
  /** 'inquiring' | 'scheduled' | 'executing' | 'completed' | 'failed' | 'canceled' */
  state: string
  publish_time: string
  start_time: string | null
  finish_time: string | null
  not_before: string
  not_before_deadline: string
  description: string
  /** The job of the move that carries the event out. */
  job_id: string | null
  fail_reason: string | null
}

/** A physical step the control plane hands to a host's agent (see `AgentTaskKind`). */
export interface AgentTaskTable {
  /** Derived from the sub-job and the step, so that a repeated step finds its task. */
  id: string
  host_id: string
  server_id: string | null
  /** See `AgentTaskKind`. */
  kind: string
  /** JSON of the kind's spec. */
  spec: string
  /** See `AgentTaskState`. */
  state: string
  /** JSON of the kind's result, when it has one. */
  result: string | null
  error: string | null
  created_at: string
  claimed_at: string | null
  /** The agent session (one per agent process start) that took it; another session gets it again. */
  claimed_by: string | null
  finished_at: string | null
}

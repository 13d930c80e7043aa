/** A server (ECS) and its allocation on `host_id`. */
export interface ServerTable {
  id: string
  project_id: string
  name: string
  /** See `ServerStatus`. */
  status: string
  /** See `TaskState`; null when no job is working on the server. */
  task_state: string | null
  power_state: number
  flavor_id: string
  vcpus: number
  ram_mb: number
  /** 'kvm' | 'xen', from the flavor. */
  virtualization: string
  az: string
  host_id: string
  image_ref: string
  vpc_id: string
  /** JSON object of string → string. */
  metadata: string
  created_at: string
  updated_at: string
  launched_at: string | null
  /**
   * 0 | 1: deleted into the recycle bin. A binned server holds no host capacity and no group slot
   * (`host_id` is only where it last ran) but still counts against the project's quotas.
   */
  in_recycle_bin: number
  recycled_at: string | null
  /** When the recycle bin deletes it for good (policy at the time it was binned). */
  bin_expires_at: string | null
  /** The group it was a member of when binned; a revert rejoins it if it still exists. */
  bin_group_id: string | null
  /** JSON `{code, message, created}` of the last failure that left the server in ERROR. */
  fault: string | null
  /**
   * Set while the server is stranded on a failed host that no other host could take it from:
   * the status it returns to once it is placed again; null otherwise.
   */
  stranded: string | null
}

/** The recycle-bin and fault columns of a server that was just created: not binned, no fault. */
export const FRESH_SERVER_COLUMNS = {
  in_recycle_bin: 0,
  recycled_at: null,
  bin_expires_at: null,
  bin_group_id: null,
  fault: null,
  stranded: null,
} as const satisfies Partial<ServerTable>

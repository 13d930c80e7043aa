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
}

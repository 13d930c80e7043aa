/**
 * A compute host. `free_vcpus`/`free_ram_mb` are capacity × allocation ratio minus the
 * allocations of the servers on the host (running or stopped); they are kept up to date by
 * conditional updates and a CHECK constraint keeps them from going negative, so the placement
 * candidate query can use an index instead of summing allocations.
 */
export interface HostTable {
  id: string
  name: string
  az: string
  vcpus: number
  ram_mb: number
  cpu_allocation_ratio: number
  ram_allocation_ratio: number
  free_vcpus: number
  free_ram_mb: number
  /**
   * Power state: 'up' | 'down' (no heartbeat for `ECSD_HOST_DOWN_AFTER_S`, or declared failed)
   * | 'fencing' (came back after being down; not used until its agent destroyed stale copies).
   */
  state: string
  /** 0 | 1: 1 only while `admin_state` is 'enabled'. A disabled host keeps its servers but takes no new ones. */
  enabled: number
  created_at: string
  /**
   * A dedicated host (DeH): the project that has it to itself; null for the shared pool. Shared
   * placement never uses a dedicated host, and only its project may place onto it, by naming it.
   */
  dedicated_to: string | null
  /** The rack (or any failure unit) the host is in; null: a fault domain of its own. */
  fault_domain: string | null
  /** 'enabled' | 'disabled' | 'maintenance' (drained or planned maintenance). */
  admin_state: string
  /** Why the admin state was set (operator's text, 'drain', 'drained', planned window…). */
  admin_reason: string | null
  admin_changed_at: string | null
  /** When `state` last changed. */
  state_changed_at: string | null
  last_heartbeat_at: string | null
  /** Last heartbeat of a real agent with the host's credential; null: the process simulates the host's heartbeats. */
  agent_seen_at: string | null
  /** `host:port` where the host's agent serves disks and takes live migrations (it says so when it registers). */
  agent_address: string | null
}

/**
 * The management columns of a host that was just added: enabled, shared, no fault domain, never
 * heard from. Spread into every new host row, then override what differs.
 */
export const NEW_HOST_COLUMNS = {
  dedicated_to: null,
  fault_domain: null,
  admin_state: 'enabled',
  admin_reason: null,
  admin_changed_at: null,
  state_changed_at: null,
  last_heartbeat_at: null,
  agent_seen_at: null,
  agent_address: null,
} as const satisfies Partial<HostTable>

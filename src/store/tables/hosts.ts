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
  /** 'up' | 'down' */
  state: string
  /** 0 | 1: a disabled host keeps its servers but takes no new ones. */
  enabled: number
  created_at: string
  /**
   * A dedicated host (DeH): the project that has it to itself; null for the shared pool. Shared
   * placement never uses a dedicated host, and only its project may place onto it, by naming it.
   */
  dedicated_to: string | null
}

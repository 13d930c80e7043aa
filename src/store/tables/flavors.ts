/** A server size. Servers copy vcpus/ram_mb at creation, so allocations never depend on a later flavor edit. */
export interface FlavorTable {
  id: string
  name: string
  vcpus: number
  ram_mb: number
  disk_gb: number
  /** 'kvm' | 'xen' */
  virtualization: string
  /** `cond:operation:status`: 'normal', or 'sellout' / 'abandon' (no new servers, no resize to it). */
  sell_status: string
}

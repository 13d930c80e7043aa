/** A virtual IP of a project: an address of a subnet that NICs of one or more servers share. */
export interface VirtualIpTable {
  /** The virtual IP's own port. */
  port_id: string
  project_id: string
  subnet_id: string
  ip_address: string
  /** The address's offset in its subnet's simulated CIDR; null when the address lies outside it. */
  host: number | null
  created_at: string
}

/** A virtual IP bound to a server's NIC. */
export interface VirtualIpBindingTable {
  vip_port_id: string
  nic_port_id: string
  /** 0 | 1: the NIC's IP/MAC pair was added to the virtual IP's allowed address pairs. */
  reverse_binding: number
  created_at: string
}

/** The Nova attributes of a server created through the OpenStack Compute API. */
export interface NovaServerTable {
  server_id: string
  /** `r-…`, shared by the servers of one create request. */
  reservation_id: string
  /** The server's position in its create request, from 0. */
  launch_index: number
  user_id: string
  key_name: string | null
  /** JSON array of security group names. */
  security_groups: string
  description: string | null
}

/** A network interface (port) of a server. */
export interface ServerInterfaceTable {
  port_id: string
  server_id: string
  net_id: string
  subnet_id: string
  ip_address: string
  mac_addr: string
  created_at: string
  /** The server's project: addresses are unique per (project, subnet). */
  project_id: string
  /** Its place among the server's NICs; the lowest is the primary NIC. */
  position: number
  /** The address's offset in its subnet's simulated CIDR; null when the address lies outside it. */
  host: number | null
  /** 0 | 1: the port is deleted with the server (ports a client named are kept). */
  delete_on_termination: number
}

/** A key pair of a project (Nova's are per user; ecsd's are per project). */
export interface KeypairTable {
  project_id: string
  name: string
  /** Nova's integer id, numbered per project. */
  id: number
  user_id: string
  /** 'ssh' | 'x509' */
  type: string
  public_key: string
  fingerprint: string
  created_at: string
}

/**
 * A server placement could not take (Nova's cell0): it exists in ERROR with its fault, holds no
 * host and no capacity, and is seen and deleted through the OpenStack Compute API only.
 */
export interface UnscheduledServerTable {
  id: string
  project_id: string
  user_id: string
  name: string
  flavor_id: string
  image_ref: string
  az: string | null
  group_id: string | null
  reservation_id: string
  launch_index: number
  key_name: string | null
  security_groups: string
  description: string | null
  /** JSON object of string → string. */
  metadata: string
  /** JSON `{code, message, created}`. */
  fault: string
  created_at: string
}

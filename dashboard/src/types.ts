/** The answers the page reads, as ecsd sends them (src/dashboard/routes.ts, src/api/admin/events.ts). */

/** A host of `GET /admin/fleet`. */
export interface Host {
  name: string
  availability_zone: string
  fault_domain: string | null
  /** Power state: up, down, fencing. */
  state: string
  /** enabled, disabled, maintenance. */
  admin_state: string
  admin_reason: string | null
  dedicated_to: string | null
  vcpus: number
  vcpus_used: number
  ram_mb: number
  ram_mb_used: number
  servers: number
  moving_out: number
}

/** A member of a group and the host it holds. */
export interface Member {
  server_id: string
  name: string
  status: string
  host: string
}

/** A group of `GET /admin/fleet`. */
export interface Group {
  id: string
  name: string
  project_id: string
  policy: string
  spread_fault_domains: boolean
  max_server_per_host: number | null
  members: Member[]
}

/** `GET /admin/fleet`. */
export interface Fleet {
  generated_at: string
  hosts: Host[]
  groups: Group[]
}

/** A server of `GET /admin/fleet/servers`. */
export interface Server {
  id: string
  name: string
  project_id: string
  status: string
  task_state: string | null
  host: string
  availability_zone: string
  flavor: string
  vcpus: number
  ram_mb: number
  group_id: string | null
  moving_from: string | null
  created_at: string
  updated_at: string
}

/** `GET /admin/fleet/servers`. */
export interface ServerList {
  servers: Server[]
  truncated: boolean
}

/** An entry of the event log, `GET /admin/events`. */
export interface FleetEvent {
  id: string
  at: string
  kind: string
  project_id: string | null
  server_id: string | null
  group_id: string | null
  host: string | null
  from_host: string | null
  to_host: string | null
  reason: string | null
  status_from: string | null
  status_to: string | null
  job_id: string | null
  message: string | null
  diagnosis: string | null
}

/** `GET /admin/events`. */
export interface EventPage {
  events: FleetEvent[]
  next_marker: string | null
}

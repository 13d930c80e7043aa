import type { CredentialTable } from './tables/credentials.ts'
import type { EventTable } from './tables/events.ts'
import type { FlavorTable } from './tables/flavors.ts'
import type { AgentTaskTable, FaultTable, HostCredentialTable, ScheduledEventTable } from './tables/host-lifecycle.ts'
import type { HostTable } from './tables/hosts.ts'
import type { AuthFailureTable, AuthGenerationTable, TokenTable, UserTable } from './tables/identity.ts'
import type { JobTable } from './tables/jobs.ts'
import type { LaunchTemplateTable, LaunchTemplateVersionTable } from './tables/launch-templates.ts'
import type { GroupHostHoldTable, MoveTable } from './tables/moves.ts'
import type { VirtualIpBindingTable, VirtualIpTable } from './tables/network.ts'
import type { KeypairTable, NovaServerTable, ServerInterfaceTable, UnscheduledServerTable } from './tables/openstack.ts'
import type { ProjectTable } from './tables/projects.ts'
import type { ServerGroupMemberTable, ServerGroupTable } from './tables/server-groups.ts'
import type { ServerOptionsTable, ServerTagTable } from './tables/server-attributes.ts'
import type { ServerTable } from './tables/servers.ts'
import type { VolumeAttachmentTable, VolumeTable } from './tables/volumes.ts'

/** The whole database as Kysely sees it: one entry per table, one file per table in tables/. */
export interface Schema {
  projects: ProjectTable
  credentials: CredentialTable
  hosts: HostTable
  flavors: FlavorTable
  servers: ServerTable
  server_groups: ServerGroupTable
  server_group_members: ServerGroupMemberTable
  jobs: JobTable
  moves: MoveTable
  group_host_holds: GroupHostHoldTable
  host_credentials: HostCredentialTable
  faults: FaultTable
  scheduled_events: ScheduledEventTable
  agent_tasks: AgentTaskTable
  users: UserTable
  tokens: TokenTable
  auth_failures: AuthFailureTable
  auth_generation: AuthGenerationTable
  nova_servers: NovaServerTable
  server_interfaces: ServerInterfaceTable
  keypairs: KeypairTable
  unscheduled_servers: UnscheduledServerTable
  events: EventTable
  server_options: ServerOptionsTable
  server_tags: ServerTagTable
  virtual_ips: VirtualIpTable
  virtual_ip_bindings: VirtualIpBindingTable
  volumes: VolumeTable
  volume_attachments: VolumeAttachmentTable
  launch_templates: LaunchTemplateTable
  launch_template_versions: LaunchTemplateVersionTable
}

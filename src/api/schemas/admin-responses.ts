import { Type } from 'typebox'
import { Nullable, Open, PlainTextMedia } from './responses.ts'

/** Answers of the operator API under /admin, as `src/api/admin/*.ts` build them. */

const Text = Type.String()
const NullableText = Nullable(Type.String())
const Count = Type.Integer()

/** `GET /admin/audit`: every invariant checked; empty when all hold. */
export const AuditResponse = Open({ violations: Type.Array(Open({ invariant: Text, message: Text })) })

/** A host as `hostBody` shows it. */
const hostFields = {
  id: Text,
  name: Text,
  availability_zone: Text,
  fault_domain: Nullable(Type.String(), { description: 'Null: a fault domain of its own' }),
  vcpus: Count,
  ram_mb: Count,
  cpu_allocation_ratio: Type.Number(),
  ram_allocation_ratio: Type.Number(),
  capacity: Open({ vcpus: Count, ram_mb: Count }),
  used: Open({ vcpus: Count, ram_mb: Count }),
  free_vcpus: Count,
  free_ram_mb: Count,
  state: Type.String({ description: 'up, down or fencing' }),
  state_changed_at: NullableText,
  last_heartbeat_at: NullableText,
  admin_state: Type.String({ description: 'enabled, disabled or maintenance' }),
  admin_reason: NullableText,
  admin_changed_at: NullableText,
  enabled: Type.Boolean(),
  schedulable: Type.Boolean(),
  dedicated_to: Nullable(Type.String(), { description: 'The project of a dedicated host; null: the shared pool' }),
  agent: Type.String({ description: 'simulated, or agent once a host agent has reported' }),
  servers: Count,
  moving_out: Count,
}

/** A host with its servers (`detailBody`). */
const HostDetail = Open({
  ...hostFields,
  server_list: Type.Array(Open({
    id: Text,
    name: Text,
    project_id: Text,
    status: Text,
    task_state: NullableText,
    vcpus: Count,
    ram_mb: Count,
    moving: Nullable(Type.String(), { description: 'in, out, or null when not moving' }),
  })),
})

/** `GET /admin/hosts`. */
export const ListHostsResponse = Open({ hosts: Type.Array(Open(hostFields)) })

/** `GET`, `PUT /admin/hosts/{host_name}`, and the host actions but maintenance. */
export const HostResponse = Open({ host: HostDetail })

/** `POST /admin/hosts`: the host and its agent's credential, the only time the secret is shown. */
export const AddHostResponse = Open({ host: HostDetail, credential: Open({ access: Text, secret: Text }) })

/** `POST /admin/hosts/{host_name}/action`: the host, and for `maintenance` the window planned. */
export const HostActionResponse = Open({
  host: HostDetail,
  maintenance: Type.Optional(Open({ host_event_id: Text, not_before: Text, deadline: Text, events: Count, created: Count })),
})

/** `GET /admin/servers/{server_id}/console` as JSON (without `follow`). */
export const ConsoleResponse = Open({
  console: Open({
    server_id: Text,
    host: Text,
    offset: Count,
    next_offset: Count,
    data: Text,
    simulated: Type.Boolean({ description: 'A simulated host runs no guest: data describes the server' }),
  }),
})

/** `GET /admin/servers/{server_id}/console`: one piece as JSON, or with `follow=true` the log as text. */
export const ConsoleAnswer = {
  description: 'As JSON, one piece of the console; with follow=true, the log as plain text, streamed as it grows until the client hangs up',
  content: { 'application/json': { schema: ConsoleResponse }, ...PlainTextMedia },
}

/** An injected fault (`faultBody`); `host` null: every host. */
const FaultSchema = Open({ id: Text, host: NullableText, step: Text, mode: Text, probability: Type.Number(), reason: Text, created_at: Text })

/** `GET /admin/faults`. */
export const ListFaultsResponse = Open({ faults: Type.Array(FaultSchema) })

/** `POST /admin/faults`. */
export const FaultResponse = Open({ fault: FaultSchema })

const ProjectSchema = Open({ id: Text, name: Text, created_at: Text })

/** `GET /admin/projects`. */
export const ListProjectsResponse = Open({ projects: Type.Array(ProjectSchema) })

/** `POST /admin/projects`. */
export const ProjectResponse = Open({ project: ProjectSchema })

const credentialFields = {
  access: Text,
  project_id: Text,
  admin: Type.Boolean(),
  description: Text,
  status: Type.String({ description: 'active or revoked' }),
  created_at: Text,
  revoked_at: Type.Optional(Text),
}

/** `GET /admin/projects/{project_id}/credentials`: never the secret. */
export const ListCredentialsResponse = Open({ credentials: Type.Array(Open(credentialFields)) })

/** `POST /admin/projects/{project_id}/credentials`: the only time the secret is shown. */
export const CredentialResponse = Open({ credential: Open({ ...credentialFields, secret: Text }) })

/** `POST /admin/projects/{project_id}/users`. */
export const UserResponse = Open({ user: Open({ id: Text, name: Text, project_id: Text }) })

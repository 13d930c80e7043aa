import { Type } from 'typebox'

/**
 * Schemas of the hottest answers, so that fastify serialises them with a compiled serializer
 * instead of `JSON.stringify`. Every object keeps `additionalProperties: true`: a field the view
 * adds and a schema here forgets is still sent (only more slowly), never dropped.
 */
const open = { additionalProperties: true } as const

/** A server group (`ServerGroup`/`ListServerGroupsResult` of the SDK). */
export const GroupBodySchema = Type.Object(
  {
    id: Type.String(),
    name: Type.String(),
    policies: Type.Array(Type.String()),
    members: Type.Array(Type.String()),
    metadata: Type.Object({}, open),
    fault_domain: Type.Optional(Type.Object({ fault_domain_names: Type.Array(Type.String()) }, open)),
  },
  open,
)

/** `GET /v1/{project_id}/cloudservers/os-server-groups`. */
export const ListGroupsResponse = Type.Object(
  {
    server_groups: Type.Array(GroupBodySchema),
    page_info: Type.Optional(Type.Object({ next_marker: Type.String() }, open)),
  },
  open,
)

const Text = Type.String()
const NullableText = Type.Union([Type.String(), Type.Null()])

/** A server as show returns it (`ServerDetail` of the SDK); see `serverBody`. */
export const ServerDetailSchema = Type.Object(
  {
    id: Text,
    name: Text,
    status: Text,
    progress: Type.Number(),
    created: Text,
    updated: Text,
    tenant_id: Text,
    user_id: Text,
    description: Text,
    flavor: Type.Object({ id: Text, name: Text, disk: Text, vcpus: Text, ram: Text }, open),
    image: Type.Object({ id: Text }, open),
    metadata: Type.Record(Type.String(), Type.String()),
    hostId: Text,
    host_status: Text,
    'OS-EXT-SRV-ATTR:host': Text,
    'OS-EXT-SRV-ATTR:hypervisor_hostname': Text,
    'OS-EXT-SRV-ATTR:instance_name': Text,
    'OS-EXT-SRV-ATTR:hostname': Text,
    'OS-EXT-SRV-ATTR:reservation_id': Text,
    'OS-EXT-SRV-ATTR:launch_index': Type.Number(),
    'OS-EXT-SRV-ATTR:kernel_id': Text,
    'OS-EXT-SRV-ATTR:ramdisk_id': Text,
    'OS-EXT-SRV-ATTR:root_device_name': Text,
    'OS-EXT-SRV-ATTR:user_data': Text,
    'OS-EXT-AZ:availability_zone': Text,
    'OS-EXT-STS:vm_state': Text,
    'OS-EXT-STS:task_state': NullableText,
    'OS-EXT-STS:power_state': Type.Number(),
    'OS-SRV-USG:launched_at': Text,
    'OS-SRV-USG:terminated_at': Text,
    'OS-DCF:diskConfig': Text,
    'os:scheduler_hints': Type.Object({ group: Type.Optional(Type.Array(Text)) }, open),
    hypervisor: Type.Object({ hypervisor_type: Text, csd_hypervisor: Text }, open),
    addresses: Type.Object({}, open),
    key_name: Text,
    locked: Type.Boolean(),
    config_drive: Text,
    security_groups: Type.Array(Type.Object({}, open)),
    tags: Type.Array(Text),
    sys_tags: Type.Array(Type.Object({ key: Text, value: Text }, open)),
    enterprise_project_id: Text,
    'os-extended-volumes:volumes_attached': Type.Array(Type.Object({}, open)),
    accessIPv4: Text,
    accessIPv6: Text,
    fault: Type.Optional(Type.Object({ code: Type.Number(), message: Text, created: Text, details: Text }, open)),
  },
  open,
)

/** `GET /v1/{project_id}/cloudservers/{server_id}`. */
export const ShowServerResponse = Type.Object({ server: ServerDetailSchema }, open)

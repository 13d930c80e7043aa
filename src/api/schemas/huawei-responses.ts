import { Type } from 'typebox'
import { Nullable, Open, StringMap } from './responses.ts'

/**
 * Answers of the Huawei ECS API (`/v1`, `/v1.1`, `/v3/{project_id}`), as `src/api/huawei/views.ts`
 * and the route handlers build them; field names and value types are the SDK models'
 * (`@huaweicloud/huaweicloud-sdk-ecs`, e.g. strings for a flavor's vcpus).
 */

const Text = Type.String()
const NullableText = Nullable(Type.String())

/** A server group (`ServerGroup`/`ListServerGroupsResult` of the SDK). */
export const GroupBodySchema = Open({
  id: Type.String(),
  name: Type.String(),
  policies: Type.Array(Type.String()),
  members: Type.Array(Type.String()),
  metadata: Open({}),
  fault_domain: Type.Optional(Open({ fault_domain_names: Type.Array(Type.String()) })),
})

/** `POST` and `GET …/os-server-groups/{id}`. */
export const GroupResponse = Open({ server_group: GroupBodySchema })

/** `GET /v1/{project_id}/cloudservers/os-server-groups`. */
export const ListGroupsResponse = Open({
  server_groups: Type.Array(GroupBodySchema),
  page_info: Type.Optional(Open({ next_marker: Type.String() })),
})

/** A server as show returns it (`ServerDetail` of the SDK); see `serverBody`. */
export const ServerDetailSchema = Open({
  id: Text,
  name: Text,
  status: Text,
  progress: Type.Number(),
  created: Text,
  updated: Text,
  tenant_id: Text,
  user_id: Text,
  description: Text,
  flavor: Open({ id: Text, name: Text, disk: Text, vcpus: Text, ram: Text }),
  image: Open({ id: Text }),
  metadata: StringMap,
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
  'os:scheduler_hints': Open({ group: Type.Optional(Type.Array(Text)) }),
  hypervisor: Open({ hypervisor_type: Text, csd_hypervisor: Text }),
  addresses: Open({}),
  key_name: Text,
  locked: Type.Boolean(),
  config_drive: Text,
  security_groups: Type.Array(Open({})),
  tags: Type.Array(Text),
  sys_tags: Type.Array(Open({ key: Text, value: Text })),
  enterprise_project_id: Text,
  'os-extended-volumes:volumes_attached': Type.Array(Open({})),
  accessIPv4: Text,
  accessIPv6: Text,
  fault: Type.Optional(Open({ code: Type.Number(), message: Text, created: Text, details: Text })),
})

/** `GET /v1/{project_id}/cloudservers/{server_id}`. */
export const ShowServerResponse = Open({ server: ServerDetailSchema })

/** `GET /v1/{project_id}/cloudservers/detail`: one page and the total. */
export const ListServersResponse = Open({ count: Type.Integer({ description: 'Servers matching the filters, on every page' }), servers: Type.Array(ServerDetailSchema) })

/** `POST /v1/{project_id}/cloudservers`: the job and the ids of the servers it creates. */
export const CreateServersResponse = Open({ job_id: Text, serverIds: Type.Array(Text) })

/** A `dry_run` that passed its checks answers 202 with an empty object. */
export const DryRunResponse = Open({}, { description: 'The request passed its checks (dry_run); nothing was done.' })

const jobFields = {
  status: Type.String({ description: 'INIT, RUNNING, SUCCESS or FAIL' }),
  job_id: Text,
  job_type: Text,
  begin_time: Text,
  end_time: Type.String({ description: 'Empty until the job ends' }),
  error_code: NullableText,
  fail_reason: NullableText,
}

/** `GET /v1/{project_id}/jobs/{job_id}`: a job and its sub-jobs, one per server, in request order. */
export const JobResponse = Open({
  ...jobFields,
  entities: Open({
    sub_jobs_total: Type.Integer(),
    sub_jobs: Type.Array(Open({ ...jobFields, entities: Open({ server_id: Text }) })),
  }),
})

const flavorFields = {
  id: Text,
  name: Text,
  vcpus: Text,
  ram: Type.Integer({ description: 'MiB' }),
  disk: Text,
  swap: Text,
  links: Type.Array(Open({})),
  'OS-FLV-EXT-DATA:ephemeral': Type.Integer(),
  rxtx_factor: Type.Number(),
  'OS-FLV-DISABLED:disabled': Type.Boolean(),
  rxtx_quota: Text,
  rxtx_cap: Text,
  'os-flavor-access:is_public': Type.Boolean(),
}

/** `GET /v1/{project_id}/cloudservers/flavors`. */
export const ListFlavorsResponse = Open({ flavors: Type.Array(Open({ ...flavorFields, os_extra_specs: StringMap })) })

/** `GET /v1/{project_id}/cloudservers/resize_flavors`: the extra specs are named `extra_specs` here. */
export const ListResizeFlavorsResponse = Open({
  flavors: Type.Array(Open({ ...flavorFields, extra_specs: StringMap, instance_quota: Open({}) })),
})

/** `GET /v1/{project_id}/cloudservers/flavors/{flavor_id}/resources`. */
export const FlavorResourcesResponse = Open({
  resources: Type.Array(Open({ region_id: Text, availability_zone: Text, prefer: Type.Boolean({ description: 'A host of the zone has room now' }) })),
})

const Count = Type.Integer()

/** `GET /v1/{project_id}/cloudservers/limits`. */
export const LimitsResponse = Open({
  absolute: Open({
    maxImageMeta: Count,
    maxPersonality: Count,
    maxPersonalitySize: Count,
    maxSecurityGroupRules: Count,
    maxSecurityGroups: Count,
    maxServerMeta: Count,
    maxTotalFloatingIps: Count,
    maxTotalKeypairs: Count,
    maxServerGroups: Count,
    maxServerGroupMembers: Count,
    maxTotalInstances: Count,
    maxTotalCores: Count,
    maxTotalRAMSize: Count,
    totalInstancesUsed: Count,
    totalCoresUsed: Count,
    totalRAMUsed: Count,
    totalServerGroupsUsed: Count,
    totalFloatingIpsUsed: Count,
    totalSecurityGroupsUsed: Count,
    maxTotalSpotInstances: Count,
    maxTotalSpotCores: Count,
    maxTotalSpotRAMSize: Count,
    totalSpotInstancesUsed: Count,
    totalSpotCoresUsed: Count,
    totalSpotRAMUsed: Count,
    limit_by_flavor: Type.Array(Open({})),
  }),
})

/** `GET /v1/{project_id}/recycle-bin`: flat, as the SDK's model has it. */
export const RecycleBinResponse = Open({
  project_id: Text,
  switch: Type.String({ pattern: '^(on|off)$' }),
  policy: Open({ recycle_threshold_day: Type.Integer(), retention_hour: Type.Integer() }),
})

/** `GET /v1/{project_id}/recycle-bin/cloudservers`. */
export const RecycleBinServersResponse = Open({ servers: Type.Array(ServerDetailSchema) })

/** A scheduled event (`EventResponse` of the SDK): times `yyyy-MM-ddTHH:mm:ssZ`, null until they happen. */
const ScheduledEventSchema = Open({
  id: Text,
  type: Text,
  state: Text,
  publish_time: Text,
  start_time: NullableText,
  finish_time: NullableText,
  not_before: Text,
  not_after: Type.Null(),
  not_before_deadline: Text,
  description: Text,
  instance_id: Text,
  source: Open({ type: Text, host_scheduled_event_id: Text }),
})

/** `GET /v3/{project_id}/instance-scheduled-events`. */
export const ListScheduledEventsResponse = Open({
  events: Type.Array(ScheduledEventSchema),
  page_info: Open({ next_marker: Type.Optional(Text) }),
})

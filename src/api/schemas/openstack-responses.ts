import { Type, type Static } from 'typebox'
import { Link, Nullable, Open, StringMap } from './responses.ts'

/**
 * Answers of the OpenStack Compute (v2.1) API, its version list and the small Glance v2 image
 * catalogue, as `src/api/openstack/*.ts` build them. One schema covers every microversion: a field
 * that only some microversions (or only admins) see is optional, and its description says when.
 */

const Text = Type.String()
const NullableText = Nullable(Type.String())
const Count = Type.Integer()
const Links = Type.Array(Link)

/** A version of the compute API in the version list (`GET /`). */
const VersionSummary = Open({
  id: Text,
  status: Text,
  version: Type.String({ description: 'The newest microversion served' }),
  min_version: Type.String({ description: 'The oldest microversion served' }),
  updated: Text,
  links: Links,
})

/** `GET /` (`novaListVersions`): 300 Multiple Choices, or 200 for a Huawei SDK (AK/SK-signed) caller. */
export const VersionsResponse = Open({ versions: Type.Array(VersionSummary) })

/** `GET /v2.1/` (`novaShowVersion`): clients read the microversion range from it. */
export const VersionResponse = Open({
  version: Open({ ...VersionSummary.properties, 'media-types': Type.Array(Open({ base: Text, type: Text })) }),
})

/** A server group in the shape of the requested microversion. */
const ServerGroupSchema = Open({
  id: Text,
  name: Text,
  policies: Type.Optional(Type.Array(Text, { description: 'Before 2.64' })),
  policy: Type.Optional(Type.String({ description: 'From 2.64' })),
  rules: Type.Optional(Open({ max_server_per_host: Type.Optional(Count) }, { description: 'From 2.64' })),
  members: Type.Array(Text),
  metadata: Type.Optional(Open({}, { description: 'Before 2.64' })),
  project_id: Type.Optional(Type.String({ description: 'From 2.13' })),
  user_id: Type.Optional(Type.String({ description: 'From 2.13' })),
})

/** `POST`, `GET /os-server-groups/{id}`. */
export const ServerGroupResponse = Open({ server_group: ServerGroupSchema })

/** `GET /os-server-groups`. */
export const ListServerGroupsResponse = Open({ server_groups: Type.Array(ServerGroupSchema) })

/** `POST /servers`: the first server and its password, or the reservation (`return_reservation_id`). */
export const CreateServerResponse = Type.Union([
  Open(
    {
      server: Open({
        id: Text,
        links: Links,
        'OS-DCF:diskConfig': Text,
        security_groups: Type.Array(Open({ name: Text })),
        adminPass: Text,
      }),
    },
    { title: 'ServerCreated' },
  ),
  Open({ reservation_id: Text }, { title: 'ReservationCreated' }),
], { description: 'Accepted; the servers are built asynchronously' })

/** A next-page link of a server list, when the page is full. */
const ServersLinks = Type.Optional(Links)

/** `GET /servers`: id, name and links of each server. */
export const ListServersResponse = Open({
  servers: Type.Array(Open({ id: Text, name: Text, links: Links })),
  servers_links: ServersLinks,
})

/** The options of a field only admins see (Nova's default policy), from a microversion on. */
const adminOnly = (since?: string) => ({ description: `Admins only${since === undefined ? '' : `, from ${since}`}` })

/** A server as show and list-detail return it (`serverView`). */
const ServerSchema = Open({
  id: Text,
  name: Text,
  status: Text,
  tenant_id: Text,
  user_id: Text,
  metadata: StringMap,
  hostId: Type.String({ description: 'Empty for a server that was never placed' }),
  image: Type.Union([Type.String({ maxLength: 0, description: 'Empty: the server has no image' }), Open({ id: Text, links: Links })]),
  flavor: Type.Union([
    Open({ id: Text, links: Links }, { title: 'FlavorRef', description: 'Before 2.47' }),
    Open(
      { vcpus: Count, ram: Count, disk: Count, ephemeral: Count, swap: Count, original_name: Text, extra_specs: StringMap },
      { title: 'EmbeddedFlavor', description: 'From 2.47' },
    ),
  ]),
  created: Text,
  updated: Text,
  addresses: Type.Record(
    Type.String(),
    Type.Array(Open({ version: Count, addr: Text, 'OS-EXT-IPS:type': Text, 'OS-EXT-IPS-MAC:mac_addr': Text })),
  ),
  accessIPv4: Text,
  accessIPv6: Text,
  links: Links,
  'OS-DCF:diskConfig': Text,
  progress: Type.Optional(Type.Integer({ description: 'While ACTIVE or BUILD' })),
  'OS-EXT-AZ:availability_zone': Text,
  config_drive: Text,
  key_name: NullableText,
  'OS-SRV-USG:launched_at': NullableText,
  'OS-SRV-USG:terminated_at': NullableText,
  security_groups: Type.Optional(Type.Array(Open({ name: Text }))),
  'OS-EXT-STS:task_state': NullableText,
  'OS-EXT-STS:vm_state': Text,
  'OS-EXT-STS:power_state': Count,
  'os-extended-volumes:volumes_attached': Type.Array(Open({})),
  'OS-EXT-SRV-ATTR:host': Type.Optional(Nullable(Type.String(), adminOnly())),
  'OS-EXT-SRV-ATTR:hypervisor_hostname': Type.Optional(Nullable(Type.String(), adminOnly())),
  'OS-EXT-SRV-ATTR:instance_name': Type.Optional(Type.String(adminOnly())),
  'OS-EXT-SRV-ATTR:hostname': Type.Optional(Type.String(adminOnly('2.3'))),
  'OS-EXT-SRV-ATTR:reservation_id': Type.Optional(Type.String(adminOnly('2.3'))),
  'OS-EXT-SRV-ATTR:launch_index': Type.Optional(Type.Integer(adminOnly('2.3'))),
  'OS-EXT-SRV-ATTR:kernel_id': Type.Optional(Type.String(adminOnly('2.3'))),
  'OS-EXT-SRV-ATTR:ramdisk_id': Type.Optional(Type.String(adminOnly('2.3'))),
  'OS-EXT-SRV-ATTR:root_device_name': Type.Optional(Type.String(adminOnly('2.3'))),
  'OS-EXT-SRV-ATTR:user_data': Type.Optional(Nullable(Type.String(), adminOnly('2.3'))),
  locked: Type.Optional(Type.Boolean({ description: 'From 2.9' })),
  host_status: Type.Optional(Type.String(adminOnly('2.16'))),
  description: Type.Optional(Nullable(Type.String(), { description: 'From 2.19' })),
  tags: Type.Optional(Type.Array(Text, { description: 'From 2.26' })),
  trusted_image_certificates: Type.Optional(Nullable(Type.Array(Text), { description: 'From 2.63' })),
  server_groups: Type.Optional(Type.Array(Text, { description: 'From 2.71' })),
  fault: Type.Optional(Open({ code: Count, created: Text, message: Text, details: Type.Optional(Text) }, { description: 'In ERROR; details for admins' })),
})

/** `GET /servers/detail`. */
export const ListServersDetailResponse = Open({ servers: Type.Array(ServerSchema), servers_links: ServersLinks })

/** `GET /servers/{server_id}`. */
export const ServerResponse = Open({ server: ServerSchema })

/** `GET /servers/{server_id}/os-security-groups`. */
export const ServerSecurityGroupsResponse = Open({
  security_groups: Type.Array(Open({ id: Text, name: Text, description: Text, tenant_id: Text, rules: Type.Array(Open({})) })),
})

/** A port of a server (`interfaceView`). */
const InterfaceSchema = Open({
  port_state: Text,
  fixed_ips: Type.Array(Open({ subnet_id: Text, ip_address: Text })),
  port_id: Text,
  net_id: Text,
  mac_addr: Text,
  tag: Type.Optional(Nullable(Type.String(), { description: 'From 2.70' })),
})

/** `GET /servers/{server_id}/os-interface`. */
export const ListInterfacesResponse = Open({ interfaceAttachments: Type.Array(InterfaceSchema) })

/** `POST /servers/{server_id}/os-interface`, `GET …/os-interface/{port_id}`. */
export const InterfaceResponse = Open({ interfaceAttachment: InterfaceSchema })

/** `GET /flavors`. */
export const ListFlavorsResponse = Open({
  flavors: Type.Array(Open({ id: Text, name: Text, links: Links, description: Type.Optional(Nullable(Type.String(), { description: 'From 2.55' })) })),
})

/** A flavor in detail (`flavorView`). */
const FlavorSchema = Open({
  id: Text,
  name: Text,
  ram: Count,
  disk: Count,
  vcpus: Count,
  swap: Type.String({ description: 'Empty: no swap' }),
  'OS-FLV-EXT-DATA:ephemeral': Count,
  'OS-FLV-DISABLED:disabled': Type.Boolean(),
  'os-flavor-access:is_public': Type.Boolean(),
  rxtx_factor: Type.Number(),
  links: Links,
  description: Type.Optional(Nullable(Type.String(), { description: 'From 2.55' })),
  extra_specs: Type.Optional(Type.Record(Type.String(), Type.String(), { description: 'From 2.61' })),
})

/** `GET /flavors/detail`. */
export const ListFlavorsDetailResponse = Open({ flavors: Type.Array(FlavorSchema) })

/** `GET /flavors/{flavor_id}`. */
export const FlavorResponse = Open({ flavor: FlavorSchema })

/** `GET /flavors/{flavor_id}/os-extra_specs`. */
export const ExtraSpecsResponse = Open({ extra_specs: StringMap })

/** `GET /flavors/{flavor_id}/os-extra_specs/{key}`: `{"<key>": "<value>"}`. */
export const ExtraSpecResponse = Type.Record(Type.String(), Type.String(), { minProperties: 1, maxProperties: 1 })

const keypairFields = {
  name: Text,
  public_key: Text,
  fingerprint: Text,
  type: Type.Optional(Type.String({ description: 'From 2.2' })),
}

/** `POST /os-keypairs` (200 before 2.2, 201 from it): a generated key pair carries its private key, once. */
export const CreateKeypairResponse = Open({
  keypair: Open({ ...keypairFields, user_id: Text, private_key: Type.Optional(Text) }),
})

/** `GET /os-keypairs`. */
export const ListKeypairsResponse = Open({ keypairs: Type.Array(Open({ keypair: Open(keypairFields) })) })

/** `GET /os-keypairs/{name}`. */
export const KeypairResponse = Open({
  keypair: Open({
    ...keypairFields,
    user_id: Text,
    created_at: Text,
    deleted: Type.Boolean(),
    deleted_at: NullableText,
    updated_at: NullableText,
    id: Count,
  }),
})

const Optional = (since: string) => Type.Optional(Type.Integer({ description: `Before ${since}` }))

/** `GET /limits`: network quotas left the API at 2.36, personality at 2.57. */
export const LimitsResponse = Open({
  limits: Open({
    rate: Type.Array(Open({})),
    absolute: Open({
      maxServerMeta: Count,
      maxImageMeta: Count,
      maxTotalKeypairs: Count,
      maxTotalInstances: Count,
      maxTotalCores: Count,
      maxTotalRAMSize: Count,
      totalInstancesUsed: Count,
      totalCoresUsed: Count,
      totalRAMUsed: Count,
      maxServerGroups: Count,
      maxServerGroupMembers: Count,
      totalServerGroupsUsed: Count,
      maxSecurityGroups: Optional('2.36'),
      maxSecurityGroupRules: Optional('2.36'),
      maxTotalFloatingIps: Optional('2.36'),
      totalSecurityGroupsUsed: Optional('2.36'),
      totalFloatingIpsUsed: Optional('2.36'),
      maxPersonality: Optional('2.57'),
      maxPersonalitySize: Optional('2.57'),
    }),
  }),
})

const ZoneState = Open({ available: Type.Boolean() })

/** `GET /os-availability-zone`: host names are not shown to tenants (`hosts` is null). */
export const AvailabilityZonesResponse = Open({
  availabilityZoneInfo: Type.Array(Open({ zoneName: Text, zoneState: ZoneState, hosts: Type.Null() })),
})

/** `GET /os-availability-zone/detail` (admins): each zone's hosts and their compute service. */
export const AvailabilityZonesDetailResponse = Open({
  availabilityZoneInfo: Type.Array(Open({
    zoneName: Text,
    zoneState: ZoneState,
    // Typed loosely for the handler, which builds the map as Record<string, unknown>.
    hosts: Type.Unsafe<Record<string, unknown>>(
      Type.Record(Type.String(), Type.Record(Type.String(), Open({ available: Type.Boolean(), active: Type.Boolean(), updated_at: Text }))),
    ),
  })),
})

const HypervisorSummary = Open({ id: Text, hypervisor_hostname: Text, state: Text, status: Text })

/**
 * A hypervisor (an ecsd host) in detail; typed as the summary for the handler, whose one helper
 * builds both views.
 */
const HypervisorDetail = Type.Unsafe<Static<typeof HypervisorSummary>>(Open({
  ...HypervisorSummary.properties,
  vcpus: Count,
  memory_mb: Count,
  local_gb: Count,
  vcpus_used: Count,
  memory_mb_used: Count,
  local_gb_used: Count,
  free_ram_mb: Count,
  free_disk_gb: Count,
  current_workload: Count,
  running_vms: Count,
  disk_available_least: Count,
  hypervisor_type: Text,
  hypervisor_version: Count,
  host_ip: Text,
  cpu_info: Type.Union([Type.String({ description: 'A JSON text, before 2.28' }), Open({}, { description: 'From 2.28' })]),
  service: Open({ host: Text, id: Text, disabled_reason: NullableText }),
}))

/** `GET /os-hypervisors` (admins). */
export const ListHypervisorsResponse = Open({ hypervisors: Type.Array(HypervisorSummary) })

/** `GET /os-hypervisors/detail` (admins). */
export const ListHypervisorsDetailResponse = Open({ hypervisors: Type.Array(HypervisorDetail) })

/** `GET /os-hypervisors/{id}` (admins). */
export const HypervisorResponse = Open({ hypervisor: HypervisorDetail })

/** `GET /image`, `GET /image/v2`: the Glance version list. */
export const ImageVersionsResponse = Open({ versions: Type.Array(Open({ id: Text, status: Text, links: Links })) })

/** An image in Glance v2's shape. */
export const ImageSchema = Open({
  id: Text,
  name: Text,
  status: Text,
  visibility: Text,
  protected: Type.Boolean(),
  os_hidden: Type.Boolean(),
  checksum: NullableText,
  owner: NullableText,
  size: Count,
  virtual_size: Nullable(Type.Integer()),
  min_ram: Count,
  min_disk: Count,
  disk_format: Text,
  container_format: Text,
  os_distro: Text,
  created_at: Text,
  updated_at: Text,
  tags: Type.Array(Text),
  self: Text,
  file: Text,
  schema: Text,
})

/** `GET /image/v2/images`. */
export const ListImagesResponse = Open({ images: Type.Array(ImageSchema), schema: Text, first: Text })

import { Type } from 'typebox'
import { DOCUMENTED_SERVER_STATUSES } from '../../domain/server.ts'
import { MAX_CHARGE_MODE_SERVERS } from '../../services/charging.ts'
import { Nullable, Open, StringMap } from './responses.ts'
import { CreateServersBody } from './servers.ts'

/**
 * Requests and answers of availability zones, flavor sell policies, charge-mode changes,
 * `createServers` and `listCloudServers` (/v1.1), and launch templates (/v3). Field names and
 * types are the SDK models' (`PrePaidServerExtendParam`, `CloudServer`, `TemplateData`, …).
 */

const Text = Type.String()
const Id = Type.String({ minLength: 1, maxLength: 64 })
const TrueFalse = Type.Enum(['true', 'false'])

/** `extendparam` of a `createServers` body (`PrePaidServerExtendParam`): the billing of the purchase. */
const PrePaidServerExtendParam = Type.Object(
  {
    chargingMode: Type.Optional(Type.Enum(['prePaid', 'postPaid'])),
    regionID: Type.Optional(Type.String({ maxLength: 64 })),
    periodType: Type.Optional(Type.Enum(['month', 'year'])),
    periodNum: Type.Optional(Type.Integer()),
    isAutoRenew: Type.Optional(TrueFalse),
    isAutoPay: Type.Optional(TrueFalse),
    enterprise_project_id: Type.Optional(Type.String({ maxLength: 64 })),
    support_auto_recovery: Type.Optional(Type.Boolean()),
    marketType: Type.Optional(Type.String({ maxLength: 64 })),
    spotPrice: Type.Optional(Type.String({ maxLength: 64 })),
    diskPrior: Type.Optional(Type.String({ maxLength: 64 })),
    spot_duration_hours: Type.Optional(Type.Integer()),
    interruption_policy: Type.Optional(Type.Enum(['immediate'])),
    CB_CSBS_BACKUP: Type.Optional(Type.String({ maxLength: 1024 })),
    spot_duration_count: Type.Optional(Type.Integer()),
  },
  { additionalProperties: false },
)

/**
 * `POST /v1.1/{project_id}/cloudservers` (`createServers`): the pay-per-use body, with the
 * `PrePaidServer` billing fields in `extendparam`.
 */
export const CreatePrePaidServersBody = Type.Object(
  {
    server: Type.Object(
      { ...CreateServersBody.properties.server.properties, extendparam: Type.Optional(PrePaidServerExtendParam) },
      { additionalProperties: false },
    ),
    dry_run: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
)

/** `createServers`: pay-per-use answers the job; yearly/monthly answers its order (and the job when paid automatically). */
export const CreatePrePaidServersResponse = Open({
  job_id: Type.Optional(Text),
  order_id: Type.Optional(Text),
  serverIds: Type.Array(Text),
})

/** The optional fields of a `CloudServer` a `listCloudServers` request may ask for (`expect-fields`). */
export const EXPECT_FIELDS = [
  'launched_at', 'key_name', 'locked', 'root_device_name', 'tenancy', 'dedicated_host_id', 'enterprise_project_id', 'tags', 'metadata',
  'addresses', 'security_groups', 'volumes_attached', 'image', 'power_state', 'cpu_options', 'market_info',
] as const

/** `GET /v1.1/{project_id}/cloudservers/detail` (`ListCloudServersRequest`); `expect-fields` repeats. */
export const ListCloudServersQuery = Type.Object(
  {
    id: Type.Optional(Type.String({ maxLength: 64 })),
    name: Type.Optional(Type.String({ maxLength: 255 })),
    status: Type.Optional(Type.Enum([...DOCUMENTED_SERVER_STATUSES])),
    in_recycle_bin: Type.Optional(Type.Boolean()),
    spod_id: Type.Optional(Type.String({ maxLength: 64 })),
    flavor_name: Type.Optional(Type.String({ maxLength: 255 })),
    image_id: Type.Optional(Type.String({ maxLength: 255 })),
    metadata: Type.Optional(Type.String({ maxLength: 1024, pattern: '^[^=]+=' })),
    'metadata-key': Type.Optional(Type.String({ minLength: 1, maxLength: 255 })),
    tags: Type.Optional(Type.String({ maxLength: 4096 })),
    'not-tags': Type.Optional(Type.String({ maxLength: 4096 })),
    availability_zone: Type.Optional(Type.String({ maxLength: 255 })),
    availability_zone_eq: Type.Optional(Type.String({ maxLength: 255 })),
    charging_mode: Type.Optional(Type.Enum(['0', '1', '2', 'postPaid', 'prePaid', 'spot'])),
    key_name: Type.Optional(Type.String({ maxLength: 255 })),
    launched_since: Type.Optional(Type.String({ maxLength: 64 })),
    enterprise_project_id: Type.Optional(Type.String({ maxLength: 255 })),
    'expect-fields': Type.Optional(Type.Array(Type.Enum([...EXPECT_FIELDS]), { maxItems: 32 })),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 100 })),
    marker: Type.Optional(Type.String({ maxLength: 64 })),
  },
  { additionalProperties: false },
)

/** A server as `listCloudServers` returns it (`CloudServer`): no host fields; optional fields only when asked. */
export const CloudServerSchema = Open({
  id: Text,
  name: Text,
  status: Text,
  tenant_id: Text,
  user_id: Text,
  availability_zone: Text,
  vm_state: Text,
  task_state: Nullable(Text),
  created: Text,
  updated: Text,
  in_recycle_bin: Type.Boolean(),
  spod_id: Text,
  description: Text,
  flavor: Open({
    id: Text, name: Text, vcpus: Type.Integer(), ram: Type.Integer({ description: 'MiB' }), disk: Type.Integer({ description: 'GiB' }),
    gpus: Type.Array(Open({})), asic_accelerators: Type.Array(Open({})),
  }),
  fault: Nullable(Open({ code: Type.Integer(), created: Text, message: Text, details: Text })),
  launched_at: Type.Optional(Text),
  key_name: Type.Optional(Text),
  locked: Type.Optional(Type.Boolean()),
  root_device_name: Type.Optional(Text),
  tenancy: Type.Optional(Type.Enum(['shared', 'dedicated'])),
  dedicated_host_id: Type.Optional(Text),
  enterprise_project_id: Type.Optional(Text),
  tags: Type.Optional(Type.Array(Text)),
  metadata: Type.Optional(StringMap),
  addresses: Type.Optional(Type.Record(Type.String(), Type.Array(Open({
    addr: Text, version: Type.Integer(), 'OS-EXT-IPS:port_id': Text, 'OS-EXT-IPS-MAC:mac_addr': Text, 'OS-EXT-IPS:type': Text, primary: Type.Boolean(),
  })))),
  security_groups: Type.Optional(Type.Array(Open({ id: Text, name: Text }))),
  volumes_attached: Type.Optional(Type.Array(Open({ id: Text, delete_on_termination: Type.Boolean(), device: Text, bootIndex: Text }))),
  image: Type.Optional(Open({ id: Text })),
  power_state: Type.Optional(Type.Integer()),
  cpu_options: Type.Optional(Open({})),
  market_info: Type.Optional(Open({ charge_mode: Type.Enum(['spot', 'prepaid', 'postpaid']) })),
})

/** `GET /v1.1/{project_id}/cloudservers/detail`: a page, the count of all matching servers, and the next page's link. */
export const ListCloudServersResponse = Open({
  servers: Type.Array(CloudServerSchema),
  count: Type.Integer({ description: 'Servers matching the filters, on every page' }),
  servers_links: Type.Optional(Type.Array(Open({ rel: Text, href: Text }))),
  request_id: Text,
})

/** `GET /v1/{project_id}/availability-zones` (`ListServerAzInfo`). */
export const ListAvailabilityZonesResponse = Open({
  availability_zones: Type.Array(Open({
    availability_zone_id: Text,
    type: Type.Enum(['Center', 'Edge']),
    mode: Type.Enum(['shared', 'dedicated']),
    public_border_group: Text,
    alias: Text,
    az_group_ids: Type.Array(Text),
    category: Type.Integer(),
  })),
})

/** `GET /v1/{project_id}/cloudservers/flavor-sell-policies` (`ListFlavorSellPoliciesRequest`). */
export const ListFlavorSellPoliciesQuery = Type.Object(
  {
    flavor_id: Type.Optional(Type.String({ maxLength: 255 })),
    sell_status: Type.Optional(Type.Enum(['available', 'sellout'])),
    sell_mode: Type.Optional(Type.Enum(['postPaid', 'prePaid', 'spot', 'ri'])),
    availability_zone_id: Type.Optional(Type.String({ maxLength: 255 })),
    longest_spot_duration_hours_gt: Type.Optional(Type.Integer({ minimum: 0, maximum: 1_000_000 })),
    largest_spot_duration_count_gt: Type.Optional(Type.Integer({ minimum: 0, maximum: 1_000_000 })),
    longest_spot_duration_hours: Type.Optional(Type.Integer({ minimum: 0, maximum: 1_000_000 })),
    largest_spot_duration_count: Type.Optional(Type.Integer({ minimum: 0, maximum: 1_000_000 })),
    interruption_policy: Type.Optional(Type.Enum(['immediate', 'delay'])),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000 })),
    marker: Type.Optional(Type.Integer({ minimum: 0, maximum: 2 ** 31 })),
  },
  { additionalProperties: false },
)

/** `listFlavorSellPolicies`: the policies of the page and how many match. */
export const ListFlavorSellPoliciesResponse = Open({
  count: Type.Integer({ description: 'Policies matching the filters, on every page' }),
  sell_policies: Type.Array(Open({ id: Type.Integer(), flavor_id: Text, sell_status: Text, availability_zone_id: Text, sell_mode: Text })),
})

/** `POST /v1/{project_id}/cloudservers/actions/change-charge-mode` (`ChangeServerChargeModeRequestBody`). */
export const ChangeChargeModeBody = Type.Object(
  {
    server_ids: Type.Array(Id, { minItems: 1, maxItems: MAX_CHARGE_MODE_SERVERS }),
    charge_mode: Type.Enum(['prePaid']),
    prepaid_options: Type.Object(
      {
        period_type: Type.Enum(['month', 'year']),
        period_num: Type.String({ pattern: '^[0-9]{1,2}$' }),
        include_data_disks: Type.Optional(Type.Boolean()),
        include_publicips: Type.Optional(Type.Boolean()),
        auto_pay: Type.Optional(Type.Boolean()),
        auto_renew: Type.Optional(Type.Boolean()),
      },
      { additionalProperties: false },
    ),
    dry_run: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
)

/** `changeServerChargeMode`: the order that made the servers yearly/monthly. */
export const ChangeChargeModeResponse = Open({ order_id: Text })

// ---- Launch templates (/v3) -----------------------------------------------------------------

const Name = Type.String({ minLength: 1, maxLength: 128 })
const Description = Type.String({ maxLength: 255 })

/** `template_data` (`TemplateData` and its parts): every field the SDK has, as it types them. */
const TemplateDataSchema = Type.Object(
  {
    flavor_id: Type.Optional(Type.String({ maxLength: 255 })),
    name: Type.Optional(Type.String({ maxLength: 255 })),
    description: Type.Optional(Description),
    availability_zone_id: Type.Optional(Type.String({ maxLength: 255 })),
    enterprise_project_id: Type.Optional(Type.String({ maxLength: 64 })),
    auto_recovery: Type.Optional(Type.Boolean()),
    os_profile: Type.Optional(Type.Object(
      {
        key_name: Type.Optional(Type.String({ maxLength: 255 })),
        user_data: Type.Optional(Type.String({ maxLength: 65536 })),
        iam_agency_name: Type.Optional(Type.String({ maxLength: 255 })),
        enable_monitoring_service: Type.Optional(Type.Boolean()),
      },
      { additionalProperties: false },
    )),
    security_group_ids: Type.Optional(Type.Array(Id, { maxItems: 32 })),
    network_interfaces: Type.Optional(Type.Array(Type.Object(
      {
        virsubnet_id: Type.Optional(Id),
        attachment: Type.Optional(Type.Object({ device_index: Type.Optional(Type.Integer({ minimum: 0, maximum: 64 })) }, { additionalProperties: false })),
      },
      { additionalProperties: false },
    ), { maxItems: 12 })),
    block_device_mappings: Type.Optional(Type.Array(Type.Object(
      {
        source_id: Type.Optional(Type.String({ maxLength: 255 })),
        source_type: Type.Optional(Type.Enum(['blank', 'image'])),
        encrypted: Type.Optional(Type.Boolean()),
        cmk_id: Type.Optional(Type.String({ maxLength: 255 })),
        volume_type: Type.Optional(Type.String({ maxLength: 64 })),
        volume_size: Type.Optional(Type.Integer({ minimum: 1, maximum: 65536 })),
        attachment: Type.Optional(Type.Object(
          { boot_index: Type.Optional(Type.Integer({ minimum: 0, maximum: 64 })), delete_on_termination: Type.Optional(Type.Boolean()) },
          { additionalProperties: false },
        )),
      },
      { additionalProperties: false },
    ), { maxItems: 60 })),
    market_options: Type.Optional(Type.Object(
      {
        market_type: Type.Optional(Type.Enum(['spot', 'postpaid'])),
        spot_options: Type.Optional(Type.Object(
          {
            spot_price: Type.Optional(Type.Number({ minimum: 0 })),
            block_duration_minutes: Type.Optional(Type.Integer({ minimum: 0 })),
            instance_interruption_behavior: Type.Optional(Type.String({ maxLength: 64 })),
          },
          { additionalProperties: false },
        )),
      },
      { additionalProperties: false },
    )),
    internet_access: Type.Optional(Type.Object(
      {
        publicip: Type.Optional(Type.Object(
          {
            publicip_type: Type.Optional(Type.String({ maxLength: 64 })),
            charging_mode: Type.Optional(Type.String({ maxLength: 64 })),
            bandwidth: Type.Optional(Type.Object(
              {
                share_type: Type.Optional(Type.Enum(['PER', 'WHOLE'])),
                size: Type.Optional(Type.Integer({ minimum: 1, maximum: 100_000 })),
                charge_mode: Type.Optional(Type.Enum(['bandwidth', 'traffic'])),
                id: Type.Optional(Id),
              },
              { additionalProperties: false },
            )),
            delete_on_termination: Type.Optional(Type.Boolean()),
          },
          { additionalProperties: false },
        )),
      },
      { additionalProperties: false },
    )),
    metadata: Type.Optional(Type.Record(Type.String({ pattern: '^[a-zA-Z0-9-_:. ]{1,255}$' }), Type.String({ maxLength: 255 }))),
    tag_options: Type.Optional(Type.Array(Type.Object(
      {
        tags: Type.Optional(Type.Array(Type.Object(
          {
            key: Type.Optional(Type.String({ minLength: 1, maxLength: 128, pattern: '^[^<>=,/|*\\\\\\x00-\\x1f]*$' })),
            value: Type.Optional(Type.String({ maxLength: 255, pattern: '^[^<>=,|*\\\\\\x00-\\x1f]*$' })),
          },
          { additionalProperties: false },
        ), { maxItems: 20 })),
      },
      { additionalProperties: false },
    ), { maxItems: 20 })),
  },
  { additionalProperties: false },
)

/** `POST /v3/{project_id}/launch-templates` (`CreateLaunchTemplateRequestBody`). */
export const CreateLaunchTemplateBody = Type.Object(
  {
    launch_template: Type.Object(
      {
        name: Name,
        description: Type.Optional(Description),
        version_description: Type.Optional(Description),
        template_data: Type.Optional(TemplateDataSchema),
      },
      { additionalProperties: false },
    ),
    dry_run: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
)

/** `createLaunchTemplate`: the new template's id; a dry run answers an empty object. */
export const CreateLaunchTemplateResponse = Open({ launch_template_id: Type.Optional(Text) })

/** Path parameters of `DELETE /v3/{project_id}/launch-templates/{launch_template_id}`. */
export const LaunchTemplateParams = Type.Object({ project_id: Type.String(), launch_template_id: Type.String() }, { additionalProperties: false })

const PageLimit = Type.Optional(Type.Integer({ minimum: 1, maximum: 1000 }))

/** `GET /v3/{project_id}/launch-templates` (`ListTemplatesRequest`); the id and name lists repeat. */
export const ListTemplatesQuery = Type.Object(
  {
    limit: PageLimit,
    marker: Type.Optional(Type.String({ maxLength: 64 })),
    launch_template_id: Type.Optional(Type.Array(Type.String({ maxLength: 64 }), { minItems: 1, maxItems: 100 })),
    name: Type.Optional(Type.Array(Type.String({ maxLength: 128 }), { minItems: 1, maxItems: 100 })),
  },
  { additionalProperties: false },
)

/** `page_info` of the /v3 lists: the marker of the next page, when there is one. */
const PageInfo = Open({ next_marker: Type.Optional(Text), previous_marker: Type.Optional(Text) })

/** `listTemplates`. */
export const ListTemplatesResponse = Open({
  launch_templates: Type.Array(Open({
    id: Text, name: Text, description: Text, created_at: Text, updated_at: Text, default_version: Type.Integer(), latest_version: Type.Integer(),
    enterprise_project_id: Text,
  })),
  page_info: PageInfo,
})

/** `GET /v3/{project_id}/launch-template-versions` (`ListLaunchTemplateVersionsRequest`); `version` repeats. */
export const ListLaunchTemplateVersionsQuery = Type.Object(
  {
    limit: PageLimit,
    marker: Type.Optional(Type.String({ maxLength: 64 })),
    launch_template_id: Type.Optional(Type.String({ maxLength: 64 })),
    image_id: Type.Optional(Type.String({ maxLength: 255 })),
    flavor_id: Type.Optional(Type.String({ maxLength: 255 })),
    version: Type.Optional(Type.Array(Type.Integer({ minimum: 1, maximum: 1_000_000 }), { minItems: 1, maxItems: 100 })),
  },
  { additionalProperties: false },
)

/** `listLaunchTemplateVersions`. */
export const ListLaunchTemplateVersionsResponse = Open({
  launch_template_versions: Type.Array(Open({
    template_data: Open({}),
    version_number: Type.Integer(),
    version_id: Text,
    version_description: Text,
    created_at: Text,
    launch_template_id: Text,
  })),
  page_info: PageInfo,
})

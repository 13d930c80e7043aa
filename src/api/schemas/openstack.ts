import { Type, type TSchema } from 'typebox'
import { GROUP_NAME_MAX } from '../../domain/group.ts'

/**
 * Request schemas of the OpenStack Compute (v2.1) surface, after Nova's
 * (`nova/api/openstack/compute/schemas/*.py`): a base schema per body, and the microversion
 * variants derived from it by small edits, as Nova derives `create_v215` from `create`.
 */

/** Nova's `parameter_types.name`: 1–255 characters, no leading or trailing whitespace. */
const Name = (max = GROUP_NAME_MAX) => Type.String({ minLength: 1, maxLength: max, pattern: '^\\S(.*\\S)?$' })

/** Nova's `positive_integer`: an integer, or a string of digits, at least 1. */
const PositiveInteger = Type.Union([Type.Integer({ minimum: 1 }), Type.String({ pattern: '^0*[1-9]\\d{0,8}$' })])

/** Nova's `non_negative_integer` in a query string (digits only, coerced by the route). */
const NonNegative = Type.Integer({ minimum: 0, maximum: 1_000_000 })

const groupBody = (fields: Record<string, TSchema>, required: string[]) =>
  Type.Object(
    { server_group: Type.Object(fields, { additionalProperties: false, required } as never) },
    { additionalProperties: false },
  )

const POLICIES_V21 = ['anti-affinity', 'affinity'] as const
const POLICIES_V215 = [...POLICIES_V21, 'soft-anti-affinity', 'soft-affinity'] as const

/** `POST /os-server-groups`, 2.1–2.14: `policies` holds exactly one of anti-affinity, affinity. */
export const CreateServerGroupV21 = groupBody(
  { name: Name(), policies: Type.Array(Type.Enum([...POLICIES_V21]), { minItems: 1, maxItems: 1, uniqueItems: true }) },
  ['name', 'policies'],
)
/** 2.15–2.63: the soft policies join the enum. */
export const CreateServerGroupV215 = groupBody(
  { name: Name(), policies: Type.Array(Type.Enum([...POLICIES_V215]), { minItems: 1, maxItems: 1, uniqueItems: true }) },
  ['name', 'policies'],
)
/** 2.64+: one `policy` and optional `rules` (only `max_server_per_host`). */
export const CreateServerGroupV264 = groupBody(
  {
    name: Name(),
    policy: Type.Enum([...POLICIES_V215]),
    rules: Type.Object({ max_server_per_host: PositiveInteger }, { additionalProperties: false }),
  },
  ['name', 'policy'],
)

/** The create body of every range, as the handler reads it. */
export interface CreateServerGroupInput {
  server_group: { name: string; policies?: string[]; policy?: string; rules?: { max_server_per_host?: number | string } }
}

/**
 * `GET /os-server-groups`: `all_projects` counts by presence only; unknown parameters are
 * ignored (they are refused only from 2.75, beyond what ecsd serves).
 */
export const ListServerGroupsQuery = Type.Object(
  { all_projects: Type.Optional(Type.String()), limit: Type.Optional(NonNegative), offset: Type.Optional(NonNegative) },
  { additionalProperties: true },
)

/** Path of one server group, with or without the project in the URL. */
export const ServerGroupParams = Type.Object(
  { project_id: Type.Optional(Type.String()), id: Type.String() },
  { additionalProperties: false },
)

/** Path of one server. */
export const ServerIdParams = Type.Object(
  { project_id: Type.Optional(Type.String()), server_id: Type.String() },
  { additionalProperties: false },
)

/** Path with only the optional project. */
export const ProjectOnlyParams = Type.Object({ project_id: Type.Optional(Type.String()) }, { additionalProperties: false })

const Uuid = Type.String({ pattern: '^[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}$' })

const Network = Type.Object(
  {
    uuid: Type.Optional(Type.String({ minLength: 1, maxLength: 255 })),
    port: Type.Optional(Type.Union([Uuid, Type.Null()])),
    fixed_ip: Type.Optional(Type.String({ format: 'ipv4' })),
    tag: Type.Optional(Type.String({ maxLength: 60 })),
  },
  { additionalProperties: false },
)

const Opaque = Type.Object({}, { additionalProperties: true })

/**
 * `POST /servers`, 2.1–2.36. Fields ecsd acts on are typed strictly; the others Nova defines
 * are accepted for compatibility (block devices, personality, config drive…) and only
 * shape-checked. `os:scheduler_hints` (also spelled `OS-SCH-HNT:scheduler_hints`) sits beside
 * `server`; its `group` is one UUID or a list of them.
 */
const serverFields = {
  name: Name(255),
  imageRef: Type.Optional(Type.String({ maxLength: 255 })),
  flavorRef: Type.Union([Type.String({ minLength: 1, maxLength: 255 }), Type.Integer({ minimum: 1 })]),
  adminPass: Type.Optional(Type.String()),
  metadata: Type.Optional(Type.Record(Type.String({ minLength: 1, maxLength: 255 }), Type.String({ maxLength: 255 }))),
  availability_zone: Type.Optional(Type.String({ minLength: 1, maxLength: 255 })),
  networks: Type.Optional(Type.Array(Network)),
  security_groups: Type.Optional(Type.Array(Type.Object({ name: Type.String({ minLength: 1, maxLength: 255 }) }, { additionalProperties: false }))),
  user_data: Type.Optional(Type.String({ maxLength: 65535 })),
  key_name: Type.Optional(Type.String({ minLength: 1, maxLength: 255 })),
  min_count: Type.Optional(PositiveInteger),
  max_count: Type.Optional(PositiveInteger),
  return_reservation_id: Type.Optional(Type.Union([Type.Boolean(), Type.String({ enum: ['True', 'true', 'False', 'false', '1', '0'] })])),
  block_device_mapping: Type.Optional(Type.Array(Opaque)),
  block_device_mapping_v2: Type.Optional(Type.Array(Opaque)),
  config_drive: Type.Optional(Type.Union([Type.Boolean(), Type.String(), Type.Null()])),
  'OS-DCF:diskConfig': Type.Optional(Type.Enum(['AUTO', 'MANUAL'])),
  accessIPv4: Type.Optional(Type.String()),
  accessIPv6: Type.Optional(Type.String()),
  personality: Type.Optional(Type.Array(Opaque)),
  auto_terminate_time: Type.Optional(Type.String()),
}

const hints = Type.Object(
  {
    group: Type.Optional(Type.Union([Uuid, Type.Array(Uuid, { minItems: 1 })])),
    tenancy: Type.Optional(Type.Enum(['shared', 'dedicated'])),
    dedicated_host_id: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
  },
  // Nova passes hints it does not know to the scheduler filters; ecsd ignores them likewise.
  { additionalProperties: true },
)

const serverCreate = (fields: Record<string, TSchema>, required: string[]) =>
  Type.Object(
    {
      server: Type.Object(fields, { additionalProperties: false, required } as never),
      'os:scheduler_hints': Type.Optional(hints),
      'OS-SCH-HNT:scheduler_hints': Type.Optional(hints),
    },
    { additionalProperties: false },
  )

/** The server fields without `personality`, which Nova removed in 2.57. */
const withoutPersonality = Object.fromEntries(Object.entries(serverFields).filter(([key]) => key !== 'personality'))

/** 2.1–2.18. */
export const CreateServerV21 = serverCreate(serverFields, ['name', 'flavorRef'])
/** 2.19–2.36: `description`. */
export const CreateServerV219 = serverCreate({ ...serverFields, description: Type.Optional(Type.Union([Type.String({ maxLength: 255 }), Type.Null()])) }, ['name', 'flavorRef'])
/** 2.37–2.62: `networks` is required, a list or `"auto"` / `"none"`. */
export const CreateServerV237 = serverCreate(
  {
    ...serverFields,
    description: Type.Optional(Type.Union([Type.String({ maxLength: 255 }), Type.Null()])),
    networks: Type.Union([Type.Array(Network), Type.Enum(['auto', 'none'])]),
    tags: Type.Optional(Type.Array(Type.String({ minLength: 1, maxLength: 60 }), { maxItems: 50 })),
  },
  ['name', 'flavorRef', 'networks'],
)
/** 2.57–2.62: `personality` is gone. */
export const CreateServerV257 = serverCreate(
  {
    ...withoutPersonality,
    description: Type.Optional(Type.Union([Type.String({ maxLength: 255 }), Type.Null()])),
    networks: Type.Union([Type.Array(Network), Type.Enum(['auto', 'none'])]),
    tags: Type.Optional(Type.Array(Type.String({ minLength: 1, maxLength: 60 }), { maxItems: 50 })),
  },
  ['name', 'flavorRef', 'networks'],
)
/** 2.63+: `trusted_image_certificates`. */
export const CreateServerV263 = serverCreate(
  {
    ...withoutPersonality,
    description: Type.Optional(Type.Union([Type.String({ maxLength: 255 }), Type.Null()])),
    networks: Type.Union([Type.Array(Network), Type.Enum(['auto', 'none'])]),
    tags: Type.Optional(Type.Array(Type.String({ minLength: 1, maxLength: 60 }), { maxItems: 50 })),
    trusted_image_certificates: Type.Optional(Type.Union([Type.Array(Type.String({ minLength: 1 }), { maxItems: 50 }), Type.Null()])),
  },
  ['name', 'flavorRef', 'networks'],
)

/** The create body of every range, as the handler reads it. */
export interface CreateServerInput {
  server: {
    name: string
    imageRef?: string
    flavorRef: string | number
    metadata?: Record<string, string>
    availability_zone?: string
    networks?: Array<{ uuid?: string; port?: string | null; fixed_ip?: string }> | 'auto' | 'none'
    security_groups?: Array<{ name: string }>
    key_name?: string
    min_count?: number | string
    max_count?: number | string
    return_reservation_id?: boolean | string
    adminPass?: string
    description?: string | null
  }
  'os:scheduler_hints'?: { group?: string | string[]; tenancy?: string; dedicated_host_id?: string }
  'OS-SCH-HNT:scheduler_hints'?: { group?: string | string[]; tenancy?: string; dedicated_host_id?: string }
}

/** `GET /servers` and `/servers/detail` filters (unknown ones are ignored, as before 2.75). */
export const ListServersQuery = Type.Object(
  {
    reservation_id: Type.Optional(Type.String({ maxLength: 64 })),
    name: Type.Optional(Type.String({ maxLength: 255 })),
    status: Type.Optional(Type.String({ maxLength: 32 })),
    flavor: Type.Optional(Type.String({ maxLength: 255 })),
    image: Type.Optional(Type.String({ maxLength: 255 })),
    host: Type.Optional(Type.String({ maxLength: 255 })),
    all_tenants: Type.Optional(Type.String()),
    limit: Type.Optional(NonNegative),
    marker: Type.Optional(Type.String({ maxLength: 64 })),
  },
  { additionalProperties: true },
)

const Empty = Type.Union([Type.Null(), Type.Object({}, { additionalProperties: false })])

/**
 * `POST /servers/{id}/action`: exactly one action. Each is checked here in Nova's shape; the
 * handler dispatches on the key.
 */
export const ServerActionBody = Type.Object(
  {
    'os-start': Type.Optional(Empty),
    'os-stop': Type.Optional(Empty),
    reboot: Type.Optional(Type.Object({ type: Type.Enum(['SOFT', 'HARD', 'soft', 'hard']) }, { additionalProperties: false })),
    resize: Type.Optional(Type.Object({ flavorRef: Type.Union([Type.String({ minLength: 1, maxLength: 255 }), Type.Integer({ minimum: 1 })]), 'OS-DCF:diskConfig': Type.Optional(Type.String()) }, { additionalProperties: false })),
    confirmResize: Type.Optional(Type.Null()),
    revertResize: Type.Optional(Type.Null()),
    migrate: Type.Optional(Type.Union([Type.Null(), Type.Object({ host: Type.Optional(Type.Union([Type.String({ minLength: 1, maxLength: 255 }), Type.Null()])) }, { additionalProperties: false })])),
    'os-migrateLive': Type.Optional(Type.Object(
      {
        host: Type.Union([Type.String({ minLength: 1, maxLength: 255 }), Type.Null()]),
        block_migration: Type.Union([Type.Boolean(), Type.Enum(['auto', 'True', 'False', 'true', 'false'])]),
        disk_over_commit: Type.Optional(Type.Union([Type.Boolean(), Type.String()])),
        force: Type.Optional(Type.Boolean()),
      },
      { additionalProperties: false },
    )),
    addSecurityGroup: Type.Optional(Type.Object({ name: Type.String({ minLength: 1, maxLength: 255 }) }, { additionalProperties: false })),
    removeSecurityGroup: Type.Optional(Type.Object({ name: Type.String({ minLength: 1, maxLength: 255 }) }, { additionalProperties: false })),
  },
  { additionalProperties: false, minProperties: 1, maxProperties: 1 },
)

/** The action body as the handler reads it. */
export interface ServerActionInput {
  'os-start'?: null | Record<string, never>
  'os-stop'?: null | Record<string, never>
  reboot?: { type: string }
  resize?: { flavorRef: string | number }
  confirmResize?: null
  revertResize?: null
  migrate?: null | { host?: string | null }
  'os-migrateLive'?: { host: string | null; block_migration: boolean | string }
  addSecurityGroup?: { name: string }
  removeSecurityGroup?: { name: string }
}

/** `POST /os-keypairs`. `type` from 2.2; `user_id` (admins) from 2.10. */
export const CreateKeypairBody = Type.Object(
  {
    keypair: Type.Object(
      {
        name: Type.String({ minLength: 1, maxLength: 255, pattern: '^[a-zA-Z0-9 _-]+$' }),
        public_key: Type.Optional(Type.String({ minLength: 1, maxLength: 16384 })),
        type: Type.Optional(Type.Enum(['ssh', 'x509'])),
        user_id: Type.Optional(Type.String({ minLength: 1, maxLength: 255 })),
      },
      { additionalProperties: false },
    ),
  },
  { additionalProperties: false },
)

/** The keypair create body as the handler reads it. */
export interface CreateKeypairInput {
  keypair: { name: string; public_key?: string; type?: 'ssh' | 'x509'; user_id?: string }
}

/** `POST /servers/{id}/os-interface`. */
export const AttachInterfaceBody = Type.Object(
  {
    interfaceAttachment: Type.Object(
      {
        net_id: Type.Optional(Type.String({ minLength: 1, maxLength: 255 })),
        port_id: Type.Optional(Uuid),
        fixed_ips: Type.Optional(Type.Array(Type.Object({ ip_address: Type.String({ format: 'ipv4' }) }, { additionalProperties: false }), { minItems: 1, maxItems: 1 })),
        tag: Type.Optional(Type.String({ maxLength: 60 })),
      },
      { additionalProperties: false },
    ),
  },
  { additionalProperties: false },
)

/** The attach body as the handler reads it. */
export interface AttachInterfaceInput {
  interfaceAttachment: { net_id?: string; port_id?: string; fixed_ips?: Array<{ ip_address: string }> }
}

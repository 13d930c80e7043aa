import { Type } from 'typebox'
import { RESIZE_SORT_KEYS } from '../../services/catalogue.ts'
import { ServerRef } from './common.ts'

/** Fields ecsd accepts for compatibility but does not interpret are only shape-checked. */
const Opaque = Type.Object({}, { additionalProperties: true })

const FlavorRef = Type.String({ minLength: 1, maxLength: 255 })
const ResizeMode = Type.Enum(['withStopServer'])

/** `POST /v1.1/{project_id}/cloudservers/{server_id}/resize` (`resizeServer`). */
export const ResizeServerBody = Type.Object(
  {
    resize: Type.Object(
      {
        flavorRef: FlavorRef,
        dedicated_host_id: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
        extendparam: Type.Optional(Opaque),
        mode: Type.Optional(ResizeMode),
        cpu_options: Type.Optional(Opaque),
      },
      { additionalProperties: false },
    ),
    dry_run: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
)

/** `POST /v1/{project_id}/cloudservers/{server_id}/resize` (`resizePostPaidServer`). */
export const ResizePostPaidServerBody = Type.Object(
  {
    resize: Type.Object(
      { flavorRef: FlavorRef, mode: Type.Optional(ResizeMode), cpu_options: Type.Optional(Opaque) },
      { additionalProperties: false },
    ),
    dry_run: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
)

/** `POST /v1/{project_id}/cloudservers/batch-resize`: at most 50 servers of one zone and flavor. */
export const BatchResizeServersBody = Type.Object(
  {
    resize: Type.Object(
      {
        flavorRef: FlavorRef,
        servers: Type.Array(ServerRef, { minItems: 1 }),
        mode: Type.Optional(ResizeMode),
        cpu_options: Type.Optional(Opaque),
        promotion: Type.Optional(Opaque),
      },
      { additionalProperties: false },
    ),
  },
  { additionalProperties: false },
)

/**
 * `POST /v1/{project_id}/cloudservers/{server_id}/migrate`: `{"migrate": {"dedicated_host_id"}}`
 * to a dedicated host, `{"migrate": null}` (or without a host) back to the shared pool.
 */
export const MigrateServerBody = Type.Object(
  {
    migrate: Type.Union([
      Type.Null(),
      Type.Object({ dedicated_host_id: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })) }, { additionalProperties: false }),
    ]),
  },
  { additionalProperties: false },
)

/** `GET /v1/{project_id}/cloudservers/resize_flavors`. */
export const ListResizeFlavorsQuery = Type.Object(
  {
    instance_uuid: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
    source_flavor_id: Type.Optional(Type.String({ minLength: 1, maxLength: 255 })),
    source_flavor_name: Type.Optional(Type.String({ minLength: 1, maxLength: 255 })),
    sort_key: Type.Optional(Type.Enum([...RESIZE_SORT_KEYS])),
    sort_dir: Type.Optional(Type.Enum(['asc', 'desc'])),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000 })),
    marker: Type.Optional(Type.String({ minLength: 1, maxLength: 255 })),
  },
  { additionalProperties: false },
)

/** Path parameters of `GET /v1/{project_id}/cloudservers/flavors/{flavor_id}/resources`. */
export const FlavorParams = Type.Object({ project_id: Type.String(), flavor_id: Type.String() }, { additionalProperties: false })

/** `PUT /v1/{project_id}/recycle-bin`. */
export const UpdateRecycleBinBody = Type.Object(
  { recycle_bin: Type.Object({ switch: Type.Enum(['on', 'off']) }, { additionalProperties: false }) },
  { additionalProperties: false },
)

/** `PUT /v1/{project_id}/recycle-bin/policy`: the documented ranges. */
export const UpdateRecycleBinPolicyBody = Type.Object(
  {
    policy: Type.Object(
      {
        retention_hour: Type.Integer({ minimum: 1, maximum: 720 }),
        recycle_threshold_day: Type.Integer({ minimum: 1, maximum: 1000 }),
      },
      { additionalProperties: false },
    ),
  },
  { additionalProperties: false },
)

/**
 * `GET /v1/{project_id}/recycle-bin/cloudservers`. Filters ecsd has nothing to match against
 * (`ip_address`, `tags`, `tags_key`) are refused as unknown rather than silently ignored.
 */
export const ListRecycleBinServersQuery = Type.Object(
  {
    all_tenants: Type.Optional(Type.Enum(['0', '1'])),
    availability_zone: Type.Optional(Type.String({ minLength: 1, maxLength: 255 })),
    'expect-fields': Type.Optional(Type.Array(Type.String({ maxLength: 64 }), { maxItems: 32 })),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000 })),
    marker: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
    name: Type.Optional(Type.String({ maxLength: 255 })),
    offset: Type.Optional(Type.Integer({ minimum: 0, maximum: 1_000_000 })),
  },
  { additionalProperties: false },
)

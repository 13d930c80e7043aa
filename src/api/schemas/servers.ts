import { Type } from 'typebox'
import { DOCUMENTED_SERVER_STATUSES, SERVER_NAME_MAX } from '../../domain/server.ts'
import { ServerRef } from './common.ts'
import { DataVolumes, RootVolume } from './volumes.ts'

/** Path parameters of the routes of one server. */
export const ServerParams = Type.Object(
  { project_id: Type.String(), server_id: Type.String() },
  { additionalProperties: false },
)

/** Sub-objects ecsd accepts for compatibility but does not interpret are only shape-checked. */
const Opaque = Type.Object({}, { additionalProperties: true })

const SchedulerHints = Type.Object(
  {
    group: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
    tenancy: Type.Optional(Type.Enum(['shared', 'dedicated'])),
    dedicated_host_id: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
  },
  { additionalProperties: false },
)

/**
 * `POST /v1/{project_id}/cloudservers` (pay-per-use). Every field of the SDK's `PostPaidServer`
 * is accepted so that real scripts run unchanged; the ones ecsd acts on are typed strictly, and
 * the required set is the real API's.
 */
export const CreateServersBody = Type.Object(
  {
    server: Type.Object(
      {
        imageRef: Type.String({ minLength: 1, maxLength: 255 }),
        flavorRef: Type.String({ minLength: 1, maxLength: 255 }),
        name: Type.String({ minLength: 1, maxLength: SERVER_NAME_MAX }),
        vpcid: Type.String({ minLength: 1, maxLength: 255 }),
        nics: Type.Array(
          Type.Object({ subnet_id: Type.String({ minLength: 1 }) }, { additionalProperties: true }),
          { minItems: 1, maxItems: 12 },
        ),
        root_volume: RootVolume,
        count: Type.Optional(Type.Integer({ minimum: 1 })),
        availability_zone: Type.Optional(Type.String({ minLength: 1, maxLength: 255 })),
        'os:scheduler_hints': Type.Optional(SchedulerHints),
        metadata: Type.Optional(Type.Record(Type.String(), Type.String())),
        adminPass: Type.Optional(Type.String()),
        key_name: Type.Optional(Type.String()),
        user_data: Type.Optional(Type.String()),
        description: Type.Optional(Type.String({ maxLength: 85 })),
        isAutoRename: Type.Optional(Type.Boolean()),
        batch_create_in_multi_az: Type.Optional(Type.Boolean()),
        auto_terminate_time: Type.Optional(Type.String()),
        security_groups: Type.Optional(Type.Array(Opaque)),
        data_volumes: Type.Optional(DataVolumes),
        publicip: Type.Optional(Opaque),
        extendparam: Type.Optional(Opaque),
        // Tag charset, duplicates and the per-server limit are checked by saveAttributesAtCreate, with the tag error codes.
        tags: Type.Optional(Type.Array(Type.String({ maxLength: 255 }), { maxItems: 100 })),
        server_tags: Type.Optional(Type.Array(
          Type.Object({ key: Type.String({ maxLength: 255 }), value: Type.Optional(Type.String({ maxLength: 255 })) }, { additionalProperties: false }),
          { maxItems: 100 },
        )),
        cpu_options: Type.Optional(Opaque),
        security_options: Type.Optional(Opaque),
        enclave_options: Type.Optional(Opaque),
        metadata_options: Type.Optional(Opaque),
        serial_console_options: Type.Optional(Opaque),
      },
      { additionalProperties: false },
    ),
    dry_run: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
)

/**
 * `GET …/cloudservers/detail` filters: every query key of the SDK's `ListServersDetailsRequest`.
 * `offset` is a 1-based page number; `tags`/`not-tags` are comma-separated `key` or `key=value`;
 * `server_id` is comma-separated ids.
 */
export const ListServersQuery = Type.Object(
  {
    offset: Type.Optional(Type.Integer({ minimum: 0, maximum: 1_000_000 })),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000 })),
    status: Type.Optional(Type.Enum([...DOCUMENTED_SERVER_STATUSES])),
    name: Type.Optional(Type.String({ maxLength: 255 })),
    flavor: Type.Optional(Type.String({ maxLength: 255 })),
    enterprise_project_id: Type.Optional(Type.String({ maxLength: 255 })),
    ip: Type.Optional(Type.String({ maxLength: 64 })),
    ip_eq: Type.Optional(Type.String({ maxLength: 64 })),
    tags: Type.Optional(Type.String({ maxLength: 4096 })),
    'not-tags': Type.Optional(Type.String({ maxLength: 4096 })),
    reservation_id: Type.Optional(Type.String({ maxLength: 255 })),
    server_id: Type.Optional(Type.String({ maxLength: 8192 })),
    marker: Type.Optional(Type.String({ maxLength: 255 })),
  },
  { additionalProperties: false },
)

const ServerList = Type.Array(ServerRef, { minItems: 1 })

/** `POST /v1/{project_id}/cloudservers/action`: exactly one of os-start / os-stop / reboot. */
export const ServerActionBody = Type.Object(
  {
    'os-start': Type.Optional(Type.Object({ servers: ServerList }, { additionalProperties: false })),
    'os-stop': Type.Optional(
      Type.Object(
        { servers: ServerList, type: Type.Optional(Type.Enum(['SOFT', 'HARD'])) },
        { additionalProperties: false },
      ),
    ),
    reboot: Type.Optional(
      Type.Object({ servers: ServerList, type: Type.Enum(['SOFT', 'HARD']) }, { additionalProperties: false }),
    ),
  },
  { additionalProperties: false, minProperties: 1, maxProperties: 1 },
)

/** `POST /v1/{project_id}/cloudservers/delete`. */
export const DeleteServersBody = Type.Object(
  {
    servers: ServerList,
    delete_publicip: Type.Optional(Type.Boolean()),
    delete_volume: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
)

/** Path parameters of `GET /v1/{project_id}/jobs/{job_id}`. */
export const JobParams = Type.Object({ project_id: Type.String(), job_id: Type.String() }, { additionalProperties: false })

/** `GET …/cloudservers/flavors` filters: a zone, one flavor, and a page (`limit`, after `marker`, a flavor id). */
export const ListFlavorsQuery = Type.Object(
  {
    availability_zone: Type.Optional(Type.String({ minLength: 1, maxLength: 255 })),
    flavor_id: Type.Optional(Type.String({ minLength: 1, maxLength: 255 })),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000 })),
    marker: Type.Optional(Type.String({ minLength: 1, maxLength: 255 })),
  },
  { additionalProperties: false },
)

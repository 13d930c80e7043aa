import { Type } from 'typebox'
import { SERVER_NAME_MAX } from '../../domain/server.ts'
import { ServerRef } from './common.ts'
import { Open, StringMap } from './responses.ts'

/**
 * Requests and answers of a server's name, description, tags, metadata, metadata options and
 * auto-terminate time. Field names and types are the SDK models'. Charsets, tag limits and times
 * are checked by `src/services/server-attributes.ts`, which answers them with their own codes;
 * the lengths here only bound what reaches it.
 */

const Text = Type.String()

/** Path parameters of `DELETE …/cloudservers/{server_id}/metadata/{key}`. */
export const MetadataKeyParams = Type.Object(
  { project_id: Type.String(), server_id: Type.String(), key: Type.String({ maxLength: 1024 }) },
  { additionalProperties: false },
)

/** `PUT /v1/{project_id}/cloudservers/{server_id}` (`UpdateServerRequestBody`). */
export const UpdateServerBody = Type.Object(
  {
    server: Type.Object(
      {
        name: Type.Optional(Type.String({ minLength: 1, maxLength: SERVER_NAME_MAX })),
        description: Type.Optional(Type.String({ maxLength: 85 })),
        hostname: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
        user_data: Type.Optional(Type.String({ maxLength: 65_536 })),
        // Accepted for compatibility; ecsd's simulated guests have no firmware to secure.
        security_options: Type.Optional(Type.Object({ secure_boot_enabled: Type.Boolean(), tpm_enabled: Type.Boolean() }, { additionalProperties: false })),
      },
      { additionalProperties: false },
    ),
  },
  { additionalProperties: false },
)

/** `PUT /v1/{project_id}/cloudservers/server-name` (`BatchUpdateServersNameRequestBody`). */
export const BatchUpdateServersNameBody = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: SERVER_NAME_MAX }),
    servers: Type.Array(ServerRef, { minItems: 1, maxItems: 1000 }),
    dry_run: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
)

const Tag = Type.Object({ key: Type.String({ maxLength: 255 }), value: Type.Optional(Type.String({ maxLength: 255 })) }, { additionalProperties: false })

/** `POST …/cloudservers/{server_id}/tags/action`: `create` (`BatchCreateServerTagsRequestBody`) or `delete`. */
export const ServerTagsActionBody = Type.Object(
  { action: Type.Enum(['create', 'delete']), tags: Type.Array(Tag, { minItems: 1, maxItems: 100 }) },
  { additionalProperties: false },
)

const TagCondition = Type.Object(
  { key: Type.String({ minLength: 1, maxLength: 255 }), values: Type.Optional(Type.Array(Type.String({ maxLength: 255 }), { maxItems: 10 })) },
  { additionalProperties: false },
)

/** `POST /v1/{project_id}/cloudservers/resource_instances/action` (`ListServersByTagRequestBody`). */
export const ListServersByTagBody = Type.Object(
  {
    action: Type.Enum(['filter', 'count']),
    limit: Type.Optional(Type.String({ maxLength: 16 })),
    offset: Type.Optional(Type.String({ maxLength: 16 })),
    tags: Type.Optional(Type.Array(TagCondition, { maxItems: 10 })),
    not_tags: Type.Optional(Type.Array(TagCondition, { maxItems: 10 })),
    matches: Type.Optional(Type.Array(
      Type.Object({ key: Type.Enum(['resource_name']), value: Type.String({ maxLength: 255 }) }, { additionalProperties: false }),
      { maxItems: 1 },
    )),
  },
  { additionalProperties: false },
)

/** `POST …/cloudservers/{server_id}/metadata` (`UpdateServerMetadataRequestBody`). */
export const UpdateServerMetadataBody = Type.Object(
  { metadata: Type.Record(Type.String(), Type.String({ maxLength: 255 }), { maxProperties: 128 }) },
  { additionalProperties: false },
)

/** `PUT …/cloudservers/{server_id}/metadata-options` (`UpdateServerMetadataOptionsRequestBody`). */
export const UpdateMetadataOptionsBody = Type.Object(
  { http_endpoint: Type.Optional(Type.Enum(['enabled', 'disabled'])), http_tokens: Type.Optional(Type.Enum(['optional', 'required'])) },
  { additionalProperties: false },
)

/** `POST …/cloudservers/{server_id}/actions/update-auto-terminate-time`. */
export const UpdateAutoTerminateTimeBody = Type.Object(
  { auto_terminate_time: Type.String({ maxLength: 64 }) },
  { additionalProperties: false },
)

/** `updateServer`'s answer: `{"server": UpdateServerResult}`. */
export const UpdateServerResponse = Open({
  server: Open({
    id: Text,
    name: Text,
    status: Text,
    tenant_id: Text,
    user_id: Text,
    image: Type.String({ description: 'The image id' }),
    flavor: Open({ id: Text, links: Type.Array(Open({})) }),
    hostId: Text,
    'OS-EXT-SRV-ATTR:hostname': Text,
    'OS-EXT-SRV-ATTR:user_data': Text,
    addresses: Type.Record(Type.String(), Type.Array(Open({ version: Type.Number(), addr: Text }))),
    metadata: StringMap,
    tags: Type.Array(Text),
    created: Text,
    updated: Text,
    progress: Type.Number(),
    links: Type.Array(Open({})),
    accessIPv4: Text,
    accessIPv6: Text,
    locked: Type.Boolean(),
    description: Text,
    'OS-DCF:diskConfig': Text,
  }),
})

/** `batchUpdateServersName`'s answer: the servers renamed. */
export const BatchUpdateServersNameResponse = Open({ response: Type.Array(Open({ id: Text })) })

/** `listServerTags`: every tag key of the project with its values. */
export const ListServerTagsResponse = Open({ tags: Type.Array(Open({ key: Text, values: Type.Array(Text) })) })

/** `showServerTags`: a server's tags. */
export const ShowServerTagsResponse = Open({ tags: Type.Array(Open({ key: Text, value: Text })) })

/** `listServersByTag`: the matching servers (not for `count`) and how many match. */
export const ListServersByTagResponse = Open({
  resources: Type.Optional(Type.Array(Open({
    resource_id: Text,
    resource_detail: Text,
    tags: Type.Array(Open({ key: Text, value: Text })),
    resource_name: Text,
  }))),
  total_count: Type.Integer(),
})

/** `updateServerMetadata`: the server's user metadata after the change. */
export const UpdateServerMetadataResponse = Open({ metadata: StringMap })

/** `showMetadataOptions`. */
export const MetadataOptionsResponse = Open({ http_endpoint: Type.Enum(['enabled', 'disabled']), http_tokens: Type.Enum(['optional', 'required']) })

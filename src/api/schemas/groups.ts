import { Type } from 'typebox'
import { GROUP_NAME_MAX } from '../../domain/group.ts'

/** Path parameters of the routes of one group. */
export const GroupParams = Type.Object(
  { project_id: Type.String(), server_group_id: Type.String() },
  { additionalProperties: false },
)

/**
 * `POST …/os-server-groups`. The policy value is checked by the handler, to name the one supported.
 * `fault_domain` is an ecsd extension (docs/compatibility.md): `{"spread": true}` also spreads the
 * members over fault domains; it has no other form, so a client never believes it asked for
 * something ecsd does not do.
 */
export const CreateGroupBody = Type.Object(
  {
    server_group: Type.Object(
      {
        name: Type.String({ minLength: 1, maxLength: GROUP_NAME_MAX }),
        policies: Type.Array(Type.String(), { minItems: 1, maxItems: 1 }),
        fault_domain: Type.Optional(Type.Object({ spread: Type.Literal(true) }, { additionalProperties: false })),
      },
      { additionalProperties: false },
    ),
  },
  { additionalProperties: false },
)

/** `GET …/os-server-groups` paging: `limit` (1–1000) with `marker`. */
export const ListGroupsQuery = Type.Object(
  {
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000 })),
    marker: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
  },
  { additionalProperties: false },
)

const Member = Type.Object({ instance_uuid: Type.String({ minLength: 1, maxLength: 64 }) }, { additionalProperties: false })

/** `POST …/os-server-groups/{id}/action`: exactly one of add_member / remove_member. */
export const GroupActionBody = Type.Object(
  { add_member: Type.Optional(Member), remove_member: Type.Optional(Member) },
  { additionalProperties: false, minProperties: 1, maxProperties: 1 },
)

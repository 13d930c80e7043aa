import { Type } from 'typebox'
import { EVENT_STATES, EVENT_TYPES } from '../../domain/scheduled-event.ts'

/** An event time as a client sends it (`yyyy-MM-ddTHH:mm:ssZ`); read by `parseApiTime`. */
const Time = Type.String({ minLength: 1, maxLength: 64 })
const Id = Type.String({ minLength: 1, maxLength: 64 })

/** Path parameters of `/v3/{project_id}/instance-scheduled-events/{id}…`. */
export const EventParams = Type.Object({ project_id: Type.String(), id: Id }, { additionalProperties: false })

/**
 * `GET /v3/{project_id}/instance-scheduled-events`. `instance_id`, `type` and `state` arrive as
 * repeated keys (a single one is coerced to a list); a type or state the API does not document
 * is refused rather than matching nothing.
 */
export const ListScheduledEventsQuery = Type.Object(
  {
    marker: Type.Optional(Id),
    id: Type.Optional(Id),
    instance_id: Type.Optional(Type.Array(Id, { maxItems: 100 })),
    type: Type.Optional(Type.Array(Type.Enum([...EVENT_TYPES]), { maxItems: EVENT_TYPES.length })),
    state: Type.Optional(Type.Array(Type.Enum([...EVENT_STATES]), { maxItems: EVENT_STATES.length })),
    publish_since: Type.Optional(Time),
    publish_until: Type.Optional(Time),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 100 })),
  },
  { additionalProperties: false },
)

/** `PUT /v3/{project_id}/instance-scheduled-events/{id}` (`updateScheduledEvent`). */
export const UpdateScheduledEventBody = Type.Object({ not_before: Time }, { additionalProperties: false })

/** `POST …/{id}/actions/accept` (`acceptScheduledEvent`): without `not_before`, the event starts now. */
export const AcceptScheduledEventBody = Type.Object({ not_before: Type.Optional(Time) }, { additionalProperties: false })

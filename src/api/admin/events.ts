import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import { EVENT_ID_PATTERN, EVENT_KINDS, listEvents, MAX_EVENT_LIMIT } from '../../services/events.ts'
import type { Services } from '../../services/index.ts'
import { huaweiErrors } from '../schemas/responses.ts'
import { eventBody } from './views.ts'

const EventId = Type.String({ pattern: EVENT_ID_PATTERN })
/** Parsed by the service, which answers 400 for a text that is not ISO 8601 with a zone. */
const Time = Type.String({ minLength: 1, maxLength: 64 })

const EventsQuery = Type.Object(
  {
    server_id: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
    group_id: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
    host: Type.Optional(Type.String({ minLength: 1, maxLength: 255 })),
    kind: Type.Optional(Type.Enum([...EVENT_KINDS])),
    since: Type.Optional(Time),
    until: Type.Optional(Time),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: MAX_EVENT_LIMIT })),
    marker: Type.Optional(EventId),
    after: Type.Optional(EventId),
  },
  { additionalProperties: false },
)

const open = { additionalProperties: true } as const
const NullableText = Type.Union([Type.String(), Type.Null()])

/** An event as `GET /admin/events` answers it. */
const EventBody = Type.Object(
  {
    id: Type.String(),
    at: Type.String(),
    kind: Type.String(),
    project_id: NullableText,
    server_id: NullableText,
    group_id: NullableText,
    host: NullableText,
    from_host: NullableText,
    to_host: NullableText,
    reason: NullableText,
    status_from: NullableText,
    status_to: NullableText,
    job_id: NullableText,
    message: Type.String(),
    diagnosis: NullableText,
  },
  open,
)

const EventListResponse = Type.Object({ events: Type.Array(EventBody), next_marker: NullableText }, open)

/**
 * `GET /admin/events` (admin credentials only; the hook is the admin plugin's): the event
 * history, newest first, filtered by server, group, host (its own events and moves from or to
 * it), kind and time; `marker` pages back, `after` polls for what was recorded since.
 */
export const eventAdminRoutes: FastifyPluginAsyncTypebox<{ services: Services }> = async (app, { services }) => {
  app.get('/events', { schema: { querystring: EventsQuery, response: { 200: EventListResponse, ...huaweiErrors } } }, async (req) => {
    const q = req.query
    const page = await listEvents(
      services.database,
      { serverId: q.server_id, groupId: q.group_id, host: q.host, kind: q.kind, since: q.since, until: q.until },
      { limit: q.limit, marker: q.marker, after: q.after },
    )
    return { events: page.events.map(eventBody), next_marker: page.nextMarker }
  })
}

import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { invalidParameter } from '../../domain/errors.ts'
import { apiTime, parseApiTime } from '../../domain/scheduled-event.ts'
import type { Services } from '../../services/index.ts'
import type { ScheduledEvent } from '../../services/scheduled-events.ts'
import { ProjectParams } from '../schemas/common.ts'
import { AcceptScheduledEventBody, EventParams, ListScheduledEventsQuery, UpdateScheduledEventBody } from '../schemas/scheduled-events.ts'
import { ListScheduledEventsResponse } from '../schemas/huawei-responses.ts'
import { EmptyObject, huaweiErrors } from '../schemas/responses.ts'
import { projectOf } from './project.ts'

/** A time parameter of a request, or 400 `Ecs.0005` naming the field. */
function timeParameter(field: string, text: string): Date {
  const time = parseApiTime(text)
  if (!time) throw invalidParameter(`${field} "${text}" is not a time; send yyyy-MM-ddTHH:mm:ssZ (UTC)`)
  return time
}

/**
 * An event as the SDK's `EventResponse` has it: times as `yyyy-MM-ddTHH:mm:ssZ` (null until
 * they happen), `not_after` null (a move takes as long as its job), `source` naming the host
 * event the instance event was fanned out from.
 */
function eventBody(e: ScheduledEvent) {
  const time = (t: string | null) => (t === null ? null : apiTime(t))
  return {
    id: e.id,
    type: e.type,
    state: e.state,
    publish_time: apiTime(e.publish_time),
    start_time: time(e.start_time),
    finish_time: time(e.finish_time),
    not_before: apiTime(e.not_before),
    not_after: null,
    not_before_deadline: apiTime(e.not_before_deadline),
    description: e.description,
    instance_id: e.server_id,
    source: { type: 'host', host_scheduled_event_id: e.host_event_id },
  }
}

/**
 * Scheduled events under /v3/{project_id}: list, reschedule (`updateScheduledEvent`) and accept.
 * Update and accept answer 200 `{}`: the SDK copies `X-Request-Id` into its response only when
 * the body is a JSON object, and its response models declare that field.
 */
export const scheduledEventRoutes: FastifyPluginAsyncTypebox<{ services: Services }> = async (app, { services }) => {
  const { scheduledEvents } = services

  app.get('/instance-scheduled-events', { schema: { params: ProjectParams, querystring: ListScheduledEventsQuery, response: { 200: ListScheduledEventsResponse, ...huaweiErrors } } }, async (req) => {
    const q = req.query
    const page = await scheduledEvents.list(projectOf(req), {
      marker: q.marker,
      id: q.id,
      instanceIds: q.instance_id,
      types: q.type,
      states: q.state,
      publishSince: q.publish_since === undefined ? undefined : timeParameter('publish_since', q.publish_since),
      publishUntil: q.publish_until === undefined ? undefined : timeParameter('publish_until', q.publish_until),
      limit: q.limit ?? 100,
    })
    return { events: page.events.map(eventBody), page_info: page.nextMarker === undefined ? {} : { next_marker: page.nextMarker } }
  })

  app.put('/instance-scheduled-events/:id', { schema: { params: EventParams, body: UpdateScheduledEventBody, response: { 200: EmptyObject, ...huaweiErrors } } }, async (req) => {
    await scheduledEvents.update(projectOf(req), req.params.id, timeParameter('not_before', req.body.not_before))
    return {}
  })

  app.post('/instance-scheduled-events/:id/actions/accept', { schema: { params: EventParams, body: AcceptScheduledEventBody, response: { 200: EmptyObject, ...huaweiErrors } } }, async (req) => {
    const notBefore = req.body.not_before
    await scheduledEvents.accept(projectOf(req), req.params.id, notBefore === undefined ? undefined : timeParameter('not_before', notBefore))
    return {}
  })
}

/**
 * Live updates by polling the event log: `GET /admin/events?after=<newest seen>` every
 * `POLL_MS`, and a change reported whenever new events arrive. Polling, not server-sent events,
 * because every request must be signed and EventSource cannot send headers. When ecsd has no
 * event log (404), it falls back to telling the page to reload the fleet every `FALLBACK_MS`.
 */
import { ApiError, request, type Session } from './api.ts'
import type { EventPage, FleetEvent } from './types.ts'

/** How often the event log is asked for news. */
export const POLL_MS = 2000

/** How often the fleet is reloaded when there is no event log to follow. */
export const FALLBACK_MS = 5000

const PAGE = 500

/** How the feed is doing, for the header. */
export type LiveStatus = 'connecting' | 'live' | 'polling' | 'offline'

/** What the feed tells the page. */
export interface LiveHandlers {
  /** New events (oldest first); empty when only a periodic reload is due. */
  onChange(events: FleetEvent[]): void
  onStatus(status: LiveStatus, detail?: string): void
  /** The session was refused (expired token, revoked key). */
  onUnauthorized(message: string): void
}

/** Starts following the event log; the returned function stops it. */
export function followEvents(session: Session, handlers: LiveHandlers): () => void {
  let stopped = false
  let timer: ReturnType<typeof setTimeout> | undefined
  let after: string | undefined
  let started = false

  const schedule = (ms: number) => {
    if (!stopped) timer = setTimeout(() => void tick(), ms)
  }

  const tick = async () => {
    try {
      if (!started) {
        const newest = await request<EventPage>(session, 'GET', '/admin/events?limit=1')
        after = newest.events[0]?.id
        started = true
        handlers.onStatus('live')
        schedule(POLL_MS)
        return
      }
      const url = after === undefined ? `/admin/events?limit=${PAGE}` : `/admin/events?after=${encodeURIComponent(after)}&limit=${PAGE}`
      const page = await request<EventPage>(session, 'GET', url)
      // Without `after` the log answers newest first; with it, oldest first.
      const events = after === undefined ? [...page.events].reverse() : page.events
      if (stopped) return
      handlers.onStatus('live')
      if (events.length > 0) {
        after = events[events.length - 1]!.id
        handlers.onChange(events)
      }
      schedule(events.length === PAGE ? 0 : POLL_MS)
    } catch (err) {
      if (stopped) return
      if (err instanceof ApiError && err.status === 401) return handlers.onUnauthorized(err.message)
      if (err instanceof ApiError && err.status === 404) {
        handlers.onStatus('polling', 'this ecsd has no event log; the fleet is reloaded every few seconds')
        handlers.onChange([])
        schedule(FALLBACK_MS)
        return
      }
      handlers.onStatus('offline', err instanceof Error ? err.message : String(err))
      schedule(FALLBACK_MS)
    }
  }

  void tick()
  return () => {
    stopped = true
    if (timer !== undefined) clearTimeout(timer)
  }
}

/**
 * Vocabulary of Huawei scheduled events (planned maintenance of a server's host), as
 * `listScheduledEvents` reports them, and how a host's maintenance window is recorded.
 */

/** Every event type the API documents; ecsd creates only `instance-migrate` and `instance-redeploy`. */
export const EVENT_TYPES = ['instance-reboot', 'instance-stop', 'instance-migrate', 'instance-redeploy', 'localdisk-recovery', 'system-maintenance'] as const
/** One of `EVENT_TYPES`. */
export type EventType = (typeof EVENT_TYPES)[number]

/** Every event state the API documents. */
export const EVENT_STATES = ['inquiring', 'scheduled', 'executing', 'completed', 'failed', 'canceled'] as const
/** One of `EVENT_STATES`. */
export type EventState = (typeof EVENT_STATES)[number]

/** States a tenant may still answer (accept, reschedule) and the system may still cancel. */
export const OPEN_EVENT_STATES = ['inquiring', 'scheduled'] as const satisfies readonly EventState[]
/** States an event never leaves. */
export const TERMINAL_EVENT_STATES = ['completed', 'failed', 'canceled'] as const satisfies readonly EventState[]

/** Terminal events are listed this long after they finished, as Huawei documents ("past 7 days"). */
export const TERMINAL_EVENT_LISTED_MS = 7 * 24 * 3_600_000

/** A window without a deadline gives tenants this long to choose their time. */
export const DEFAULT_MAINTENANCE_WINDOW_MS = 24 * 3_600_000

/**
 * A time this far in the past still counts as "now": the clocks of an operator, a tenant and
 * ecsd may differ by as much as a signed request may (the signature's allowed skew), and a
 * client that means "now" sends a time that has passed by the time ecsd reads it.
 */
export const CLOCK_SKEW_MS = 15 * 60_000

/** A host's planned maintenance: tenants may choose when, from now until `deadline`. */
export interface MaintenanceWindow {
  /** Ties the window's instance events together (`source.host_scheduled_event_id`). */
  hostEventId: string
  /** The earliest planned start, in whole seconds. */
  notBefore: Date
  /** The latest start: at this time ecsd moves the servers whose tenants did not choose. */
  deadline: Date
}

/** How the events of an ended window ended. */
export interface WindowOutcome {
  completed: number
  failed: number
  canceled: number
}

/** `yyyy-MM-ddTHH:mm:ssZ`, the API's time format (whole seconds, UTC). */
export function apiTime(date: Date | string): string {
  return `${new Date(date).toISOString().slice(0, 19)}Z`
}

const TIME_PATTERN = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$/

/**
 * Reads an ISO 8601 time with a zone (`2025-06-01T02:00:00Z`, `…+08:00`, fractions allowed),
 * rounded down to whole seconds as the API keeps them; undefined when it is not one or names a
 * day or hour that does not exist.
 */
export function parseApiTime(text: string): Date | undefined {
  const m = TIME_PATTERN.exec(text)
  if (!m) return undefined
  const [year, month, day, hour, minute, second] = m.slice(1, 7).map(Number) as [number, number, number, number, number, number]
  const wallClock = new Date(Date.UTC(year, month - 1, day, hour, minute, second))
  // Date.UTC rolls over (Feb 30 → Mar 2); a field out of range shows as a different wall clock.
  if (wallClock.getUTCFullYear() !== year || wallClock.getUTCMonth() !== month - 1 || wallClock.getUTCDate() !== day
    || wallClock.getUTCHours() !== hour || wallClock.getUTCMinutes() !== minute || wallClock.getUTCSeconds() !== second) return undefined
  const ms = Date.parse(`${m.slice(1, 4).join('-')}T${m.slice(4, 7).join(':')}${m[8]}`)
  return Number.isNaN(ms) ? undefined : new Date(ms)
}

/**
 * The admin reason of a host under planned maintenance. It is the window's only record outside
 * its events: `planHostMaintenance` reads it back to answer a repeated request, and the host
 * monitor to know which windows are still wanted (an operator who enables the host calls the
 * window off). `outcome` is given once every event of the window has ended.
 */
export function maintenanceReason(window: MaintenanceWindow, outcome?: WindowOutcome): string {
  const planned = `maintenance window ${apiTime(window.notBefore)} to ${apiTime(window.deadline)} (host event ${window.hostEventId})`
  if (!outcome) return planned
  return `${planned} ended: ${outcome.completed} completed, ${outcome.failed} failed, ${outcome.canceled} canceled`
}

const REASON_PATTERN = /^maintenance window (\S+) to (\S+) \(host event ([0-9a-f-]{36})\)( ended: .*)?$/

/** The window a host's admin reason records, or undefined when it records none. */
export function parseMaintenanceReason(reason: string | null): (MaintenanceWindow & { ended: boolean }) | undefined {
  const m = reason === null ? null : REASON_PATTERN.exec(reason)
  if (!m) return undefined
  const notBefore = parseApiTime(m[1]!)
  const deadline = parseApiTime(m[2]!)
  if (!notBefore || !deadline) return undefined
  return { hostEventId: m[3]!, notBefore, deadline, ended: m[4] !== undefined }
}

/**
 * An event's `description`: a JSON string keyed by locale, as Huawei publishes it. It says what
 * will happen, until when the tenant may choose, and — once it failed or was canceled — why.
 */
export function eventDescription(type: string, deadline: string, outcome?: { state: string; reason: string }): string {
  const what = type === 'instance-migrate'
    ? 'The host of this instance is due for maintenance: the instance will be live-migrated to another host and keeps running (if it is stopped, it moves stopped).'
    : 'The host of this instance is due for maintenance: the instance will be redeployed on another host; a running instance is stopped there and started again.'
  const when = `Accept the event to move it now, or reschedule it up to ${apiTime(deadline)}; at that time it is moved anyway.`
  const end = outcome === undefined ? '' : ` ${outcome.state === 'failed' ? 'Failed' : 'Canceled'}: ${outcome.reason}`
  return JSON.stringify({ 'en-us': `${what} ${when}${end}` })
}

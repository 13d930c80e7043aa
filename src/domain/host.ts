/** Vocabulary of hosts as operators manage them. */

/** Whether a host runs: `fencing` — it came back after being declared down, and is not used until its stale copies are destroyed. */
export type PowerState = 'up' | 'down' | 'fencing'

/** What operators allow on a host: only `enabled` hosts take new servers. */
export const ADMIN_STATES = ['enabled', 'disabled', 'maintenance'] as const
/** One of `ADMIN_STATES`. */
export type AdminState = (typeof ADMIN_STATES)[number]

/** The admin reason of a host being drained, and of one whose drain is done. */
export const DRAIN_REASON = 'drain'
export const DRAINED_REASON = 'drained'

/** Host names: DNS-like labels, as operators name machines. */
export const HOST_NAME_PATTERN = '^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$'

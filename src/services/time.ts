/** Timestamps are stored as ISO-8601 UTC text (portable across SQLite and PostgreSQL, and sortable). */
export function nowIso(): string {
  return new Date().toISOString()
}

/** Job ids look like the real cloud's: 32 lower-case hex characters. */
export function newJobId(): string {
  return crypto.randomUUID().replaceAll('-', '')
}

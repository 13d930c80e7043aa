/**
 * A server's single-valued settings beyond its placement: what `updateServer`, reinstall, the
 * password, metadata-options, serial-console and auto-terminate operations set. A server has
 * at most one row; a server without one (created before these settings existed, or by the fleet
 * generator) reads the defaults, so readers LEFT JOIN and writers upsert.
 */
export interface ServerOptionsTable {
  server_id: string
  /** `description` (0–85 characters); null reads as "". */
  description: string | null
  /** The guest's host name (`OS-EXT-SRV-ATTR:hostname`); null reads as one derived from the name. */
  hostname: string | null
  /** base64 `user_data` as given at create, update or reinstall. */
  user_data: string | null
  key_name: string | null
  /** Instance metadata service: 'enabled' | 'disabled'. */
  imds_http_endpoint: string
  /** Instance metadata service tokens: 'optional' | 'required'. */
  imds_http_tokens: string
  /** `yyyy-MM-ddTHH:mm:ssZ` when the server is to be deleted; null when not set. */
  auto_terminate_time: string | null
  /** 0 | 1 */
  serial_console_enabled: number
  /** A one-way hash of the password last set (create, reset, reinstall); never the password. */
  password_hash: string | null
  /** What `os-server-password` shows: the guest-encrypted password blob, "" once deleted. */
  password_blob: string | null
  /** 0 | 1: registered for platform monitoring (`registerServerMonitor`). */
  monitored: number
  /** 'postPaid' | 'prePaid' */
  charging_mode: string
}

/** A tag of a server (`key` unique per server); `project_id` is the server's, for project-wide tag reads. */
export interface ServerTagTable {
  server_id: string
  project_id: string
  key: string
  /** "" when the tag has no value. */
  value: string
  created_at: string
}

import type { Generated } from 'kysely'

/** A tenant: every server, group and job belongs to exactly one project. */
export interface ProjectTable {
  id: string
  name: string
  created_at: string
  /**
   * What the project's servers use, for the instance quotas: kept in step with `servers` by the
   * transactions that insert and delete servers (anything else that does must update them too);
   * `ecsd audit` checks them against the sums.
   */
  servers_used: Generated<number>
  cores_used: Generated<number>
  /** bigint in PostgreSQL (read back as a string there). */
  ram_used_mb: Generated<number | string>
  /** Recycle bin switch of the project: 'on' | 'off'. */
  recycle_bin: Generated<string>
  /** Servers younger than this many days are deleted at once, not binned. */
  recycle_threshold_day: Generated<number>
  /** Binned servers are deleted for good this many hours after binning. */
  recycle_retention_hour: Generated<number>
}

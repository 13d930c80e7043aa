import { sql, type SqlBool } from 'kysely'
import type { HostFilter } from '../types.ts'

/**
 * Shared pool or dedicated hosts (DeH). Without `dedicatedTo` only shared hosts pass: a host
 * dedicated to a project is never used by anyone else's, nor by that project's own shared
 * placements. With it, only hosts dedicated to that project pass.
 */
export const tenancyFilter: HostFilter = {
  name: 'Tenancy',
  // Literal SQL for the shared pool: the partial candidate indexes repeat exactly this term.
  where: (eb, req) => (req.dedicatedTo === undefined ? sql<SqlBool>`dedicated_to is null` : eb('dedicated_to', '=', req.dedicatedTo)),
  passes: (host, req) => (req.dedicatedTo === undefined ? host.dedicated_to === null : host.dedicated_to === req.dedicatedTo),
  describe: (req) => (req.dedicatedTo === undefined ? 'Tenancy(shared pool)' : `Tenancy(dedicated to ${req.dedicatedTo})`),
}

import { sql, type SqlBool } from 'kysely'
import type { HostFilter } from '../types.ts'

/** Only hosts that are up and enabled take new servers. */
export const hostStateFilter: HostFilter = {
  name: 'HostState',
  // Literal SQL, not bound parameters: the partial candidate indexes are declared with exactly
  // this predicate, and SQLite only uses a partial index when the query repeats it verbatim.
  where: () => sql<SqlBool>`state = 'up' and enabled = 1`,
  passes: (host) => host.state === 'up' && host.enabled === 1,
  describe: () => 'HostState(up, enabled)',
}

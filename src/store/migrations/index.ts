import type { Migration } from 'kysely'
import type { Dialect } from '../database.ts'
import * as init from './0001-init.ts'
import * as jobLeases from './0002-job-leases-and-admin.ts'
import * as identity from './0004-identity.ts'
import * as projectUsage from './0005-project-usage.ts'
import * as moves from './0006-moves.ts'
import * as hosts from './0007-hosts.ts'
import * as agentTasks from './0008-agent-tasks.ts'
import * as groupPolicies from './0009-group-policies.ts'
import * as openstack from './0010-openstack.ts'
import * as authGeneration from './0011-auth-generation.ts'
import * as events from './0012-events.ts'
import * as serverAttributes from './0013-server-attributes.ts'
import * as volumes from './0014-volumes.ts'
import * as network from './0015-network.ts'
import * as launchTemplates from './0016-launch-templates.ts'

/** A migration that may need to know which dialect it runs on. */
interface DialectMigration {
  up(db: Parameters<Migration['up']>[0], dialect: Dialect): Promise<void>
}

const ordered: Record<string, DialectMigration> = {
  '0001-init': init,
  '0002-job-leases-and-admin': jobLeases,
  '0004-identity': identity,
  '0005-project-usage': projectUsage,
  '0006-moves': moves,
  '0007-hosts': hosts,
  '0008-agent-tasks': agentTasks,
  '0009-group-policies': groupPolicies,
  '0010-openstack': openstack,
  '0011-auth-generation': authGeneration,
  '0012-events': events,
  '0013-server-attributes': serverAttributes,
  '0014-volumes': volumes,
  '0015-network': network,
  '0016-launch-templates': launchTemplates,
}

/**
 * Migrations are imported in code (no filesystem scanning) and handed the dialect, so one list
 * serves SQLite and PostgreSQL.
 */
export function migrationsFor(dialect: Dialect): Record<string, Migration> {
  return Object.fromEntries(
    Object.entries(ordered).map(([name, m]) => [name, { up: (db) => m.up(db, dialect) }]),
  )
}

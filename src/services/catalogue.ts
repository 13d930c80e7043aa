import type { Kysely } from 'kysely'
import type { Quotas } from '../config.ts'
import type { Schema } from '../store/schema.ts'
import { usage } from './servers.ts'

/** Flavors, optionally only those some host of `az` could run. */
export async function listFlavors(db: Kysely<Schema>, az: string | undefined): Promise<Schema['flavors'][]> {
  let q = db.selectFrom('flavors').selectAll().orderBy('vcpus').orderBy('ram_mb').orderBy('id')
  if (az !== undefined) {
    q = q.where(({ exists, selectFrom }) =>
      exists(
        selectFrom('hosts')
          .select('hosts.id')
          .where('hosts.az', '=', az)
          .whereRef('hosts.vcpus', '>=', 'flavors.vcpus')
          .whereRef('hosts.ram_mb', '>=', 'flavors.ram_mb'),
      ),
    )
  }
  return q.execute()
}

/** A project's quotas together with what it uses now. */
export interface ProjectLimits {
  quotas: Quotas
  instancesUsed: number
  coresUsed: number
  ramUsedMb: number
  serverGroupsUsed: number
}

/** A project's quotas and current usage, for the limits API. */
export async function projectLimits(db: Kysely<Schema>, projectId: string, quotas: Quotas): Promise<ProjectLimits> {
  const used = await usage(db, projectId)
  const groups = await db
    .selectFrom('server_groups')
    .select((eb) => eb.fn.countAll<number | string>().as('n'))
    .where('project_id', '=', projectId)
    .executeTakeFirstOrThrow()
  return {
    quotas,
    instancesUsed: used.instances,
    coresUsed: used.cores,
    ramUsedMb: used.ramMb,
    serverGroupsUsed: Number(groups.n),
  }
}

import { sql, type Kysely, type SqlBool } from 'kysely'
import type { Quotas } from '../config.ts'
import { flavorNotFound, invalidParameter, serverNotFound } from '../domain/errors.ts'
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

/** Orders `listResizeFlavors` accepts (`sort_key`), as the API names them. */
export const RESIZE_SORT_KEYS = ['flavorid', 'sort_key', 'name', 'memory_mb', 'vcpus', 'root_gb'] as const

/** What `listResizeFlavors` is asked; the source is the first of instance, flavor id, flavor name given. */
export interface ResizeFlavorsQuery {
  instanceUuid: string | undefined
  sourceFlavorId: string | undefined
  sourceFlavorName: string | undefined
  sortKey: (typeof RESIZE_SORT_KEYS)[number]
  sortDir: 'asc' | 'desc'
  limit: number
  marker: string | undefined
}

/**
 * The flavors a server (or a flavor) can be resized to: same virtualization (KVM stays KVM, Xen
 * stays Xen), on sale, not the source itself, and small enough for at least one host that is up
 * — in the server's zone when a server is named. It lists compatible targets, not free room:
 * whether a host has room is decided when the resize is placed.
 */
export async function listResizeFlavors(db: Kysely<Schema>, projectId: string, q: ResizeFlavorsQuery): Promise<Schema['flavors'][]> {
  let source: Schema['flavors'] | undefined
  let az: string | undefined
  if (q.instanceUuid !== undefined) {
    const server = await db.selectFrom('servers').select(['flavor_id', 'az']).where('id', '=', q.instanceUuid).where('project_id', '=', projectId).where('in_recycle_bin', '=', 0).executeTakeFirst()
    if (!server) throw serverNotFound(q.instanceUuid)
    source = await db.selectFrom('flavors').selectAll().where('id', '=', server.flavor_id).executeTakeFirst()
    az = server.az
  } else if (q.sourceFlavorId !== undefined) {
    source = await db.selectFrom('flavors').selectAll().where('id', '=', q.sourceFlavorId).executeTakeFirst()
    if (!source) throw flavorNotFound(q.sourceFlavorId)
  } else if (q.sourceFlavorName !== undefined) {
    source = await db.selectFrom('flavors').selectAll().where('name', '=', q.sourceFlavorName).executeTakeFirst()
    if (!source) throw flavorNotFound(q.sourceFlavorName)
  } else {
    throw invalidParameter('give one of instance_uuid, source_flavor_id or source_flavor_name')
  }
  if (!source) return []
  const sourceId = source.id
  const rows = await db
    .selectFrom('flavors')
    .selectAll()
    .where('virtualization', '=', source.virtualization)
    .where('id', '!=', sourceId)
    .where('sell_status', '=', 'normal')
    .where(({ exists, selectFrom }) => {
      let hosts = selectFrom('hosts')
        .select('hosts.id')
        .where('hosts.state', '=', 'up')
        .where((eb) => eb.or([eb('hosts.dedicated_to', 'is', null), eb('hosts.dedicated_to', '=', projectId)]))
        .where(sql<SqlBool>`hosts.vcpus * hosts.cpu_allocation_ratio >= flavors.vcpus`)
        .where(sql<SqlBool>`hosts.ram_mb * hosts.ram_allocation_ratio >= flavors.ram_mb`)
      if (az !== undefined) hosts = hosts.where('hosts.az', '=', az)
      return exists(hosts)
    })
    .execute()
  const key = (f: Schema['flavors']): string | number => {
    switch (q.sortKey) {
      case 'name': return f.name
      case 'memory_mb': return f.ram_mb
      case 'vcpus': return f.vcpus
      case 'root_gb': return f.disk_gb
      default: return f.id
    }
  }
  const sign = q.sortDir === 'desc' ? -1 : 1
  rows.sort((a, b) => {
    const ka = key(a)
    const kb = key(b)
    return sign * (ka < kb ? -1 : ka > kb ? 1 : a.id < b.id ? -1 : a.id > b.id ? 1 : 0)
  })
  const start = q.marker === undefined ? 0 : rows.findIndex((f) => f.id === q.marker) + 1
  if (q.marker !== undefined && start === 0) throw invalidParameter(`marker ${q.marker} is not one of the flavors listed`)
  return rows.slice(start, start + q.limit)
}

/** One zone where a flavor can run, and whether it has room for one more now. */
export interface FlavorCapacity {
  availabilityZone: string
  /** Some host of the zone has room for one more server of the flavor now (groups aside). */
  prefer: boolean
}

/**
 * `showFlavorCapacity`: the zones with a shared host big enough for the flavor, and whether one
 * of them has room now. As Huawei documents, it ignores group policies: a group's own capacity
 * cannot be read from it.
 */
export async function flavorCapacity(db: Kysely<Schema>, flavorId: string): Promise<FlavorCapacity[]> {
  const flavor = await db.selectFrom('flavors').selectAll().where('id', '=', flavorId).executeTakeFirst()
  if (!flavor) throw flavorNotFound(flavorId)
  if (flavor.sell_status !== 'normal') return []
  const zones = await db
    .selectFrom('hosts')
    .select('az')
    .select((eb) =>
      eb.fn.max(sql<number>`case when free_vcpus >= ${flavor.vcpus} and free_ram_mb >= ${flavor.ram_mb} then 1 else 0 end`).as('room'),
    )
    .where('state', '=', 'up')
    .where('enabled', '=', 1)
    .where('dedicated_to', 'is', null)
    .where(sql<SqlBool>`vcpus * cpu_allocation_ratio >= ${flavor.vcpus}`)
    .where(sql<SqlBool>`ram_mb * ram_allocation_ratio >= ${flavor.ram_mb}`)
    .groupBy('az')
    .orderBy('az')
    .execute()
  return zones.map((z) => ({ availabilityZone: z.az, prefer: Number(z.room) === 1 }))
}

/**
 * The availability zones a project can place servers in: those of the shared hosts and of the
 * project's own dedicated hosts (another project's dedicated hosts are not its zones).
 */
export async function availabilityZones(db: Kysely<Schema>, projectId: string): Promise<string[]> {
  const rows = await db
    .selectFrom('hosts')
    .select('az')
    .distinct()
    .where((eb) => eb.or([eb('dedicated_to', 'is', null), eb('dedicated_to', '=', projectId)]))
    .orderBy('az')
    .execute()
  return rows.map((r) => r.az)
}

/** The ways ecsd sells servers: pay-per-use and yearly/monthly (no spot, no reserved instances). */
export const SELL_MODES = ['postPaid', 'prePaid'] as const

/** How a flavor is sold in a zone (`listFlavorSellPolicies`). */
export interface SellPolicy {
  /** Stable for a flavor, zone and mode: a hash of the three. */
  id: number
  flavorId: string
  /** 'available' while the flavor is on sale, else 'sellout'. */
  sellStatus: 'available' | 'sellout'
  availabilityZoneId: string
  sellMode: (typeof SELL_MODES)[number]
}

/** `listFlavorSellPolicies` filters; `spotOnly` when the request filters by a spot option. */
export interface SellPolicyQuery {
  flavorId: string | undefined
  sellStatus: string | undefined
  sellMode: string | undefined
  availabilityZoneId: string | undefined
  spotOnly: boolean
  limit: number
  /** The id of the last policy of the previous page. */
  marker: number | undefined
}

/**
 * The sell policies of the catalogue: one per flavor, zone where a host the project may use is
 * big enough for the flavor, and sell mode; ordered by flavor, zone and mode. Spot options match
 * nothing, ecsd sells no spot servers. Returns the page and how many match.
 */
export async function flavorSellPolicies(db: Kysely<Schema>, projectId: string, q: SellPolicyQuery): Promise<{ count: number; policies: SellPolicy[] }> {
  if (q.spotOnly) return { count: 0, policies: [] }
  const rows = await db
    .selectFrom('flavors')
    .innerJoin('hosts', (join) =>
      join
        .on(sql<SqlBool>`hosts.vcpus * hosts.cpu_allocation_ratio >= flavors.vcpus`)
        .on(sql<SqlBool>`hosts.ram_mb * hosts.ram_allocation_ratio >= flavors.ram_mb`),
    )
    .select(['flavors.id', 'flavors.sell_status', 'hosts.az'])
    .distinct()
    .where((eb) => eb.or([eb('hosts.dedicated_to', 'is', null), eb('hosts.dedicated_to', '=', projectId)]))
    .$if(q.flavorId !== undefined, (query) => query.where('flavors.id', '=', q.flavorId!))
    .$if(q.availabilityZoneId !== undefined, (query) => query.where('hosts.az', '=', q.availabilityZoneId!))
    .orderBy('flavors.id')
    .orderBy('hosts.az')
    .execute()
  const policies = rows
    .flatMap((r) => SELL_MODES.map((mode): SellPolicy => ({
      id: policyId(r.id, r.az, mode),
      flavorId: r.id,
      sellStatus: r.sell_status === 'normal' ? 'available' : 'sellout',
      availabilityZoneId: r.az,
      sellMode: mode,
    })))
    .filter((p) => (q.sellMode === undefined || p.sellMode === q.sellMode) && (q.sellStatus === undefined || p.sellStatus === q.sellStatus))
  const start = q.marker === undefined ? 0 : policies.findIndex((p) => p.id === q.marker) + 1
  if (q.marker !== undefined && start === 0) throw invalidParameter(`marker ${q.marker} is not the id of a sell policy listed with these filters`)
  return { count: policies.length, policies: policies.slice(start, start + q.limit) }
}

/** A positive 31-bit FNV-1a hash of the policy's flavor, zone and mode. */
function policyId(flavorId: string, az: string, mode: string): number {
  let hash = 0x811c9dc5
  for (const byte of Buffer.from(`${flavorId}\n${az}\n${mode}`)) {
    hash ^= byte
    hash = Math.imul(hash, 0x01000193) >>> 0
  }
  return hash & 0x7fffffff
}

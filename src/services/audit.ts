import type { Kysely } from 'kysely'
import type { Schema } from '../store/schema.ts'

/** One broken invariant, with the ids needed to find it. */
export interface Violation {
  invariant: 'anti-affinity' | 'capacity' | 'one-group' | 'membership-host' | 'job-finished' | 'quota-usage'
  message: string
}

/** Audit settings. */
export interface AuditOptions {
  /**
   * A RUNNING sub-job whose lease expired longer ago than this has no live owner: every replica
   * sweeps for such jobs every second or so, so one left this long is stuck.
   */
  stuckAfterMs?: number
  now?: Date
}

/**
 * Checks the invariants of the architecture against the database as it is, without trusting
 * the code that wrote it: distinct member hosts in anti-affinity groups; host free capacity
 * equal to capacity minus the allocations of its servers, never overfilled; one group per
 * server (also a unique index); membership rows on their server's host; and no job left
 * RUNNING without an owner, or under a parent that already finished, or as a parent whose
 * sub-jobs all finished; and per-project usage counters equal to what the servers add up to.
 */
export async function audit(db: Kysely<Schema>, options: AuditOptions = {}): Promise<Violation[]> {
  const violations: Violation[] = []

  const shared = await db
    .selectFrom('server_group_members as m')
    .innerJoin('server_groups as g', 'g.id', 'm.group_id')
    .innerJoin('servers as s', 's.id', 'm.server_id')
    .select(['m.group_id', 's.host_id'])
    .select((eb) => eb.fn.count<number | string>('m.server_id').as('members'))
    .where('g.policy', '=', 'anti-affinity')
    .groupBy(['m.group_id', 's.host_id'])
    .having((eb) => eb.fn.count('m.server_id'), '>', 1)
    .execute()
  for (const r of shared) {
    violations.push({ invariant: 'anti-affinity', message: `group ${r.group_id} has ${Number(r.members)} members on host ${r.host_id}` })
  }

  const hosts = await db
    .selectFrom('hosts as h')
    .leftJoin('servers as s', 's.host_id', 'h.id')
    .select(['h.id', 'h.vcpus', 'h.ram_mb', 'h.cpu_allocation_ratio', 'h.ram_allocation_ratio', 'h.free_vcpus', 'h.free_ram_mb'])
    .select((eb) => [
      eb.fn.coalesce(eb.fn.sum<number | string>('s.vcpus'), eb.val(0)).as('used_vcpus'),
      eb.fn.coalesce(eb.fn.sum<number | string>('s.ram_mb'), eb.val(0)).as('used_ram_mb'),
    ])
    .groupBy(['h.id', 'h.vcpus', 'h.ram_mb', 'h.cpu_allocation_ratio', 'h.ram_allocation_ratio', 'h.free_vcpus', 'h.free_ram_mb'])
    .execute()
  for (const h of hosts) {
    const vcpuCapacity = Math.floor(h.vcpus * h.cpu_allocation_ratio)
    const ramCapacity = Math.floor(h.ram_mb * h.ram_allocation_ratio)
    const usedVcpus = Number(h.used_vcpus)
    const usedRam = Number(h.used_ram_mb)
    if (h.free_vcpus !== vcpuCapacity - usedVcpus || h.free_ram_mb !== ramCapacity - usedRam) {
      violations.push({
        invariant: 'capacity',
        message: `host ${h.id} records free ${h.free_vcpus} vCPU / ${h.free_ram_mb} MiB, but its servers use ${usedVcpus} / ${usedRam} of ${vcpuCapacity} / ${ramCapacity}`,
      })
    }
    if (usedVcpus > vcpuCapacity || usedRam > ramCapacity) {
      violations.push({ invariant: 'capacity', message: `host ${h.id} is overfilled: ${usedVcpus}/${vcpuCapacity} vCPU, ${usedRam}/${ramCapacity} MiB` })
    }
  }

  const projects = await db
    .selectFrom('projects as p')
    .leftJoin('servers as s', 's.project_id', 'p.id')
    .select(['p.id', 'p.servers_used', 'p.cores_used', 'p.ram_used_mb'])
    .select((eb) => [
      eb.fn.count<number | string>('s.id').as('servers'),
      eb.fn.coalesce(eb.fn.sum<number | string>('s.vcpus'), eb.val(0)).as('cores'),
      eb.fn.coalesce(eb.fn.sum<number | string>('s.ram_mb'), eb.val(0)).as('ram_mb'),
    ])
    .groupBy(['p.id', 'p.servers_used', 'p.cores_used', 'p.ram_used_mb'])
    .execute()
  for (const p of projects) {
    const recorded = [Number(p.servers_used), Number(p.cores_used), Number(p.ram_used_mb)]
    const actual = [Number(p.servers), Number(p.cores), Number(p.ram_mb)]
    if (recorded.some((v, i) => v !== actual[i])) {
      violations.push({
        invariant: 'quota-usage',
        message: `project ${p.id} records ${recorded[0]} servers / ${recorded[1]} vCPU / ${recorded[2]} MiB in use, but its servers add up to ${actual[0]} / ${actual[1]} / ${actual[2]}`,
      })
    }
  }

  const multiGroup = await db
    .selectFrom('server_group_members')
    .select('server_id')
    .select((eb) => eb.fn.count<number | string>('group_id').as('groups'))
    .groupBy('server_id')
    .having((eb) => eb.fn.count('group_id'), '>', 1)
    .execute()
  for (const r of multiGroup) {
    violations.push({ invariant: 'one-group', message: `server ${r.server_id} is a member of ${Number(r.groups)} groups` })
  }

  const misplaced = await db
    .selectFrom('server_group_members as m')
    .innerJoin('servers as s', 's.id', 'm.server_id')
    .select(['m.group_id', 'm.server_id', 'm.host_id as member_host', 's.host_id as server_host'])
    .whereRef('m.host_id', '<>', 's.host_id')
    .execute()
  for (const r of misplaced) {
    violations.push({
      invariant: 'membership-host',
      message: `server ${r.server_id} is on host ${r.server_host} but its membership of group ${r.group_id} records host ${r.member_host}`,
    })
  }

  const orphans = await db
    .selectFrom('jobs as sub')
    .innerJoin('jobs as parent', 'parent.id', 'sub.parent_id')
    .select(['sub.id', 'parent.id as parent_id', 'parent.status'])
    .where('sub.status', '=', 'RUNNING')
    .where('parent.status', '!=', 'RUNNING')
    .execute()
  for (const r of orphans) {
    violations.push({ invariant: 'job-finished', message: `sub-job ${r.id} is RUNNING under parent ${r.parent_id}, which is ${r.status}` })
  }

  const stuckBefore = new Date((options.now ?? new Date()).getTime() - (options.stuckAfterMs ?? 60_000)).toISOString()
  const ownerless = await db
    .selectFrom('jobs')
    .select(['id', 'lease_owner', 'lease_expires_at'])
    .where('status', '=', 'RUNNING')
    .where('parent_id', 'is not', null)
    .where((eb) => eb.or([eb('lease_expires_at', 'is', null), eb('lease_expires_at', '<', stuckBefore)]))
    .execute()
  for (const r of ownerless) {
    violations.push({
      invariant: 'job-finished',
      message: `sub-job ${r.id} is RUNNING without a live owner (lease of ${r.lease_owner ?? 'nobody'} expired ${r.lease_expires_at ?? 'never set'})`,
    })
  }

  const unclosed = await db
    .selectFrom('jobs as parent')
    .select('parent.id')
    .where('parent.parent_id', 'is', null)
    .where('parent.status', '=', 'RUNNING')
    .where(({ not, exists, selectFrom }) =>
      not(exists(selectFrom('jobs as sub').select('sub.id').whereRef('sub.parent_id', '=', 'parent.id').where('sub.status', 'in', ['RUNNING', 'INIT']))),
    )
    .execute()
  for (const r of unclosed) {
    violations.push({ invariant: 'job-finished', message: `job ${r.id} is RUNNING but none of its sub-jobs is` })
  }
  return violations
}

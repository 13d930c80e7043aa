import type { Kysely } from 'kysely'
import type { Schema } from '../store/schema.ts'

/** One broken invariant, with the ids needed to find it. */
export interface Violation {
  invariant: 'anti-affinity' | 'capacity' | 'membership-host' | 'job-finished'
  message: string
}

/**
 * Checks the invariants of the architecture against the database as it is, without trusting
 * the code that wrote it: distinct member hosts in anti-affinity groups, host free capacity
 * equal to capacity minus the allocations of its servers (and never negative), membership rows
 * on their server's host, and no sub-job RUNNING under a finished parent.
 */
export async function audit(db: Kysely<Schema>): Promise<Violation[]> {
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
  return violations
}

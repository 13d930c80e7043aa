import type { Kysely } from 'kysely'
import type { Schema } from '../store/schema.ts'

/** One broken invariant, with the ids needed to find it. */
export interface Violation {
  invariant: 'anti-affinity' | 'affinity' | 'capacity' | 'one-group' | 'membership-host' | 'job-finished' | 'quota-usage' | 'in-flight-move' | 'group-hold' | 'no-server-lost' | 'fault-domain'
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
 * the code that wrote it: at most `max_server_per_host` (default 1) members per host in
 * anti-affinity groups, counting the sources of moves in flight; every member of an affinity
 * group on one host, the group's pinned host; every hold carrying what its group's policy
 * demands (policy, anti-affinity place, pinned host); host free capacity equal to capacity minus the allocations of its servers
 * and what moves in flight still hold on their sources, never overfilled; one group per server
 * (also a unique index); membership rows on their server's host; every group hold backed by a
 * membership or a move, every member holding its host; every move in flight driven by a running
 * job and its server on the move's target; no job left RUNNING without an owner, or under a
 * parent that already finished, or as a parent whose sub-jobs all finished, no start queued
 * behind a move that no longer exists; and per-project usage counters equal to what the
 * servers (binned ones included) add up to.
 */
export async function audit(db: Kysely<Schema>, options: AuditOptions = {}): Promise<Violation[]> {
  const violations: Violation[] = []

  // Anti-affinity: `max_server_per_host` (null: 1) members per host at most.
  const perHost = (max: number | null) => max ?? 1
  const beyondRule = (max: number | null) => (perHost(max) === 1 ? '' : `, more than its max_server_per_host of ${perHost(max)}`)
  const shared = await db
    .selectFrom('server_group_members as m')
    .innerJoin('server_groups as g', 'g.id', 'm.group_id')
    .innerJoin('servers as s', 's.id', 'm.server_id')
    .select(['m.group_id', 's.host_id', 'g.max_server_per_host'])
    .select((eb) => eb.fn.count<number | string>('m.server_id').as('members'))
    .where('g.policy', '=', 'anti-affinity')
    .groupBy(['m.group_id', 's.host_id', 'g.max_server_per_host'])
    .having((eb) => eb(eb.fn.count('m.server_id'), '>', eb.fn.coalesce('g.max_server_per_host', eb.val(1))))
    .execute()
  for (const r of shared) {
    violations.push({ invariant: 'anti-affinity', message: `group ${r.group_id} has ${Number(r.members)} members on host ${r.host_id}${beyondRule(r.max_server_per_host)}` })
  }

  // In-flight moves: a member's source host still counts as used by its group. Not for
  // add_member's re-placement: its source is the host of the member it makes way for, and a
  // failed one never returns there (the server stays on the target, in ERROR).
  const heldTwice = await db
    .selectFrom('group_host_holds as h')
    .innerJoin('server_groups as g', 'g.id', 'h.group_id')
    .select(['h.group_id', 'h.host_id', 'g.max_server_per_host'])
    .select((eb) => eb.fn.count<number | string>('h.server_id').as('holds'))
    .where('g.policy', '=', 'anti-affinity')
    .groupBy(['h.group_id', 'h.host_id', 'g.max_server_per_host'])
    .having((eb) => eb(eb.fn.count('h.server_id'), '>', eb.fn.coalesce('g.max_server_per_host', eb.val(1))))
    .execute()
  for (const r of heldTwice) {
    violations.push({ invariant: 'anti-affinity', message: `group ${r.group_id} holds host ${r.host_id} ${Number(r.holds)} times (members and moves in flight)${beyondRule(r.max_server_per_host)}` })
  }
  // A member moving away from a host still counts there: with the members on it, at most the rule.
  const sourceTaken = await db
    .selectFrom('moves as mv')
    .innerJoin('server_group_members as moving', 'moving.server_id', 'mv.server_id')
    .innerJoin('server_groups as g', 'g.id', 'moving.group_id')
    .innerJoin('server_group_members as other', (j) => j.onRef('other.group_id', '=', 'moving.group_id').onRef('other.server_id', '!=', 'moving.server_id'))
    .innerJoin('servers as os', 'os.id', 'other.server_id')
    .select(['mv.server_id', 'mv.source_host_id', 'moving.group_id', 'g.max_server_per_host'])
    .select((eb) => [eb.fn.count<number | string>('other.server_id').as('others'), eb.fn.min<string>('other.server_id').as('other_id')])
    .where('g.policy', '=', 'anti-affinity')
    .whereRef('os.host_id', '=', 'mv.source_host_id')
    .whereRef('mv.source_host_id', '!=', 'mv.target_host_id')
    .where('mv.reason', '!=', 'add_member')
    .groupBy(['mv.server_id', 'mv.source_host_id', 'moving.group_id', 'g.max_server_per_host'])
    .having((eb) => eb(eb.fn.count('other.server_id'), '>=', eb.fn.coalesce('g.max_server_per_host', eb.val(1))))
    .execute()
  for (const r of sourceTaken) {
    const others = Number(r.others)
    violations.push({
      invariant: 'anti-affinity',
      message: others === 1
        ? `member ${r.other_id} of group ${r.group_id} is on host ${r.source_host_id}, which member ${r.server_id} is still moving away from`
        : `${others} other members of group ${r.group_id} are on host ${r.source_host_id}, which member ${r.server_id} is still moving away from${beyondRule(r.max_server_per_host)}`,
    })
  }

  // Affinity: every member, and every hold, on one host — the group's pinned host.
  const spread = await db
    .selectFrom('server_group_members as m')
    .innerJoin('server_groups as g', 'g.id', 'm.group_id')
    .innerJoin('servers as s', 's.id', 'm.server_id')
    .select('m.group_id')
    .select((eb) => [eb.fn.count<number | string>('s.host_id').distinct().as('hosts'), eb.fn.min<string>('s.host_id').as('one'), eb.fn.max<string>('s.host_id').as('another')])
    .where('g.policy', '=', 'affinity')
    .groupBy('m.group_id')
    .having((eb) => eb.fn.count('s.host_id').distinct(), '>', 1)
    .execute()
  for (const r of spread) {
    violations.push({ invariant: 'affinity', message: `affinity group ${r.group_id} has members on ${Number(r.hosts)} hosts (${r.one}, ${r.another}${Number(r.hosts) > 2 ? ', …' : ''})` })
  }
  const offPin = await db
    .selectFrom('group_host_holds as h')
    .innerJoin('server_groups as g', 'g.id', 'h.group_id')
    .select(['h.group_id', 'h.server_id', 'h.host_id', 'h.kind', 'g.affinity_host_id'])
    .where('g.policy', '=', 'affinity')
    .where((eb) => eb.or([eb('g.affinity_host_id', 'is', null), eb('g.affinity_host_id', '!=', eb.ref('h.host_id'))]))
    .execute()
  for (const r of offPin) {
    violations.push({ invariant: 'affinity', message: `affinity group ${r.group_id} is pinned to host ${r.affinity_host_id ?? '(none)'}, but its ${r.kind} hold for ${r.server_id} is on host ${r.host_id}` })
  }

  // Every hold carries what its group's policy demands: the policy itself, a place 0…N−1 of its
  // host that no other hold of the group takes (anti-affinity), the pinned host (affinity).
  const ruled = await db
    .selectFrom('group_host_holds as h')
    .innerJoin('server_groups as g', 'g.id', 'h.group_id')
    .select(['h.group_id', 'h.server_id', 'h.host_id', 'h.kind', 'h.policy', 'h.slot', 'h.max_server_per_host', 'h.affinity_host_id', 'g.policy as group_policy', 'g.max_server_per_host as group_max'])
    .execute()
  const places = new Map<string, number>()
  for (const h of ruled) {
    const what = `the ${h.kind} hold of ${h.server_id} in group ${h.group_id} on host ${h.host_id}`
    const wrong = (why: string) => violations.push({ invariant: 'group-hold', message: `${what} ${why}` })
    if (h.policy !== h.group_policy) wrong(`says policy ${h.policy}, the group's is ${h.group_policy}`)
    if (h.group_policy === 'anti-affinity') {
      if (h.max_server_per_host !== null && h.max_server_per_host !== h.group_max) wrong(`says max_server_per_host ${h.max_server_per_host}, the group's is ${h.group_max ?? '(none: 1)'}`)
      if (h.slot === null || h.slot < 0 || h.slot >= perHost(h.group_max)) wrong(`takes place ${h.slot ?? '(none)'} of a host that has ${perHost(h.group_max)} for the group`)
      else {
        const key = `${h.group_id} ${h.host_id} ${h.slot}`
        places.set(key, (places.get(key) ?? 0) + 1)
        if (places.get(key) === 2) wrong(`takes place ${h.slot}, which another hold of the group takes too`)
      }
    } else if (h.slot !== null || h.max_server_per_host !== null) {
      wrong(`takes an anti-affinity place (${h.slot ?? '-'} of ${h.max_server_per_host ?? '-'}) in a ${h.group_policy} group`)
    }
    if ((h.group_policy === 'affinity') !== (h.affinity_host_id !== null) || (h.affinity_host_id !== null && h.affinity_host_id !== h.host_id)) {
      wrong(`names pinned host ${h.affinity_host_id ?? '(none)'}`)
    }
  }
  const distinctFlag = await db
    .selectFrom('server_group_members as m')
    .innerJoin('server_groups as g', 'g.id', 'm.group_id')
    .select(['m.group_id', 'm.server_id', 'm.distinct_host'])
    .where((eb) => eb.or([
      eb.and([eb('m.distinct_host', '=', 1), eb.or([eb('g.policy', '!=', 'anti-affinity'), eb('g.max_server_per_host', '>', 1)])]),
      eb.and([eb('m.distinct_host', '!=', 1), eb('g.policy', '=', 'anti-affinity'), eb.or([eb('g.max_server_per_host', 'is', null), eb('g.max_server_per_host', '=', 1)])]),
    ]))
    .execute()
  for (const r of distinctFlag) {
    violations.push({ invariant: 'group-hold', message: `the membership of ${r.server_id} in group ${r.group_id} has distinct_host ${r.distinct_host}, which the group's policy and rule contradict` })
  }

  // Groups that spread over fault domains: no two members (nor moves in flight) in one rack.
  const sharedRacks = await db
    .selectFrom('group_host_holds as h')
    .innerJoin('server_groups as g', 'g.id', 'h.group_id')
    .innerJoin('hosts as host', 'host.id', 'h.host_id')
    .select(['h.group_id', 'host.fault_domain'])
    .select((eb) => eb.fn.count<number | string>('h.server_id').distinct().as('members'))
    .where('g.spread_fault_domains', '=', 1)
    .where('host.fault_domain', 'is not', null)
    .groupBy(['h.group_id', 'host.fault_domain'])
    .having((eb) => eb.fn.count('h.server_id').distinct(), '>', 1)
    .execute()
  for (const r of sharedRacks) {
    violations.push({ invariant: 'fault-domain', message: `group ${r.group_id} has ${Number(r.members)} members in fault domain ${r.fault_domain ?? '?'}` })
  }

  const holds = await db
    .selectFrom('group_host_holds as h')
    .leftJoin('server_group_members as m', (j) => j.onRef('m.server_id', '=', 'h.server_id').onRef('m.group_id', '=', 'h.group_id'))
    .leftJoin('moves as mv', 'mv.server_id', 'h.server_id')
    .select(['h.group_id', 'h.server_id', 'h.host_id', 'h.kind', 'm.host_id as member_host', 'mv.source_host_id', 'mv.target_host_id'])
    .execute()
  for (const h of holds) {
    if (h.kind === 'member' && h.member_host !== h.host_id) {
      violations.push({ invariant: 'group-hold', message: `group ${h.group_id} holds host ${h.host_id} for member ${h.server_id}, whose membership records host ${h.member_host ?? '(none)'}` })
    }
    if (h.kind === 'move-source' && (h.source_host_id === null || h.source_host_id !== h.host_id || h.source_host_id === h.target_host_id)) {
      violations.push({ invariant: 'group-hold', message: `group ${h.group_id} holds host ${h.host_id} for a move of ${h.server_id} that is ${h.source_host_id === null ? 'not in flight' : `from ${h.source_host_id} to ${h.target_host_id}`}` })
    }
  }
  const unheld = await db
    .selectFrom('server_group_members as m')
    .leftJoin('group_host_holds as h', (j) => j.onRef('h.server_id', '=', 'm.server_id').on('h.kind', '=', 'member'))
    .select(['m.group_id', 'm.server_id'])
    .where('h.server_id', 'is', null)
    .execute()
  for (const r of unheld) {
    violations.push({ invariant: 'group-hold', message: `member ${r.server_id} of group ${r.group_id} holds no host of the group` })
  }
  const sourceUnheld = await db
    .selectFrom('moves as mv')
    .innerJoin('server_group_members as m', 'm.server_id', 'mv.server_id')
    .leftJoin('group_host_holds as h', (j) => j.onRef('h.server_id', '=', 'mv.server_id').on('h.kind', '=', 'move-source'))
    .select(['mv.server_id', 'mv.source_host_id', 'm.group_id'])
    .whereRef('mv.source_host_id', '!=', 'mv.target_host_id')
    .where('mv.reason', '!=', 'add_member')
    .where('h.server_id', 'is', null)
    .where((eb) => eb.or([eb('mv.held_vcpus', '>', 0), eb('mv.held_ram_mb', '>', 0)]))
    .execute()
  for (const r of sourceUnheld) {
    violations.push({ invariant: 'group-hold', message: `member ${r.server_id} of group ${r.group_id} is moving away from ${r.source_host_id}, which the group does not hold` })
  }

  const moves = await db
    .selectFrom('moves as mv')
    .leftJoin('jobs as j', 'j.id', 'mv.job_id')
    .innerJoin('servers as s', 's.id', 'mv.server_id')
    .select(['mv.server_id', 'mv.job_id', 'mv.target_host_id', 'j.status as job_status', 's.host_id', 's.task_state'])
    .execute()
  for (const m of moves) {
    if (m.job_status !== 'RUNNING') {
      violations.push({ invariant: 'in-flight-move', message: `the move of ${m.server_id} is driven by job ${m.job_id}, which is ${m.job_status ?? 'missing'}` })
    }
    if (m.host_id !== m.target_host_id || m.task_state === null) {
      violations.push({ invariant: 'in-flight-move', message: `server ${m.server_id} is moving to ${m.target_host_id} but records host ${m.host_id} and task ${m.task_state ?? 'none'}` })
    }
  }
  const queued = await db
    .selectFrom('jobs as j')
    .leftJoin('moves as mv', 'mv.server_id', 'j.server_id')
    .select(['j.id', 'j.server_id'])
    .where('j.status', '=', 'INIT')
    .where('mv.id', 'is', null)
    .execute()
  for (const q of queued) {
    violations.push({ invariant: 'job-finished', message: `sub-job ${q.id} waits for a move of ${q.server_id ?? '?'} that is not in flight` })
  }

  const heldBySource = new Map<string, { vcpus: number; ramMb: number }>()
  for (const m of await db.selectFrom('moves').select(['source_host_id', 'held_vcpus', 'held_ram_mb']).execute()) {
    const sum = heldBySource.get(m.source_host_id) ?? { vcpus: 0, ramMb: 0 }
    heldBySource.set(m.source_host_id, { vcpus: sum.vcpus + m.held_vcpus, ramMb: sum.ramMb + m.held_ram_mb })
  }
  const hosts = await db
    .selectFrom('hosts as h')
    .leftJoin('servers as s', (j) => j.onRef('s.host_id', '=', 'h.id').on('s.in_recycle_bin', '=', 0))
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
    const held = heldBySource.get(h.id) ?? { vcpus: 0, ramMb: 0 }
    const usedVcpus = Number(h.used_vcpus) + held.vcpus
    const usedRam = Number(h.used_ram_mb) + held.ramMb
    if (h.free_vcpus !== vcpuCapacity - usedVcpus || h.free_ram_mb !== ramCapacity - usedRam) {
      violations.push({
        invariant: 'capacity',
        message: `host ${h.id} records free ${h.free_vcpus} vCPU / ${h.free_ram_mb} MiB, but its servers and moves in flight use ${usedVcpus} / ${usedRam} of ${vcpuCapacity} / ${ramCapacity}`,
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

  // No server is lost: one on a host that has been down longer than the stuck threshold is being
  // evacuated (a task) or stranded in ERROR with a reason — never just left there.
  const abandoned = await db
    .selectFrom('servers as s')
    .innerJoin('hosts as h', 'h.id', 's.host_id')
    .select(['s.id', 'h.name', 'h.state_changed_at'])
    .where('h.state', '=', 'down')
    .where('h.state_changed_at', '<', stuckBefore)
    .where('s.in_recycle_bin', '=', 0)
    .where('s.task_state', 'is', null)
    .where('s.stranded', 'is', null)
    .execute()
  for (const r of abandoned) {
    violations.push({ invariant: 'no-server-lost', message: `server ${r.id} is on host ${r.name}, down since ${r.state_changed_at ?? '?'}, neither being evacuated nor stranded with a reason` })
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

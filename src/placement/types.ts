import type { Expression, ExpressionBuilder, SqlBool } from 'kysely'
import type { GroupPolicy } from '../domain/group.ts'
import type { Schema } from '../store/schema.ts'

/** The columns of a host that placement reads. */
export interface HostCandidate {
  id: string
  name: string
  az: string
  vcpus: number
  ram_mb: number
  free_vcpus: number
  free_ram_mb: number
  state: string
  enabled: number
  dedicated_to: string | null
  /** The host's fault domain (rack); null: a fault domain of its own. */
  fault_domain: string | null
}

/** What one placement needs: the size to fit, where, and which hosts the group already uses. */
export interface PlacementRequest {
  vcpus: number
  ramMb: number
  /** Restrict to one availability zone; undefined means any. */
  az: string | undefined
  /**
   * The policy of the group the server is placed for (it is a member, or joins it); undefined
   * for a server outside any group. Says which group filter or score reads the fields below.
   */
  groupPolicy: GroupPolicy | undefined
  /**
   * Hosts held by the other members of the group: their current hosts and the sources of their
   * moves in flight. For affinity, the member's own host too: it is where the group is.
   */
  groupHostIds: ReadonlySet<string>
  /**
   * How many holds of the other members each host of `groupHostIds` carries (a member and a move
   * away from a host count one each); a host of `groupHostIds` missing here counts one.
   */
  groupHostCounts?: ReadonlyMap<string, number> | undefined
  /** Anti-affinity: how many members one host may hold (`max_server_per_host`); undefined means 1. */
  maxServerPerHost?: number | undefined
  /**
   * A group that spreads over fault domains (an ecsd extension): the fault domains of
   * `groupHostIds`. A held host without a fault domain is a domain of its own, kept out through
   * `groupHostIds`. Undefined when the group does not spread, or for no group.
   */
  groupFaultDomains?: ReadonlySet<string> | undefined
  /**
   * Dedicated hosts: the project whose dedicated hosts may be used. Absent: the shared pool only,
   * where no dedicated host is ever a candidate.
   */
  dedicatedTo?: string | undefined
  /** Only this host (a named target, e.g. a dedicated host); it must still pass every filter. */
  requestedHostId?: string | undefined
  /** Hosts the server must leave (a redeploy's current host). */
  avoidHostIds?: ReadonlySet<string> | undefined
  /** Human description of what is placed, for the diagnosis ("ECS 1b2c… (2 vCPU, 4096 MiB)"). */
  subject: string
}

/**
 * A hard constraint on hosts. A filter exists twice on purpose, like a Kubernetes Filter
 * plugin pushed down into storage: `where` is the SQL predicate the candidate query uses (so the
 * database can use an index and never loads the fleet), and `passes` is the same rule as a pure
 * function, which re-checks every returned candidate and is what unit tests pin down. A test
 * asserts the two agree.
 */
export interface HostFilter {
  readonly name: string
  /** SQL predicate over `hosts`; undefined when the filter does not restrict this request. */
  where(eb: ExpressionBuilder<Schema, 'hosts'>, req: PlacementRequest): Expression<SqlBool> | undefined
  /** True when `host` is acceptable for `req`. */
  passes(host: HostCandidate, req: PlacementRequest): boolean
  /**
   * The filter as it appears in a diagnosis line, e.g. `AvailabilityZone(az1)`; undefined leaves
   * out a filter that has nothing to say about this request.
   */
  describe(req: PlacementRequest): string | undefined
}

/**
 * A soft preference among feasible hosts. `score` is 0–100 (higher is better); `orderColumn`
 * and `direction` tell the candidate query which hosts to fetch first so that the best-scored
 * hosts are among the few rows it returns.
 */
export interface HostScore {
  readonly name: string
  readonly orderColumn: 'free_ram_mb'
  readonly direction: 'asc' | 'desc'
  score(host: HostCandidate, req: PlacementRequest): number
}

/**
 * A soft group policy (Nova's ServerGroupSoftAffinityWeigher and
 * ServerGroupSoftAntiAffinityWeigher): ranks feasible hosts by the group's members on them and
 * never removes one. It applies only to requests whose `groupPolicy` is its `policy`, and
 * outranks the host score (spread or pack), which then orders hosts of equal group score.
 *
 * The candidate query returns only a few hosts ordered by the host score, and the members'
 * hosts need not be among them, so the engine also fetches the members' hosts that pass every
 * filter (at most the group's size); with `prefer` = 'fewer-members' the few rows of the
 * candidate query are taken among hosts without members, so that the best of those is seen too.
 */
export interface GroupScore {
  readonly name: string
  readonly policy: GroupPolicy
  readonly prefer: 'more-members' | 'fewer-members'
  /** 0–100, higher is better; a pure function of the host and the request's group counts. */
  score(host: HostCandidate, req: PlacementRequest): number
}

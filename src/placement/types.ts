import type { Expression, ExpressionBuilder, SqlBool } from 'kysely'
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
   * Hosts held by the other members of a distinct-host (anti-affinity) group: their current
   * hosts and the sources of their moves in flight.
   */
  groupHostIds: ReadonlySet<string>
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

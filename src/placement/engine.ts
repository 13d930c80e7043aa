import type { Expression, ExpressionBuilder, Kysely, SqlBool } from 'kysely'
import type { Logger } from 'pino'
import { noValidHost } from '../domain/errors.ts'
import type { Schema } from '../store/schema.ts'
import { DEFAULT_GROUP_SCORES } from './scores/group.ts'
import type { GroupScore, HostCandidate, HostFilter, HostScore, PlacementRequest } from './types.ts'

const CANDIDATE_COLUMNS = [
  'id', 'name', 'az', 'vcpus', 'ram_mb', 'free_vcpus', 'free_ram_mb', 'state', 'enabled', 'dedicated_to', 'fault_domain',
] as const

/** Engine settings. */
export interface PlacementOptions {
  filters: readonly HostFilter[]
  score: HostScore
  /** The soft group policies; default `DEFAULT_GROUP_SCORES` (soft-affinity, soft-anti-affinity). */
  groupScores?: readonly GroupScore[]
  /**
   * Pick at random among this many best-scored hosts (Nova's `host_subset_size`), so that
   * concurrent placements do not all contend for the single best host.
   */
  subsetSize: number
  logger?: Logger | undefined
  /** Injected for deterministic tests. */
  random?: () => number
  /** Told of every decision: whether a host was found. */
  onResult?: (result: 'placed' | 'no_valid_host') => void
}

/**
 * Chooses a host for one server. The filters run inside an indexed candidate query that
 * returns a handful of rows, never the fleet; the returned rows are re-checked by the pure
 * filters, scored, and one is picked among the best. When nothing fits, the error carries a
 * per-filter diagnosis computed by counting, so the operator sees which rule emptied the list.
 */
export class PlacementEngine {
  private readonly candidateLimit: number
  private readonly random: () => number
  private readonly groupScores: readonly GroupScore[]

  constructor(private readonly options: PlacementOptions) {
    this.candidateLimit = Math.max(8, options.subsetSize * 4)
    this.random = options.random ?? Math.random
    this.groupScores = options.groupScores ?? DEFAULT_GROUP_SCORES
  }

  /**
   * Returns the chosen host, or throws `Ecs.0319` with the diagnosis. Call inside the write
   * transaction. A soft group policy ranks first, the host score second; the random pick among
   * the best `subsetSize` hosts is taken only among hosts of the best group score, so that
   * spreading contention never trades away a soft policy.
   */
  async place(db: Kysely<Schema>, req: PlacementRequest): Promise<HostCandidate> {
    const { filters, score, subsetSize } = this.options
    const groupScore = this.groupScores.find((g) => g.policy === req.groupPolicy)
    const rows = await this.candidates(db, req, groupScore)
    const feasible = rows.filter((h) => filters.every((f) => f.passes(h, req)))
    if (feasible.length === 0) {
      this.options.onResult?.('no_valid_host')
      const diagnosis = await this.diagnose(db, req)
      this.options.logger?.info({ subject: req.subject, diagnosis }, 'no valid host')
      throw noValidHost(req.subject, diagnosis)
    }
    const ranked = feasible
      .map((host) => ({ host, group: groupScore?.score(host, req) ?? 0, score: score.score(host, req) }))
      .sort((a, b) => b.group - a.group || b.score - a.score || (a.host.id < b.host.id ? -1 : 1))
    const best = ranked.filter((r) => r.group === ranked[0]!.group)
    const pick = best[Math.floor(this.random() * Math.min(subsetSize, best.length))] ?? best[0]
    this.options.onResult?.('placed')
    return pick!.host
  }

  /**
   * The rows placement chooses from: the candidate query's few best hosts by the host score
   * and, for a soft group policy, also the hosts the group's members hold that pass every filter
   * (few: at most the group's size). Soft anti-affinity takes the candidate query's rows among
   * hosts without members, so that the best of those is always seen.
   */
  private async candidates(db: Kysely<Schema>, req: PlacementRequest, groupScore: GroupScore | undefined): Promise<HostCandidate[]> {
    const held = groupScore === undefined ? [] : [...req.groupHostIds]
    if (held.length === 0) return this.candidateQuery(db, req).execute()
    const rows = await this.candidateQuery(db, req, groupScore!.prefer === 'fewer-members' ? (eb) => eb('id', 'not in', held) : undefined).execute()
    const heldRows = await db
      .selectFrom('hosts')
      .select(CANDIDATE_COLUMNS)
      .where((eb) => eb.and([...predicates(this.options.filters, eb, req), eb('id', 'in', held)]))
      .orderBy('id')
      .execute()
    const seen = new Set(rows.map((r) => r.id))
    return [...rows, ...heldRows.filter((r) => !seen.has(r.id))]
  }

  /**
   * The indexed candidate query: every filter pushed down as SQL, ordered by the score's column,
   * a handful of rows; `extra` narrows it further. Exposed so that tests can check its plan.
   */
  candidateQuery(db: Kysely<Schema>, req: PlacementRequest, extra?: (eb: ExpressionBuilder<Schema, 'hosts'>) => Expression<SqlBool>) {
    const { filters, score } = this.options
    return db
      .selectFrom('hosts')
      .select(CANDIDATE_COLUMNS)
      .where((eb) => eb.and([...predicates(filters, eb, req), ...(extra === undefined ? [] : [extra(eb)])]))
      .orderBy(score.orderColumn, score.direction)
      // The tie-break runs in the same direction so that one index walk serves the whole ORDER
      // BY; otherwise a fleet of equally free hosts would be sorted in full on every placement.
      .orderBy('id', score.direction)
      .limit(this.candidateLimit)
  }

  /**
   * Counts the hosts left after each filter in turn: `HostState(up, enabled): 16 →
   * AvailabilityZone(az1): 8 → …`. Runs only when a placement failed.
   */
  async diagnose(db: Kysely<Schema>, req: PlacementRequest): Promise<string> {
    const { filters } = this.options
    const steps: string[] = []
    for (let i = 1; i <= filters.length; i++) {
      const label = filters[i - 1]!.describe(req)
      if (label === undefined) continue
      const applied = filters.slice(0, i)
      const row = await db
        .selectFrom('hosts')
        .select((eb) => eb.fn.countAll<number | string>().as('n'))
        .where((eb) => eb.and(predicates(applied, eb, req)))
        .executeTakeFirstOrThrow()
      steps.push(`${label}: ${Number(row.n)}`)
    }
    return steps.join(' → ')
  }
}

function predicates(
  filters: readonly HostFilter[],
  eb: Parameters<HostFilter['where']>[0],
  req: PlacementRequest,
): Expression<SqlBool>[] {
  return filters.flatMap((f) => {
    const p = f.where(eb, req)
    return p === undefined ? [] : [p]
  })
}

import { createHash, randomUUID } from 'node:crypto'
import { setTimeout as delay } from 'node:timers/promises'
import type { Logger } from 'pino'
import type { DriverCommand, HostDriver } from '../compute/driver.ts'
import { EcsError, invalidParameter } from '../domain/errors.ts'
import {
  defineFault, FAULT_STEPS, faultMatches, faultStepOf, FaultSpecError, readFaultSpec,
  type Fault, type FaultDefinition, type FaultMode, type FaultSpec, type FaultStep,
} from '../domain/fault.ts'
import type { Database } from '../store/database.ts'
import type { FaultTable } from '../store/tables/host-lifecycle.ts'
import { nowIso } from './time.ts'

/** How long a read of the faults serves driver steps before the next one goes to the database. */
export const FAULT_CACHE_MS = 250

/** How often a stalled step looks whether its fault was removed. */
export const STALL_POLL_MS = 100

/** A step that fails because a fault was injected; its message says so and names step, host and reason. */
export class InjectedFault extends Error {
  override name = 'InjectedFault'
  constructor(
    readonly fault: Fault,
    readonly hostName: string,
    subject: string | undefined,
  ) {
    super(`Injected fault ${fault.id}: the ${fault.step} step${subject === undefined ? '' : ` of ${subject}`} on host ${hostName} failed: ${fault.reason}`)
  }
}

/** A step held by a `stall` fault in this process. */
export interface StalledStep {
  faultId: string
  step: FaultStep
  /** The hosts the step runs on (a move: target, then source). */
  hostNames: readonly string[]
  /** What the step works on, e.g. `ECS <id>`. */
  subject: string | undefined
  since: string
}

/** The hosts whose heartbeats an injected fault stops, as the host monitor asks for them. */
export interface StoppedHeartbeats {
  /** A fault without a host: no host's heartbeats arrive. */
  everyHost: boolean
  hosts: Set<string>
}

/** Knobs of a fault service; the defaults are production's, tests inject the rest. */
export interface FaultServiceOptions {
  /** Source of the draws against a fault's probability: a number in [0, 1). */
  random?: () => number
  /** Milliseconds on a monotonic clock, for the cache's age. */
  clock?: () => number
  /** How long one read of the faults is reused (default `FAULT_CACHE_MS`). */
  cacheMs?: number
  /** How often a stalled step looks again (default `STALL_POLL_MS`). */
  stallPollMs?: number
  logger?: Logger
}

/**
 * Injected faults of the simulated hosts, kept in the database so that every replica applies
 * the same ones. Operators add and remove them (admin API, `ECSD_FAULTS`); the driver steps and
 * the host monitor read them through a cache refreshed at most every `FAULT_CACHE_MS`, so a
 * fault reaches every replica within a second without a query per step.
 */
export class FaultService {
  private readonly random: () => number
  private readonly clock: () => number
  private readonly cacheMs: number
  private readonly stallPollMs: number
  private readonly logger: Logger | undefined
  private cache: { faults: readonly Fault[]; readAt: number } | undefined
  private loading: Promise<readonly Fault[]> | undefined
  /** Bumped by every change made here, so that a read begun before it is not cached after it. */
  private generation = 0
  /** Each stalled step, with what ends its wait when the service closes. */
  private readonly stalls = new Map<StalledStep, AbortController>()
  /** Steps whose stalls the service no longer waits for (see `close`). */
  private readonly closedSteps = new Set<FaultStep>()

  constructor(
    private readonly database: Database,
    options: FaultServiceOptions = {},
  ) {
    this.random = options.random ?? Math.random
    this.clock = options.clock ?? (() => performance.now())
    this.cacheMs = options.cacheMs ?? FAULT_CACHE_MS
    this.stallPollMs = options.stallPollMs ?? STALL_POLL_MS
    this.logger = options.logger
  }

  /** Every fault, oldest first, as the database holds it now. */
  async list(): Promise<Fault[]> {
    const rows = await this.database.db.selectFrom('faults').selectAll().orderBy('created_at').orderBy('id').execute()
    return rows.map(faultOf)
  }

  /**
   * Adds a fault; it applies to the next step that matches. Refused (400 `Ecs.0005`) when a
   * field is wrong or the host does not exist.
   */
  async add(spec: FaultSpec): Promise<Fault> {
    const definition = defineFault(checked(spec))
    const fault: Fault = { ...definition, id: randomUUID(), createdAt: nowIso() }
    await this.database.transaction(async ({ db }) => {
      await assertHostsExist(db, [definition])
      await db.insertInto('faults').values(rowOf(fault)).execute()
    })
    this.invalidate()
    this.logger?.info({ fault }, 'fault injected')
    return fault
  }

  /** Removes a fault (404 `Ecs.0005` when there is none with that id); steps it stalls go ahead. */
  async remove(id: string): Promise<void> {
    const result = await this.database.transaction(({ db }) => db.deleteFrom('faults').where('id', '=', id).executeTakeFirst())
    if (Number(result.numDeletedRows) === 0) throw new EcsError('Ecs.0005', 404, `Fault ${id} does not exist; GET /admin/faults lists the injected faults.`)
    this.invalidate()
    this.logger?.info({ faultId: id }, 'fault removed')
  }

  /**
   * Adds the faults of the configuration (`ECSD_FAULTS`). Each one's id is a hash of its
   * content, so replicas that start together insert it once, and a restart does not add it
   * again (a configured fault removed through the API comes back at the next start). Returns
   * how many were new. Throws an `invalidParameter` error when one names a host that does not exist.
   */
  async applyConfigured(specs: readonly FaultSpec[]): Promise<number> {
    if (specs.length === 0) return 0
    const definitions = specs.map((spec) => defineFault(checked(spec)))
    const inserted = await this.database.transaction(async ({ db }) => {
      await assertHostsExist(db, definitions)
      let count = 0
      const createdAt = nowIso()
      for (const definition of definitions) {
        const result = await db
          .insertInto('faults')
          .values(rowOf({ ...definition, id: configuredFaultId(definition), createdAt }))
          .onConflict((oc) => oc.column('id').doNothing())
          .executeTakeFirst()
        count += Number(result.numInsertedOrUpdatedRows ?? 0)
      }
      return count
    })
    this.invalidate()
    return inserted
  }

  /**
   * The faults as read at most `FAULT_CACHE_MS` ago; concurrent callers share one read. When a
   * read fails, the previous one is used (and the next call tries again); with none, the error
   * is thrown.
   */
  async current(): Promise<readonly Fault[]> {
    if (this.cache && this.clock() - this.cache.readAt < this.cacheMs) return this.cache.faults
    if (this.loading) return this.loading
    const loading: Promise<readonly Fault[]> = this.load().finally(() => {
      if (this.loading === loading) this.loading = undefined
    })
    this.loading = loading
    return loading
  }

  /**
   * Runs before a step on the given hosts: each matching fault, oldest first, is drawn against
   * its probability; the first that hits decides — `fail` throws an `InjectedFault`, `stall`
   * waits until that fault is removed and then looks at the faults again. Returns when no fault
   * hits. The `FaultingDriver` calls it before every driver step and before fencing a host.
   */
  async beforeStep(step: FaultStep, hostNames: readonly string[], subject?: string): Promise<void> {
    for (;;) {
      const hit = this.draw(await this.current(), step, hostNames)
      if (hit === undefined) return
      const hostName = hit.hostName ?? hostNames[0] ?? 'unknown'
      this.logger?.info({ faultId: hit.id, step, mode: hit.mode, hostName, subject }, 'injected fault hit a step')
      if (hit.mode === 'fail') throw new InjectedFault(hit, hostName, subject)
      await this.stallUntilRemoved(hit, hostNames, subject)
    }
  }

  /**
   * For the host monitor: whose heartbeats injected faults stop now (step `heartbeat`; the mode
   * does not matter). A fault with a probability below 1 is drawn at every call, so it drops
   * that share of the rounds of heartbeats.
   */
  async heartbeatsStopped(): Promise<StoppedHeartbeats> {
    const stopped: StoppedHeartbeats = { everyHost: false, hosts: new Set() }
    for (const fault of await this.current()) {
      if (fault.step !== 'heartbeat' || !this.hits(fault)) continue
      if (fault.hostName === null) stopped.everyHost = true
      else stopped.hosts.add(fault.hostName)
    }
    return stopped
  }

  /** The steps `stall` faults hold in this process now. */
  get stalled(): readonly StalledStep[] {
    return [...this.stalls.keys()]
  }

  /**
   * Ends the waits of the stalled steps of these kinds (default: all) with an error, now and
   * from now on. For driver steps, call it after the job runner stopped: the runner then
   * records nothing for those steps, and the next runner performs them again. A `fence` ended
   * this way fails like a `fail` fault's, and the next look at the host fences it again.
   */
  close(steps: readonly FaultStep[] = FAULT_STEPS): void {
    for (const step of steps) this.closedSteps.add(step)
    for (const [stall, ending] of this.stalls) {
      if (this.closedSteps.has(stall.step)) ending.abort()
    }
  }

  private draw(faults: readonly Fault[], step: FaultStep, hostNames: readonly string[]): Fault | undefined {
    return faults.find((fault) => faultMatches(fault, step, hostNames) && this.hits(fault))
  }

  private hits(fault: Fault): boolean {
    return fault.probability >= 1 || this.random() < fault.probability
  }

  private async stallUntilRemoved(fault: Fault, hostNames: readonly string[], subject: string | undefined): Promise<void> {
    const stall: StalledStep = { faultId: fault.id, step: fault.step, hostNames, subject, since: nowIso() }
    const ending = new AbortController()
    if (this.closedSteps.has(stall.step)) ending.abort()
    this.stalls.set(stall, ending)
    try {
      for (;;) {
        try {
          // Unref'd: a stalled step must not keep a stopping process alive.
          await delay(this.stallPollMs, undefined, { ref: false, signal: ending.signal })
        } catch {
          throw new Error(`ecsd is stopping: the ${fault.step} step stalled by fault ${fault.id} was not performed (a job's step is left to its next runner)`)
        }
        const faults = await this.current().catch((err: unknown) => {
          this.logger?.warn({ err, faultId: fault.id }, 'could not read the injected faults; the stalled step keeps waiting')
          return undefined
        })
        if (faults !== undefined && !faults.some((f) => f.id === fault.id)) return
      }
    } finally {
      this.stalls.delete(stall)
    }
  }

  private async load(): Promise<readonly Fault[]> {
    const generation = this.generation
    const readAt = this.clock()
    try {
      const faults = await this.list()
      if (generation === this.generation) this.cache = { faults, readAt }
      return faults
    } catch (err) {
      if (!this.cache) throw err
      this.logger?.warn({ err }, 'could not read the injected faults; using the previous read')
      return this.cache.faults
    }
  }

  /** Forgets the cached read: this process sees its own changes at once. */
  private invalidate(): void {
    this.generation++
    this.cache = undefined
    this.loading = undefined
  }
}

/**
 * A host driver with injected faults in front of another one: before each step, the faults
 * that match it (its step, and its host — for a move, its target or its source) are drawn; a
 * `fail` rejects with an `InjectedFault`, which the job records as its reason (a move is rolled
 * back, a create ends in ERROR, every other step leaves the server as it was); a `stall` holds
 * the step until the fault is removed. Otherwise the wrapped driver performs the step.
 */
export class FaultingDriver implements HostDriver {
  readonly movesStoppedServersInstantly: boolean

  constructor(
    private readonly inner: HostDriver,
    private readonly faults: FaultService,
  ) {
    this.movesStoppedServersInstantly = inner.movesStoppedServersInstantly === true
  }

  async perform(command: DriverCommand): Promise<void> {
    const hostNames = command.move ? [...new Set([command.move.to, command.move.from])] : [command.hostName]
    await this.faults.beforeStep(faultStepOf(command.operation), hostNames, `ECS ${command.serverId}`)
    await this.inner.perform(command)
  }

  /** Fences a returning host (step `fence`), through the wrapped driver when it fences at all. */
  async fence(hostName: string, keep: readonly string[]): Promise<void> {
    await this.faults.beforeStep('fence', [hostName])
    await this.inner.fence?.(hostName, keep)
  }
}

/** A spec checked field by field; a wrong one is a 400 `Ecs.0005` naming the field. */
function checked(spec: FaultSpec): FaultSpec {
  try {
    return readFaultSpec(spec)
  } catch (err) {
    if (err instanceof FaultSpecError) throw invalidParameter(`fault: ${err.message}`)
    throw err
  }
}

async function assertHostsExist(db: Database['db'], definitions: readonly FaultDefinition[]): Promise<void> {
  const named = [...new Set(definitions.flatMap((d) => (d.hostName === null ? [] : [d.hostName])))]
  if (named.length === 0) return
  const found = new Set((await db.selectFrom('hosts').select('name').where('name', 'in', named).execute()).map((h) => h.name))
  const missing = named.filter((name) => !found.has(name))
  if (missing.length > 0) {
    throw invalidParameter(`fault: host ${missing.map((m) => `"${m}"`).join(', ')} does not exist (GET /admin/hosts lists the hosts; leave host out for every host)`)
  }
}

/** The id of a configured fault: the same content always gets the same id, in every replica. */
export function configuredFaultId(definition: FaultDefinition): string {
  const { hostName, step, mode, probability, reason } = definition
  const hex = createHash('sha256').update(JSON.stringify([hostName, step, mode, probability, reason])).digest('hex')
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`
}

function faultOf(row: FaultTable): Fault {
  return {
    id: row.id,
    hostName: row.host_name,
    step: row.step as FaultStep,
    mode: row.mode as FaultMode,
    probability: Number(row.probability),
    reason: row.reason,
    createdAt: row.created_at,
  }
}

function rowOf(fault: Fault): FaultTable {
  return {
    id: fault.id, host_name: fault.hostName, step: fault.step, mode: fault.mode, probability: fault.probability, reason: fault.reason,
    created_at: fault.createdAt,
  }
}

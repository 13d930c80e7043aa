import type { Logger } from 'pino'
import type { Config, Quotas } from '../config.ts'
import { SimulatedDriver, type HostDriver } from '../compute/driver.ts'
import { subsystem } from '../logger.ts'
import { Metrics } from '../metrics.ts'
import { PlacementEngine, type PlacementOptions } from '../placement/engine.ts'
import { DEFAULT_FILTERS } from '../placement/filters/index.ts'
import { SCORES } from '../placement/scores/index.ts'
import type { Database } from '../store/database.ts'
import { AgentDriver } from './agent-driver.ts'
import { AgentTaskQueue } from './agent-tasks.ts'
import { ConsoleService } from './consoles.ts'
import { EventPruner } from './events.ts'
import { FaultingDriver, FaultService } from './faults.ts'
import { GroupService } from './groups.ts'
import { HostMonitor } from './host-monitor.ts'
import { HostService } from './hosts.ts'
import { IdentityService } from './identity/index.ts'
import type { SecretBox } from './identity/secrets.ts'
import { JobRunner } from './jobs.ts'
import { KeypairService } from './keypairs.ts'
import { NovaServerService } from './nova-servers.ts'
import { RecycleBinService } from './recycle-bin.ts'
import { ScheduledEventService } from './scheduled-events.ts'
import { ServerMoveService } from './server-moves.ts'
import { AutoTerminator } from './server-attributes.ts'
import { ServerOsService } from './server-os.ts'
import { ServerService } from './servers.ts'

/** How long a console read waits for a host's agent: its tasks are quick, unless it is cut off. */
const CONSOLE_AGENT_TIMEOUT_MS = 15_000

/** Everything the HTTP edge calls, wired once per process. */
export interface Services {
  database: Database
  quotas: Quotas
  placement: PlacementEngine
  jobs: JobRunner
  groups: GroupService
  servers: ServerService
  moves: ServerMoveService
  recycleBin: RecycleBinService
  hosts: HostService
  /** The work queue of host agents (the agent API hands it out). */
  agentTasks: AgentTaskQueue
  /** Serial consoles: read through the host's agent, or described on a simulated host. */
  consoles: ConsoleService
  /** Heartbeats, failure detection, evacuation, fencing, drains, scheduled events: started by the server process. */
  hostMonitor: HostMonitor
  /** Planned host maintenance and the Huawei scheduled events tenants answer; carried forward by the host monitor. */
  scheduledEvents: ScheduledEventService
  identity: IdentityService
  /** The OpenStack Compute API's servers: Nova's multi-create, reservations, unplaced servers, ports, security groups. */
  novaServers: NovaServerService
  /** Key pairs of the OpenStack Compute API. */
  keypairs: KeypairService
  /** Reinstall and change of OS, passwords, console URLs, crash dumps, monitoring registration. */
  serverOs: ServerOsService
  /** Injected faults of the simulated hosts (admin API, `ECSD_FAULTS`, the host monitor's heartbeats). */
  faults: FaultService
  config: Config
  metrics: Metrics
}

/**
 * Wires the services over a database; `driver` defaults to the simulated one behind the injected
 * faults (a driver a test passes is used as it is). `placementEngine`
 * builds the engine from the options configured here (default: a plain `PlacementEngine`); tests
 * pass a subclass to stop a placement between choosing a host and claiming it.
 */
export function createServices(
  config: Config, database: Database, logger: Logger, box: SecretBox, driver?: HostDriver,
  placementEngine: (options: PlacementOptions) => PlacementEngine = (options) => new PlacementEngine(options),
): Services {
  const metrics = new Metrics()
  database.onRetry = (code) => metrics.transactionRetries.inc({ code })
  const placement = placementEngine({
    onResult: (result) => metrics.placements.inc({ result }),
    filters: DEFAULT_FILTERS,
    score: SCORES[config.placement.score],
    subsetSize: config.placement.subsetSize,
    logger: subsystem(logger, 'placement'),
  })
  const faults = new FaultService(database, { logger: subsystem(logger, 'faults') })
  const agentTasks = new AgentTaskQueue(database, { pollMs: 100 })
  // Hosts whose agent has reported get their steps as agent tasks; the others are simulated,
  // behind the injected faults.
  const hostDriver = driver ?? new AgentDriver(database, agentTasks, new FaultingDriver(new SimulatedDriver({ latencyMs: config.driverLatencyMs, disks: config.simulatedDisks }), faults))
  const jobs = new JobRunner(database, hostDriver, subsystem(logger, 'jobs'), {
    leaseMs: config.jobLeaseMs,
    sweepMs: config.jobSweepMs,
    events: new EventPruner(database, { days: config.eventRetentionDays, maxRows: config.eventRetentionMax }),
  })
  const deps = { database, placement, quotas: config.quotas }
  const identity = new IdentityService(database, box, config.tokenTtlMs, {
    listenUrl: database.dialect === 'postgres' ? config.databaseUrl : undefined,
    logger: subsystem(logger, 'identity'),
  })
  const moves = new ServerMoveService({ ...deps, jobs })
  const servers = new ServerService({ ...deps, jobs })
  const autoTerminator = new AutoTerminator(database, servers)
  jobs.alsoSweep(() => autoTerminator.runIfDue())
  const hosts = new HostService(database, identity)
  const scheduledEvents = new ScheduledEventService(database, moves, subsystem(logger, 'events'))
  const hostMonitor = new HostMonitor(database, hosts, moves, faults, hostDriver, subsystem(logger, 'hosts'), {
    downAfterMs: config.hostDownAfterMs,
    intervalMs: config.jobSweepMs,
    simulateHeartbeats: config.simulatedHeartbeats,
  }, scheduledEvents)
  return {
    ...deps,
    jobs,
    groups: new GroupService({ ...deps, jobs, logger: subsystem(logger, 'groups') }),
    servers,
    moves,
    recycleBin: new RecycleBinService({ ...deps, jobs }),
    hosts,
    agentTasks,
    consoles: new ConsoleService(database, agentTasks, { agentTimeoutMs: CONSOLE_AGENT_TIMEOUT_MS }),
    hostMonitor,
    scheduledEvents,
    identity,
    novaServers: new NovaServerService({ ...deps, jobs, servers }),
    keypairs: new KeypairService(database),
    serverOs: new ServerOsService({ database, jobs, box }),
    faults,
    config,
    metrics,
  }
}

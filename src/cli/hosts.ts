/**
 * `ecsd hosts …`: hosts as operators manage them — list, show, add, disable, enable, drain,
 * fail, maintenance, remove — either on the database itself (`--data-dir`/`--database`, as
 * `migrate` and `projects` work) or against a running server's admin API (`--endpoint` with an
 * admin credential). One client interface, two implementations, both answering in the admin
 * API's JSON shapes: every command, and its `--json` output, is written once.
 */
import { setTimeout as sleep } from 'node:timers/promises'
import type { Command } from 'commander'
import type { detailBody, hostBody } from '../api/admin/hosts.ts'
import { EcsdClient, EndpointError } from '../api/client.ts'
import { ConfigError, readSettings } from '../config.ts'
import { DRAIN_REASON, DRAINED_REASON } from '../domain/host.ts'
import { boundedText, hostName, isoTime, nonNegativeInt, positiveInt } from './arguments.ts'
import { fields, print, printJson, progressBar, table } from './output.ts'

/** A host as `GET /admin/hosts` lists it. */
export type HostBody = ReturnType<typeof hostBody>
/** A host with its servers, as `GET /admin/hosts/{name}` shows it. */
export type HostDetailBody = ReturnType<typeof detailBody>

/** One action of `POST /admin/hosts/{name}/action`, in its wire shape. */
export type HostAction =
  | { disable: { reason?: string } }
  | { enable: Record<string, never> }
  | { drain: Record<string, never> }
  | { fail: Record<string, never> }

/** The body of `POST /admin/hosts` (the `host` object). */
export interface NewHostBody {
  name: string
  availability_zone: string
  vcpus: number
  ram_mb: number
  fault_domain?: string
  dedicated_to?: string
}

/** A maintenance window to plan: the `maintenance` action's body (ISO 8601 times). */
export interface MaintenanceWindowBody {
  not_before: string
  deadline?: string
}

/** What planning maintenance answers: the host, and the window with its scheduled events. */
export interface PlannedMaintenance {
  host: HostDetailBody
  maintenance: { host_event_id: string; not_before: string; deadline: string; events: number; created: number }
}

/** What adding a host answers: the host, and its agent's credential, shown this once. */
export interface AddedHost {
  host: HostDetailBody
  credential: { access: string; secret: string }
}

/** Where the hosts commands act: the database itself, or a running server. */
export interface HostsClient {
  list(): Promise<HostBody[]>
  show(name: string): Promise<HostDetailBody>
  add(host: NewHostBody): Promise<AddedHost>
  act(name: string, action: HostAction): Promise<HostDetailBody>
  planMaintenance(name: string, window: MaintenanceWindowBody): Promise<PlannedMaintenance>
  remove(name: string): Promise<void>
  /**
   * Moves a drain forward where nothing else would: on the database, one pass of the host
   * monitor's drain, after taking over the moves of processes that died; against a server,
   * nothing — its own monitor does the moving. Answers why servers could not move yet.
   */
  advanceDrain(name: string): Promise<string[]>
  /** A server's serial console from `offset`, as `GET /admin/servers/{id}/console` answers it. */
  console(serverId: string, offset: number): Promise<ConsoleBody>
  close(): Promise<void>
}

/** A piece of a serial console, as the admin API answers it. */
export interface ConsoleBody {
  server_id: string
  host: string
  offset: number
  next_offset: number
  data: string
  simulated: boolean
}

/** A failure to report as one line and exit 1: an answer of the admin API, or an unreachable server. */
export class HostsCommandError extends Error {
  override name = 'HostsCommandError'
}

/** The hosts commands against a running server: signed requests to `/admin/hosts`. */
class ServerHosts implements HostsClient {
  constructor(private readonly client: EcsdClient) {}

  async list(): Promise<HostBody[]> {
    return (await this.call<{ hosts: HostBody[] }>('GET', '')).hosts
  }

  async show(name: string): Promise<HostDetailBody> {
    return (await this.call<{ host: HostDetailBody }>('GET', `/${encodeURIComponent(name)}`)).host
  }

  add(host: NewHostBody): Promise<AddedHost> {
    return this.call<AddedHost>('POST', '', { host })
  }

  async act(name: string, action: HostAction): Promise<HostDetailBody> {
    return (await this.call<{ host: HostDetailBody }>('POST', `/${encodeURIComponent(name)}/action`, action)).host
  }

  planMaintenance(name: string, maintenance: MaintenanceWindowBody): Promise<PlannedMaintenance> {
    return this.call<PlannedMaintenance>('POST', `/${encodeURIComponent(name)}/action`, { maintenance })
  }

  async remove(name: string): Promise<void> {
    await this.call<undefined>('DELETE', `/${encodeURIComponent(name)}`)
  }

  async advanceDrain(): Promise<string[]> {
    return []
  }

  async console(serverId: string, offset: number): Promise<ConsoleBody> {
    try {
      return (await this.client.call<{ console: ConsoleBody }>('GET', `/admin/servers/${encodeURIComponent(serverId)}/console?offset=${offset}`)).console
    } catch (err) {
      if (err instanceof EndpointError) throw new HostsCommandError(err.message)
      throw err
    }
  }

  close(): Promise<void> {
    return this.client.close()
  }

  /** An answer of the admin API, or a HostsCommandError saying why there is none (refused, unreachable, not trusted). */
  private async call<T>(method: string, pathAfterHosts: string, body?: unknown): Promise<T> {
    try {
      return await this.client.call<T>(method, `/admin/hosts${pathAfterHosts}`, body)
    } catch (err) {
      if (err instanceof EndpointError) throw new HostsCommandError(err.message)
      throw err
    }
  }
}

/** The options every hosts command takes. */
export interface TargetFlags {
  dataDir?: string
  database?: string
  endpoint?: string
  accessKey?: string
  secretKey?: string
  ca?: string
  json?: boolean
}

/**
 * Opens the client the flags ask for. Flags win over the environment: `--endpoint` talks to a
 * server, `--data-dir`/`--database` to the database; with neither, `ECSD_ENDPOINT` chooses the
 * server, and otherwise the database is the one `migrate` would use.
 */
async function openClient(flags: TargetFlags, rawEnv: NodeJS.ProcessEnv = process.env): Promise<HostsClient> {
  const env = readSettings(rawEnv)
  const databaseFlag = flags.dataDir ?? flags.database
  if (flags.endpoint !== undefined && databaseFlag !== undefined) {
    throw new ConfigError('give --endpoint (a running server) or --data-dir/--database (the database itself), not both')
  }
  const endpoint = flags.endpoint ?? (databaseFlag === undefined ? env.ECSD_ENDPOINT : undefined)
  if (endpoint === undefined) {
    if (flags.accessKey !== undefined || flags.secretKey !== undefined || flags.ca !== undefined) {
      throw new ConfigError('--access-key, --secret-key and --ca are for requests to a server: give --endpoint too')
    }
    const { openDatabaseHosts } = await import('./hosts-database.ts')
    return openDatabaseHosts(flags)
  }
  const url = URL.canParse(endpoint) ? new URL(endpoint) : undefined
  if (url === undefined || (url.protocol !== 'http:' && url.protocol !== 'https:')) {
    throw new ConfigError(`--endpoint / ECSD_ENDPOINT must be an http:// or https:// URL, got "${endpoint}"`)
  }
  const accessKey = flags.accessKey ?? env.ECSD_ACCESS_KEY
  const secretKey = flags.secretKey ?? env.ECSD_SECRET_KEY
  if (accessKey === undefined || secretKey === undefined) {
    throw new ConfigError('--endpoint needs an admin credential: --access-key and --secret-key (or ECSD_ACCESS_KEY and ECSD_SECRET_KEY)')
  }
  if (!/^[^\s,]+$/.test(accessKey)) throw new ConfigError(`--access-key / ECSD_ACCESS_KEY is not an access key: "${accessKey}"`)
  return new ServerHosts(new EcsdClient({ endpoint: url, credential: { accessKey, secretKey }, caFile: flags.ca ?? env.ECSD_CA_FILE }))
}

/** Runs `fn` with the client of the flags, closed afterwards. */
async function withClient<T>(flags: TargetFlags, fn: (client: HostsClient) => Promise<T>): Promise<T> {
  const client = await openClient(flags)
  try {
    return await fn(client)
  } finally {
    await client.close()
  }
}

function adminText(h: HostBody): string {
  return h.admin_reason === null ? h.admin_state : `${h.admin_state} (${h.admin_reason})`
}

function serversText(h: HostBody): string {
  return h.moving_out === 0 ? String(h.servers) : `${h.servers} +${h.moving_out} moving out`
}

function listText(hosts: HostBody[]): string {
  return table(
    ['name', 'az', 'fault domain', 'state', 'admin state', 'vcpu used/cap', 'ram mib used/cap', 'servers'],
    hosts.map((h) => [
      h.name, h.availability_zone, h.fault_domain ?? '-', h.state, adminText(h),
      `${h.used.vcpus}/${h.capacity.vcpus}`, `${h.used.ram_mb}/${h.capacity.ram_mb}`, serversText(h),
    ]),
    '(no hosts)',
  )
}

function since(at: string | null): string {
  return at === null ? '' : ` since ${at}`
}

function showText(h: HostDetailBody): string {
  const head = fields([
    ['name', h.name],
    ['id', h.id],
    ['availability zone', h.availability_zone],
    ['fault domain', h.fault_domain ?? '- (a fault domain of its own)'],
    ['dedicated to', h.dedicated_to === null ? '- (shared pool)' : `project ${h.dedicated_to}`],
    ['power state', `${h.state}${since(h.state_changed_at)}${h.last_heartbeat_at === null ? '' : `, last heartbeat ${h.last_heartbeat_at}`}`],
    ['admin state', `${adminText(h)}${since(h.admin_changed_at)}`],
    ['schedulable', h.schedulable ? 'yes' : 'no'],
    ['agent', h.agent],
    ['vCPU', `${h.used.vcpus} used / ${h.capacity.vcpus} capacity (${h.vcpus} × allocation ratio ${h.cpu_allocation_ratio}), ${h.free_vcpus} free`],
    ['RAM', `${h.used.ram_mb} MiB used / ${h.capacity.ram_mb} MiB capacity (${h.ram_mb} MiB × allocation ratio ${h.ram_allocation_ratio}), ${h.free_ram_mb} MiB free`],
    ['servers', `${h.servers} on it, ${h.moving_out} moving out`],
  ])
  const servers = table(
    ['server id', 'name', 'project', 'status', 'task', 'vcpu', 'ram mib', 'moving'],
    h.server_list.map((s) => [s.id, s.name, s.project_id, s.status, s.task_state ?? '-', String(s.vcpus), String(s.ram_mb), s.moving ?? '-']),
    '(no servers)',
  )
  return `${head}\n\n${servers}`
}

/** One line on a host after an action: its admin and power state and what is on it. */
function stateLine(h: HostBody): string {
  return `host ${h.name}: ${adminText(h)}, power ${h.state}, ${h.servers} server${h.servers === 1 ? '' : 's'}${h.moving_out === 0 ? '' : `, ${h.moving_out} moving out`}`
}

/** Prints a host after an action: its JSON, or its state line. */
function printAction(flags: TargetFlags, host: HostDetailBody): void {
  if (flags.json) printJson({ host })
  else print(stateLine(host))
}

const isDrained = (h: HostBody) => h.admin_state === 'maintenance' && h.admin_reason === DRAINED_REASON
const isDraining = (h: HostBody) => h.admin_state === 'maintenance' && h.admin_reason === DRAIN_REASON

/** How often a waiting drain looks again. */
const DRAIN_POLL_MS = 250

/**
 * A drain's progress on stderr: a bar on a terminal, and otherwise a line each time something
 * changes (servers moved, moving, left, or why they wait), since a drain may wait long.
 */
function drainProgress(name: string): { update(h: HostBody, blocked: string[]): void; end(): void } {
  const bar = progressBar({ lines: true })
  let total = 0
  return {
    update(h, blocked) {
      const left = h.servers + h.moving_out
      total = Math.max(total, left)
      const moved = total - left
      const waiting = blocked.length === 0 ? '' : ` — waiting: ${blocked[0]}${blocked.length > 1 ? ` (and ${blocked.length - 1} more)` : ''}`
      bar.update(moved, total, isDrained(h)
        ? `drain ${name}: done, ${moved}/${total} servers moved off`
        : `drain ${name}: ${moved}/${total} servers moved off, ${h.moving_out} moving, ${h.servers} to go${waiting}`)
    },
    end: () => bar.end(),
  }
}

/**
 * Waits until the host is drained, moving the drain forward (`advanceDrain`) and showing its
 * progress; answers the drained host, or undefined when interrupted (SIGINT, SIGTERM).
 */
async function waitForDrain(client: HostsClient, name: string, first: HostDetailBody): Promise<HostDetailBody | undefined> {
  const progress = drainProgress(name)
  const interrupted = new AbortController()
  const interrupt = () => interrupted.abort()
  process.once('SIGINT', interrupt)
  process.once('SIGTERM', interrupt)
  try {
    let host = first
    progress.update(host, [])
    while (!isDrained(host)) {
      if (interrupted.signal.aborted) return undefined
      if (!isDraining(host)) {
        throw new HostsCommandError(`the drain of ${name} ended before it finished: the host is now ${adminText(host)}`)
      }
      const blocked = await client.advanceDrain(name)
      host = await client.show(name)
      progress.update(host, blocked)
      // An interrupt ends the wait at once; the loop then stops.
      if (!isDrained(host)) await sleep(DRAIN_POLL_MS, undefined, { signal: interrupted.signal }).catch(() => undefined)
    }
    return host
  } finally {
    progress.end()
    process.off('SIGINT', interrupt)
    process.off('SIGTERM', interrupt)
  }
}

// The limits of the admin API's request schema (src/api/admin/hosts.ts): the database mode checks
// the same, so a command is refused alike in both modes.
const MAX_VCPUS = 100_000
const MAX_RAM_MB = 1_000_000_000
const MAX_ZONE_LENGTH = 255
const MAX_FAULT_DOMAIN_LENGTH = 64
const MAX_PROJECT_ID_LENGTH = 64
const MAX_REASON_LENGTH = 255

/** How often `hosts console --follow` reads again. */
const CONSOLE_FOLLOW_MS = 1000

const TARGET_HELP = `
Where it acts (flags win over the environment):
  --data-dir DIR / --database URL   the database itself, as migrate does (ECSD_DATA_DIR,
                                    ECSD_DATABASE_URL; default ./data)
  --endpoint URL                    a running ecsd, signed with an admin credential:
                                    --access-key/--secret-key or ECSD_ACCESS_KEY/ECSD_SECRET_KEY
                                    (ECSD_ENDPOINT selects it when no flag says otherwise);
                                    an https:// server is verified against --ca FILE
                                    (ECSD_CA_FILE), or the public roots without it`

/** Adds a hosts subcommand with the options every one of them takes. */
function hostsCommand(hosts: Command, name: string, description: string): Command {
  return hosts
    .command(name)
    .description(description)
    .option('--json', 'print the admin API\'s JSON instead of text')
    .option('--data-dir <dir>', 'act on the SQLite database in this data directory (env ECSD_DATA_DIR, default ./data)')
    .option('--database <url>', 'act on this PostgreSQL database, postgres://… (env ECSD_DATABASE_URL)')
    .option('--endpoint <url>', 'act through a running ecsd at this URL (env ECSD_ENDPOINT)')
    .option('--access-key <ak>', 'admin access key for --endpoint (env ECSD_ACCESS_KEY)')
    .option('--secret-key <sk>', 'its secret key (env ECSD_SECRET_KEY, the better way: a flag shows in the process list)')
    .option('--ca <file>', 'trust only this PEM CA for an https:// --endpoint (env ECSD_CA_FILE; default: the public roots)')
    .addHelpText('after', TARGET_HELP)
}

/**
 * `ecsd hosts list|show|add|disable|enable|drain|fail|maintenance|remove`. Text by default,
 * `--json` for scripts; a refused operation prints one line `ecsd: …` and exits 1, a usage or
 * configuration error exits 2.
 */
export function registerHostCommands(program: Command): void {
  const hosts = program
    .command('hosts')
    .description('manage compute hosts: capacity, admin state, drains, failures, maintenance')

  hostsCommand(hosts, 'list', 'list hosts: zone, fault domain, power and admin state, vCPU and RAM used of capacity, servers')
    .action(async (flags: TargetFlags) => {
      const list = await withClient(flags, (client) => client.list())
      if (flags.json) printJson({ hosts: list })
      else print(listText(list))
    })

  hostsCommand(hosts, 'show', 'show one host: its zone, capacity and allocation ratios, used and free, fault domain, power and admin state with reason and time, and its servers')
    .argument('<name>', 'host name')
    .action(async (name: string, flags: TargetFlags) => {
      const host = await withClient(flags, (client) => client.show(name))
      if (flags.json) printJson({ host })
      else print(showText(host))
    })

  hostsCommand(hosts, 'add', 'add a host, up and enabled; prints its agent\'s credential, shown only this once')
    .argument('<name>', 'host name (letters, digits, ".", "_", "-")', hostName)
    .requiredOption('--az <az>', 'availability zone', boundedText(MAX_ZONE_LENGTH))
    .requiredOption('--vcpus <n>', 'physical vCPUs', positiveInt(MAX_VCPUS))
    .requiredOption('--ram-mb <n>', 'physical RAM in MiB', positiveInt(MAX_RAM_MB))
    .option('--fault-domain <fd>', 'the rack (failure unit) it is in; default: a fault domain of its own', boundedText(MAX_FAULT_DOMAIN_LENGTH))
    .option('--dedicated-to <project>', 'dedicate it to this project (a dedicated host); default: the shared pool', boundedText(MAX_PROJECT_ID_LENGTH))
    .action(async (name: string, flags: TargetFlags & { az: string; vcpus: number; ramMb: number; faultDomain?: string; dedicatedTo?: string }) => {
      const added = await withClient(flags, (client) =>
        client.add({
          name, availability_zone: flags.az, vcpus: flags.vcpus, ram_mb: flags.ramMb,
          ...(flags.faultDomain === undefined ? {} : { fault_domain: flags.faultDomain }),
          ...(flags.dedicatedTo === undefined ? {} : { dedicated_to: flags.dedicatedTo }),
        }),
      )
      if (flags.json) {
        // The names an agent's flags and scripts use (`ecsd agent --access-key … --secret-key …`).
        printJson({ host: added.host, access_key: added.credential.access, secret_key: added.credential.secret })
        return
      }
      print(showText(added.host))
      print(`\nAgent credential of ${name} (shown only now; store it safely):\n  AK  ${added.credential.access}\n  SK  ${added.credential.secret}`)
    })

  hostsCommand(hosts, 'disable', 'take a host out of placement; its servers stay')
    .argument('<name>', 'host name')
    .option('--reason <text>', 'why, shown with its admin state', boundedText(MAX_REASON_LENGTH))
    .action(async (name: string, flags: TargetFlags & { reason?: string }) => {
      const disable = flags.reason === undefined ? {} : { reason: flags.reason }
      printAction(flags, await withClient(flags, (client) => client.act(name, { disable })))
    })

  hostsCommand(hosts, 'enable', 'put a host back into placement (also ends a drain or maintenance)')
    .argument('<name>', 'host name')
    .action(async (name: string, flags: TargetFlags) => {
      printAction(flags, await withClient(flags, (client) => client.act(name, { enable: {} })))
    })

  hostsCommand(hosts, 'drain', 'move every server off a host, then leave it in maintenance (drained); shows the progress until done')
    .argument('<name>', 'host name')
    .option('--no-wait', 'start the drain and return at once')
    .addHelpText('after', `
The host takes no new servers from the start; its servers move off it live if they run, cold
if not. Against a server (--endpoint), the server's host monitor moves them and this command
follows. On the database (--data-dir/--database) this command does the moving itself, as a
server's host monitor would, so it works with no server running. Interrupted (Ctrl-C, a crash),
the host stays in drain: run the command again to resume. While no host can take a server, it
waits (on the database, it says why); add or enable capacity and it goes on.`)
    .action(async (name: string, flags: TargetFlags & { wait: boolean }) => {
      await withClient(flags, async (client) => {
        const started = await client.act(name, { drain: {} })
        const host = flags.wait ? await waitForDrain(client, name, started) : started
        if (host === undefined) {
          process.stderr.write(`ecsd: interrupted; host ${name} stays in drain: run ecsd hosts drain ${name} again to resume\n`)
          process.exitCode = 130
          return
        }
        printAction(flags, host)
      })
    })

  hostsCommand(hosts, 'fail', 'declare a host dead now: it goes down and its servers are evacuated')
    .argument('<name>', 'host name')
    .addHelpText('after', `
A server's host monitor evacuates the servers (at once against --endpoint; on the database,
when a server next runs). A simulated host stays down until its heartbeat fault is deleted
(DELETE /admin/faults/{id}); a real agent's host comes back, fenced, when its agent reports.`)
    .action(async (name: string, flags: TargetFlags) => {
      printAction(flags, await withClient(flags, (client) => client.act(name, { fail: {} })))
    })

  hostsCommand(hosts, 'maintenance', 'plan a maintenance window of a host; its servers\' tenants see scheduled events')
    .argument('<name>', 'host name')
    .requiredOption('--not-before <time>', 'the window starts no earlier than this (ISO 8601 with a zone, e.g. 2026-07-01T22:00:00Z)', isoTime)
    .option('--deadline <time>', 'and is done by this (ISO 8601 with a zone; default: 24 h after --not-before)', isoTime)
    .addHelpText('after', `
The host leaves placement at once (admin state maintenance, the reason naming the window), and
each server on it gets a scheduled event its tenant may reschedule or accept within the window;
at the deadline the servers nobody answered for are moved. Planning the same window again adds
events only for servers that came onto the host since.`)
    .action(async (name: string, flags: TargetFlags & { notBefore: string; deadline?: string }) => {
      const window = { not_before: flags.notBefore, ...(flags.deadline === undefined ? {} : { deadline: flags.deadline }) }
      const planned = await withClient(flags, (client) => client.planMaintenance(name, window))
      if (flags.json) {
        printJson(planned)
        return
      }
      const m = planned.maintenance
      print(`${stateLine(planned.host)}\nmaintenance window ${m.not_before} to ${m.deadline}: ${m.events} scheduled event${m.events === 1 ? '' : 's'} (${m.created} new)`)
    })

  hostsCommand(hosts, 'remove', 'remove an empty host (no servers on it or moving off it, none in the recycle bin from it)')
    .argument('<name>', 'host name')
    .action(async (name: string, flags: TargetFlags) => {
      await withClient(flags, (client) => client.remove(name))
      if (flags.json) printJson({ removed: name })
      else print(`host ${name} removed`)
    })

  hostsCommand(hosts, 'console', 'print a server\'s serial console, read through its host\'s agent; --follow keeps printing it as it grows')
    .argument('<server-id>', 'the server')
    .option('--offset <bytes>', 'start at this byte of the console log', nonNegativeInt, 0)
    .option('--follow', 'keep reading every second until interrupted (a server that moves is followed to its new host)')
    .action(async (serverId: string, flags: TargetFlags & { offset: number; follow?: boolean }) => {
      await withClient(flags, async (client) => {
        let piece = await client.console(serverId, flags.offset)
        for (;;) {
          if (flags.json) printJson({ console: piece })
          else process.stdout.write(piece.data)
          if (!flags.follow) return
          await new Promise((r) => setTimeout(r, CONSOLE_FOLLOW_MS))
          const host = piece.host
          piece = await client.console(serverId, piece.next_offset)
          // A new host has a new log: read it from its start.
          if (piece.host !== host) {
            if (!flags.json) process.stderr.write(`ecsd: ${serverId} now runs on host ${piece.host}\n`)
            piece = await client.console(serverId, 0)
          }
        }
      })
    })
}

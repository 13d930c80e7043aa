/**
 * The hosts commands on the database itself (`--data-dir`, `--database`): the services a server
 * runs, without listening. Loaded only by the commands that act on the database.
 */
import { detailBody, hostBody } from '../api/admin/hosts.ts'
import { loadConfig } from '../config.ts'
import { apiTime } from '../domain/scheduled-event.ts'
import { createLogger } from '../logger.ts'
import { loadMasterKey, SecretBox } from '../services/identity/secrets.ts'
import { createServices, type Services } from '../services/index.ts'
import { openDatabase } from './database.ts'
import type { AddedHost, ConsoleBody, HostAction, HostBody, HostDetailBody, HostsClient, MaintenanceWindowBody, NewHostBody, PlannedMaintenance, TargetFlags } from './hosts.ts'

/** The services over the database, as a server wires them (migrated, master key checked), without listening or background work. */
export async function openDatabaseHosts(flags: TargetFlags): Promise<HostsClient> {
  const config = loadConfig({ dataDir: flags.dataDir, database: flags.database, logLevel: 'error' })
  // Errors of background work (a move's job) go to stderr: stdout is the command's answer.
  const logger = createLogger(config.logLevel, process.stderr)
  const database = await openDatabase(config, { migrate: true, poolSize: config.databasePoolSize })
  try {
    const box = new SecretBox(loadMasterKey({ value: config.masterKey, file: config.masterKeyFile }))
    const services = createServices(config, database, logger, box)
    await services.identity.checkMasterKey()
    return new DatabaseHosts(services)
  } catch (err) {
    await database.close()
    throw err
  }
}

/** The hosts commands on the database, through the same services a server runs. */
class DatabaseHosts implements HostsClient {
  constructor(private readonly services: Services) {}

  async list(): Promise<HostBody[]> {
    return (await this.services.hosts.list()).map(hostBody)
  }

  async show(name: string): Promise<HostDetailBody> {
    return detailBody(await this.services.hosts.show(name))
  }

  async add(h: NewHostBody): Promise<AddedHost> {
    const { host, credential } = await this.services.hosts.add({
      name: h.name, az: h.availability_zone, vcpus: h.vcpus, ramMb: h.ram_mb, faultDomain: h.fault_domain, dedicatedTo: h.dedicated_to,
    })
    return { host: detailBody(host), credential: { access: credential.accessKey, secret: credential.secretKey } }
  }

  async act(name: string, action: HostAction): Promise<HostDetailBody> {
    const hosts = this.services.hosts
    if ('disable' in action) return detailBody(await hosts.disable(name, action.disable.reason))
    if ('enable' in action) return detailBody(await hosts.enable(name))
    if ('drain' in action) return detailBody(await hosts.drain(name))
    return detailBody(await hosts.fail(name))
  }

  async planMaintenance(name: string, window: MaintenanceWindowBody): Promise<PlannedMaintenance> {
    const plan = await this.services.scheduledEvents.planHostMaintenance(name, new Date(window.not_before), window.deadline === undefined ? undefined : new Date(window.deadline))
    // The shape of the admin API's answer to the `maintenance` action (src/api/admin/hosts.ts).
    return {
      host: detailBody(await this.services.hosts.show(name)),
      maintenance: {
        host_event_id: plan.window.hostEventId, not_before: apiTime(plan.window.notBefore), deadline: apiTime(plan.window.deadline),
        events: plan.events, created: plan.created,
      },
    }
  }

  async remove(name: string): Promise<void> {
    await this.services.hosts.remove(name)
  }

  async advanceDrain(name: string): Promise<string[]> {
    // A move this command started before it was killed is taken over once its lease expires.
    await this.services.jobs.sweep()
    return this.services.hostMonitor.drainOnce(name)
  }

  async console(serverId: string, offset: number): Promise<ConsoleBody> {
    const c = await this.services.consoles.read(serverId, offset)
    return { server_id: c.serverId, host: c.hostName, offset: c.offset, next_offset: c.nextOffset, data: c.data, simulated: c.simulated }
  }

  async close(): Promise<void> {
    // Hands back the leases of moves still in flight, so the next runner takes them over at once.
    await this.services.jobs.stop()
    await this.services.database.close()
  }
}


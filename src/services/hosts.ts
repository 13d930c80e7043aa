import { EcsError } from '../domain/errors.ts'
import { lockForUpdate, type Database } from '../store/database.ts'

/** A host as operators see it. */
export interface HostView {
  id: string
  name: string
  az: string
  state: string
  enabled: boolean
  vcpus: number
  ramMb: number
  freeVcpus: number
  freeRamMb: number
  /** The project the host is dedicated to (a DeH), or null for the shared pool. */
  dedicatedTo: string | null
}

/** Operator use cases on hosts. */
export class HostService {
  constructor(private readonly database: Database) {}

  /** The inventory with free capacity, by zone and name. */
  async list(): Promise<HostView[]> {
    const hosts = await this.database.db.selectFrom('hosts').selectAll().orderBy('az').orderBy('name').execute()
    return hosts.map((h) => ({
      id: h.id, name: h.name, az: h.az, state: h.state, enabled: h.enabled === 1, vcpus: h.vcpus, ramMb: h.ram_mb,
      freeVcpus: h.free_vcpus, freeRamMb: h.free_ram_mb, dedicatedTo: h.dedicated_to,
    }))
  }

  /**
   * Dedicates a host to a project (it becomes one of the project's dedicated hosts, DeH: shared
   * placement no longer uses it, and the project creates and migrates onto it by its id), or
   * returns it to the shared pool (`null`). Refused while servers of another project are on it
   * or moving off it.
   */
  async setDedication(hostName: string, projectId: string | null): Promise<HostView> {
    await this.database.transaction(async ({ db, dialect }) => {
      const host = await lockForUpdate(db.selectFrom('hosts').select('id').where('name', '=', hostName), dialect).executeTakeFirst()
      if (!host) throw new EcsError('Ecs.0005', 404, `Host ${hostName} does not exist.`)
      if (projectId !== null) {
        const project = await db.selectFrom('projects').select('id').where('id', '=', projectId).executeTakeFirst()
        if (!project) throw new EcsError('Ecs.0005', 400, `Invalid parameter values: project ${projectId} does not exist.`)
        const foreign = await db
          .selectFrom('servers')
          .select('id')
          .where('project_id', '!=', projectId)
          .where('in_recycle_bin', '=', 0)
          .where((eb) => eb.or([eb('host_id', '=', host.id), eb('id', 'in', eb.selectFrom('moves').select('server_id').where('source_host_id', '=', host.id))]))
          .limit(1)
          .executeTakeFirst()
        if (foreign) {
          throw new EcsError('Ecs.0005', 409, `Host ${hostName} runs servers of other projects (e.g. ${foreign.id}); move them off it before dedicating it to project ${projectId}.`)
        }
      }
      await db.updateTable('hosts').set({ dedicated_to: projectId }).where('id', '=', host.id).execute()
    })
    const view = (await this.list()).find((h) => h.name === hostName)
    if (!view) throw new EcsError('Ecs.0005', 404, `Host ${hostName} does not exist.`)
    return view
  }
}

import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { FastifyRequest } from 'fastify'
import { Type } from 'typebox'
import { hypervisorNotFound, novaFlavorNotFound } from '../../domain/errors.ts'
import type { Services } from '../../services/index.ts'
import { listFlavors, projectLimits } from '../../services/catalogue.ts'
import { MAX_KEYPAIRS, type Keypair } from '../../services/keypairs.ts'
import type { Schema } from '../../store/schema.ts'
import { flavorBody } from '../huawei/views.ts'
import { CreateKeypairBody, ProjectOnlyParams, type CreateKeypairInput } from '../schemas/openstack.ts'
import {
  AvailabilityZonesDetailResponse, AvailabilityZonesResponse, CreateKeypairResponse, ExtraSpecResponse, ExtraSpecsResponse, FlavorResponse, HypervisorResponse,
  KeypairResponse, LimitsResponse, ListFlavorsDetailResponse, ListFlavorsResponse, ListHypervisorsDetailResponse, ListHypervisorsResponse, ListKeypairsResponse,
} from '../schemas/openstack-responses.ts'
import { NoContent, novaErrors } from '../schemas/responses.ts'
import { callerOf, links, requireAdmin, validBody } from './common.ts'
import { atLeast, type Microversion } from './microversion.ts'

const FlavorParams = Type.Object({ project_id: Type.Optional(Type.String()), flavor_id: Type.String() }, { additionalProperties: false })
const ExtraSpecParams = Type.Object({ project_id: Type.Optional(Type.String()), flavor_id: Type.String(), key: Type.String() }, { additionalProperties: false })
const KeypairParams = Type.Object({ project_id: Type.Optional(Type.String()), name: Type.String() }, { additionalProperties: false })
const HypervisorParams = Type.Object({ project_id: Type.Optional(Type.String()), id: Type.String() }, { additionalProperties: false })
const PageQuery = Type.Object(
  { limit: Type.Optional(Type.Integer({ minimum: 0, maximum: 1_000_000 })), marker: Type.Optional(Type.String({ maxLength: 255 })) },
  { additionalProperties: true },
)

/** The zones of the fleet, for flavors' extra specs. */
async function zones(services: Services): Promise<string[]> {
  return (await services.database.db.selectFrom('hosts').select('az').distinct().orderBy('az').execute()).map((z) => z.az)
}

/** A flavor as Nova shows it in detail: `description` from 2.55, `extra_specs` from 2.61. */
function flavorView(f: Schema['flavors'], specs: Record<string, string>, v: Microversion, req: FastifyRequest, projectId: string) {
  return {
    id: f.id,
    name: f.name,
    ram: f.ram_mb,
    disk: f.disk_gb,
    vcpus: f.vcpus,
    swap: '',
    'OS-FLV-EXT-DATA:ephemeral': 0,
    'OS-FLV-DISABLED:disabled': false,
    'os-flavor-access:is_public': true,
    rxtx_factor: 1.0,
    links: links(req, projectId, `flavors/${f.id}`),
    ...(atLeast(v, 2, 55) ? { description: null } : {}),
    ...(atLeast(v, 2, 61) ? { extra_specs: specs } : {}),
  }
}

function keypairSummary(k: Keypair, v: Microversion) {
  return { name: k.name, public_key: k.publicKey, fingerprint: k.fingerprint, ...(atLeast(v, 2, 2) ? { type: k.type } : {}) }
}

/**
 * The small resources of the compute API: flavors (with `os-extra_specs`), key pairs, limits,
 * availability zones and — for admins, read-only — hypervisors (ecsd's hosts).
 */
export const catalogRoutes: FastifyPluginAsyncTypebox<{ services: Services }> = async (app, { services }) => {
  const db = services.database.db

  const flavor = async (id: string) => {
    const f = await db.selectFrom('flavors').selectAll().where('id', '=', id).executeTakeFirst()
    if (!f) throw novaFlavorNotFound(id)
    return f
  }

  app.get('/flavors', { schema: { params: ProjectOnlyParams, querystring: PageQuery, response: { 200: ListFlavorsResponse, ...novaErrors } } }, async (req) => {
    const projectId = callerOf(req).projectId
    const flavors = await listFlavors(db, undefined)
    return { flavors: flavors.map((f) => ({ id: f.id, name: f.name, links: links(req, projectId, `flavors/${f.id}`), ...(atLeast(req.microversion, 2, 55) ? { description: null } : {}) })) }
  })

  app.get('/flavors/detail', { schema: { params: ProjectOnlyParams, querystring: PageQuery, response: { 200: ListFlavorsDetailResponse, ...novaErrors } } }, async (req) => {
    const projectId = callerOf(req).projectId
    const z = await zones(services)
    const flavors = await listFlavors(db, undefined)
    return { flavors: flavors.map((f) => flavorView(f, flavorBody(f, z).os_extra_specs, req.microversion, req, projectId)) }
  })

  app.get('/flavors/:flavor_id', { schema: { params: FlavorParams, response: { 200: FlavorResponse, ...novaErrors } } }, async (req) => {
    const f = await flavor(req.params.flavor_id)
    return { flavor: flavorView(f, flavorBody(f, await zones(services)).os_extra_specs, req.microversion, req, callerOf(req).projectId) }
  })

  app.get('/flavors/:flavor_id/os-extra_specs', { schema: { params: FlavorParams, response: { 200: ExtraSpecsResponse, ...novaErrors } } }, async (req) => {
    const f = await flavor(req.params.flavor_id)
    return { extra_specs: flavorBody(f, await zones(services)).os_extra_specs }
  })

  app.get('/flavors/:flavor_id/os-extra_specs/:key', { schema: { params: ExtraSpecParams, response: { 200: ExtraSpecResponse, ...novaErrors } } }, async (req) => {
    const f = await flavor(req.params.flavor_id)
    const specs: Record<string, string> = flavorBody(f, await zones(services)).os_extra_specs
    const value = specs[req.params.key]
    if (value === undefined) throw novaFlavorNotFound(`${f.id} has no extra spec ${req.params.key}; flavor extra spec`)
    return { [req.params.key]: value }
  })

  app.post('/os-keypairs', { schema: { params: ProjectOnlyParams, response: { 200: CreateKeypairResponse, 201: CreateKeypairResponse, ...novaErrors } } }, async (req, reply) => {
    const caller = callerOf(req)
    const { keypair: k } = validBody<CreateKeypairInput>(CreateKeypairBody, req.body)
    const v = req.microversion
    const created = await services.keypairs.create(caller.projectId, {
      name: k.name,
      type: atLeast(v, 2, 2) ? (k.type ?? 'ssh') : 'ssh',
      publicKey: k.public_key,
      // Admins may create a key pair on behalf of a user from 2.10.
      userId: atLeast(v, 2, 10) && caller.admin && k.user_id !== undefined ? k.user_id : caller.userId,
    })
    reply.code(atLeast(v, 2, 2) ? 201 : 200)
    return {
      keypair: {
        ...keypairSummary(created, v),
        user_id: created.userId,
        ...(created.privateKey === undefined ? {} : { private_key: created.privateKey }),
      },
    }
  })

  app.get('/os-keypairs', { schema: { params: ProjectOnlyParams, querystring: PageQuery, response: { 200: ListKeypairsResponse, ...novaErrors } } }, async (req) => {
    const paged = atLeast(req.microversion, 2, 35)
    const list = await services.keypairs.list(callerOf(req).projectId, paged ? req.query.limit : undefined, paged ? req.query.marker : undefined)
    return { keypairs: list.map((k) => ({ keypair: keypairSummary(k, req.microversion) })) }
  })

  app.get('/os-keypairs/:name', { schema: { params: KeypairParams, response: { 200: KeypairResponse, ...novaErrors } } }, async (req) => {
    const k = await services.keypairs.show(callerOf(req).projectId, req.params.name)
    return {
      keypair: {
        ...keypairSummary(k, req.microversion),
        user_id: k.userId,
        created_at: k.createdAt.replace('Z', '').padEnd(26, '0'),
        deleted: false,
        deleted_at: null,
        updated_at: null,
        id: k.id,
      },
    }
  })

  app.delete('/os-keypairs/:name', { schema: { params: KeypairParams, response: { 202: NoContent('Deleted (before 2.2)'), 204: NoContent('Deleted (from 2.2)'), ...novaErrors } } }, async (req, reply) => {
    await services.keypairs.delete(callerOf(req).projectId, req.params.name)
    return reply.code(atLeast(req.microversion, 2, 2) ? 204 : 202).send()
  })

  app.get('/limits', { schema: { params: ProjectOnlyParams, response: { 200: LimitsResponse, ...novaErrors } } }, async (req) => {
    const caller = callerOf(req)
    const l = await projectLimits(db, caller.projectId, services.quotas)
    const v = req.microversion
    return {
      limits: {
        rate: [],
        absolute: {
          maxServerMeta: 128, maxImageMeta: 128, maxTotalKeypairs: MAX_KEYPAIRS,
          maxTotalInstances: l.quotas.maxTotalInstances, maxTotalCores: l.quotas.maxTotalCores, maxTotalRAMSize: l.quotas.maxTotalRAMSize,
          totalInstancesUsed: l.instancesUsed, totalCoresUsed: l.coresUsed, totalRAMUsed: l.ramUsedMb,
          maxServerGroups: l.quotas.maxServerGroups, maxServerGroupMembers: l.quotas.maxServerGroupMembers, totalServerGroupsUsed: l.serverGroupsUsed,
          // Network quotas left the API at 2.36, personality at 2.57, as in Nova.
          ...(atLeast(v, 2, 36) ? {} : { maxSecurityGroups: 10, maxSecurityGroupRules: 20, maxTotalFloatingIps: 10, totalSecurityGroupsUsed: 0, totalFloatingIpsUsed: 0 }),
          ...(atLeast(v, 2, 57) ? {} : { maxPersonality: 5, maxPersonalitySize: 10240 }),
        },
      },
    }
  })

  app.get('/os-availability-zone', { schema: { params: ProjectOnlyParams, response: { 200: AvailabilityZonesResponse, ...novaErrors } } }, async () => {
    const rows = await db.selectFrom('hosts').select('az').select((eb) => eb.fn.max('enabled').as('usable')).where('state', '=', 'up').groupBy('az').execute()
    const usable = new Set(rows.filter((r) => Number(r.usable) === 1).map((r) => r.az))
    // Host names are not shown to tenants here (`hosts` is null), as Huawei and Nova both do.
    return { availabilityZoneInfo: (await zones(services)).map((az) => ({ zoneName: az, zoneState: { available: usable.has(az) }, hosts: null })) }
  })

  app.get('/os-availability-zone/detail', { schema: { params: ProjectOnlyParams, response: { 200: AvailabilityZonesDetailResponse, ...novaErrors } } }, async (req) => {
    requireAdmin(req, 'os_compute_api:os-availability-zone:detail')
    const hosts = await db.selectFrom('hosts').select(['name', 'az', 'state', 'enabled', 'last_heartbeat_at', 'created_at']).orderBy('az').orderBy('name').execute()
    const byZone = new Map<string, Record<string, unknown>>()
    for (const h of hosts) {
      const zone = byZone.get(h.az) ?? {}
      zone[h.name] = { 'nova-compute': { available: h.state === 'up', active: h.enabled === 1, updated_at: h.last_heartbeat_at ?? h.created_at } }
      byZone.set(h.az, zone)
    }
    return { availabilityZoneInfo: [...byZone].map(([az, h]) => ({ zoneName: az, zoneState: { available: true }, hosts: h })) }
  })

  const hypervisor = async (host: Schema['hosts'], detail: boolean, v: Microversion) => {
    const running = await db.selectFrom('servers').select((eb) => eb.fn.countAll<number | string>().as('n')).where('host_id', '=', host.id).where('in_recycle_bin', '=', 0).executeTakeFirstOrThrow()
    const summary = { id: host.id, hypervisor_hostname: host.name, state: host.state === 'up' ? 'up' : 'down', status: host.enabled === 1 ? 'enabled' : 'disabled' }
    if (!detail) return summary
    const vcpus = Math.floor(host.vcpus * host.cpu_allocation_ratio)
    const ram = Math.floor(host.ram_mb * host.ram_allocation_ratio)
    return {
      ...summary,
      vcpus, memory_mb: ram, local_gb: 0,
      vcpus_used: vcpus - host.free_vcpus, memory_mb_used: ram - host.free_ram_mb, local_gb_used: 0,
      free_ram_mb: host.free_ram_mb, free_disk_gb: 0, current_workload: 0, running_vms: Number(running.n), disk_available_least: 0,
      hypervisor_type: 'QEMU', hypervisor_version: 8002000, host_ip: '127.0.0.1',
      // A JSON text before 2.28, an object from it.
      cpu_info: atLeast(v, 2, 28) ? {} : '{}',
      service: { host: host.name, id: host.id, disabled_reason: host.enabled === 1 ? null : host.admin_reason },
    }
  }

  app.get('/os-hypervisors', { schema: { params: ProjectOnlyParams, response: { 200: ListHypervisorsResponse, ...novaErrors } } }, async (req) => {
    requireAdmin(req, 'os_compute_api:os-hypervisors:list')
    const hosts = await db.selectFrom('hosts').selectAll().orderBy('name').execute()
    return { hypervisors: await Promise.all(hosts.map((h) => hypervisor(h, false, req.microversion))) }
  })

  app.get('/os-hypervisors/detail', { schema: { params: ProjectOnlyParams, response: { 200: ListHypervisorsDetailResponse, ...novaErrors } } }, async (req) => {
    requireAdmin(req, 'os_compute_api:os-hypervisors:list-detail')
    const hosts = await db.selectFrom('hosts').selectAll().orderBy('name').execute()
    return { hypervisors: await Promise.all(hosts.map((h) => hypervisor(h, true, req.microversion))) }
  })

  app.get('/os-hypervisors/:id', { schema: { params: HypervisorParams, response: { 200: HypervisorResponse, ...novaErrors } } }, async (req) => {
    requireAdmin(req, 'os_compute_api:os-hypervisors:show')
    const host = await db.selectFrom('hosts').selectAll().where((eb) => eb.or([eb('id', '=', req.params.id), eb('name', '=', req.params.id)])).executeTakeFirst()
    if (!host) throw hypervisorNotFound(req.params.id)
    return { hypervisor: await hypervisor(host, true, req.microversion) }
  })
}

import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import { invalidParameter } from '../../domain/errors.ts'
import { HOST_NAME_PATTERN } from '../../domain/host.ts'
import { apiTime, parseApiTime } from '../../domain/scheduled-event.ts'
import type { HostDetail, HostServer, HostView } from '../../services/hosts.ts'
import type { Services } from '../../services/index.ts'
import { AddHostResponse, HostActionResponse, HostResponse, ListHostsResponse } from '../schemas/admin-responses.ts'
import { huaweiErrors, NoContent } from '../schemas/responses.ts'

const HostParams = Type.Object({ host_name: Type.String({ minLength: 1, maxLength: 255 }) }, { additionalProperties: false })
const Reason = Type.String({ minLength: 1, maxLength: 255 })
const FaultDomain = Type.String({ minLength: 1, maxLength: 64 })
const ProjectId = Type.String({ minLength: 1, maxLength: 64 })

const AddHost = Type.Object(
  {
    host: Type.Object(
      {
        name: Type.String({ pattern: HOST_NAME_PATTERN }),
        availability_zone: Type.String({ minLength: 1, maxLength: 255 }),
        vcpus: Type.Integer({ minimum: 1, maximum: 100_000 }),
        ram_mb: Type.Integer({ minimum: 1, maximum: 1_000_000_000 }),
        fault_domain: Type.Optional(FaultDomain),
        dedicated_to: Type.Optional(ProjectId),
        cpu_allocation_ratio: Type.Optional(Type.Number({ minimum: 0.1, maximum: 64 })),
        ram_allocation_ratio: Type.Optional(Type.Number({ minimum: 0.1, maximum: 4 })),
      },
      { additionalProperties: false },
    ),
  },
  { additionalProperties: false },
)

const UpdateHost = Type.Object(
  {
    host: Type.Object(
      {
        dedicated_to: Type.Optional(Type.Union([ProjectId, Type.Null()])),
        fault_domain: Type.Optional(Type.Union([FaultDomain, Type.Null()])),
      },
      { additionalProperties: false, minProperties: 1 },
    ),
  },
  { additionalProperties: false },
)

const Empty = Type.Object({}, { additionalProperties: false })

/** An operator's time, read by `parseApiTime` (RFC 3339 with a zone). */
const Time = Type.String({ minLength: 1, maxLength: 64 })

/** `POST /admin/hosts/{name}/action`: exactly one of the host actions. */
const HostAction = Type.Object(
  {
    disable: Type.Optional(Type.Object({ reason: Type.Optional(Reason) }, { additionalProperties: false })),
    enable: Type.Optional(Empty),
    drain: Type.Optional(Empty),
    fail: Type.Optional(Empty),
    maintenance: Type.Optional(Type.Object({ not_before: Time, deadline: Type.Optional(Time) }, { additionalProperties: false })),
  },
  { additionalProperties: false, minProperties: 1, maxProperties: 1 },
)

/** A time an operator gave, or 400 `Ecs.0005` naming the field. */
function adminTime(field: string, text: string): Date {
  const time = parseApiTime(text)
  if (!time) throw invalidParameter(`maintenance.${field} "${text}" is not a time; send e.g. 2025-06-01T02:00:00Z`)
  return time
}

/** A host as the admin API shows it. */
export function hostBody(h: HostView) {
  return {
    id: h.id, name: h.name, availability_zone: h.az, fault_domain: h.faultDomain,
    vcpus: h.vcpus, ram_mb: h.ramMb, cpu_allocation_ratio: h.cpuAllocationRatio, ram_allocation_ratio: h.ramAllocationRatio,
    capacity: { vcpus: h.capacityVcpus, ram_mb: h.capacityRamMb },
    used: { vcpus: h.usedVcpus, ram_mb: h.usedRamMb },
    free_vcpus: h.freeVcpus, free_ram_mb: h.freeRamMb,
    state: h.state, state_changed_at: h.stateChangedAt, last_heartbeat_at: h.lastHeartbeatAt,
    admin_state: h.adminState, admin_reason: h.adminReason, admin_changed_at: h.adminChangedAt,
    enabled: h.adminState === 'enabled', schedulable: h.schedulable, dedicated_to: h.dedicatedTo, agent: h.agent,
    servers: h.servers, moving_out: h.movingOut,
  }
}

function serverBody(s: HostServer) {
  return { id: s.id, name: s.name, project_id: s.projectId, status: s.status, task_state: s.taskState, vcpus: s.vcpus, ram_mb: s.ramMb, moving: s.moving }
}

/** A host with its servers as the admin API shows it (`ecsd hosts show --json` prints the same). */
export function detailBody(h: HostDetail) {
  return { ...hostBody(h), server_list: h.serverList.map(serverBody) }
}

/**
 * Hosts as operators manage them, under /admin (admin credentials only; the hook is the admin
 * plugin's): list, show, add (answers the agent credential, once), change dedication and fault
 * domain, disable, enable, drain, declare failed, plan a maintenance window (answers the window
 * and how many scheduled events it has), remove.
 */
export const hostAdminRoutes: FastifyPluginAsyncTypebox<{ services: Services }> = async (app, { services }) => {
  const { hosts } = services

  app.get('/hosts', { schema: { response: { 200: ListHostsResponse, ...huaweiErrors } } }, async () => ({ hosts: (await hosts.list()).map(hostBody) }))

  app.get('/hosts/:host_name', { schema: { params: HostParams, response: { 200: HostResponse, ...huaweiErrors } } }, async (req) => ({ host: detailBody(await hosts.show(req.params.host_name)) }))

  app.post('/hosts', { schema: { body: AddHost, response: { 201: AddHostResponse, ...huaweiErrors } } }, async (req, reply) => {
    const h = req.body.host
    const { host, credential } = await hosts.add({
      name: h.name, az: h.availability_zone, vcpus: h.vcpus, ramMb: h.ram_mb, faultDomain: h.fault_domain, dedicatedTo: h.dedicated_to,
      cpuAllocationRatio: h.cpu_allocation_ratio, ramAllocationRatio: h.ram_allocation_ratio,
    })
    // The one and only time the agent's secret leaves ecsd.
    return reply.code(201).header('cache-control', 'no-store').send({ host: detailBody(host), credential: { access: credential.accessKey, secret: credential.secretKey } })
  })

  app.put('/hosts/:host_name', { schema: { params: HostParams, body: UpdateHost, response: { 200: HostResponse, ...huaweiErrors } } }, async (req) => ({
    host: detailBody(await hosts.update(req.params.host_name, { dedicatedTo: req.body.host.dedicated_to, faultDomain: req.body.host.fault_domain })),
  }))

  app.post('/hosts/:host_name/action', { schema: { params: HostParams, body: HostAction, response: { 200: HostActionResponse, ...huaweiErrors } } }, async (req) => {
    const name = req.params.host_name
    const b = req.body
    if (b.maintenance) {
      const { not_before: notBefore, deadline } = b.maintenance
      const plan = await services.scheduledEvents.planHostMaintenance(name, adminTime('not_before', notBefore), deadline === undefined ? undefined : adminTime('deadline', deadline))
      return {
        host: detailBody(await hosts.show(name)),
        maintenance: {
          host_event_id: plan.window.hostEventId, not_before: apiTime(plan.window.notBefore), deadline: apiTime(plan.window.deadline),
          events: plan.events, created: plan.created,
        },
      }
    }
    const host = b.disable ? await hosts.disable(name, b.disable.reason)
      : b.enable ? await hosts.enable(name)
        : b.drain ? await hosts.drain(name)
          : await hosts.fail(name)
    return { host: detailBody(host) }
  })

  app.delete('/hosts/:host_name', { schema: { params: HostParams, response: { 204: NoContent('Removed'), ...huaweiErrors } } }, async (req, reply) => {
    await hosts.remove(req.params.host_name)
    return reply.code(204).send()
  })
}

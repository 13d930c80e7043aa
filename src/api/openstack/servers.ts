import { randomBytes } from 'node:crypto'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { FastifyRequest } from 'fastify'
import { Type, type Static } from 'typebox'
import { actionNotSupported, invalidParameter, serverWrongStatus } from '../../domain/errors.ts'
import type { Services } from '../../services/index.ts'
import { stableUuid, type NovaCreateInput, type NovaServer } from '../../services/nova-servers.ts'
import { listFlavors } from '../../services/catalogue.ts'
import { flavorBody } from '../huawei/views.ts'
import {
  AttachInterfaceBody, CreateServerV21, CreateServerV219, CreateServerV237, CreateServerV257, CreateServerV263, ListServersQuery, ProjectOnlyParams,
  ServerActionBody, ServerIdParams, type AttachInterfaceInput, type CreateServerInput, type ServerActionInput,
} from '../schemas/openstack.ts'
import {
  CreateServerResponse, InterfaceResponse, ListInterfacesResponse, ListServersDetailResponse, ListServersResponse, ServerResponse, ServerSecurityGroupsResponse,
} from '../schemas/openstack-responses.ts'
import { NoContent, novaErrors } from '../schemas/responses.ts'
import { callerOf, links, requireAdmin, validBody } from './common.ts'
import { atLeast } from './microversion.ts'
import { interfaceView, serverSummary, serverView, type ServerViewContext } from './views.ts'

/** Nova's `osapi_max_limit`: the most servers one list page holds. */
const MAX_LIMIT = 1000

const PortParams = Type.Object(
  { project_id: Type.Optional(Type.String()), server_id: Type.String(), port_id: Type.String() },
  { additionalProperties: false },
)

/** The id at the end of a reference that may be a URL (`flavorRef`, `imageRef` accept both in Nova). */
function refId(ref: string | number): string {
  const text = String(ref)
  return text.includes('/') ? (text.split('/').filter((p) => p !== '').pop() ?? text) : text
}

/** Nova's truthy strings for boolean-ish fields (`return_reservation_id`). */
function truthy(value: boolean | string | undefined): boolean {
  return value === true || (typeof value === 'string' && ['true', '1'].includes(value.toLowerCase()))
}

/**
 * Servers on the OpenStack Compute API: create (with `os:scheduler_hints.group`, multi-create and
 * reservation ids), list, detail, show, delete, the actions ecsd carries out (start, stop,
 * reboot, resize, admins' migrations, security groups), security groups and interfaces.
 * Placed servers are the same servers the v1 API shows.
 */
export const serverRoutes: FastifyPluginAsyncTypebox<{ services: Services }> = async (app, { services }) => {
  const nova = services.novaServers

  // Every flavor's extra specs, read once per request that embeds flavors (2.47+).
  const viewContext = async (req: FastifyRequest): Promise<ServerViewContext> => {
    const caller = callerOf(req)
    let specs: Map<string, Record<string, string>> | undefined
    if (atLeast(req.microversion, 2, 47)) {
      const zones = (await services.database.db.selectFrom('hosts').select('az').distinct().orderBy('az').execute()).map((z) => z.az)
      specs = new Map((await listFlavors(services.database.db, undefined)).map((f) => [f.id, flavorBody(f, zones).os_extra_specs]))
    }
    return { v: req.microversion, admin: caller.admin, req, extraSpecs: (id) => specs?.get(id) ?? {} }
  }

  /** A server of the caller (any project's for admins) that is placed, or 409 as Nova says for a server in ERROR without a host. */
  const placedServer = async (req: FastifyRequest, serverId: string, operation: string): Promise<NovaServer> => {
    const caller = callerOf(req)
    const server = await nova.show(caller.projectId, serverId, caller.admin)
    if (server.hostName === null) throw serverWrongStatus(serverId, 'ERROR', operation, 'placed on a host (it never was: delete it)')
    return server
  }

  app.post('/servers', { schema: { params: ProjectOnlyParams, response: { 202: CreateServerResponse, ...novaErrors } } }, async (req, reply) => {
    const caller = callerOf(req)
    const v = req.microversion
    const schema = atLeast(v, 2, 63) ? CreateServerV263 : atLeast(v, 2, 57) ? CreateServerV257 : atLeast(v, 2, 37) ? CreateServerV237 : atLeast(v, 2, 19) ? CreateServerV219 : CreateServerV21
    const body = validBody<CreateServerInput>(schema, req.body)
    const s = body.server
    const hints = { ...body['OS-SCH-HNT:scheduler_hints'], ...body['os:scheduler_hints'] }
    const groups = hints.group === undefined ? [] : [hints.group].flat()
    if (groups.length > 1) throw invalidParameter('os:scheduler_hints.group names more than one server group; a server joins at most one')
    const minCount = Number(s.min_count ?? 1)
    const maxCount = Number(s.max_count ?? minCount)
    const networks: NovaCreateInput['networks'] = s.networks === undefined || s.networks === 'auto'
      ? 'auto'
      : s.networks === 'none'
        ? 'none'
        : s.networks.map((n) => ({ netId: n.uuid, portId: n.port ?? undefined, fixedIp: n.fixed_ip }))
    const created = await nova.create(caller.projectId, caller.userId, {
      name: s.name,
      flavorRef: refId(s.flavorRef),
      imageRef: s.imageRef === undefined || s.imageRef === '' ? '' : refId(s.imageRef),
      availabilityZone: s.availability_zone,
      groupId: groups[0],
      dedicatedHostId: hints.dedicated_host_id,
      tenancy: hints.tenancy,
      metadata: s.metadata ?? {},
      minCount,
      maxCount,
      keyName: s.key_name,
      securityGroups: (s.security_groups ?? [{ name: 'default' }]).map((g) => g.name),
      networks,
      description: s.description ?? null,
    })
    reply.code(202)
    if (truthy(s.return_reservation_id)) return { reservation_id: created.reservationId }
    const id = created.serverIds[0]!
    return {
      server: {
        id,
        links: links(req, caller.projectId, `servers/${id}`),
        'OS-DCF:diskConfig': 'MANUAL',
        security_groups: (s.security_groups ?? [{ name: 'default' }]).map((g) => ({ name: g.name })),
        // ecsd keeps no guest password; one is generated for the answer, as Nova does when none is given.
        adminPass: s.adminPass ?? randomBytes(9).toString('base64url'),
      },
    }
  })

  const list = async (req: FastifyRequest & { query: Static<typeof ListServersQuery> }) => {
    const caller = callerOf(req)
    const q = req.query
    // all_tenants and host are admin filters; Nova ignores them for other callers.
    const allTenants = q.all_tenants !== undefined && caller.admin
    const limit = Math.min(q.limit ?? MAX_LIMIT, MAX_LIMIT)
    const servers = await nova.list({
      projectId: allTenants ? undefined : caller.projectId,
      reservationId: q.reservation_id, name: q.name, status: q.status?.toUpperCase(), flavor: q.flavor, image: q.image,
      host: caller.admin ? q.host : undefined, limit, marker: q.marker,
    })
    const next = servers.length === limit && limit > 0 ? servers[servers.length - 1] : undefined
    return { servers, next }
  }
  const pageLinks = (req: FastifyRequest, path: string, next: NovaServer | undefined, limit: number | undefined) =>
    next === undefined ? {} : { servers_links: [{ rel: 'next', href: `${links(req, callerOf(req).projectId, path)[0]!.href}?${limit === undefined ? '' : `limit=${limit}&`}marker=${next.id}` }] }

  app.get('/servers', { schema: { params: ProjectOnlyParams, querystring: ListServersQuery, response: { 200: ListServersResponse, ...novaErrors } } }, async (req) => {
    const { servers, next } = await list(req)
    return { servers: servers.map((s) => serverSummary(s, req)), ...pageLinks(req, 'servers', next, req.query.limit) }
  })

  app.get('/servers/detail', { schema: { params: ProjectOnlyParams, querystring: ListServersQuery, response: { 200: ListServersDetailResponse, ...novaErrors } } }, async (req) => {
    const { servers, next } = await list(req)
    const ctx = await viewContext(req)
    return { servers: servers.map((s) => serverView(s, ctx)), ...pageLinks(req, 'servers/detail', next, req.query.limit) }
  })

  app.get('/servers/:server_id', { schema: { params: ServerIdParams, response: { 200: ServerResponse, ...novaErrors } } }, async (req) => {
    const caller = callerOf(req)
    return { server: serverView(await nova.show(caller.projectId, req.params.server_id, caller.admin), await viewContext(req)) }
  })

  app.delete('/servers/:server_id', { schema: { params: ServerIdParams, response: { 204: NoContent('Deletion accepted'), ...novaErrors } } }, async (req, reply) => {
    const caller = callerOf(req)
    await nova.delete(caller.projectId, req.params.server_id, caller.admin)
    return reply.code(204).send()
  })

  app.post('/servers/:server_id/action', { schema: { params: ServerIdParams, response: { 202: NoContent('Accepted; the answer has no body'), ...novaErrors } } }, async (req, reply) => {
    const body = validBody<ServerActionInput>(ServerActionBody, req.body)
    const id = req.params.server_id
    const caller = callerOf(req)
    if (body['os-start'] !== undefined) {
      const s = await placedServer(req, id, 'start')
      // Nova refuses to start a running server (409) where the v1 API reports it done.
      if (s.status !== 'SHUTOFF' || s.busy) throw serverWrongStatus(id, s.status, 'os-start', 'SHUTOFF')
      await services.servers.start(s.projectId, [id])
    } else if (body['os-stop'] !== undefined) {
      const s = await placedServer(req, id, 'stop')
      if (s.status !== 'ACTIVE' || s.busy) throw serverWrongStatus(id, s.status, 'os-stop', 'ACTIVE')
      await services.servers.stop(s.projectId, [id])
    } else if (body.reboot !== undefined) {
      const s = await placedServer(req, id, 'reboot')
      await services.servers.reboot(s.projectId, [id], body.reboot.type.toUpperCase() as 'SOFT' | 'HARD')
    } else if (body.resize !== undefined) {
      const s = await placedServer(req, id, 'resize')
      // Nova resizes a running server too: it is stopped, resized and started again.
      await services.moves.resize(s.projectId, [id], { flavorRef: refId(body.resize.flavorRef), mode: s.status === 'ACTIVE' ? 'withStopServer' : undefined, dryRun: false }, false)
    } else if (body.confirmResize !== undefined || body.revertResize !== undefined) {
      const s = await placedServer(req, id, 'confirmResize')
      throw serverWrongStatus(id, s.status, body.confirmResize !== undefined ? 'confirmResize' : 'revertResize', 'VERIFY_RESIZE (ecsd confirms every resize itself when it completes, so no server waits for confirmation)')
    } else if (body.migrate !== undefined) {
      requireAdmin(req, 'os_compute_api:os-migrate-server:migrate')
      const host = body.migrate?.host ?? undefined
      if (host !== undefined && !atLeast(req.microversion, 2, 56)) throw invalidParameter('migrate.host needs microversion 2.56 or later')
      await placedServer(req, id, 'migrate')
      await services.moves.operatorMigrate(id, { live: false, hostName: host })
    } else if (body['os-migrateLive'] !== undefined) {
      requireAdmin(req, 'os_compute_api:os-migrate-server:migrate_live')
      await placedServer(req, id, 'live-migrate')
      await services.moves.operatorMigrate(id, { live: true, hostName: body['os-migrateLive'].host ?? undefined })
    } else if (body.addSecurityGroup !== undefined) {
      await nova.addSecurityGroup(caller.projectId, id, body.addSecurityGroup.name)
    } else if (body.removeSecurityGroup !== undefined) {
      await nova.removeSecurityGroup(caller.projectId, id, body.removeSecurityGroup.name)
    } else {
      throw actionNotSupported(Object.keys(body)[0] ?? '(none)', 'ecsd does not implement it')
    }
    return reply.code(202).send()
  })

  app.get('/servers/:server_id/os-security-groups', { schema: { params: ServerIdParams, response: { 200: ServerSecurityGroupsResponse, ...novaErrors } } }, async (req) => {
    const caller = callerOf(req)
    const s = await nova.show(caller.projectId, req.params.server_id, caller.admin)
    return {
      security_groups: s.securityGroups.map((name) => ({
        id: stableUuid(`security-group:${s.projectId}:${name}`),
        name,
        description: name === 'default' ? 'Default security group' : '',
        tenant_id: s.projectId,
        rules: [],
      })),
    }
  })

  app.get('/servers/:server_id/os-interface', { schema: { params: ServerIdParams, response: { 200: ListInterfacesResponse, ...novaErrors } } }, async (req) => {
    const caller = callerOf(req)
    const s = await nova.show(caller.projectId, req.params.server_id, caller.admin)
    return { interfaceAttachments: s.interfaces.map((p) => interfaceView(p, req.microversion)) }
  })

  app.post('/servers/:server_id/os-interface', { schema: { params: ServerIdParams, response: { 200: InterfaceResponse, ...novaErrors } } }, async (req) => {
    const body = validBody<AttachInterfaceInput>(AttachInterfaceBody, req.body).interfaceAttachment
    const port = await nova.attachInterface(callerOf(req).projectId, req.params.server_id, {
      netId: body.net_id, portId: body.port_id, fixedIp: body.fixed_ips?.[0]?.ip_address,
    })
    return { interfaceAttachment: interfaceView(port, req.microversion) }
  })

  app.get('/servers/:server_id/os-interface/:port_id', { schema: { params: PortParams, response: { 200: InterfaceResponse, ...novaErrors } } }, async (req) => {
    const caller = callerOf(req)
    return { interfaceAttachment: interfaceView(await nova.showInterface(caller.projectId, req.params.server_id, req.params.port_id, caller.admin), req.microversion) }
  })

  app.delete('/servers/:server_id/os-interface/:port_id', { schema: { params: PortParams, response: { 202: NoContent('Detach accepted'), ...novaErrors } } }, async (req, reply) => {
    await nova.detachInterface(callerOf(req).projectId, req.params.server_id, req.params.port_id)
    return reply.code(202).send()
  })
}

import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { FastifyRequest } from 'fastify'
import { invalidParameter } from '../../domain/errors.ts'
import { vmStateOf, type ServerStatus } from '../../domain/server.ts'
import { availabilityZones, flavorSellPolicies } from '../../services/catalogue.ts'
import { assertPrePaidPeriod, changeToPrePaid, newOrderId, ORDER_ID_METADATA_KEY } from '../../services/charging.ts'
import { listCloudServers, type CloudServerRecord } from '../../services/cloud-servers.ts'
import type { Services } from '../../services/index.ts'
import {
  createLaunchTemplate, deleteLaunchTemplate, listLaunchTemplates, listLaunchTemplateVersions, type TemplateData,
} from '../../services/launch-templates.ts'
import { parseTagFilter } from '../../services/server-filters.ts'
import {
  ChangeChargeModeBody, ChangeChargeModeResponse, CreateLaunchTemplateBody, CreateLaunchTemplateResponse, CreatePrePaidServersBody,
  CreatePrePaidServersResponse, EXPECT_FIELDS, LaunchTemplateParams, ListAvailabilityZonesResponse, ListCloudServersQuery,
  ListCloudServersResponse, ListFlavorSellPoliciesQuery, ListFlavorSellPoliciesResponse, ListLaunchTemplateVersionsQuery,
  ListLaunchTemplateVersionsResponse, ListTemplatesQuery, ListTemplatesResponse,
} from '../schemas/catalogue.ts'
import { ProjectParams } from '../schemas/common.ts'
import { DryRunResponse } from '../schemas/huawei-responses.ts'
import { huaweiErrors, NoContent } from '../schemas/responses.ts'
import { projectOf } from './project.ts'
import { createInputOf } from './servers.ts'
import { seconds, serverBody } from './views.ts'

/** Availability zones, flavor sell policies and charge-mode changes (under /v1/{project_id}). */
export const catalogueRoutes: FastifyPluginAsyncTypebox<{ services: Services }> = async (app, { services }) => {
  const { database } = services

  app.get('/availability-zones', { schema: { params: ProjectParams, response: { 200: ListAvailabilityZonesResponse, ...huaweiErrors } } }, async (req) => {
    const zones = await availabilityZones(database.db, projectOf(req))
    return {
      availability_zones: zones.map((az) => ({
        availability_zone_id: az, type: 'Center' as const, mode: 'shared' as const, public_border_group: 'center', alias: az, az_group_ids: [], category: 0,
      })),
    }
  })

  // A literal path: without it, GET /cloudservers/{server_id} would take "flavor-sell-policies" for a server id.
  app.get('/cloudservers/flavor-sell-policies', { schema: { params: ProjectParams, querystring: ListFlavorSellPoliciesQuery, response: { 200: ListFlavorSellPoliciesResponse, ...huaweiErrors } } }, async (req) => {
    const q = req.query
    const spotOnly = q.longest_spot_duration_hours !== undefined || q.longest_spot_duration_hours_gt !== undefined
      || q.largest_spot_duration_count !== undefined || q.largest_spot_duration_count_gt !== undefined || q.interruption_policy !== undefined
    const { count, policies } = await flavorSellPolicies(database.db, projectOf(req), {
      flavorId: q.flavor_id, sellStatus: q.sell_status, sellMode: q.sell_mode, availabilityZoneId: q.availability_zone_id, spotOnly, limit: q.limit ?? 1000, marker: q.marker,
    })
    return {
      count,
      sell_policies: policies.map((p) => ({ id: p.id, flavor_id: p.flavorId, sell_status: p.sellStatus, availability_zone_id: p.availabilityZoneId, sell_mode: p.sellMode })),
    }
  })

  app.post('/cloudservers/actions/change-charge-mode', { schema: { params: ProjectParams, body: ChangeChargeModeBody, response: { 200: ChangeChargeModeResponse, 202: DryRunResponse, ...huaweiErrors } } }, async (req, reply) => {
    const b = req.body
    const orderId = await changeToPrePaid(database, projectOf(req), {
      serverIds: b.server_ids,
      period: { periodType: b.prepaid_options.period_type, periodNum: Number(b.prepaid_options.period_num) },
      dryRun: b.dry_run === true,
    })
    if (orderId === undefined) return reply.code(202).send({})
    return { order_id: orderId }
  })
}

/** `createServers` and `listCloudServers` (under /v1.1/{project_id}). */
export const cloudServerV11Routes: FastifyPluginAsyncTypebox<{ services: Services }> = async (app, { services }) => {
  const { servers, database } = services

  /**
   * The pay-per-use create with yearly/monthly billing: ecsd has no billing, so a yearly/monthly
   * purchase is created at once like a pay-per-use one, under an order id shown in the servers'
   * metadata; the answer names the order (and the job only when the order is paid automatically,
   * as the real cloud answers).
   */
  app.post('/cloudservers', { schema: { params: ProjectParams, body: CreatePrePaidServersBody, response: { 200: CreatePrePaidServersResponse, 202: DryRunResponse, ...huaweiErrors } } }, async (req, reply) => {
    const billing = req.body.server.extendparam
    const prePaid = billing?.chargingMode === 'prePaid'
    if (prePaid) assertPrePaidPeriod({ periodType: billing.periodType, periodNum: billing.periodNum }, { type: 'extendparam.periodType', num: 'extendparam.periodNum' })
    const input = createInputOf(req.body, req.headers['x-client-token'])
    const orderId = prePaid ? newOrderId() : undefined
    const accepted = await servers.create(
      projectOf(req),
      orderId === undefined
        ? input
        : { ...input, metadata: { ...input.metadata, [ORDER_ID_METADATA_KEY]: orderId }, resources: { ...input.resources, chargingMode: 'prePaid' } },
    )
    if (req.body.dry_run === true) return reply.code(202).send({})
    if (orderId === undefined) return { job_id: accepted.jobId, serverIds: accepted.serverIds }
    return { order_id: orderId, serverIds: accepted.serverIds, ...(billing?.isAutoPay === 'true' ? { job_id: accepted.jobId } : {}) }
  })

  app.get('/cloudservers/detail', { schema: { params: ProjectParams, querystring: ListCloudServersQuery, response: { 200: ListCloudServersResponse, ...huaweiErrors } } }, async (req) => {
    const q = req.query
    const projectId = projectOf(req)
    const limit = q.limit ?? 10
    const page = await listCloudServers(database, projectId, {
      id: q.id,
      name: q.name,
      status: q.status,
      inRecycleBin: q.in_recycle_bin,
      spodId: q.spod_id,
      flavorName: q.flavor_name,
      imageId: q.image_id,
      metadata: q.metadata === undefined ? undefined : metadataEntry(q.metadata),
      metadataKey: q['metadata-key'],
      tags: q.tags === undefined ? undefined : parseTagFilter(q.tags),
      notTags: q['not-tags'] === undefined ? undefined : parseTagFilter(q['not-tags']),
      availabilityZone: q.availability_zone,
      availabilityZoneEq: q.availability_zone_eq,
      chargingMode: q.charging_mode === undefined ? undefined : CHARGING_MODES[q.charging_mode],
      keyName: q.key_name,
      launchedSince: q.launched_since === undefined ? undefined : isoTime('launched_since', q.launched_since),
      enterpriseProjectId: q.enterprise_project_id,
      limit,
      marker: q.marker,
    })
    const fields = new Set(q['expect-fields'] ?? [])
    return {
      servers: page.servers.map((r) => cloudServerBody(r, fields)),
      count: page.total,
      ...(page.nextMarker === undefined ? {} : { servers_links: [{ rel: 'next', href: nextPageHref(req, page.nextMarker) }] }),
      request_id: req.id,
    }
  })
}

/** Launch templates and their versions (under /v3/{project_id}). */
export const launchTemplateRoutes: FastifyPluginAsyncTypebox<{ services: Services }> = async (app, { services }) => {
  const { database } = services

  app.post('/launch-templates', { schema: { params: ProjectParams, body: CreateLaunchTemplateBody, response: { 200: CreateLaunchTemplateResponse, ...huaweiErrors } } }, async (req) => {
    const t = req.body.launch_template
    const id = await createLaunchTemplate(database, projectOf(req), {
      name: t.name,
      description: t.description,
      versionDescription: t.version_description,
      templateData: (t.template_data ?? {}) as TemplateData,
      dryRun: req.body.dry_run === true,
    })
    // A dry run answers an empty object, as the API definition has it.
    return id === undefined ? {} : { launch_template_id: id }
  })

  app.delete('/launch-templates/:launch_template_id', { schema: { params: LaunchTemplateParams, response: { 204: NoContent('Deleted, with all its versions.'), ...huaweiErrors } } }, async (req, reply) => {
    await deleteLaunchTemplate(database, projectOf(req), req.params.launch_template_id)
    return reply.code(204).send()
  })

  app.get('/launch-templates', { schema: { params: ProjectParams, querystring: ListTemplatesQuery, response: { 200: ListTemplatesResponse, ...huaweiErrors } } }, async (req) => {
    const q = req.query
    const page = await listLaunchTemplates(database, projectOf(req), { ids: q.launch_template_id, names: q.name, limit: q.limit ?? 100, marker: q.marker })
    return {
      launch_templates: page.items.map((t) => ({
        id: t.id, name: t.name, description: t.description ?? '', created_at: seconds(t.created_at), updated_at: seconds(t.updated_at),
        default_version: t.default_version, latest_version: t.latest_version, enterprise_project_id: '0',
      })),
      page_info: page.nextMarker === undefined ? {} : { next_marker: page.nextMarker },
    }
  })

  app.get('/launch-template-versions', { schema: { params: ProjectParams, querystring: ListLaunchTemplateVersionsQuery, response: { 200: ListLaunchTemplateVersionsResponse, ...huaweiErrors } } }, async (req) => {
    const q = req.query
    const page = await listLaunchTemplateVersions(database, projectOf(req), {
      templateId: q.launch_template_id, imageId: q.image_id, flavorId: q.flavor_id, versions: q.version, limit: q.limit ?? 100, marker: q.marker,
    })
    return {
      launch_template_versions: page.items.map((v) => ({
        template_data: JSON.parse(v.template_data) as Record<string, unknown>,
        version_number: v.version_number,
        version_id: v.id,
        version_description: v.version_description ?? '',
        created_at: seconds(v.created_at),
        launch_template_id: v.template_id,
      })),
      page_info: page.nextMarker === undefined ? {} : { next_marker: page.nextMarker },
    }
  })
}

/** `charging_mode` of `listCloudServers`, as the metadata numbers it or as the create names it. */
const CHARGING_MODES = { 0: 'postPaid', 1: 'prePaid', 2: 'spot', postPaid: 'postPaid', prePaid: 'prePaid', spot: 'spot' } as const

/** `metadata=key=value` of `listCloudServers` (the first `=` separates). */
function metadataEntry(text: string): { key: string; value: string } {
  const eq = text.indexOf('=')
  return { key: text.slice(0, eq), value: text.slice(eq + 1) }
}

/** An ISO-8601 time parameter in the stored form (`toISOString`), or 400 naming it. */
function isoTime(field: string, text: string): string {
  const ms = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})$/.test(text) ? Date.parse(text) : Number.NaN
  if (Number.isNaN(ms)) throw invalidParameter(`${field} "${text}" is not an ISO 8601 time such as 2013-06-09T06:42:18Z`)
  return new Date(ms).toISOString()
}

/** The request's own URL with `marker` set to the next page's. */
function nextPageHref(req: FastifyRequest, marker: string): string {
  const [path, query = ''] = req.url.split('?') as [string, string?]
  const params = new URLSearchParams(query)
  params.set('marker', marker)
  return `${req.protocol}://${req.host}${path}?${params.toString()}`
}

/**
 * A server as `listCloudServers` shows it (`CloudServer`): the always-present fields, and the
 * optional ones `expect-fields` asks for. It shows no host: the API has no host field.
 */
function cloudServerBody(r: CloudServerRecord, fields: ReadonlySet<(typeof EXPECT_FIELDS)[number]>) {
  const s = r.server
  const detail = serverBody(r)
  const status = s.status as ServerStatus
  const optional: Record<string, unknown> = {}
  const add = (field: (typeof EXPECT_FIELDS)[number], value: () => unknown) => {
    if (fields.has(field)) optional[field] = value()
  }
  add('launched_at', () => (s.launched_at === null ? '' : seconds(s.launched_at)))
  add('key_name', () => detail.key_name)
  add('locked', () => detail.locked)
  add('root_device_name', () => detail['OS-EXT-SRV-ATTR:root_device_name'])
  add('tenancy', () => (r.dedicatedHostId === null ? 'shared' : 'dedicated'))
  add('dedicated_host_id', () => r.dedicatedHostId ?? '')
  add('enterprise_project_id', () => detail.enterprise_project_id)
  add('tags', () => detail.tags)
  add('metadata', () => detail.metadata)
  add('addresses', () => cloudAddresses(detail.addresses as Record<string, Array<Record<string, unknown>>>))
  add('security_groups', () => detail.security_groups)
  add('volumes_attached', () => (r.details?.volumes ?? []).map((v) => ({
    id: v.volumeId, delete_on_termination: v.deleteOnTermination, device: v.device, bootIndex: v.bootIndex === null ? '' : String(v.bootIndex),
  })))
  add('image', () => detail.image)
  add('power_state', () => s.power_state)
  add('cpu_options', () => ({}))
  add('market_info', () => ({ charge_mode: r.details?.attributes.chargingMode === 'prePaid' ? 'prepaid' : 'postpaid' }))
  return {
    id: s.id,
    name: s.name,
    status,
    tenant_id: s.project_id,
    user_id: s.project_id,
    availability_zone: s.az,
    vm_state: vmStateOf(status, s.power_state),
    task_state: s.task_state,
    created: detail.created,
    updated: detail.updated,
    in_recycle_bin: s.in_recycle_bin === 1,
    spod_id: '',
    description: detail.description,
    flavor: { id: s.flavor_id, name: r.flavorName, vcpus: s.vcpus, ram: s.ram_mb, disk: r.diskGb, gpus: [], asic_accelerators: [] },
    fault: detail.fault ?? null,
    ...optional,
  }
}

/** The ServerDetail `addresses` in `CloudServer` form: numeric IP versions, the first NIC primary. */
function cloudAddresses(addresses: Record<string, Array<Record<string, unknown>>>) {
  return Object.fromEntries(
    Object.entries(addresses).map(([network, list]) => [
      network,
      list.map((a, i) => ({ ...a, version: Number(a.version), primary: typeof a.primary === 'boolean' ? a.primary : i === 0 })),
    ]),
  )
}

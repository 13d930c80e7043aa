import { createBody, v1, waitForIdle } from '../../helper.ts'
import { P, type Case } from './world.ts'

/** Cases of the operations on availability zones, sell policies, charge mode, createServers, listCloudServers, launch templates. */
export const catalogueCases: Record<string, Case> = {
  'GET /v1/{project_id}/availability-zones': async (_w, send) => {
    await send({ method: 'GET', url: v1('/availability-zones') })
  },
  'GET /v1/{project_id}/cloudservers/flavor-sell-policies': async (_w, send) => {
    await send({ method: 'GET', url: v1('/cloudservers/flavor-sell-policies') })
    await send({ method: 'GET', url: v1('/cloudservers/flavor-sell-policies?sell_mode=prePaid&availability_zone_id=az1&limit=2') })
  },
  'POST /v1/{project_id}/cloudservers/actions/change-charge-mode': async (w, send) => {
    const body = { server_ids: [await w.server()], charge_mode: 'prePaid', prepaid_options: { period_type: 'month', period_num: '1' } }
    await send({ method: 'POST', url: v1('/cloudservers/actions/change-charge-mode'), body: { ...body, dry_run: true } })
    await send({ method: 'POST', url: v1('/cloudservers/actions/change-charge-mode'), body })
  },
  'POST /v1.1/{project_id}/cloudservers': async (w, send) => {
    const url = `/v1.1/${P}/cloudservers`
    await send({ method: 'POST', url, body: createBody({ name: w.unique('pay'), extendparam: { chargingMode: 'postPaid' } }) })
    const yearly = { chargingMode: 'prePaid', periodType: 'year', periodNum: 1, isAutoPay: 'true' }
    await send({ method: 'POST', url, body: createBody({ name: w.unique('yearly'), extendparam: yearly }) })
    await send({ method: 'POST', url, body: createBody({ name: w.unique('monthly'), extendparam: { ...yearly, periodType: 'month', isAutoPay: 'false' } }) })
    await send({ method: 'POST', url, body: { ...createBody({ name: w.unique('dry') }), dry_run: true } })
    await waitForIdle(w.database)
  },
  'GET /v1.1/{project_id}/cloudservers/detail': async (w, send) => {
    await w.sharedServer()
    await w.server()
    await send({ method: 'GET', url: `/v1.1/${P}/cloudservers/detail` })
    await send({ method: 'GET', url: `/v1.1/${P}/cloudservers/detail?limit=1&expect-fields=addresses&expect-fields=volumes_attached&expect-fields=tags&expect-fields=metadata&expect-fields=market_info&expect-fields=tenancy` })
  },
  'POST /v3/{project_id}/launch-templates': async (w, send) => {
    const body = { launch_template: { name: w.unique('template'), template_data: { flavor_id: 's6.large.2' } } }
    await send({ method: 'POST', url: `/v3/${P}/launch-templates`, body: { ...body, dry_run: true } })
    await send({ method: 'POST', url: `/v3/${P}/launch-templates`, body })
  },
  'DELETE /v3/{project_id}/launch-templates/{launch_template_id}': async (w, send) => {
    const made = await w.ok<{ launch_template_id: string }>({ method: 'POST', url: `/v3/${P}/launch-templates`, body: { launch_template: { name: w.unique('doomed') } } })
    await send({ method: 'DELETE', url: `/v3/${P}/launch-templates/${made.launch_template_id}` })
  },
  'GET /v3/{project_id}/launch-templates': async (w, send) => {
    await sharedTemplate(w)
    await send({ method: 'GET', url: `/v3/${P}/launch-templates` })
    await send({ method: 'GET', url: `/v3/${P}/launch-templates?limit=1` })
  },
  'GET /v3/{project_id}/launch-template-versions': async (w, send) => {
    await sharedTemplate(w)
    await send({ method: 'GET', url: `/v3/${P}/launch-template-versions` })
    await send({ method: 'GET', url: `/v3/${P}/launch-template-versions?flavor_id=s6.large.2&version=1&limit=1` })
  },
}

/** A launch template cases only read. */
function sharedTemplate(w: Parameters<Case>[0]): Promise<unknown> {
  return w.once('launch-template', () => w.ok({
    method: 'POST', url: `/v3/${P}/launch-templates`,
    body: { launch_template: { name: 'shared', description: 'read by the list cases', template_data: { flavor_id: 's6.large.2', block_device_mappings: [{ source_type: 'image', source_id: 'img-ubuntu-22.04' }] } } },
  }))
}

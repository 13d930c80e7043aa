import { DEMO } from '../../../src/services/demo.ts'
import { call, createBody } from '../../helper.ts'
import type { RouteArea } from './routes.ts'

/** Routes of availability zones, sell policies, charge mode, createServers, listCloudServers, launch templates. */
export const area: RouteArea = {
  routes: [
    { method: 'GET', path: () => '/availability-zones' },
    { method: 'GET', path: () => '/cloudservers/flavor-sell-policies' },
    {
      method: 'POST',
      path: () => '/cloudservers/actions/change-charge-mode',
      body: (i) => ({ server_ids: [i.server], charge_mode: 'prePaid', prepaid_options: { period_type: 'month', period_num: '1' }, dry_run: true }),
    },
    {
      method: 'POST',
      path: () => '/cloudservers',
      body: () => createBody({ extendparam: { chargingMode: 'prePaid', periodType: 'month', periodNum: 1, isAutoPay: 'true' } }),
      version: 'v1.1',
    },
    { method: 'GET', path: () => '/cloudservers/detail', version: 'v1.1' },
    {
      method: 'POST',
      path: () => '/launch-templates',
      body: () => ({ launch_template: { name: 'fuzz', template_data: { flavor_id: 's6.large.2', block_device_mappings: [{ source_type: 'image', source_id: 'img' }] } } }),
      version: 'v3',
    },
    { method: 'DELETE', path: (i) => `/launch-templates/${i.template}`, version: 'v3' },
    { method: 'GET', path: () => '/launch-templates', version: 'v3' },
    { method: 'GET', path: () => '/launch-template-versions', version: 'v3' },
  ],
  queryKeys: [
    'id', 'in_recycle_bin', 'spod_id', 'flavor_name', 'image_id', 'metadata', 'metadata-key', 'tags', 'not-tags', 'availability_zone_eq', 'charging_mode', 'key_name',
    'launched_since', 'enterprise_project_id', 'expect-fields', 'ip', 'ip_eq', 'reservation_id', 'server_id', 'flavor_id', 'sell_status', 'sell_mode',
    'availability_zone_id', 'interruption_policy', 'launch_template_id', 'version',
  ],
  setup: async ({ app }) => {
    const res = await call(app, {
      method: 'POST',
      url: `/v3/${DEMO.projectId}/launch-templates`,
      body: { launch_template: { name: 'fuzz-fixture', template_data: { flavor_id: 's6.small.1' } } },
    })
    if (res.statusCode !== 200) throw new Error(`launch template fixture: ${res.statusCode} ${res.body}`)
    return { template: (res.json() as { launch_template_id: string }).launch_template_id }
  },
}

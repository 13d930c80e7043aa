import assert from 'node:assert/strict'
import { json, sorted } from '../story.ts'
import type { OperationChecks, OperationContext, Wire } from './types.ts'

/**
 * SDK checks of availability zones, sell policies, charge mode, createServers, listCloudServers
 * and launch templates: each calls its operation through the SDK and reads back through the SDK.
 */

const ZONE = 'az1'
const FLAVOR = 's6.small.1'
const REQUEST_ID = /^[0-9a-f]{32}$/

async function showServer(c: OperationContext, id: string): Promise<Wire> {
  const r = await c.client['showServer']!(new c.ecs.ShowServerRequest(id))
  assert.equal(r.httpStatusCode, 200, `showServer ${id}`)
  return r['server'] as Wire
}

/** The servers `listCloudServers` lists under a name, with the optional fields asked for. */
async function cloudServers(c: OperationContext, request: InstanceType<OperationContext['ecs']['ListCloudServersRequest']>): Promise<Wire> {
  const r = await c.client['listCloudServers']!(request)
  assert.equal(r.httpStatusCode, 200, `listCloudServers: ${json(r)}`)
  return r
}

/** Creates a launch template through the SDK; its id. */
async function createTemplate(c: OperationContext, name: string, flavorId: string = FLAVOR): Promise<string> {
  const data = new c.ecs.TemplateData()
    .withFlavorId(flavorId)
    .withAvailabilityZoneId(ZONE)
    .withOsProfile(new c.ecs.TemplateOsProfile().withKeyName('sdk-key'))
    .withNetworkInterfaces([new c.ecs.TemplateNetworkInterfaceOption().withVirsubnetId('subnet-e2e')])
    .withBlockDeviceMappings([
      new c.ecs.TemplateBlockDeviceMappingOption().withSourceType('image').withSourceId('img-ubuntu-22.04').withVolumeType('SSD').withVolumeSize(40)
        .withAttachment(new c.ecs.TemplateBlockDeviceMappingAttachmentOption().withBootIndex(0).withDeleteOnTermination(true)),
    ])
    .withTagOptions([new c.ecs.TemplateTagOptions().withTags([new c.ecs.TemplateTag().withKey('team').withValue('sdk')])])
  const r = await c.client['createLaunchTemplate']!(
    new c.ecs.CreateLaunchTemplateRequest().withBody(
      new c.ecs.CreateLaunchTemplateRequestBody().withLaunchTemplate(
        new c.ecs.LaunchTemplateOption(name).withDescription(`${name} template`).withVersionDescription('first').withTemplateData(data),
      ),
    ),
  )
  assert.equal(r.httpStatusCode, 200, `createLaunchTemplate: ${json(r)}`)
  assert.match(String(r['X-Request-Id']), REQUEST_ID, 'the SDK copies the request id into its answer')
  return String(r['launch_template_id'])
}

async function templates(c: OperationContext, request: InstanceType<OperationContext['ecs']['ListTemplatesRequest']>): Promise<Wire> {
  const r = await c.client['listTemplates']!(request)
  assert.equal(r.httpStatusCode, 200, `listTemplates: ${json(r)}`)
  return r
}

async function versions(c: OperationContext, request: InstanceType<OperationContext['ecs']['ListLaunchTemplateVersionsRequest']>): Promise<Wire[]> {
  const r = await c.client['listLaunchTemplateVersions']!(request)
  assert.equal(r.httpStatusCode, 200, `listLaunchTemplateVersions: ${json(r)}`)
  assert.match(String(r['X-Request-Id']), REQUEST_ID)
  return r['launch_template_versions'] as Wire[]
}

/** SDK checks of availability zones, sell policies, charge mode, createServers, listCloudServers, launch templates. */
export const checks: OperationChecks = {
  async createServers(c) {
    const name = c.unique('sdk-yearly')
    const server = new c.ecs.PrePaidServer()
      .withImageRef('img-ubuntu-22.04')
      .withFlavorRef(FLAVOR)
      .withName(name)
      .withVpcid('vpc-e2e')
      .withNics([new c.ecs.PrePaidServerNic().withSubnetId('subnet-e2e')])
      .withRootVolume(new c.ecs.PrePaidServerRootVolume().withVolumetype('SSD'))
      .withAvailabilityZone(ZONE)
      .withExtendparam(new c.ecs.PrePaidServerExtendParam().withChargingMode('prePaid').withPeriodType('month').withPeriodNum(1).withIsAutoRenew('false').withIsAutoPay('true'))
    const r = await c.client['createServers']!(new c.ecs.CreateServersRequest().withBody(new c.ecs.CreateServersRequestBody().withServer(server)))
    assert.equal(r.httpStatusCode, 200, `createServers: ${json(r)}`)
    assert.match(String(r['order_id']), /^CS\d{10}[A-Z]{5}$/)
    const [id] = r['serverIds'] as string[]
    await c.job(r['job_id'] as string, `createServers ${name}`)
    const shown = await showServer(c, id!)
    assert.equal(shown['name'], name)
    assert.equal(shown['metadata']['charging_mode'], '1', 'a yearly/monthly server')
    assert.equal(shown['metadata']['metering.order_id'], r['order_id'])
    await c.refused(
      c.client['createServers']!(new c.ecs.CreateServersRequest().withBody(new c.ecs.CreateServersRequestBody().withServer(server.withExtendparam(new c.ecs.PrePaidServerExtendParam().withChargingMode('prePaid'))))),
      400, 'Ecs.0005', 'a yearly/monthly purchase without a period',
    )
  },

  async listCloudServers(c) {
    const name = c.unique('sdk-cloud')
    const [a, b] = [await c.server({ name: `${name}-a` }), await c.server({ name: `${name}-b` })]
    await c.stoppedServer({ name: `${name}-c` })
    const all = await cloudServers(c, new c.ecs.ListCloudServersRequest().withName(name).withExpectFields(['metadata', 'market_info', 'launched_at']))
    assert.equal(all['count'], 3)
    const servers = all['servers'] as Wire[]
    const first = servers.find((s) => s['id'] === a)!
    assert.equal(first['flavor']['vcpus'], 1, 'numeric flavor fields')
    assert.equal(first['availability_zone'], ZONE)
    assert.equal(first['metadata']['charging_mode'], '0')
    assert.deepEqual(first['market_info'], { charge_mode: 'postpaid' })
    assert.ok(!('OS-EXT-SRV-ATTR:host' in first) && !('hostId' in first), 'no host fields')
    const running = await cloudServers(c, new c.ecs.ListCloudServersRequest().withName(name).withStatus('ACTIVE'))
    assert.deepEqual(sorted((running['servers'] as Wire[]).map((s) => String(s['id']))), sorted([a!, b!]))
    const page = await cloudServers(c, new c.ecs.ListCloudServersRequest().withName(name).withLimit(2))
    assert.equal((page['servers'] as Wire[]).length, 2)
    const next = new URL(String((page['servers_links'] as Wire[])[0]!['href'])).searchParams.get('marker')!
    const rest = await cloudServers(c, new c.ecs.ListCloudServersRequest().withName(name).withLimit(2).withMarker(next))
    assert.deepEqual([...(page['servers'] as Wire[]), ...(rest['servers'] as Wire[])].map((s) => s['id']), servers.map((s) => s['id']))
  },

  async listServerAzInfo(c) {
    const r = await c.client['listServerAzInfo']!(new c.ecs.ListServerAzInfoRequest())
    assert.equal(r.httpStatusCode, 200)
    const zones = r['availability_zones'] as Wire[]
    assert.ok(zones.some((z) => z['availability_zone_id'] === ZONE && z['type'] === 'Center' && z['mode'] === 'shared'), json(zones))
    const nova = await c.client['novaListAvailabilityZones']!(new c.ecs.NovaListAvailabilityZonesRequest())
    const novaZones = (nova['availabilityZoneInfo'] as Wire[]).map((z) => String(z['zoneName']))
    for (const z of zones) assert.ok(novaZones.includes(String(z['availability_zone_id'])), `${String(z['availability_zone_id'])} is a Nova zone too`)
  },

  async listFlavorSellPolicies(c) {
    const r = await c.client['listFlavorSellPolicies']!(new c.ecs.ListFlavorSellPoliciesRequest().withFlavorId(FLAVOR).withSellMode('postPaid'))
    assert.equal(r.httpStatusCode, 200, json(r))
    const policies = r['sell_policies'] as Wire[]
    assert.equal(r['count'], policies.length)
    assert.ok(policies.some((p) => p['availability_zone_id'] === ZONE && p['sell_status'] === 'available' && typeof p['id'] === 'number'), json(policies))
    assert.ok(policies.every((p) => p['flavor_id'] === FLAVOR && p['sell_mode'] === 'postPaid'))
    const soldOut = await c.client['listFlavorSellPolicies']!(new c.ecs.ListFlavorSellPoliciesRequest().withFlavorId('s6.2xlarge.2').withSellStatus('available'))
    assert.equal(soldOut['count'], 0, 'a flavor that is sold out has no available policy')
  },

  async changeServerChargeMode(c) {
    const id = await c.server({ name: c.unique('sdk-to-yearly') })
    const request = (dryRun: boolean) => new c.ecs.ChangeServerChargeModeRequest().withBody(
      new c.ecs.ChangeServerChargeModeRequestBody([id], 'prePaid').withPrepaidOptions(new c.ecs.ChangeServerChargeModePrepaidOption('year', '1').withAutoPay(true)).withDryRun(dryRun),
    )
    const dry = await c.client['changeServerChargeMode']!(request(true))
    assert.equal(dry.httpStatusCode, 202)
    assert.equal((await showServer(c, id))['metadata']['charging_mode'], '0', 'a dry run changes nothing')
    const r = await c.client['changeServerChargeMode']!(request(false))
    assert.equal(r.httpStatusCode, 200, json(r))
    const metadata = (await showServer(c, id))['metadata'] as Record<string, string>
    assert.equal(metadata['charging_mode'], '1')
    assert.equal(metadata['metering.order_id'], r['order_id'])
    const listed = await cloudServers(c, new c.ecs.ListCloudServersRequest().withId(id).withChargingMode('1'))
    assert.deepEqual((listed['servers'] as Wire[]).map((s) => s['id']), [id])
    await c.refused(c.client['changeServerChargeMode']!(request(false)), 400, 'Ecs.0005', 'a server already yearly/monthly')
  },

  async createLaunchTemplate(c) {
    const name = c.unique('sdk-template')
    const id = await createTemplate(c, name)
    const listed = await templates(c, new c.ecs.ListTemplatesRequest().withName([name]))
    const [t] = listed['launch_templates'] as Wire[]
    assert.deepEqual([t!['id'], t!['name'], t!['description'], t!['default_version'], t!['latest_version']], [id, name, `${name} template`, 1, 1])
    const [v] = await versions(c, new c.ecs.ListLaunchTemplateVersionsRequest().withLaunchTemplateId(id))
    assert.equal(v!['version_number'], 1)
    assert.equal(v!['template_data']['flavor_id'], FLAVOR)
    assert.deepEqual(v!['template_data']['tag_options'], [{ tags: [{ key: 'team', value: 'sdk' }] }])
    await c.refused(
      c.client['createLaunchTemplate']!(new c.ecs.CreateLaunchTemplateRequest().withBody(new c.ecs.CreateLaunchTemplateRequestBody().withLaunchTemplate(new c.ecs.LaunchTemplateOption(name)))),
      409, 'Ecs.0005', 'a second template of the same name',
    )
  },

  async deleteLaunchTemplates(c) {
    const id = await createTemplate(c, c.unique('sdk-doomed'))
    const r = await c.client['deleteLaunchTemplates']!(new c.ecs.DeleteLaunchTemplatesRequest(id))
    assert.equal(r.httpStatusCode, 204)
    assert.deepEqual((await templates(c, new c.ecs.ListTemplatesRequest().withLaunchTemplateId([id])))['launch_templates'], [])
    assert.deepEqual(await versions(c, new c.ecs.ListLaunchTemplateVersionsRequest().withLaunchTemplateId(id)), [], 'its versions went with it')
    await c.refused(c.client['deleteLaunchTemplates']!(new c.ecs.DeleteLaunchTemplatesRequest(id)), 404, 'Ecs.0005', 'a template already deleted')
  },

  async listTemplates(c) {
    const names = [c.unique('sdk-list'), c.unique('sdk-list')]
    const ids = [await createTemplate(c, names[0]!), await createTemplate(c, names[1]!)]
    const both = await templates(c, new c.ecs.ListTemplatesRequest().withName(names))
    assert.deepEqual((both['launch_templates'] as Wire[]).map((t) => t['id']), ids)
    assert.match(String(both['X-Request-Id']), REQUEST_ID)
    const first = await templates(c, new c.ecs.ListTemplatesRequest().withName(names).withLimit(1))
    assert.equal(first['page_info']['next_marker'], ids[0])
    const second = await templates(c, new c.ecs.ListTemplatesRequest().withName(names).withLimit(1).withMarker(ids[0]!))
    assert.deepEqual((second['launch_templates'] as Wire[]).map((t) => t['id']), [ids[1]])
  },

  async listLaunchTemplateVersions(c) {
    const id = await createTemplate(c, c.unique('sdk-versions'), 's6.medium.2')
    const byFlavor = await versions(c, new c.ecs.ListLaunchTemplateVersionsRequest().withFlavorId('s6.medium.2').withVersion([1]))
    assert.ok(byFlavor.some((v) => v['launch_template_id'] === id), json(byFlavor))
    assert.ok(byFlavor.every((v) => v['template_data']['flavor_id'] === 's6.medium.2'))
    assert.deepEqual(await versions(c, new c.ecs.ListLaunchTemplateVersionsRequest().withLaunchTemplateId(id).withVersion([2])), [])
  },
}

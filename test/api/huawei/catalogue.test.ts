import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import type { App } from '../../../src/app.ts'
import { DEMO } from '../../../src/services/demo.ts'
import type { Database } from '../../../src/store/database.ts'
import { buildTestApp, call, createBody, createServers, DIALECTS, showServer, stopServers, v1, waitForJob } from '../../helper.ts'
import { boot, waitForServers } from '../openstack/nova.ts'

/**
 * createServers and listCloudServers (/v1.1), the filters of both server lists, availability
 * zones, flavor sell policies, charge-mode changes and launch templates (/v3).
 */

const P = DEMO.projectId
const V11 = `/v1.1/${P}/cloudservers`
const V3 = `/v3/${P}`

function errorOf(res: { json(): unknown }): { code: string; message: string } {
  return (res.json() as { error: { code: string; message: string } }).error
}

async function get<T = Record<string, unknown>>(app: App, url: string, credential?: Credential): Promise<T> {
  const res = await call(app, { method: 'GET', url, ...credential })
  assert.equal(res.statusCode, 200, `${url}: ${res.body}`)
  return res.json() as T
}

interface Credential {
  accessKey: string
  secretKey: string
  projectId: string
}

/** A second project with a credential of its own, as the operator makes one. */
async function otherProject(app: App): Promise<Credential> {
  const admin = { accessKey: DEMO.adminAccessKey, secretKey: DEMO.adminSecretKey }
  const project = await call(app, { method: 'POST', url: '/admin/projects', ...admin, body: { project: { name: 'other' } } })
  assert.equal(project.statusCode, 201, project.body)
  const projectId = (project.json() as { project: { id: string } }).project.id
  const issued = await call(app, { method: 'POST', url: `/admin/projects/${projectId}/credentials`, ...admin, body: { credential: { description: 'other' } } })
  assert.ok(issued.statusCode < 300, issued.body)
  const { access, secret } = (issued.json() as { credential: { access: string; secret: string } }).credential
  return { accessKey: access, secretKey: secret, projectId }
}

async function rowCounts(database: Database): Promise<Record<string, number>> {
  const count = async (table: 'servers' | 'server_options' | 'jobs' | 'launch_templates' | 'launch_template_versions') =>
    Number((await database.db.selectFrom(table).select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow()).n)
  return { servers: await count('servers'), options: await count('server_options'), jobs: await count('jobs'), templates: await count('launch_templates'), versions: await count('launch_template_versions') }
}

type CloudServer = Record<string, unknown> & { id: string; name: string }
type CloudPage = { servers: CloudServer[]; count: number; servers_links?: Array<{ rel: string; href: string }>; request_id: string }

describe('createServers (/v1.1)', () => {
  test('pay-per-use answers the job; yearly/monthly answers the order, is created at once and shows as prePaid', async (t) => {
    const { app, database } = await buildTestApp(t)
    const postPaid = await call(app, { method: 'POST', url: V11, body: createBody({ name: 'pay', extendparam: { chargingMode: 'postPaid' } }) })
    assert.equal(postPaid.statusCode, 200, postPaid.body)
    const pay = postPaid.json() as { job_id: string; serverIds: string[]; order_id?: string }
    assert.equal(pay.order_id, undefined)
    assert.equal((await waitForJob(app, pay.job_id)).status, 'SUCCESS')
    assert.equal(((await showServer(app, pay.serverIds[0]!)).metadata as Record<string, string>).charging_mode, '0')

    const year = { chargingMode: 'prePaid', periodType: 'year', periodNum: 1, isAutoRenew: 'false', isAutoPay: 'true' }
    const autoPaid = await call(app, { method: 'POST', url: V11, body: createBody({ name: 'yearly', count: 2, extendparam: year }) })
    assert.equal(autoPaid.statusCode, 200, autoPaid.body)
    const paid = autoPaid.json() as { job_id: string; serverIds: string[]; order_id: string }
    assert.match(paid.order_id, /^CS\d{10}[A-Z]{5}$/)
    assert.equal(paid.serverIds.length, 2)
    assert.equal((await waitForJob(app, paid.job_id)).status, 'SUCCESS')
    const shown = await showServer(app, paid.serverIds[1]!)
    assert.equal(shown.status, 'ACTIVE')
    assert.equal((shown.metadata as Record<string, string>).charging_mode, '1')
    assert.equal((shown.metadata as Record<string, string>)['metering.order_id'], paid.order_id)

    const unpaid = await call(app, { method: 'POST', url: V11, body: createBody({ name: 'monthly', extendparam: { ...year, periodType: 'month', periodNum: 9, isAutoPay: 'false' } }) })
    assert.equal(unpaid.statusCode, 200, unpaid.body)
    const order = unpaid.json() as { job_id?: string; serverIds: string[]; order_id: string }
    assert.equal(order.job_id, undefined, 'an order that is not paid automatically answers no job')
    assert.equal(order.serverIds.length, 1)

    const before = await rowCounts(database)
    for (const extendparam of [
      { chargingMode: 'prePaid' },
      { chargingMode: 'prePaid', periodType: 'month', periodNum: 10 },
      { chargingMode: 'prePaid', periodType: 'year', periodNum: 4 },
      { chargingMode: 1 },
      { chargingMode: 'prePaid', periodType: 'year', periodNum: 1, isAutoPay: true },
      { chargingMode: 'postPaid', unknownField: 1 },
    ]) {
      const res = await call(app, { method: 'POST', url: V11, body: createBody({ extendparam }) })
      assert.equal(res.statusCode, 400, `${JSON.stringify(extendparam)}: ${res.body}`)
      assert.equal(errorOf(res).code, 'Ecs.0005')
    }
    const dry = await call(app, { method: 'POST', url: V11, body: { ...createBody({ extendparam: year }), dry_run: true } })
    assert.equal(dry.statusCode, 202, dry.body)
    assert.deepEqual(await rowCounts(database), before, 'refusals and the dry run change nothing')
  })
})

describe('listCloudServers (/v1.1)', () => {
  test('CloudServer shape without host fields, expect-fields, filters, and marker pages linked by servers_links', async (t) => {
    const { app, database } = await buildTestApp(t)
    const web = await createServers(app, { name: 'web', count: 3, availability_zone: 'az1', metadata: { role: 'front' } })
    const [db] = await createServers(app, { name: 'db', availability_zone: 'az2', flavorRef: 's6.small.1' })
    await stopServers(app, [db!])
    await database.db.insertInto('server_tags').values([
      { server_id: web[0]!, project_id: P, key: 'env', value: 'prod', created_at: new Date().toISOString() },
      { server_id: web[1]!, project_id: P, key: 'env', value: 'test', created_at: new Date().toISOString() },
    ]).execute()
    const changed = await call(app, { method: 'POST', url: v1('/cloudservers/actions/change-charge-mode'), body: { server_ids: [db], charge_mode: 'prePaid', prepaid_options: { period_type: 'month', period_num: '1' } } })
    assert.equal(changed.statusCode, 200, changed.body)

    const all = await get<CloudPage>(app, `${V11}/detail`)
    assert.equal(all.count, 4)
    assert.match(all.request_id, /^[0-9a-f]{32}$/)
    const first = all.servers.find((s) => s.id === db)!
    assert.deepEqual(Object.keys(first).sort(), [
      'availability_zone', 'created', 'description', 'fault', 'flavor', 'id', 'in_recycle_bin', 'name', 'spod_id', 'status', 'task_state', 'tenant_id', 'updated', 'user_id', 'vm_state',
    ])
    assert.deepEqual(first.flavor, { id: 's6.small.1', name: 's6.small.1', vcpus: 1, ram: 1024, disk: (first.flavor as { disk: number }).disk, gpus: [], asic_accelerators: [] })
    assert.equal(first.vm_state, 'stopped')
    assert.equal(first.availability_zone, 'az2')

    const asked = await get<CloudPage>(app, `${V11}/detail?id=${web[0]}&expect-fields=tags&expect-fields=metadata&expect-fields=market_info&expect-fields=power_state&expect-fields=tenancy&expect-fields=launched_at`)
    assert.equal(asked.servers.length, 1)
    const s = asked.servers[0]!
    assert.deepEqual(s.tags, ['env=prod'])
    assert.equal((s.metadata as Record<string, string>).role, 'front')
    assert.deepEqual(s.market_info, { charge_mode: 'postpaid' })
    assert.equal(s.power_state, 1)
    assert.equal(s.tenancy, 'shared')
    assert.match(String(s.launched_at), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/)
    assert.ok(!('OS-EXT-SRV-ATTR:host' in s) && !('hostId' in s))

    const ids = async (query: string) => (await get<CloudPage>(app, `${V11}/detail?${query}`)).servers.map((x) => x.id).sort()
    assert.deepEqual(await ids('name=WEB'), [...web].sort())
    assert.deepEqual(await ids('status=SHUTOFF'), [db])
    assert.deepEqual(await ids('charging_mode=1'), [db])
    assert.deepEqual(await ids('charging_mode=postPaid'), [...web].sort())
    assert.deepEqual(await ids('tags=env=prod'), [web[0]])
    assert.deepEqual(await ids('tags=env'), [web[0], web[1]].sort())
    assert.deepEqual(await ids('not-tags=env'), [web[2], db].sort())
    assert.deepEqual(await ids('metadata=role=front'), [...web].sort())
    assert.deepEqual(await ids('metadata=role=fron'), [])
    assert.deepEqual(await ids('metadata-key=role'), [...web].sort())
    assert.deepEqual(await ids('availability_zone=Z2'), [db])
    assert.deepEqual(await ids('availability_zone_eq=az'), [])
    assert.deepEqual(await ids('flavor_name=s6.small.1'), [db])
    assert.deepEqual(await ids('launched_since=2000-01-01T00:00:00Z'), [...web, db].sort())
    assert.deepEqual(await ids('launched_since=2999-01-01T00:00:00Z'), [])
    assert.deepEqual(await ids('enterprise_project_id=all_granted_eps'), [...web, db].sort())
    assert.deepEqual(await ids('enterprise_project_id=ep-1'), [])
    assert.deepEqual(await ids('in_recycle_bin=true'), [])

    const seen: string[] = []
    let url: string | undefined = `${V11}/detail?limit=3&name=`
    for (let pages = 0; url !== undefined; pages++) {
      assert.ok(pages < 3)
      const page: CloudPage = await get<CloudPage>(app, url)
      assert.equal(page.count, 4)
      seen.push(...page.servers.map((x) => x.id))
      const next = page.servers_links?.find((l) => l.rel === 'next')?.href
      url = next === undefined ? undefined : next.replace(/^https?:\/\/[^/]+/, '')
      if (next !== undefined) assert.match(next, /[?&]name=(&|$)/, 'the link keeps the filters')
    }
    assert.deepEqual(seen, all.servers.map((x) => x.id), 'pages in order, each server once')

    for (const query of ['limit=101', 'launched_since=yesterday', 'charging_mode=monthly', 'expect-fields=hostId', 'marker=nope', 'sort=name', 'metadata=novalue']) {
      const res = await call(app, { method: 'GET', url: `${V11}/detail?${query}` })
      assert.equal(res.statusCode, 400, `${query}: ${res.body}`)
      assert.equal(errorOf(res).code, 'Ecs.0005')
    }
    const other = await otherProject(app)
    assert.equal((await get<CloudPage>(app, `/v1.1/${other.projectId}/cloudservers/detail`, other)).count, 0)
  })
})

for (const dialect of DIALECTS) {
  describe(`server list filters on ${dialect}`, () => {
    test('listServersDetails: tags, not-tags, ip, ip_eq, reservation_id, server_id, enterprise project and marker are SQL filters', async (t) => {
      const { app, database } = await buildTestApp(t, { dialect })
      const ids = await createServers(app, { name: 'tagged', count: 3 })
      const booted = await boot(app, { name: 'nova', min_count: 2 })
      await waitForServers(app, booted)
      await database.db.insertInto('server_tags').values([
        { server_id: ids[0]!, project_id: P, key: 'team', value: 'a', created_at: new Date().toISOString() },
        { server_id: ids[0]!, project_id: P, key: 'tier', value: '', created_at: new Date().toISOString() },
        { server_id: ids[1]!, project_id: P, key: 'team', value: 'b', created_at: new Date().toISOString() },
      ]).execute()
      const port = await database.db.selectFrom('server_interfaces').select(['server_id', 'ip_address']).where('server_id', '=', booted[0]!).executeTakeFirstOrThrow()
      const list = async (query: string) => {
        const res = await call(app, { method: 'GET', url: v1(`/cloudservers/detail?${query}`) })
        assert.equal(res.statusCode, 200, `${query}: ${res.body}`)
        const body = res.json() as { count: number; servers: Array<{ id: string }> }
        return body.servers.map((s) => s.id).sort()
      }
      assert.deepEqual(await list('tags=team=a'), [ids[0]])
      assert.deepEqual(await list('tags=team'), [ids[0], ids[1]].sort())
      assert.deepEqual(await list('tags=team,tier'), [ids[0]], 'several tags: all of them')
      assert.deepEqual(await list('tags=tier'), [ids[0]])
      assert.deepEqual(await list('not-tags=team=a'), [ids[1], ids[2], ...booted].sort())
      assert.deepEqual(await list(`ip_eq=${port.ip_address}`), [booted[0]])
      assert.deepEqual(await list(`ip=${port.ip_address.split('.').slice(0, 2).join('.')}`), [...booted].sort())
      const { reservation_id } = await database.db.selectFrom('nova_servers').select('reservation_id').where('server_id', '=', booted[0]!).executeTakeFirstOrThrow()
      assert.deepEqual(await list(`reservation_id=${reservation_id}`), [...booted].sort())
      assert.deepEqual(await list(`server_id=${ids[2]},${ids[0]},nope&name=nova`), [ids[0], ids[2]].sort(), 'server_id wins over the other filters')
      assert.deepEqual(await list('enterprise_project_id=0&limit=1000'), [...ids, ...booted].sort())
      assert.deepEqual(await list('enterprise_project_id=other'), [])
      const ordered = (await get<{ servers: Array<{ id: string }> }>(app, v1('/cloudservers/detail'))).servers.map((s) => s.id)
      const afterFirst = (await get<{ count: number; servers: Array<{ id: string }> }>(app, v1(`/cloudservers/detail?marker=${ordered[0]}&limit=2`)))
      assert.deepEqual(afterFirst.servers.map((s) => s.id), ordered.slice(1, 3))
      assert.equal(afterFirst.count, 5)
    })
  })
}

describe('availability zones and flavor sell policies', () => {
  test('zones of the fleet; sell policies per flavor, zone and mode, with filters and marker pages', async (t) => {
    const { app } = await buildTestApp(t)
    const zones = await get<{ availability_zones: Array<Record<string, unknown>> }>(app, v1('/availability-zones'))
    assert.deepEqual(zones.availability_zones.map((z) => z.availability_zone_id), ['az1', 'az2'])
    assert.deepEqual(zones.availability_zones[0], { availability_zone_id: 'az1', type: 'Center', mode: 'shared', public_border_group: 'center', alias: 'az1', az_group_ids: [], category: 0 })

    type Policies = { count: number; sell_policies: Array<{ id: number; flavor_id: string; sell_status: string; availability_zone_id: string; sell_mode: string }> }
    const all = await get<Policies>(app, v1('/cloudservers/flavor-sell-policies'))
    assert.equal(all.count, all.sell_policies.length)
    assert.ok(all.count > 0)
    const soldOut = await get<Policies>(app, v1('/cloudservers/flavor-sell-policies?flavor_id=s6.2xlarge.2&availability_zone_id=az1'))
    assert.deepEqual(soldOut.sell_policies.map((p) => [p.sell_status, p.sell_mode]), [['sellout', 'postPaid'], ['sellout', 'prePaid']])
    const prePaid = await get<Policies>(app, v1('/cloudservers/flavor-sell-policies?sell_mode=prePaid&sell_status=available'))
    assert.ok(prePaid.sell_policies.every((p) => p.sell_mode === 'prePaid' && p.sell_status === 'available' && p.flavor_id !== 's6.2xlarge.2'))
    assert.equal((await get<Policies>(app, v1('/cloudservers/flavor-sell-policies?sell_mode=spot'))).count, 0)
    assert.equal((await get<Policies>(app, v1('/cloudservers/flavor-sell-policies?interruption_policy=immediate'))).count, 0)
    const firstPage = await get<Policies>(app, v1('/cloudservers/flavor-sell-policies?limit=3'))
    const secondPage = await get<Policies>(app, v1(`/cloudservers/flavor-sell-policies?limit=3&marker=${firstPage.sell_policies[2]!.id}`))
    assert.deepEqual([...firstPage.sell_policies, ...secondPage.sell_policies], all.sell_policies.slice(0, 6))
    const bad = await call(app, { method: 'GET', url: v1('/cloudservers/flavor-sell-policies?sell_mode=yearly') })
    assert.equal(bad.statusCode, 400)
  })
})

describe('changeServerChargeMode', () => {
  test('pay-per-use servers become yearly/monthly under one order; a refusal of one server changes none', async (t) => {
    const { app, database } = await buildTestApp(t)
    const [a, b] = await createServers(app, { count: 2 })
    const url = v1('/cloudservers/actions/change-charge-mode')
    const body = (ids: unknown[], extra: Record<string, unknown> = {}) => ({ server_ids: ids, charge_mode: 'prePaid', prepaid_options: { period_type: 'year', period_num: '1', auto_pay: true }, ...extra })
    const other = await otherProject(app)
    const before = await rowCounts(database)
    const snapshotOf = async () => database.db.selectFrom('servers').select(['id', 'metadata', 'updated_at']).orderBy('id').execute()
    const servers = await snapshotOf()
    const refusals: Array<[unknown, number, string]> = [
      [body([a, 'no-such-server']), 404, 'Ecs.0114'],
      [body([a]), 404, 'Ecs.0114'],
      [body([a], { charge_mode: 'postPaid' }), 400, 'Ecs.0005'],
      [{ ...body([a]), prepaid_options: { period_type: 'month', period_num: '10' } }, 400, 'Ecs.0005'],
      [body(Array.from({ length: 11 }, () => a)), 400, 'Ecs.0005'],
    ]
    for (const [i, [refused, status, code]] of refusals.entries()) {
      const res = await call(app, { method: 'POST', url: i === 1 ? `/v1/${other.projectId}/cloudservers/actions/change-charge-mode` : url, body: refused, ...(i === 1 ? other : {}) })
      assert.equal(res.statusCode, status, `${JSON.stringify(refused)}: ${res.body}`)
      assert.equal(errorOf(res).code, code)
    }
    const dry = await call(app, { method: 'POST', url, body: body([a, b], { dry_run: true }) })
    assert.equal(dry.statusCode, 202, dry.body)
    assert.deepEqual(await rowCounts(database), before)
    assert.deepEqual(await snapshotOf(), servers)

    const res = await call(app, { method: 'POST', url, body: body([a, b]) })
    assert.equal(res.statusCode, 200, res.body)
    const { order_id } = res.json() as { order_id: string }
    for (const id of [a!, b!]) {
      const metadata = (await showServer(app, id)).metadata as Record<string, string>
      assert.equal(metadata.charging_mode, '1')
      assert.equal(metadata['metering.order_id'], order_id)
    }
    const again = await call(app, { method: 'POST', url, body: body([b]) })
    assert.equal(again.statusCode, 400)
    assert.match(errorOf(again).message, /already/)
  })
})

for (const dialect of DIALECTS) {
  describe(`launch templates on ${dialect}`, () => {
    test('create (version 1 is the default), list with filters and pages, versions, unique names, delete; other projects see nothing', async (t) => {
      const { app, database } = await buildTestApp(t, { dialect })
      const create = (name: string, extra: Record<string, unknown> = {}) => call(app, {
        method: 'POST', url: `${V3}/launch-templates`,
        body: {
          launch_template: {
            name, description: `${name} servers`, version_description: 'first',
            template_data: {
              flavor_id: name === 'web' ? 's6.large.2' : 's6.small.1', name: `${name}-server`, availability_zone_id: 'az1', os_profile: { key_name: 'k' },
              network_interfaces: [{ virsubnet_id: 'subnet-1', attachment: { device_index: 0 } }],
              block_device_mappings: [{ source_id: `img-${name}`, source_type: 'image', volume_type: 'SSD', volume_size: 40, attachment: { boot_index: 0, delete_on_termination: true } }],
              tag_options: [{ tags: [{ key: 'team', value: name }] }], metadata: { purpose: 'test' },
            },
          },
          ...extra,
        },
      })
      const made = await create('web')
      assert.equal(made.statusCode, 200, made.body)
      assert.match(String(made.headers['x-request-id']), /^[0-9a-f]{32}$/)
      const web = (made.json() as { launch_template_id: string }).launch_template_id
      const db = ((await create('db')).json() as { launch_template_id: string }).launch_template_id
      const before = await rowCounts(database)
      const dry = await create('dry', { dry_run: true })
      assert.equal(dry.statusCode, 200)
      assert.deepEqual(dry.json(), {})
      const taken = await create('web')
      assert.equal(taken.statusCode, 409, taken.body)
      assert.equal(errorOf(taken).code, 'Ecs.0005')
      const bad = await call(app, { method: 'POST', url: `${V3}/launch-templates`, body: { launch_template: { name: 'x', template_data: { flavorRef: 's6.large.2' } } } })
      assert.equal(bad.statusCode, 400)
      assert.deepEqual(await rowCounts(database), before, 'dry run and refusals create nothing')

      type Templates = { launch_templates: Array<Record<string, unknown>>; page_info: { next_marker?: string } }
      const all = await get<Templates>(app, `${V3}/launch-templates`)
      assert.deepEqual(all.launch_templates.map((x) => x.name), ['web', 'db'])
      assert.deepEqual({ ...all.launch_templates[0], created_at: undefined, updated_at: undefined }, {
        id: web, name: 'web', description: 'web servers', default_version: 1, latest_version: 1, enterprise_project_id: '0', created_at: undefined, updated_at: undefined,
      })
      assert.deepEqual(all.page_info, {})
      const page = await get<Templates>(app, `${V3}/launch-templates?limit=1`)
      assert.deepEqual(page.launch_templates.map((x) => x.id), [web])
      assert.equal(page.page_info.next_marker, web)
      assert.deepEqual((await get<Templates>(app, `${V3}/launch-templates?limit=1&marker=${web}`)).launch_templates.map((x) => x.id), [db])
      assert.deepEqual((await get<Templates>(app, `${V3}/launch-templates?name=db&name=nope`)).launch_templates.map((x) => x.id), [db])
      assert.deepEqual((await get<Templates>(app, `${V3}/launch-templates?launch_template_id=${web}`)).launch_templates.map((x) => x.id), [web])

      type Versions = { launch_template_versions: Array<Record<string, unknown>>; page_info: Record<string, string> }
      const versions = await get<Versions>(app, `${V3}/launch-template-versions?launch_template_id=${web}`)
      assert.equal(versions.launch_template_versions.length, 1)
      const v = versions.launch_template_versions[0]!
      assert.equal(v.version_number, 1)
      assert.equal(v.version_description, 'first')
      assert.equal(v.launch_template_id, web)
      assert.equal((v.template_data as { flavor_id: string }).flavor_id, 's6.large.2')
      assert.deepEqual((v.template_data as { tag_options: unknown }).tag_options, [{ tags: [{ key: 'team', value: 'web' }] }])
      const versionIds = async (query: string) => (await get<Versions>(app, `${V3}/launch-template-versions?${query}`)).launch_template_versions.map((x) => x.launch_template_id)
      assert.deepEqual(await versionIds('image_id=img-db'), [db])
      assert.deepEqual(await versionIds('flavor_id=s6.large.2'), [web])
      assert.deepEqual(await versionIds('version=1&version=2'), [web, db])
      assert.deepEqual(await versionIds('version=2'), [])

      const other = await otherProject(app)
      assert.deepEqual((await get<Templates>(app, `/v3/${other.projectId}/launch-templates`, other)).launch_templates, [])
      assert.deepEqual((await get<Versions>(app, `/v3/${other.projectId}/launch-template-versions`, other)).launch_template_versions, [])
      const foreign = await call(app, { method: 'DELETE', url: `/v3/${other.projectId}/launch-templates/${web}`, ...other })
      assert.equal(foreign.statusCode, 404)

      const deleted = await call(app, { method: 'DELETE', url: `${V3}/launch-templates/${web}` })
      assert.equal(deleted.statusCode, 204, deleted.body)
      assert.equal(deleted.body, '')
      assert.equal((await call(app, { method: 'DELETE', url: `${V3}/launch-templates/${web}` })).statusCode, 404)
      assert.deepEqual(await versionIds(''), [db], 'its versions went with it')
      assert.equal((await create('web')).statusCode, 200, 'the name is free again')
    })
  })
}

import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { sql } from 'kysely'
import type { App } from '../../../src/app.ts'
import { DEMO } from '../../../src/services/demo.ts'
import { subnetCidr } from '../../../src/services/nics.ts'
import type { Database } from '../../../src/store/database.ts'
import { buildTestApp, call, createBody, createServers, DIALECTS, showServer, snapshot, v1, waitForJob } from '../../helper.ts'
import { nova } from '../openstack/nova.ts'

const ADMIN = { accessKey: DEMO.adminAccessKey, secretKey: DEMO.adminSecretKey }

/** The `n`-th address of a subnet's simulated /16 (`host` 2 is the first a NIC gets). */
function address(subnetId: string, host: number): string {
  const [a, b] = subnetCidr(subnetId).split('.')
  return `${a}.${b}.${Math.floor(host / 256)}.${host % 256}`
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
async function expect(app: App, req: Parameters<typeof call>[1], status: number): Promise<any> {
  const res = await call(app, req)
  assert.equal(res.statusCode, status, `${req.method} ${req.url} → ${res.statusCode} ${res.body}`)
  return res.body === '' ? undefined : res.json()
}

/** Sends a request that must be refused with `status` and `code`. */
async function refused(app: App, req: Parameters<typeof call>[1], status: number, code: string, mentions?: RegExp): Promise<void> {
  const body = await expect(app, req, status)
  assert.equal(body.error.code, code, JSON.stringify(body))
  if (mentions) assert.match(body.error.message, mentions)
}

interface Attachment { port_id: string; net_id: string; mac_addr: string; port_state: string; delete_on_termination: boolean; fixed_ips: Array<{ ip_address: string; subnet_id: string }> }

async function interfaces(app: App, serverId: string): Promise<{ free: number; list: Attachment[] }> {
  const body = await expect(app, { method: 'GET', url: v1(`/cloudservers/${serverId}/os-interface`) }, 200)
  return { free: body.attachableQuantity.free_nic, list: body.interfaceAttachments }
}

const ips = (list: Attachment[]) => list.map((a) => a.fixed_ips[0]!.ip_address)

async function jobDone(app: App, body: { job_id: string }, type: string): Promise<void> {
  const job = await waitForJob(app, body.job_id)
  assert.equal(job.status, 'SUCCESS')
  assert.equal(job.job_type, type)
}

/** Every table the NIC operations write, to prove a refusal changed nothing. */
async function nicState(database: Database) {
  return {
    ...(await snapshot(database)),
    virtual_ips: await database.db.selectFrom('virtual_ips').selectAll().orderBy('port_id').execute(),
    virtual_ip_bindings: await database.db.selectFrom('virtual_ip_bindings').selectAll().orderBy('vip_port_id').orderBy('nic_port_id').execute(),
  }
}

describe('NICs through the Huawei API', () => {
  test('create allocates the next address of each subnet; add, list, delete and the address is reused; both surfaces see the same NICs', async (t) => {
    const { app, database } = await buildTestApp(t)
    const [first, second] = await createServers(app, { count: 2, nics: [{ subnet_id: 'sub-a' }] })
    const shown = await showServer(app, first!)
    const addresses = shown.addresses as Record<string, Array<Record<string, unknown>>>
    assert.deepEqual(Object.keys(addresses), ['vpc-1'])
    assert.equal(addresses['vpc-1']![0]!.addr, address('sub-a', 2))
    assert.equal(addresses['vpc-1']![0]!.primary, true)
    assert.match(String(addresses['vpc-1']![0]!['OS-EXT-IPS-MAC:mac_addr']), /^fa:16:3e(:[0-9a-f]{2}){3}$/)
    const before = await interfaces(app, second!)
    assert.deepEqual(ips(before.list), [address('sub-a', 3)])
    // s6.large.2 has 2 vCPUs: 2 NICs.
    assert.equal(before.free, 1)
    assert.equal(before.list[0]!.port_state, 'ACTIVE')
    assert.equal(before.list[0]!.delete_on_termination, true)

    await jobDone(app, await expect(app, { method: 'POST', url: v1(`/cloudservers/${second}/nics`), body: { nics: [{ subnet_id: 'sub-a' }] } }, 200), 'attachNics')
    const added = await interfaces(app, second!)
    assert.deepEqual(ips(added.list), [address('sub-a', 3), address('sub-a', 4)])
    assert.equal(added.free, 0)
    const state = await nicState(database)
    await refused(app, { method: 'POST', url: v1(`/cloudservers/${second}/nics`), body: { nics: [{ subnet_id: 'sub-b' }] } }, 400, 'Ecs.0050')
    await refused(app, { method: 'POST', url: v1(`/cloudservers/${second}/nics/delete`), body: { nics: [{ id: added.list[0]!.port_id }] } }, 400, 'Ecs.0005', /primary/)
    await refused(app, { method: 'POST', url: v1(`/cloudservers/${second}/nics/delete`), body: { nics: [{ id: added.list[1]!.port_id }, { id: 'nope' }] } }, 404, 'Ecs.0005')
    assert.deepEqual(await nicState(database), state)

    // The OpenStack surface sees the NIC the Huawei API added, and the reverse.
    const novaList = (await nova(app, 'GET', `/servers/${second}/os-interface`)).json() as { interfaceAttachments: Array<{ port_id: string }> }
    assert.deepEqual(novaList.interfaceAttachments.map((p) => p.port_id), added.list.map((a) => a.port_id))
    await jobDone(app, await expect(app, { method: 'POST', url: v1(`/cloudservers/${second}/nics/delete`), body: { nics: [{ id: added.list[1]!.port_id }] } }, 200), 'detachNics')
    const attached = await nova(app, 'POST', `/servers/${first}/os-interface`, { body: { interfaceAttachment: {} } })
    assert.equal(attached.statusCode, 200, attached.body)
    const huaweiView = await interfaces(app, first!)
    assert.equal(huaweiView.list[1]!.port_id, (attached.json() as { interfaceAttachment: { port_id: string } }).interfaceAttachment.port_id)

    // The freed address was the highest: it is the next one again.
    await jobDone(app, await expect(app, { method: 'POST', url: v1(`/cloudservers/${second}/nics`), body: { nics: [{ subnet_id: 'sub-a' }] } }, 200), 'attachNics')
    assert.deepEqual(ips((await interfaces(app, second!)).list), [address('sub-a', 3), address('sub-a', 4)])
  })

  test('fixed addresses: taken or outside the subnet is refused, at create too, and nothing is created', async (t) => {
    const { app, database } = await buildTestApp(t)
    const [id] = await createServers(app, { nics: [{ subnet_id: 'sub-f', ip_address: address('sub-f', 10) }] })
    assert.deepEqual(ips((await interfaces(app, id!)).list), [address('sub-f', 10)])
    const state = await nicState(database)
    const create = (nics: unknown[], extra: Record<string, unknown> = {}) => ({ method: 'POST' as const, url: v1('/cloudservers'), body: createBody({ nics, ...extra }) })
    await refused(app, create([{ subnet_id: 'sub-f', ip_address: address('sub-f', 10) }]), 400, 'Ecs.0010')
    await refused(app, create([{ subnet_id: 'sub-f', ip_address: '172.16.0.9' }]), 400, 'Ecs.0005', /not a usable address/)
    await refused(app, create([{ subnet_id: 'sub-f', ip_address: address('sub-f', 1) }]), 400, 'Ecs.0005')
    await refused(app, create([{ subnet_id: 'sub-f', ip_address: 'nope' }]), 400, 'Ecs.0005')
    await refused(app, create([{ subnet_id: 'x' }, { subnet_id: 'y' }, { subnet_id: 'z' }]), 400, 'Ecs.0050')
    await refused(app, create([{ subnet_id: 'sub-f', ip_address: address('sub-f', 20) }], { count: 2 }), 400, 'Ecs.0005')
    await refused(app, { method: 'POST', url: v1(`/cloudservers/${id}/nics`), body: { nics: [{ subnet_id: 'sub-f', ip_address: address('sub-f', 10) }] } }, 400, 'Ecs.0010')
    await refused(app, { method: 'POST', url: v1(`/cloudservers/${id}/nics`), body: { nics: [{ port_id: 'p-1' }] } }, 400, 'Ecs.0005')
    await refused(app, { method: 'POST', url: v1(`/cloudservers/${id}/nics`), body: { nics: [{ subnet_id: 'sub-f', ipv6_enable: true }] } }, 400, 'Ecs.0005')
    assert.deepEqual(await nicState(database), state)
  })

  test('update delete_on_termination, change an address: round trips and refusals', async (t) => {
    const { app, database } = await buildTestApp(t)
    const [id] = await createServers(app, { nics: [{ subnet_id: 'sub-c' }] })
    const [other] = await createServers(app, { nics: [{ subnet_id: 'sub-c' }] })
    const port = (await interfaces(app, id!)).list[0]!.port_id
    const base = `/cloudservers/${id}/os-interface/${port}`
    assert.equal(await expect(app, { method: 'PUT', url: v1(base), body: { interface_attachment: { delete_on_termination: false } } }, 200), undefined)
    assert.equal((await interfaces(app, id!)).list[0]!.delete_on_termination, false)
    const ext = await expect(app, { method: 'GET', url: v1(`/cloudservers/${id}/os-interface_extension`) }, 200)
    assert.equal(ext.interfaceAttachments[0].preserve_on_delete, true)
    assert.equal(ext.attachableQuantity.free_nic, 1)

    const state = await nicState(database)
    await refused(app, { method: 'PUT', url: v1(`/cloudservers/${id}/os-interface/nope`), body: { interface_attachment: { delete_on_termination: true } } }, 404, 'Ecs.0005')
    await refused(app, { method: 'POST', url: v1(`${base}/change-network-interface`), body: { subnet_id: 'sub-c', ip_address: address('sub-c', 3) } }, 400, 'Ecs.0010')
    await refused(app, { method: 'POST', url: v1(`${base}/change-network-interface`), body: { subnet_id: 'sub-other', ip_address: '' } }, 400, 'Ecs.0005')
    await refused(app, { method: 'POST', url: v1(`${base}/change-network-interface`), body: { subnet_id: 'sub-c', ipv6_address: '' } }, 400, 'Ecs.0005')
    await refused(app, { method: 'POST', url: v1(`/cloudservers/${other}/os-interface/${port}/change-network-interface`), body: { subnet_id: 'sub-c', ip_address: '' } }, 404, 'Ecs.0005')
    assert.deepEqual(await nicState(database), state)

    const changed = await expect(app, { method: 'POST', url: v1(`${base}/change-network-interface`), body: { subnet_id: 'sub-c', ip_address: '' } }, 200)
    assert.deepEqual(changed, { id: port, subnet_id: 'sub-c', ip_address: address('sub-c', 4) })
    const fixed = await expect(app, { method: 'POST', url: v1(`${base}/change-network-interface`), body: { subnet_id: 'sub-c', ip_address: address('sub-c', 2) } }, 200)
    assert.equal(fixed.ip_address, address('sub-c', 2))
    const shown = await showServer(app, id!)
    assert.equal((shown.addresses as Record<string, Array<{ addr: string; 'OS-EXT-IPS:port_id': string }>>)['vpc-1']![0]!.addr, address('sub-c', 2))
  })

  test('virtual IPs: bind to NICs of two servers, the address is taken, unbind; the nics/{nic_id} route is not a server route', async (t) => {
    const { app, database } = await buildTestApp(t)
    const [a, b] = await createServers(app, { count: 2, nics: [{ subnet_id: 'sub-v' }] })
    const nicA = (await interfaces(app, a!)).list[0]!.port_id
    const nicB = (await interfaces(app, b!)).list[0]!.port_id
    const vip = address('sub-v', 100)
    const bind = (nic: string, body: Record<string, unknown>) => ({ method: 'PUT' as const, url: v1(`/cloudservers/nics/${nic}`), body: { nic: body } })
    assert.deepEqual(await expect(app, bind(nicA, { subnet_id: 'sub-v', ip_address: vip, reverse_binding: true }), 200), { port_id: nicA })
    assert.deepEqual(await expect(app, bind(nicB, { subnet_id: 'sub-v', ip_address: vip }), 200), { port_id: nicB })
    const bindings = await database.db.selectFrom('virtual_ip_bindings').select(['nic_port_id', 'reverse_binding']).orderBy('reverse_binding').execute()
    assert.deepEqual(bindings, [{ nic_port_id: nicB, reverse_binding: 0 }, { nic_port_id: nicA, reverse_binding: 1 }])
    // The virtual IP's address is in use: no NIC gets it.
    await refused(app, { method: 'POST', url: v1(`/cloudservers/${a}/nics`), body: { nics: [{ subnet_id: 'sub-v', ip_address: vip }] } }, 400, 'Ecs.0010')

    const state = await nicState(database)
    await refused(app, bind(nicA, { subnet_id: 'sub-other', ip_address: address('sub-other', 5) }), 400, 'Ecs.0005')
    await refused(app, bind(nicA, { subnet_id: 'sub-v', ip_address: address('sub-v', 2) }), 400, 'Ecs.0010')
    await refused(app, bind(nicA, { subnet_id: 'sub-v', ip_address: '' }), 400, 'Ecs.0005')
    await refused(app, bind(a!, { subnet_id: 'sub-v', ip_address: vip }), 404, 'Ecs.0005', /NIC/)
    assert.deepEqual(await nicState(database), state)

    assert.deepEqual(await expect(app, bind(nicA, { subnet_id: '', ip_address: '' }), 200), { port_id: nicA })
    assert.deepEqual((await database.db.selectFrom('virtual_ip_bindings').select('nic_port_id').execute()).map((r) => r.nic_port_id), [nicB])
  })

  test('changeVpc replaces the primary NIC in the new VPC; only a server with one NIC; another project sees nothing', async (t) => {
    const { app, database } = await buildTestApp(t)
    const [id] = await createServers(app, { nics: [{ subnet_id: 'sub-1' }, { subnet_id: 'sub-2' }] })
    const [old, extension] = (await interfaces(app, id!)).list
    const change = { method: 'POST' as const, url: v1(`/cloudservers/${id}/changevpc`), body: { vpc_id: 'vpc-2', nic: { subnet_id: 'sub-9', security_groups: [{ id: 'sg' }] } } }
    const project = await expect(app, { method: 'POST', url: '/admin/projects', body: { project: { name: 'other' } }, ...ADMIN }, 201)
    const otherProject = project.project.id as string
    const issued = (await expect(app, { method: 'POST', url: `/admin/projects/${otherProject}/credentials`, body: { credential: { description: 'other' } }, ...ADMIN }, 201)).credential
    const other = { accessKey: issued.access as string, secretKey: issued.secret as string, projectId: otherProject }
    const state = await nicState(database)
    await refused(app, change, 400, 'Ecs.0005', /primary NIC alone/)
    await refused(app, { ...change, body: { vpc_id: 'vpc-2', nic: {} } }, 400, 'Ecs.0005')
    await refused(app, { ...change, url: v1(`/cloudservers/${id}/changevpc`, otherProject), ...other }, 404, 'Ecs.0114')
    await refused(app, { method: 'GET', url: v1(`/cloudservers/${id}/os-interface`, otherProject), ...other }, 404, 'Ecs.0114')
    await refused(app, { method: 'PUT', url: v1(`/cloudservers/nics/${old!.port_id}`, otherProject), body: { nic: { subnet_id: 'sub-1', ip_address: address('sub-1', 50) } }, ...other }, 404, 'Ecs.0005')
    assert.deepEqual(await nicState(database), state)

    await jobDone(app, await expect(app, { method: 'POST', url: v1(`/cloudservers/${id}/nics/delete`), body: { nics: [{ id: extension!.port_id }] } }, 200), 'detachNics')
    await jobDone(app, await expect(app, change, 200), 'changeVpc')
    const shown = await showServer(app, id!)
    assert.equal((shown.metadata as Record<string, string>).vpc_id, 'vpc-2')
    const addresses = shown.addresses as Record<string, Array<{ addr: string; primary: boolean; 'OS-EXT-IPS:port_id': string }>>
    assert.deepEqual(Object.keys(addresses), ['vpc-2'])
    assert.equal(addresses['vpc-2']![0]!.addr, address('sub-9', 2))
    assert.equal(addresses['vpc-2']![0]!.primary, true)
    assert.notEqual(addresses['vpc-2']![0]!['OS-EXT-IPS:port_id'], old!.port_id)
  })
})

for (const dialect of DIALECTS) {
  describe(`NIC addresses on ${dialect}`, () => {
    test('concurrent creates in one subnet get distinct addresses; a full subnet answers Ecs.0012 and creates nothing', async (t) => {
      const { app, database } = await buildTestApp(t, { dialect })
      const created = await Promise.all(Array.from({ length: 6 }, () => call(app, { method: 'POST', url: v1('/cloudservers'), body: createBody({ count: 2, nics: [{ subnet_id: 'sub-race' }] }) })))
      for (const res of created) assert.equal(res.statusCode, 200, res.body)
      const rows = await database.db.selectFrom('server_interfaces').select(['ip_address', 'host']).where('subnet_id', '=', 'sub-race').orderBy('host').execute()
      assert.deepEqual(rows.map((r) => r.ip_address), Array.from({ length: 12 }, (_, i) => address('sub-race', i + 2)))
      for (const res of created) await waitForJob(app, (res.json() as { job_id: string }).job_id)

      // Fill the rest of the subnet behind the API's back: 65,531 usable hosts in all.
      const server = (await database.db.selectFrom('servers').select('id').limit(1).executeTakeFirstOrThrow()).id
      const prefix = address('sub-race', 0).replace(/0\.0$/, '')
      await sql`with recursive n(h) as (select 14 union all select h + 1 from n where h < 65532)
        insert into server_interfaces (port_id, server_id, net_id, subnet_id, ip_address, mac_addr, created_at, project_id, position, host, delete_on_termination)
        select 'fill-' || h, ${server}, 'sub-race', 'sub-race', cast(${prefix} as text) || (h / 256) || '.' || (h % 256), 'fa:16:3e:00:00:00', '2020-01-01T00:00:00.000Z', ${DEMO.projectId}, 100, h, 1 from n`.execute(database.db)
      const count = async () => Number((await database.db.selectFrom('server_interfaces').select((eb) => eb.fn.countAll().as('n')).executeTakeFirstOrThrow()).n)
      const [nicsBefore, serversBefore] = [await count(), (await database.db.selectFrom('servers').select('id').execute()).length]
      assert.equal(nicsBefore, 65_531)
      await refused(app, { method: 'POST', url: v1('/cloudservers'), body: createBody({ nics: [{ subnet_id: 'sub-race' }] }) }, 400, 'Ecs.0012')
      assert.deepEqual([await count(), (await database.db.selectFrom('servers').select('id').execute()).length], [nicsBefore, serversBefore])
      // A released address in the middle is found again.
      await database.db.deleteFrom('server_interfaces').where('port_id', '=', 'fill-30000').execute()
      const [id] = await createServers(app, { nics: [{ subnet_id: 'sub-race' }] })
      assert.deepEqual(ips((await interfaces(app, id!)).list), [address('sub-race', 30000)])
    })
  })
}

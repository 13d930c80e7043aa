/**
 * Servers on the OpenStack Compute surface through `app.inject`, on both databases: boots into
 * groups of every policy (and where they land), multi-create and reservations, the shapes of
 * show at each microversion, Nova's 202-then-ERROR for placement that cannot be satisfied,
 * quotas, actions, security groups and interfaces.
 */
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { DEMO } from '../../../src/services/demo.ts'
import { buildTestApp, call, DIALECTS, snapshot, v1, waitForIdle } from '../../helper.ts'
import { boot, BOUNDARIES, createNovaGroup, fault, IMAGE, nova, showServer, waitForGone, waitForServers, type ServerJson } from './nova.ts'

const host = (s: ServerJson) => String(s['OS-EXT-SRV-ATTR:host'])

/** How many of `servers` each host holds. */
function perHost(servers: ServerJson[]): Map<string, number> {
  const counts = new Map<string, number>()
  for (const s of servers) counts.set(host(s), (counts.get(host(s)) ?? 0) + 1)
  return counts
}

for (const dialect of DIALECTS) {
  describe(`OpenStack servers on ${dialect}`, () => {
    describe('boots into server groups: every policy holds', () => {
      test('anti-affinity: every member on its own host', async (t) => {
        const { app } = await buildTestApp(t, { dialect })
        const group = await createNovaGroup(app, 'anti-affinity')
        const ids = await boot(app, { min_count: 5, availability_zone: 'az1' }, { group })
        const servers = await waitForServers(app, ids)
        assert.equal(new Set(servers.map(host)).size, 5)
        assert.ok(servers.every((s) => s.status === 'ACTIVE'))
        const g = await nova(app, 'GET', `/os-server-groups/${group}`, { version: '2.64' })
        assert.deepEqual(new Set((g.json() as { server_group: { members: string[] } }).server_group.members), new Set(ids))
      })

      test('anti-affinity with max_server_per_host=2: at most two members a host, also across requests', async (t) => {
        const { app } = await buildTestApp(t, { dialect, quotas: { maxServerGroupMembers: 20 } })
        const group = await createNovaGroup(app, 'anti-affinity', { max_server_per_host: 2 })
        const first = await boot(app, { max_count: 9, availability_zone: 'az1' }, { group })
        const second = await boot(app, { max_count: 7, availability_zone: 'az1' }, { group })
        const servers = await waitForServers(app, [...first, ...second])
        assert.ok([...perHost(servers).values()].every((n) => n <= 2), JSON.stringify([...perHost(servers)]))
        assert.equal(servers.filter((s) => s.status === 'ACTIVE').length, 16, '8 hosts × 2 hold all 16')
        // The 17th has nowhere to go: accepted, then in ERROR with Nova's fault.
        const [extra] = await boot(app, { availability_zone: 'az1' }, { group })
        const [failed] = await waitForServers(app, [extra!])
        assert.equal(failed!.status, 'ERROR')
      })

      test('affinity: every member on one host, also across requests', async (t) => {
        const { app } = await buildTestApp(t, { dialect })
        const group = await createNovaGroup(app, 'affinity')
        const ids = [...await boot(app, { max_count: 3 }, { group }), ...await boot(app, { max_count: 2 }, { group: [group] })]
        const servers = await waitForServers(app, ids)
        assert.equal(new Set(servers.map(host)).size, 1)
        assert.ok(servers.every((s) => s.status === 'ACTIVE'))
      })

      test('soft-anti-affinity spreads and soft-affinity packs, and neither ever blocks a boot', async (t) => {
        const { app } = await buildTestApp(t, { dialect })
        const spread = await createNovaGroup(app, 'soft-anti-affinity')
        const spreadIds = await boot(app, { max_count: 4, availability_zone: 'az1' }, { group: spread })
        const spreadServers = await waitForServers(app, spreadIds)
        assert.equal(new Set(spreadServers.map(host)).size, 4, 'free hosts are preferred')
        // More members than hosts: still placed, never refused.
        const more = await boot(app, { max_count: 6, availability_zone: 'az1' }, { group: spread })
        assert.ok((await waitForServers(app, more)).every((s) => s.status === 'ACTIVE'))
        const pack = await createNovaGroup(app, 'soft-affinity')
        const packServers = await waitForServers(app, await boot(app, { max_count: 3 }, { group: pack }))
        assert.equal(new Set(packServers.map(host)).size, 1, 'the members\' host is preferred')
        // A flavor that does not fit next to them goes elsewhere instead of failing.
        const big = await waitForServers(app, await boot(app, { flavorRef: 'm6.4xlarge.8' }, { group: pack }))
        assert.equal(big[0]!.status, 'ACTIVE')
      })

      test('an unsatisfiable boot is accepted (202), then the servers are in ERROR with Nova\'s fault and still members', async (t) => {
        const { app } = await buildTestApp(t, { dialect })
        const group = await createNovaGroup(app, 'anti-affinity')
        const res = await nova(app, 'POST', '/servers', {
          version: '2.71',
          body: { server: { name: 'many', flavorRef: 's6.small.1', imageRef: IMAGE, networks: 'auto', availability_zone: 'az1', min_count: 9 }, 'os:scheduler_hints': { group } },
        })
        assert.equal(res.statusCode, 202, res.body)
        const first = (res.json() as { server: { id: string } }).server.id
        const detail = await nova(app, 'GET', '/servers/detail', { version: '2.71' })
        const servers = (detail.json() as { servers: ServerJson[] }).servers
        assert.equal(servers.length, 9)
        for (const s of servers) {
          assert.equal(s.status, 'ERROR')
          assert.equal(s.hostId, '')
          assert.deepEqual(s.server_groups, [group])
          const f = s.fault as { code: number; message: string }
          assert.equal(f.code, 500)
          assert.equal(f.message, 'No valid host was found. There are not enough hosts available.')
        }
        assert.ok(servers.some((s) => s.id === first))
        // Admins also see ecsd's diagnosis of why.
        const admin = await showServer(app, first)
        assert.match(String((admin.fault as { details: string }).details), /AntiAffinity|Filter results/)
        const g = await nova(app, 'GET', `/os-server-groups/${group}`, { version: '2.64' })
        assert.equal((g.json() as { server_group: { members: string[] } }).server_group.members.length, 9)
        // Nothing was placed: no host holds anything, the project uses nothing, the v1 API sees nothing.
        const limits = await call(app, { method: 'GET', url: v1('/cloudservers/limits') })
        assert.equal((limits.json() as { absolute: { totalInstancesUsed: number } }).absolute.totalInstancesUsed, 0)
        assert.equal((await call(app, { method: 'GET', url: v1(`/cloudservers/${first}`) })).statusCode, 404)
        // Deleting them works at once.
        for (const s of servers) assert.equal((await nova(app, 'DELETE', `/servers/${s.id}`)).statusCode, 204)
        assert.equal(((await nova(app, 'GET', '/servers')).json() as { servers: unknown[] }).servers.length, 0)
        assert.deepEqual(((await nova(app, 'GET', `/os-server-groups/${group}`)).json() as { server_group: { members: string[] } }).server_group.members, [])
        // The v1 API keeps refusing such a request outright.
        const legacy = await call(app, {
          method: 'POST', url: v1('/cloudservers'),
          body: { server: { name: 'v1', flavorRef: 's6.small.1', imageRef: 'img', vpcid: 'vpc', nics: [{ subnet_id: 's' }], root_volume: { volumetype: 'SSD' }, count: 9, availability_zone: 'az1', 'os:scheduler_hints': { group } } },
        })
        assert.equal(legacy.statusCode, 400)
        assert.equal((legacy.json() as { error: { code: string } }).error.code, 'Ecs.0319')
      })
    })

    describe('simultaneous boots never break a hard policy', () => {
      for (const [policy, rules] of [['anti-affinity', undefined], ['anti-affinity', { max_server_per_host: 2 }], ['affinity', undefined]] as const) {
        test(`${policy}${rules ? ' (2 per host)' : ''}: 12 single boots at once into az1`, async (t) => {
          const { app } = await buildTestApp(t, { dialect })
          const group = await createNovaGroup(app, policy, rules)
          const answers = await Promise.all(Array.from({ length: 12 }, (_, i) =>
            nova(app, 'POST', '/servers', { version: '2.71', body: { server: { name: `race-${i}`, flavorRef: 's6.small.1', imageRef: IMAGE, networks: 'none', availability_zone: 'az1' }, 'os:scheduler_hints': { group } } })))
          assert.ok(answers.every((r) => r.statusCode === 202), answers.map((r) => r.body).join('\n'))
          const ids = answers.map((r) => (r.json() as { server: { id: string } }).server.id)
          const servers = await waitForServers(app, ids)
          const active = servers.filter((s) => s.status === 'ACTIVE')
          const counts = [...perHost(active).values()]
          if (policy === 'affinity') {
            assert.equal(perHost(active).size, 1)
            assert.equal(active.length, 12)
          } else {
            const max = rules?.max_server_per_host ?? 1
            assert.ok(counts.every((n) => n <= max), JSON.stringify([...perHost(active)]))
            // 8 hosts in az1: as many as fit are placed, the rest are in ERROR with Nova's fault.
            assert.equal(active.length, Math.min(12, 8 * max))
            for (const s of servers.filter((x) => x.status !== 'ACTIVE')) {
              assert.equal(s.status, 'ERROR')
              assert.equal((s.fault as { message: string }).message, 'No valid host was found. There are not enough hosts available.')
            }
          }
        })
      }
    })

    describe('create, list, show, delete', () => {
      test('multi-create names servers name-1…, shares a reservation id, and reservation_id filters the lists', async (t) => {
        const { app } = await buildTestApp(t, { dialect })
        const res = await nova(app, 'POST', '/servers', { version: '2.37', body: { server: { name: 'web', flavorRef: 's6.small.1', imageRef: IMAGE, networks: 'auto', min_count: '2', max_count: 3, return_reservation_id: 'True' } } })
        assert.equal(res.statusCode, 202, res.body)
        const reservation = (res.json() as { reservation_id: string }).reservation_id
        assert.match(reservation, /^r-[0-9a-f]{8}$/)
        await boot(app, { name: 'other' })
        const brief = await nova(app, 'GET', `/servers?reservation_id=${reservation}`)
        const names = (brief.json() as { servers: Array<{ name: string; links: unknown[] }> }).servers.map((s) => s.name).sort()
        assert.deepEqual(names, ['web-1', 'web-2', 'web-3'])
        const detail = await nova(app, 'GET', `/servers/detail?reservation_id=${reservation}`, { admin: true, version: '2.3' })
        const servers = (detail.json() as { servers: ServerJson[] }).servers
        assert.deepEqual(servers.map((s) => s['OS-EXT-SRV-ATTR:reservation_id']), [reservation, reservation, reservation])
        assert.deepEqual(servers.map((s) => s['OS-EXT-SRV-ATTR:launch_index']).sort(), [0, 1, 2])
        assert.equal(((await nova(app, 'GET', '/servers')).json() as { servers: unknown[] }).servers.length, 4)
        await waitForServers(app, servers.map((x) => x.id))
      })

      test('show: the shape of each microversion; the host only for admins', async (t) => {
        const { app } = await buildTestApp(t, { dialect })
        const group = await createNovaGroup(app, 'anti-affinity')
        const [id] = await boot(app, { name: 'shape', description: 'd' }, { group })
        await waitForServers(app, [id!])
        const get = async (version: string, admin = false) => ((await nova(app, 'GET', `/servers/${id}`, { version, admin })).json() as { server: ServerJson }).server
        const v21 = await get('2.1')
        assert.deepEqual(v21.flavor, { id: 's6.small.1', links: [{ rel: 'bookmark', href: `http://127.0.0.1:8080/${DEMO.projectId}/flavors/s6.small.1` }] })
        for (const absent of ['OS-EXT-SRV-ATTR:host', 'locked', 'description', 'tags', 'server_groups', 'trusted_image_certificates', 'host_status']) {
          assert.equal(absent in v21, false, `${absent} at 2.1 for a tenant`)
        }
        assert.equal(v21.status, 'ACTIVE')
        assert.match(String(v21.hostId), /^[0-9a-f]{56}$/)
        assert.equal((await get('2.1', true))['OS-EXT-SRV-ATTR:host'] !== undefined, true)
        assert.equal('OS-EXT-SRV-ATTR:reservation_id' in (await get('2.1', true)), false, 'extended attributes from 2.3')
        const latest = await get('latest')
        assert.deepEqual(latest.flavor, { vcpus: 1, ram: 1024, disk: 0, ephemeral: 0, swap: 0, original_name: 's6.small.1', extra_specs: (latest.flavor as { extra_specs: object }).extra_specs })
        assert.equal(latest.locked, false)
        assert.equal(latest.description, 'd')
        assert.deepEqual(latest.tags, [])
        assert.equal(latest.trusted_image_certificates, null)
        assert.deepEqual(latest.server_groups, [group])
        assert.deepEqual((await get('2.70')).server_groups, undefined)
        const admin = await get('2.71', true)
        assert.match(host(admin), /^az\d-host-\d\d$/)
        assert.equal(admin.host_status, 'UP')
        assert.equal((admin.addresses as { private: unknown[] }).private.length, 1)
        // The same server through the v1 API.
        const legacy = await call(app, { method: 'GET', url: v1(`/cloudservers/${id}`) })
        assert.equal((legacy.json() as { server: { 'OS-EXT-SRV-ATTR:host': string } }).server['OS-EXT-SRV-ATTR:host'], host(admin))
      })

      test('show at every boundary that changes a server: each field from its microversion on', async (t) => {
        const { app } = await buildTestApp(t, { dialect })
        const group = await createNovaGroup(app, 'soft-affinity')
        const [id] = await boot(app, { name: 'fields' }, { group })
        await waitForServers(app, [id!])
        // [field, first microversion showing it, admin only]
        const fields: Array<[string, number, boolean]> = [
          ['OS-EXT-SRV-ATTR:host', 1, true], ['OS-EXT-SRV-ATTR:reservation_id', 3, true], ['locked', 9, false], ['host_status', 16, true],
          ['description', 19, false], ['tags', 26, false], ['trusted_image_certificates', 63, false], ['server_groups', 71, false],
        ]
        for (const version of [...BOUNDARIES, '2.3', '2.9', '2.16', '2.19', '2.26', '2.46', '2.47', '2.70']) {
          const minor = version === 'latest' ? 71 : Number(version.split('.')[1])
          for (const admin of [false, true]) {
            const res = await nova(app, 'GET', `/servers/${id}`, { version, admin })
            assert.equal(res.statusCode, 200)
            const server = (res.json() as { server: ServerJson }).server
            for (const [field, from, adminOnly] of fields) {
              assert.equal(field in server, minor >= from && (admin || !adminOnly), `${field} at ${version}${admin ? ' (admin)' : ''}`)
            }
            assert.equal('original_name' in (server.flavor as object), minor >= 47, `flavor shape at ${version}`)
          }
        }
      })

      test('create refuses bad requests with Nova faults and changes nothing', async (t) => {
        const { app, database } = await buildTestApp(t, { dialect, quotas: { maxServerGroupMembers: 2 } })
        const group = await createNovaGroup(app, 'anti-affinity')
        const before = await snapshot(database)
        const base = { name: 'x', flavorRef: 's6.small.1', imageRef: IMAGE, networks: 'auto' }
        const cases: Array<{ version: string; body: unknown; status: number; message: RegExp }> = [
          { version: '2.37', body: { server: { name: 'x', flavorRef: 's6.small.1', imageRef: IMAGE } }, status: 400, message: /networks/ },
          { version: '2.36', body: { server: { ...base } }, status: 400, message: /networks/ },
          { version: '2.71', body: { server: { ...base, flavorRef: 'nope' } }, status: 400, message: /^Flavor nope could not be found\.$/ },
          { version: '2.71', body: { server: { ...base, imageRef: crypto.randomUUID() } }, status: 400, message: /^Image .* could not be found\.$/ },
          { version: '2.71', body: { server: base, 'os:scheduler_hints': { group: crypto.randomUUID() } }, status: 400, message: /^Instance group .* could not be found\.$/ },
          { version: '2.71', body: { server: base, 'os:scheduler_hints': { group: 'not-a-uuid' } }, status: 400, message: /group/ },
          { version: '2.71', body: { server: base, 'os:scheduler_hints': { group: [group, crypto.randomUUID()] } }, status: 400, message: /more than one/ },
          { version: '2.71', body: { server: { ...base, max_count: 3 }, 'os:scheduler_hints': { group } }, status: 403, message: /^Quota exceeded, too many servers in group$/ },
          { version: '2.71', body: { server: { ...base, min_count: 3, max_count: 2 } }, status: 400, message: /min_count/ },
          { version: '2.71', body: { server: { ...base, min_count: 0 } }, status: 400, message: /min_count/ },
          { version: '2.71', body: { server: { ...base, key_name: 'nope' } }, status: 400, message: /^Invalid key_name provided\.$/ },
          { version: '2.71', body: { server: { ...base, availability_zone: 'az9' } }, status: 400, message: /availability zone/ },
          { version: '2.71', body: { server: { ...base, flavorRef: 's6.2xlarge.2' } }, status: 400, message: /not on sale/ },
          { version: '2.71', body: { server: { ...base, bogus: 1 } }, status: 400, message: /unknown field "bogus"/ },
          { version: '2.71', body: { server: { ...base, description: 'x'.repeat(256) } }, status: 400, message: /description/ },
          { version: '2.18', body: { server: { ...base, description: 'too early' } }, status: 400, message: /unknown field "description"/ },
          { version: '2.71', body: undefined, status: 400, message: /blank/ },
        ]
        for (const c of cases) {
          const res = await nova(app, 'POST', '/servers', { version: c.version, body: c.body })
          assert.equal(res.statusCode, c.status, `${c.version} ${JSON.stringify(c.body)} → ${res.body}`)
          assert.match(fault(res).message, c.message, JSON.stringify(c.body))
        }
        assert.deepEqual(await snapshot(database), before)
      })

      test('instance quota: as many as it allows between min_count and max_count, else 403', async (t) => {
        const { app } = await buildTestApp(t, { dialect, quotas: { maxTotalInstances: 3 } })
        const ids = await boot(app, { min_count: 2, max_count: 5 })
        assert.equal(ids.length, 3)
        const res = await nova(app, 'POST', '/servers', { version: '2.71', body: { server: { name: 'x', flavorRef: 's6.small.1', imageRef: IMAGE, networks: 'none' } } })
        assert.equal(res.statusCode, 403)
        assert.equal(fault(res).name, 'forbidden')
        assert.match(fault(res).message, /^Quota exceeded for instances/)
        await waitForServers(app, ids)
      })

      test('delete: 204, the server goes, its group slot and host with it', async (t) => {
        const { app, database } = await buildTestApp(t, { dialect })
        const group = await createNovaGroup(app, 'anti-affinity')
        const [id] = await boot(app, {}, { group })
        await waitForServers(app, [id!])
        const res = await nova(app, 'DELETE', `/servers/${id}`)
        assert.equal(res.statusCode, 204)
        await waitForGone(app, id!)
        await waitForIdle(database)
        assert.deepEqual(((await nova(app, 'GET', `/os-server-groups/${group}`)).json() as { server_group: { members: string[] } }).server_group.members, [])
        assert.equal((await database.db.selectFrom('nova_servers').selectAll().execute()).length, 0)
        assert.equal((await nova(app, 'DELETE', `/servers/${id}`)).statusCode, 404)
        const unknown = crypto.randomUUID()
        assert.deepEqual((await nova(app, 'DELETE', `/servers/${unknown}`)).json(), { itemNotFound: { code: 404, message: `Instance ${unknown} could not be found.` } })
      })

      test('list pages newest first with limit and marker, over placed and unplaced servers', async (t) => {
        const { app } = await buildTestApp(t, { dialect })
        const group = await createNovaGroup(app, 'affinity')
        const placed = await boot(app, { max_count: 3 }, { group })
        const unplaced = await boot(app, { max_count: 2, flavorRef: 'm6.4xlarge.8' }, { group })
        const all = ((await nova(app, 'GET', '/servers')).json() as { servers: Array<{ id: string }> }).servers.map((s) => s.id)
        assert.deepEqual(new Set(all), new Set([...placed, ...unplaced]))
        const seen: string[] = []
        let marker: string | undefined
        for (let i = 0; i < 10; i++) {
          const page = await nova(app, 'GET', `/servers?limit=2${marker ? `&marker=${marker}` : ''}`)
          const body = page.json() as { servers: Array<{ id: string }>; servers_links?: Array<{ href: string }> }
          seen.push(...body.servers.map((s) => s.id))
          if (!body.servers_links) break
          marker = new URL(body.servers_links[0]!.href).searchParams.get('marker') ?? undefined
        }
        assert.deepEqual(seen, all)
        assert.equal((await nova(app, 'GET', `/servers?marker=${crypto.randomUUID()}`)).statusCode, 400)
        const errors = ((await nova(app, 'GET', '/servers/detail?status=ERROR')).json() as { servers: Array<{ id: string }> }).servers.map((s) => s.id)
        assert.deepEqual(new Set(errors), new Set(unplaced))
        await waitForServers(app, placed)
      })
    })

    describe('actions', () => {
      test('os-stop, os-start, reboot and resize map onto the server lifecycle; refusals are 409', async (t) => {
        const { app } = await buildTestApp(t, { dialect })
        const [id] = await boot(app, {})
        await waitForServers(app, [id!])
        const act = (body: unknown, admin = false) => nova(app, 'POST', `/servers/${id}/action`, { body, admin })
        assert.equal((await act({ 'os-start': null })).statusCode, 409, 'already running')
        assert.equal((await act({ 'os-stop': null })).statusCode, 202)
        assert.equal((await waitForServers(app, [id!]))[0]!.status, 'SHUTOFF')
        const again = await act({ 'os-stop': null })
        assert.equal(again.statusCode, 409)
        assert.equal(fault(again).name, 'conflictingRequest')
        assert.equal((await act({ 'os-start': null })).statusCode, 202)
        assert.equal((await waitForServers(app, [id!]))[0]!.status, 'ACTIVE')
        assert.equal((await act({ reboot: { type: 'HARD' } })).statusCode, 202)
        assert.equal((await waitForServers(app, [id!]))[0]!.status, 'ACTIVE')
        assert.equal((await act({ resize: { flavorRef: 's6.medium.2' } })).statusCode, 202)
        const resized = (await waitForServers(app, [id!]))[0]!
        assert.equal((resized.flavor as { original_name: string }).original_name, 's6.medium.2')
        assert.equal(resized.status, 'ACTIVE', 'a running server is running again after its resize')
        assert.equal((await act({ confirmResize: null })).statusCode, 409)
        assert.equal((await act({ migrate: null })).statusCode, 403, 'migrations are for admins')
        assert.equal((await act({ migrate: null }, true)).statusCode, 202)
        const before = host(resized)
        const moved = (await waitForServers(app, [id!]))[0]!
        assert.notEqual(host(moved), before)
        for (const bad of [{}, { 'os-start': null, 'os-stop': null }, { reboot: { type: 'gentle' } }, { shelve: null }]) {
          const res = await act(bad)
          assert.equal(res.statusCode, 400, JSON.stringify(bad))
        }
        assert.equal((await nova(app, 'POST', `/servers/${crypto.randomUUID()}/action`, { body: { 'os-stop': null } })).statusCode, 404)
      })

      test('security groups: add, list, remove', async (t) => {
        const { app } = await buildTestApp(t, { dialect })
        const [id] = await boot(app, { security_groups: [{ name: 'web' }] })
        const names = async () => ((await nova(app, 'GET', `/servers/${id}/os-security-groups`)).json() as { security_groups: Array<{ name: string; tenant_id: string; rules: unknown[] }> }).security_groups.map((g) => g.name)
        assert.deepEqual(await names(), ['web'])
        assert.equal((await nova(app, 'POST', `/servers/${id}/action`, { body: { addSecurityGroup: { name: 'db' } } })).statusCode, 202)
        assert.deepEqual(await names(), ['web', 'db'])
        assert.equal((await nova(app, 'POST', `/servers/${id}/action`, { body: { addSecurityGroup: { name: 'db' } } })).statusCode, 400)
        assert.equal((await nova(app, 'POST', `/servers/${id}/action`, { body: { removeSecurityGroup: { name: 'web' } } })).statusCode, 202)
        assert.deepEqual(await names(), ['db'])
        assert.equal((await nova(app, 'POST', `/servers/${id}/action`, { body: { removeSecurityGroup: { name: 'web' } } })).statusCode, 400)
        await waitForServers(app, [id!])
      })

      test('interfaces: a port per network at boot, attach, show, list, detach', async (t) => {
        const { app } = await buildTestApp(t, { dialect })
        const net = crypto.randomUUID()
        const [id] = await boot(app, { networks: [{ uuid: net, fixed_ip: '192.168.7.9' }] })
        const list = async () => ((await nova(app, 'GET', `/servers/${id}/os-interface`)).json() as { interfaceAttachments: Array<{ port_id: string; net_id: string; fixed_ips: Array<{ ip_address: string }> }> }).interfaceAttachments
        const [first] = await list()
        assert.equal(first!.net_id, net)
        assert.equal(first!.fixed_ips[0]!.ip_address, '192.168.7.9')
        const attached = await nova(app, 'POST', `/servers/${id}/os-interface`, { body: { interfaceAttachment: { fixed_ips: [{ ip_address: '10.1.2.3' }] } } })
        assert.equal(attached.statusCode, 200, attached.body)
        const port = (attached.json() as { interfaceAttachment: { port_id: string; port_state: string; mac_addr: string } }).interfaceAttachment
        assert.equal(port.port_state, 'ACTIVE')
        assert.match(port.mac_addr, /^fa:16:3e(:[0-9a-f]{2}){3}$/)
        const shown = await nova(app, 'GET', `/servers/${id}/os-interface/${port.port_id}`)
        assert.deepEqual((shown.json() as { interfaceAttachment: unknown }).interfaceAttachment, port)
        assert.equal((await list()).length, 2)
        assert.equal((await nova(app, 'DELETE', `/servers/${id}/os-interface/${port.port_id}`)).statusCode, 202)
        assert.equal((await nova(app, 'GET', `/servers/${id}/os-interface/${port.port_id}`)).statusCode, 404)
        assert.equal((await nova(app, 'POST', `/servers/${id}/os-interface`, { body: { interfaceAttachment: { fixed_ips: [{ ip_address: 'nope' }] } } })).statusCode, 400)
        await waitForServers(app, [id!])
      })
    })
  })
}

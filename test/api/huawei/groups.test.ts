import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { GateDriver } from '../../drivers.ts'
import {
  buildTestApp, call, createGroup, createServers, groupAction, showServer, snapshot, stopServers, v1, waitForIdle, waitForJob,
  DIALECTS,
} from '../../helper.ts'

for (const dialect of DIALECTS) {
  describe(`on ${dialect}`, () => {
    const GROUPS = v1('/cloudservers/os-server-groups')

    function ecsError(res: { statusCode: number; json(): unknown }): { code: string; message: string } {
      return (res.json() as { error: { code: string; message: string } }).error
    }

    describe('ECS group CRUD', () => {
      test('create returns the group in the API shape', async (t) => {
        const { app } = await buildTestApp(t, { dialect })
        const res = await call(app, { method: 'POST', url: GROUPS, body: { server_group: { name: 'web', policies: ['anti-affinity'] } } })
        assert.equal(res.statusCode, 200)
        const g = (res.json() as { server_group: Record<string, unknown> }).server_group
        assert.match(String(g.id), /^[0-9a-f-]{36}$/)
        assert.deepEqual({ ...g, id: 'x' }, { id: 'x', name: 'web', policies: ['anti-affinity'], members: [], metadata: {} })
      })

      test('create rejects bad input with Ecs.0005 / Common.0002 and creates nothing', async (t) => {
        const { app, database } = await buildTestApp(t, { dialect })
        const before = await snapshot(database)
        const cases: Array<{ body: unknown; code: string; mentions: RegExp }> = [
          { body: { server_group: { name: 'g', policies: ['affinity'] } }, code: 'Ecs.0005', mentions: /only "anti-affinity"/ },
          { body: { server_group: { name: 'g', policies: ['soft-anti-affinity'] } }, code: 'Ecs.0005', mentions: /not supported/ },
          { body: { server_group: { name: 'g', policies: [] } }, code: 'Ecs.0005', mentions: /policies/ },
          { body: { server_group: { name: 'g', policies: ['anti-affinity', 'anti-affinity'] } }, code: 'Ecs.0005', mentions: /policies/ },
          { body: { server_group: { name: '', policies: ['anti-affinity'] } }, code: 'Ecs.0005', mentions: /name/ },
          { body: { server_group: { name: 'x'.repeat(256), policies: ['anti-affinity'] } }, code: 'Ecs.0005', mentions: /name/ },
          { body: { server_group: { name: 7, policies: ['anti-affinity'] } }, code: 'Ecs.0005', mentions: /name must be string/ },
          { body: { server_group: { name: 'g', policies: ['anti-affinity'], extra: 1 } }, code: 'Ecs.0005', mentions: /unknown field "extra"/ },
          { body: { server_group: { policies: ['anti-affinity'] } }, code: 'Ecs.0005', mentions: /missing required field "name"/ },
          { body: { group: {} }, code: 'Ecs.0005', mentions: /unknown field "group"/ },
          { body: [], code: 'Ecs.0005', mentions: /must be object/ },
          { body: undefined, code: 'Common.0002', mentions: /cannot be left blank/ },
          { body: '{"server_group": ', code: 'Ecs.0005', mentions: /not valid JSON/ },
        ]
        for (const c of cases) {
          const res = await call(app, { method: 'POST', url: GROUPS, body: c.body })
          assert.equal(res.statusCode, 400, `${JSON.stringify(c.body)} → ${res.body}`)
          const err = ecsError(res)
          assert.equal(err.code, c.code, JSON.stringify(c.body))
          assert.match(err.message, c.mentions, JSON.stringify(c.body))
        }
        assert.deepEqual(await snapshot(database), before)
      })

      test('the group quota is enforced with Ecs.0022', async (t) => {
        const { app } = await buildTestApp(t, { dialect, quotas: { maxServerGroups: 2 } })
        await createGroup(app, 'a')
        await createGroup(app, 'b')
        const res = await call(app, { method: 'POST', url: GROUPS, body: { server_group: { name: 'c', policies: ['anti-affinity'] } } })
        assert.equal(res.statusCode, 400)
        assert.equal(ecsError(res).code, 'Ecs.0022')
        assert.match(ecsError(res).message, /maximum of 2 ECS groups/)
      })

      test('list pages with limit and marker and reports page_info.next_marker', async (t) => {
        const { app } = await buildTestApp(t, { dialect })
        const ids = []
        for (const name of ['a', 'b', 'c', 'd', 'e']) ids.push(await createGroup(app, name))
        const all = await call(app, { method: 'GET', url: GROUPS })
        assert.equal(all.statusCode, 200)
        const allBody = all.json() as { server_groups: Array<{ id: string; name: string }>; page_info?: unknown }
        // Oldest first; groups created within the same millisecond may come in either order.
        assert.deepEqual(new Set(allBody.server_groups.map((g) => g.id)), new Set(ids))
        assert.equal(allBody.page_info, undefined)

        const seen: string[] = []
        let marker: string | undefined
        for (let pages = 0; pages < 10; pages++) {
          const res = await call(app, { method: 'GET', url: `${GROUPS}?limit=2${marker ? `&marker=${marker}` : ''}` })
          assert.equal(res.statusCode, 200)
          const body = res.json() as { server_groups: Array<{ id: string }>; page_info?: { next_marker: string } }
          assert.ok(body.server_groups.length <= 2)
          seen.push(...body.server_groups.map((g) => g.id))
          marker = body.page_info?.next_marker
          if (marker === undefined) break
          assert.equal(marker, body.server_groups.at(-1)?.id)
        }
        assert.deepEqual(seen, allBody.server_groups.map((g) => g.id), 'the pages together are the unpaged list, in order')
      })

      test('list rejects bad paging parameters', async (t) => {
        const { app } = await buildTestApp(t, { dialect })
        for (const query of ['limit=0', 'limit=1001', 'limit=abc', 'limit=1&marker=00000000-0000-0000-0000-000000000000', 'sort=name']) {
          const res = await call(app, { method: 'GET', url: `${GROUPS}?${query}` })
          assert.equal(res.statusCode, 400, `${query} → ${res.body}`)
          assert.equal(ecsError(res).code, 'Ecs.0005')
        }
      })

      test('show and delete; unknown ids answer 404 Ecs.0313', async (t) => {
        const { app } = await buildTestApp(t, { dialect })
        const id = await createGroup(app, 'g')
        const shown = await call(app, { method: 'GET', url: `${GROUPS}/${id}` })
        assert.equal(shown.statusCode, 200)
        assert.equal((shown.json() as { server_group: { name: string } }).server_group.name, 'g')
        const del = await call(app, { method: 'DELETE', url: `${GROUPS}/${id}` })
        assert.equal(del.statusCode, 204)
        assert.equal(del.body, '')
        for (const req of [
          { method: 'GET' as const, url: `${GROUPS}/${id}` },
          { method: 'DELETE' as const, url: `${GROUPS}/${id}` },
          { method: 'GET' as const, url: `${GROUPS}/not-a-uuid` },
        ]) {
          const res = await call(app, req)
          assert.equal(res.statusCode, 404)
          assert.equal(ecsError(res).code, 'Ecs.0313')
        }
      })

      test('deleting a group releases its members, which stay where they are', async (t) => {
        const { app } = await buildTestApp(t, { dialect })
        const g = await createGroup(app)
        const [id] = await createServers(app, { 'os:scheduler_hints': { group: g } })
        const host = (await showServer(app, id!))['OS-EXT-SRV-ATTR:host']
        assert.equal((await call(app, { method: 'DELETE', url: `${GROUPS}/${g}` })).statusCode, 204)
        const after = await showServer(app, id!)
        assert.deepEqual(after['os:scheduler_hints'], {})
        assert.equal(after['OS-EXT-SRV-ATTR:host'], host)
      })
    })

    describe('group action body', () => {
      test('needs exactly one known action', async (t) => {
        const { app } = await buildTestApp(t, { dialect })
        const g = await createGroup(app)
        const id = '34dac9a0-c4a7-457b-bab2-e2c696e0e401'
        for (const body of [
          {},
          { add_member: { instance_uuid: id }, remove_member: { instance_uuid: id } },
          { reboot: {} },
          { add_member: {} },
          { add_member: { instance_uuid: 5 } },
          { add_member: { instance_uuid: id, force: true } },
          { add_member: 'x' },
        ]) {
          const res = await call(app, { method: 'POST', url: `${GROUPS}/${g}/action`, body })
          assert.equal(res.statusCode, 400, `${JSON.stringify(body)} → ${res.body}`)
          assert.equal(ecsError(res).code, 'Ecs.0005')
        }
        const empty = await call(app, { method: 'POST', url: `${GROUPS}/${g}/action` })
        assert.equal(ecsError(empty).code, 'Common.0002')
      })
    })

    describe('add_member rules, one by one', () => {
      test('a stopped KVM server joins with 200 and an empty body', async (t) => {
        const { app } = await buildTestApp(t, { dialect })
        const [id] = await createServers(app)
        await stopServers(app, [id!])
        const g = await createGroup(app)
        const res = await groupAction(app, g, 'add_member', id!)
        assert.equal(res.statusCode, 200)
        assert.equal(res.body, '')
        assert.match(String(res.headers['x-request-id']), /^[0-9a-f]{32}$/)
        assert.deepEqual((await showServer(app, id!))['os:scheduler_hints'], { group: [g] })
      })

      test('an unknown group is 404 Ecs.0313; an unknown server is 404 Ecs.0114', async (t) => {
        const { app } = await buildTestApp(t, { dialect })
        const [id] = await createServers(app)
        const g = await createGroup(app)
        const noGroup = await groupAction(app, '5bbcc3c4-1da2-4437-a48a-66f15b1b13f9', 'add_member', id!)
        assert.equal(noGroup.statusCode, 404)
        assert.equal(ecsError(noGroup).code, 'Ecs.0313')
        const noServer = await groupAction(app, g, 'add_member', '34dac9a0-c4a7-457b-bab2-e2c696e0e401')
        assert.equal(noServer.statusCode, 404)
        assert.equal(ecsError(noServer).code, 'Ecs.0114')
      })

      test('a running server is refused with Ecs.0100, saying it must be stopped', async (t) => {
        const { app, database } = await buildTestApp(t, { dialect })
        const [id] = await createServers(app)
        const g = await createGroup(app)
        const before = await snapshot(database)
        const res = await groupAction(app, g, 'add_member', id!)
        assert.equal(res.statusCode, 400)
        assert.equal(ecsError(res).code, 'Ecs.0100')
        assert.match(ecsError(res).message, /is ACTIVE.*stopped \(SHUTOFF\)/)
        assert.deepEqual(await snapshot(database), before)
      })

      test('a server with a job in progress is refused with Ecs.0100', async (t) => {
        const driver = new GateDriver()
        const { app } = await buildTestApp(t, { dialect, driver })
        const g = await createGroup(app)
        const res = await call(app, {
          method: 'POST',
          url: v1('/cloudservers'),
          body: { server: { name: 'b', flavorRef: 's6.small.1', imageRef: 'i', vpcid: 'v', nics: [{ subnet_id: 's' }], root_volume: { volumetype: 'SSD' } } },
        })
        const [id] = (res.json() as { serverIds: string[] }).serverIds
        const refused = await groupAction(app, g, 'add_member', id!)
        assert.equal(refused.statusCode, 400)
        assert.equal(ecsError(refused).code, 'Ecs.0100')
        assert.match(ecsError(refused).message, /BUILD/)
        driver.releaseAll()
        await waitForJob(app, (res.json() as { job_id: string }).job_id)
      })

      test('a Xen server is refused: only KVM ECSs can be added', async (t) => {
        const { app, database } = await buildTestApp(t, { dialect })
        const [id] = await createServers(app, { flavorRef: 's3.small.1' })
        await stopServers(app, [id!])
        const g = await createGroup(app)
        const before = await snapshot(database)
        const res = await groupAction(app, g, 'add_member', id!)
        assert.equal(res.statusCode, 400)
        assert.equal(ecsError(res).code, 'Ecs.0005')
        assert.match(ecsError(res).message, /only KVM ECSs can be added/)
        assert.deepEqual(await snapshot(database), before)
      })

      test('a group that is not anti-affinity accepts no members', async (t) => {
        const { app, database } = await buildTestApp(t, { dialect })
        const [id] = await createServers(app)
        await stopServers(app, [id!])
        const g = await createGroup(app)
        // The v1 API only creates anti-affinity groups; other policies exist on the v2.1 surface.
        await database.db.updateTable('server_groups').set({ policy: 'affinity' }).where('id', '=', g).execute()
        const res = await groupAction(app, g, 'add_member', id!)
        assert.equal(res.statusCode, 400)
        assert.equal(ecsError(res).code, 'Ecs.0005')
        assert.match(ecsError(res).message, /only anti-affinity/)
      })

      test('a server belongs to one group at most', async (t) => {
        const { app } = await buildTestApp(t, { dialect })
        const [id] = await createServers(app)
        await stopServers(app, [id!])
        const g1 = await createGroup(app, 'one')
        const g2 = await createGroup(app, 'two')
        assert.equal((await groupAction(app, g1, 'add_member', id!)).statusCode, 200)
        const res = await groupAction(app, g2, 'add_member', id!)
        assert.equal(res.statusCode, 400)
        assert.equal(ecsError(res).code, 'Ecs.0005')
        assert.match(ecsError(res).message, new RegExp(`already belongs to ECS group ${g1}`))
      })

      test('the member quota is enforced with Ecs.0022', async (t) => {
        const { app, database } = await buildTestApp(t, { dialect, quotas: { maxServerGroupMembers: 2 } })
        const ids = await createServers(app, { count: 3 })
        await stopServers(app, ids)
        const g = await createGroup(app)
        assert.equal((await groupAction(app, g, 'add_member', ids[0]!)).statusCode, 200)
        assert.equal((await groupAction(app, g, 'add_member', ids[1]!)).statusCode, 200)
        const before = await snapshot(database)
        const res = await groupAction(app, g, 'add_member', ids[2]!)
        assert.equal(res.statusCode, 400)
        assert.equal(ecsError(res).code, 'Ecs.0022')
        assert.match(ecsError(res).message, /maximum of 2 members/)
        assert.deepEqual(await snapshot(database), before)
      })

      test('re-adding a member is idempotent: 200, nothing moves', async (t) => {
        const { app, database } = await buildTestApp(t, { dialect })
        const [id] = await createServers(app)
        await stopServers(app, [id!])
        const g = await createGroup(app)
        assert.equal((await groupAction(app, g, 'add_member', id!)).statusCode, 200)
        const before = await snapshot(database)
        assert.equal((await groupAction(app, g, 'add_member', id!)).statusCode, 200)
        assert.deepEqual(await snapshot(database), before)
      })

      test('another project cannot see the server: 404 as for a random id', async (t) => {
        const { app, services } = await buildTestApp(t, { dialect })
        const [id] = await createServers(app)
        await stopServers(app, [id!])
        const other = { projectId: 'fedcba9876543210fedcba9876543210', accessKey: 'OTHERAK0000000000001', secretKey: 'other-secret' }
        await services.identity.createProject('other', other.projectId)
        await services.identity.createCredential(other.projectId, { accessKey: other.accessKey, secretKey: other.secretKey })
        const res = await call(app, { method: 'POST', url: `/v1/${other.projectId}/cloudservers/os-server-groups`, body: { server_group: { name: 'x', policies: ['anti-affinity'] } }, ...other })
        const g = (res.json() as { server_group: { id: string } }).server_group.id
        const add = await call(app, { method: 'POST', url: `/v1/${other.projectId}/cloudservers/os-server-groups/${g}/action`, body: { add_member: { instance_uuid: id } }, ...other })
        assert.equal(add.statusCode, 404)
        assert.equal(ecsError(add).code, 'Ecs.0114')
        const demoGroup = await call(app, { method: 'GET', url: `/v1/${other.projectId}/cloudservers/os-server-groups/${g}` })
        assert.equal(demoGroup.statusCode, 401, 'demo credentials on another project path')
        const fromDemo = await call(app, { method: 'GET', url: `${GROUPS}/${g}` })
        assert.equal(fromDemo.statusCode, 404)
      })
    })

    describe('re-placement', () => {
      /** Makes only `keep` of az1 take new servers, to force servers onto one host. */
      async function onlyHostEnabled(database: import('../../../src/store/database.ts').Database, keep: string | undefined): Promise<void> {
        await database.db.updateTable('hosts').set({ enabled: keep === undefined ? 1 : 0 }).execute()
        if (keep !== undefined) await database.db.updateTable('hosts').set({ enabled: 1 }).where('name', '=', keep).execute()
      }

      async function host(database: import('../../../src/store/database.ts').Database, name: string) {
        return database.db.selectFrom('hosts').selectAll().where('name', '=', name).executeTakeFirstOrThrow()
      }

      test('forced collision: the second server moves to a free host of its AZ with capacity, allocation and all', async (t) => {
        const { app, database } = await buildTestApp(t, { dialect })
        await onlyHostEnabled(database, 'az1-host-01')
        const [a, b] = await createServers(app, { count: 2, availability_zone: 'az1' })
        await onlyHostEnabled(database, undefined)
        // Of the other az1 hosts only az1-host-05 has room for an s6.large.2 (2 vCPU, 4 GiB).
        await database.db.updateTable('hosts').set({ free_ram_mb: 1024 }).where('az', '=', 'az1').where('name', 'not in', ['az1-host-01', 'az1-host-05']).execute()
        await stopServers(app, [a!, b!])
        assert.equal((await showServer(app, a!))['OS-EXT-SRV-ATTR:host'], 'az1-host-01')
        assert.equal((await showServer(app, b!))['OS-EXT-SRV-ATTR:host'], 'az1-host-01')
        const h1Before = await host(database, 'az1-host-01')
        const h5Before = await host(database, 'az1-host-05')

        const g = await createGroup(app)
        assert.equal((await groupAction(app, g, 'add_member', a!)).statusCode, 200)
        assert.equal((await groupAction(app, g, 'add_member', b!)).statusCode, 200)
        await waitForIdle(database)

        const sa = await showServer(app, a!)
        const sb = await showServer(app, b!)
        assert.equal(sa['OS-EXT-SRV-ATTR:host'], 'az1-host-01', 'the first member stays')
        assert.equal(sb['OS-EXT-SRV-ATTR:host'], 'az1-host-05', 'the second moves to the only free host with room')
        assert.equal(sb['OS-EXT-AZ:availability_zone'], 'az1')
        assert.equal(sb.status, 'SHUTOFF', 'a move does not start the server')
        const h1After = await host(database, 'az1-host-01')
        const h5After = await host(database, 'az1-host-05')
        assert.equal(h1After.free_vcpus, h1Before.free_vcpus + 2)
        assert.equal(h1After.free_ram_mb, h1Before.free_ram_mb + 4096)
        assert.equal(h5After.free_vcpus, h5Before.free_vcpus - 2)
        assert.equal(h5After.free_ram_mb, h5Before.free_ram_mb - 4096)
        const members = await database.db.selectFrom('server_group_members').selectAll().where('group_id', '=', g).execute()
        assert.deepEqual(new Set(members.map((m) => m.host_id)), new Set([h1After.id, h5After.id]), 'membership rows follow the servers')
      })

      test('a server not on a member host joins without moving', async (t) => {
        const { app } = await buildTestApp(t, { dialect })
        const [a, b] = await createServers(app, { count: 2, availability_zone: 'az1' })
        await stopServers(app, [a!, b!])
        const hostsBefore = [(await showServer(app, a!))['OS-EXT-SRV-ATTR:host'], (await showServer(app, b!))['OS-EXT-SRV-ATTR:host']]
        assert.notEqual(hostsBefore[0], hostsBefore[1])
        const g = await createGroup(app)
        await groupAction(app, g, 'add_member', a!)
        await groupAction(app, g, 'add_member', b!)
        assert.deepEqual([(await showServer(app, a!))['OS-EXT-SRV-ATTR:host'], (await showServer(app, b!))['OS-EXT-SRV-ATTR:host']], hostsBefore)
      })

      test('exhaustion: more members than hosts in the AZ gives Ecs.0319 with a diagnosis, and changes nothing', async (t) => {
        const { app, database } = await buildTestApp(t, { dialect })
        const ids = await createServers(app, { count: 9, availability_zone: 'az1', flavorRef: 's6.small.1' })
        await stopServers(app, ids)
        const g = await createGroup(app)
        for (const id of ids.slice(0, 8)) assert.equal((await groupAction(app, g, 'add_member', id)).statusCode, 200)
        const hosts = new Set<unknown>()
        for (const id of ids.slice(0, 8)) hosts.add((await showServer(app, id))['OS-EXT-SRV-ATTR:host'])
        assert.equal(hosts.size, 8, 'eight members on the eight az1 hosts')
        await waitForIdle(database)

        const before = await snapshot(database)
        const res = await groupAction(app, g, 'add_member', ids[8]!)
        assert.equal(res.statusCode, 400)
        const err = ecsError(res)
        assert.equal(err.code, 'Ecs.0319')
        assert.match(err.message, /AvailabilityZone\(az1\): 8/)
        assert.match(err.message, /AntiAffinity\(\d hosts used by other members\): 0/)
        assert.deepEqual(await snapshot(database), before, 'nothing changed; az2 was not used either')
      })
    })

    describe('remove_member', () => {
      test('removes without moving; removing a non-member is a harmless 200; unknown server is 404', async (t) => {
        const { app, database } = await buildTestApp(t, { dialect })
        const [a, b] = await createServers(app, { count: 2 })
        await stopServers(app, [a!, b!])
        const g = await createGroup(app)
        await groupAction(app, g, 'add_member', a!)
        const hostBefore = (await showServer(app, a!))['OS-EXT-SRV-ATTR:host']
        const res = await groupAction(app, g, 'remove_member', a!)
        assert.equal(res.statusCode, 200)
        assert.equal(res.body, '')
        const after = await showServer(app, a!)
        assert.equal(after['OS-EXT-SRV-ATTR:host'], hostBefore)
        assert.deepEqual(after['os:scheduler_hints'], {})
        const shown = await call(app, { method: 'GET', url: `${GROUPS}/${g}` })
        assert.deepEqual((shown.json() as { server_group: { members: string[] } }).server_group.members, [])

        const before = await snapshot(database)
        assert.equal((await groupAction(app, g, 'remove_member', b!)).statusCode, 200)
        assert.deepEqual(await snapshot(database), before)
        const unknown = await groupAction(app, g, 'remove_member', '34dac9a0-c4a7-457b-bab2-e2c696e0e401')
        assert.equal(unknown.statusCode, 404)
        assert.equal(ecsError(unknown).code, 'Ecs.0114')
        assert.equal((await groupAction(app, g, 'add_member', a!)).statusCode, 200, 'can join again')
      })
    })
  })
}

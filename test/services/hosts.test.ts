import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { audit } from '../../src/services/audit.ts'
import { DEMO } from '../../src/services/demo.ts'
import type { Database } from '../../src/store/database.ts'
import { GateDriver } from '../drivers.ts'
import {
  DIALECTS, buildTestApp, call, createGroup, createServers, showServer, snapshot, stopServers, waitForIdle, type TestApp,
} from '../helper.ts'

/**
 * Host failure and maintenance: evacuation through the move primitive, stranded servers placed
 * again when capacity returns, fencing of a host that comes back, drains, and the admin host
 * API. The host monitor is driven tick by tick (buildTestApp does not start it), so nothing
 * depends on timers.
 */

const ADMIN = { accessKey: DEMO.adminAccessKey, secretKey: DEMO.adminSecretKey }

type Shown = Record<string, unknown> & { status: string; 'OS-EXT-SRV-ATTR:host': string; fault?: { message: string } }

function admin(app: TestApp['app'], method: 'GET' | 'POST' | 'PUT' | 'DELETE', url: string, body?: unknown) {
  return call(app, { method, url, ...(body === undefined ? {} : { body }), ...ADMIN })
}

/** Runs the monitor until nothing is left to do (bounded by the number of ticks, not by time). */
async function settle(t: TestApp, ticks = 6): Promise<void> {
  for (let i = 0; i < ticks; i++) {
    await t.services.hostMonitor.tick()
    await waitForIdle(t.database)
  }
}

async function hostOf(app: TestApp['app'], id: string): Promise<string> {
  return (await showServer(app, id))['OS-EXT-SRV-ATTR:host'] as string
}

async function keepOnly(database: Database, az: string, names: string[]): Promise<void> {
  await database.db.updateTable('hosts').set({ enabled: 0, admin_state: 'disabled' }).where('az', '=', az).where('name', 'not in', names).execute()
}

for (const dialect of DIALECTS) {
  describe(`host failure and maintenance on ${dialect}`, () => {
    test('a host failing with members of several groups: every server re-placed, groups distinct, power kept', async (t) => {
      const app = await buildTestApp(t, { dialect })
      const groups = [await createGroup(app.app, 'a'), await createGroup(app.app, 'b'), await createGroup(app.app, 'c')]
      const members: string[][] = []
      for (const g of groups) members.push(await createServers(app.app, { count: 4, availability_zone: 'az1', 'os:scheduler_hints': { group: g } }))
      // Make one host hold a member of every group: find a host each group uses.
      const hostsOfA = await Promise.all(members[0]!.map((id) => hostOf(app.app, id)))
      const victim = hostsOfA[0]!
      const onVictim = (await app.database.db.selectFrom('servers').innerJoin('hosts', 'hosts.id', 'servers.host_id').select(['servers.id', 'servers.status']).where('hosts.name', '=', victim).execute())
      assert.ok(onVictim.length >= 1)
      await stopServers(app.app, [onVictim[0]!.id])
      const before = new Map((await app.database.db.selectFrom('servers').select(['id', 'status']).execute()).map((s) => [s.id, s.status]))

      const res = await admin(app.app, 'POST', `/admin/hosts/${victim}/action`, { fail: {} })
      assert.equal(res.statusCode, 200, res.body)
      assert.equal((res.json() as { host: { state: string } }).host.state, 'down')
      const lost = await audit(app.database.db, { stuckAfterMs: 0, now: new Date(Date.now() + 1000) })
      assert.ok(lost.some((v) => v.invariant === 'no-server-lost'), 'before the monitor looks, the audit sees servers left on a down host')
      await settle(app)

      const left = await app.database.db.selectFrom('servers').innerJoin('hosts', 'hosts.id', 'servers.host_id').select('servers.id').where('hosts.name', '=', victim).execute()
      assert.deepEqual(left, [], 'nothing stays on the failed host')
      for (const s of onVictim) {
        const shown = (await showServer(app.app, s.id)) as Shown
        assert.notEqual(shown['OS-EXT-SRV-ATTR:host'], victim)
        assert.equal(shown.status, before.get(s.id), 'running servers run again, stopped ones stay stopped')
      }
      for (const ids of members) {
        const hosts = await Promise.all(ids.map((id) => hostOf(app.app, id)))
        assert.equal(new Set(hosts).size, ids.length, 'each group still on distinct hosts')
      }
      const jobs = await app.database.db.selectFrom('jobs').select(['type', 'status']).where('type', '=', 'evacuateServer').execute()
      assert.equal(jobs.length, onVictim.length)
      assert.ok(jobs.every((j) => j.status === 'SUCCESS'))
      assert.deepEqual(await audit(app.database.db), [])
    })

    test('more failures than spare capacity: the rest is stranded in ERROR, still members, and placed once a host is added', async (t) => {
      const app = await buildTestApp(t, { dialect })
      await keepOnly(app.database, 'az1', ['az1-host-01', 'az1-host-02', 'az1-host-03'])
      const g = await createGroup(app.app)
      const ids = await createServers(app.app, { count: 3, availability_zone: 'az1', 'os:scheduler_hints': { group: g } })
      const victims = ['az1-host-01', 'az1-host-02']
      for (const name of victims) assert.equal((await admin(app.app, 'POST', `/admin/hosts/${name}/action`, { fail: {} })).statusCode, 200)
      await settle(app)

      const stranded = await app.database.db.selectFrom('servers').select(['id', 'status', 'stranded', 'fault']).where('stranded', 'is not', null).execute()
      assert.equal(stranded.length, 2, 'the one host left holds a member already: two members have nowhere to go')
      for (const s of stranded) {
        const shown = (await showServer(app.app, s.id)) as Shown
        assert.equal(shown.status, 'ERROR')
        assert.match(String(shown.fault?.message), /evacuation found no host.*AntiAffinity/)
        assert.deepEqual((shown['os:scheduler_hints'] as { group: string[] }).group, [g], 'still a member')
      }
      assert.deepEqual(await audit(app.database.db), [])

      const added = await admin(app.app, 'POST', '/admin/hosts', { host: { name: 'az1-spare-1', availability_zone: 'az1', vcpus: 32, ram_mb: 131072 } })
      assert.equal(added.statusCode, 201, added.body)
      await settle(app)
      const still = await app.database.db.selectFrom('servers').select('id').where('stranded', 'is not', null).execute()
      assert.equal(still.length, 1, 'one more host: one more member placed')
      await admin(app.app, 'POST', '/admin/hosts/az1-host-04/action', { enable: {} })
      await settle(app)
      for (const id of ids) assert.equal(((await showServer(app.app, id)) as Shown).status, 'ACTIVE', 'every member runs again')
      const hosts = await Promise.all(ids.map((id) => hostOf(app.app, id)))
      assert.equal(new Set(hosts).size, 3)
      assert.ok(hosts.every((h) => !victims.includes(h)))
      assert.deepEqual(await audit(app.database.db), [])
    })

    test('a host failing during an evacuation: its evacuees move on again, none is lost', async (t) => {
      const driver = new GateDriver()
      driver.releaseAll()
      const app = await buildTestApp(t, { dialect, driver })
      const g = await createGroup(app.app)
      const ids = await createServers(app.app, { count: 3, availability_zone: 'az1', 'os:scheduler_hints': { group: g } })
      const first = await hostOf(app.app, ids[0]!)
      driver.hold()
      await admin(app.app, 'POST', `/admin/hosts/${first}/action`, { fail: {} })
      await app.services.hostMonitor.tick()
      const move = await app.database.db.selectFrom('moves').innerJoin('hosts', 'hosts.id', 'moves.target_host_id').select(['moves.server_id', 'hosts.name as target']).where('moves.reason', '=', 'evacuate').executeTakeFirstOrThrow()
      assert.equal(move.server_id, ids[0])
      // The evacuation's target fails while the evacuee is on its way there.
      await admin(app.app, 'POST', `/admin/hosts/${move.target}/action`, { fail: {} })
      assert.deepEqual(await audit(app.database.db), [], 'both failed hosts are still held while the move is in flight')
      driver.releaseAll()
      await settle(app)
      const hosts = await Promise.all(ids.map((id) => hostOf(app.app, id)))
      assert.ok(!hosts.includes(first) && !hosts.includes(move.target), `every member is off both failed hosts: ${hosts.join(', ')}`)
      assert.equal(new Set(hosts).size, 3)
      for (const id of ids) assert.equal(((await showServer(app.app, id)) as Shown).status, 'ACTIVE')
      assert.deepEqual(await audit(app.database.db, { stuckAfterMs: 0 }), [])
    })

    test('a dead host that comes back is fenced: its agent keeps only what is still assigned to it', async (t) => {
      const app = await buildTestApp(t, { dialect })
      const added = await admin(app.app, 'POST', '/admin/hosts', { host: { name: 'agent-1', availability_zone: 'az9', vcpus: 16, ram_mb: 65536 } })
      assert.equal(added.statusCode, 201, added.body)
      const credential = (added.json() as { credential: { access: string; secret: string } }).credential
      await admin(app.app, 'POST', '/admin/hosts', { host: { name: 'agent-2', availability_zone: 'az9', vcpus: 16, ram_mb: 65536 } })
      const beat = (body?: unknown) => call(app.app, { method: 'POST', url: '/agent/v1/hosts/agent-1/heartbeat', ...(body === undefined ? {} : { body }), accessKey: credential.access, secretKey: credential.secret, projectId: '' })
      assert.deepEqual((await beat()).json(), { host: { name: 'agent-1', state: 'up' } })
      // agent-1 has an agent now: its steps are tasks. This stands in for the agent, carrying each out at once.
      const hostId = (added.json() as { host: { id: string } }).host.id
      let agentRuns = true
      const agent = (async () => {
        while (agentRuns) {
          for (const task of await app.services.agentTasks.claim(hostId, 'test-agent')) await app.services.agentTasks.complete(hostId, task.id, { state: 'done' })
          await new Promise((r) => setTimeout(r, 20))
        }
      })()
      const g = await createGroup(app.app)
      const ids = await createServers(app.app, { count: 2, availability_zone: 'az9', 'os:scheduler_hints': { group: g } }).finally(async () => {
        agentRuns = false
        await agent
      })
      const onAgent1 = (await Promise.all(ids.map(async (id) => ({ id, host: await hostOf(app.app, id) })))).filter((s) => s.host === 'agent-1').map((s) => s.id)
      assert.equal(onAgent1.length, 1, 'one member on each host')
      // The other member holds agent-2 for the group: make room there for the evacuee by leaving the group.
      await call(app.app, { method: 'POST', url: `/v1/${DEMO.projectId}/cloudservers/os-server-groups/${g}/action`, body: { remove_member: { instance_uuid: ids.find((id) => id !== onAgent1[0])! } } })

      await admin(app.app, 'POST', '/admin/hosts/agent-1/action', { fail: {} })
      await settle(app)
      assert.equal(await hostOf(app.app, onAgent1[0]!), 'agent-2', 'evacuated')

      const back = await beat()
      assert.equal(back.statusCode, 200, back.body)
      assert.deepEqual(back.json(), { host: { name: 'agent-1', state: 'fencing', fence: { keep: [] } } }, 'the evacuated server is not to be kept')
      const fencing = (await admin(app.app, 'GET', '/admin/hosts/agent-1')).json() as { host: { state: string; schedulable: boolean } }
      assert.equal(fencing.host.state, 'fencing')
      assert.equal(fencing.host.schedulable, false, 'not used until fenced')
      assert.equal((await beat({ fenced: true })).json().host.state, 'up')
      assert.deepEqual(await audit(app.database.db), [])
    })

    test("a host credential reports only for its own host, and is nothing else's credential", async (t) => {
      const app = await buildTestApp(t, { dialect })
      const added = await admin(app.app, 'POST', '/admin/hosts', { host: { name: 'agent-x', availability_zone: 'az1', vcpus: 8, ram_mb: 16384 } })
      const { access, secret } = (added.json() as { credential: { access: string; secret: string } }).credential
      const as = (method: 'GET' | 'POST', url: string, projectId = '') => call(app.app, { method, url, accessKey: access, secretKey: secret, projectId, body: method === 'POST' ? {} : undefined })
      assert.equal((await as('POST', '/agent/v1/hosts/az1-host-01/heartbeat')).statusCode, 403)
      assert.equal((await as('GET', '/admin/hosts')).statusCode, 403)
      assert.equal((await as('GET', `/v1/${DEMO.projectId}/cloudservers/detail`, DEMO.projectId)).statusCode, 401)
      const tenant = await call(app.app, { method: 'POST', url: '/agent/v1/hosts/agent-x/heartbeat', body: {} })
      assert.equal(tenant.statusCode, 403, 'a tenant credential is no host agent')
      const unsigned = await app.app.inject({ method: 'POST', url: '/agent/v1/hosts/agent-x/heartbeat' })
      assert.equal(unsigned.statusCode, 401)
    })

    test('draining a failed host moves its stranded servers back to the state they were stranded in', async (t) => {
      const app = await buildTestApp(t, { dialect })
      await keepOnly(app.database, 'az1', ['az1-host-01', 'az1-host-02'])
      const g = await createGroup(app.app)
      const ids = await createServers(app.app, { count: 2, availability_zone: 'az1', 'os:scheduler_hints': { group: g } })
      const victim = await hostOf(app.app, ids[0]!)
      const other = ids[1]!
      assert.equal((await admin(app.app, 'POST', `/admin/hosts/${victim}/action`, { fail: {} })).statusCode, 200)
      await settle(app)
      assert.equal(((await showServer(app.app, ids[0]!)) as Shown).status, 'ERROR', 'stranded: the group holds the only other host')
      // Room appears without a capacity event (the other member leaves the group), and the
      // operator drains the failed host: the drain, not the stranded retry, moves the server.
      const left = await call(app.app, { method: 'POST', url: `/v1/${DEMO.projectId}/cloudservers/os-server-groups/${g}/action`, body: { remove_member: { instance_uuid: other } } })
      assert.equal(left.statusCode, 200, left.body)
      assert.equal((await admin(app.app, 'POST', `/admin/hosts/${victim}/action`, { drain: {} })).statusCode, 200)
      await settle(app)
      const shown = (await showServer(app.app, ids[0]!)) as Shown
      assert.notEqual(shown['OS-EXT-SRV-ATTR:host'], victim)
      assert.equal(shown.status, 'ACTIVE', 'it ran before its host failed, so it runs again')
      assert.equal(shown.fault, undefined)
      assert.equal(((await admin(app.app, 'GET', `/admin/hosts/${victim}`)).json() as { host: { admin_reason: string } }).host.admin_reason, 'drained')
      assert.deepEqual(await audit(app.database.db), [])
    })

    test('drain: cordoned first, running servers move live and stopped ones cold, then drained', async (t) => {
      const driver = new GateDriver()
      driver.releaseAll()
      const app = await buildTestApp(t, { dialect, driver })
      await createServers(app.app, { count: 16, availability_zone: 'az1' })
      // The host with the most servers (16 over 8 hosts: at least two), so that it has a running one and a stopped one.
      const counts = await app.database.db.selectFrom('servers').innerJoin('hosts', 'hosts.id', 'servers.host_id').select('hosts.name')
        .select((eb) => eb.fn.countAll<number | string>().as('n')).groupBy('hosts.name').execute()
      const victim = counts.sort((a, b) => Number(b.n) - Number(a.n))[0]!.name
      const onVictim = (await app.database.db.selectFrom('servers').innerJoin('hosts', 'hosts.id', 'servers.host_id').select('servers.id').where('hosts.name', '=', victim).execute()).map((s) => s.id)
      assert.ok(onVictim.length >= 2)
      await stopServers(app.app, [onVictim[0]!])
      driver.hold()
      const res = await admin(app.app, 'POST', `/admin/hosts/${victim}/action`, { drain: {} })
      const host = (res.json() as { host: { admin_state: string; admin_reason: string; schedulable: boolean } }).host
      assert.deepEqual([host.admin_state, host.admin_reason, host.schedulable], ['maintenance', 'drain', false])
      await app.services.hostMonitor.tick()
      const kinds = await app.database.db.selectFrom('moves').select(['server_id', 'kind', 'reason']).execute()
      assert.ok(kinds.length > 0 && kinds.every((m) => m.reason === 'drain'))
      for (const m of kinds) assert.equal(m.kind, m.server_id === onVictim[0] ? 'cold' : 'live')
      const created = await call(app.app, { method: 'POST', url: `/v1/${DEMO.projectId}/cloudservers`, body: { server: { name: 'x', flavorRef: 's6.small.1', imageRef: 'i', vpcid: 'v', nics: [{ subnet_id: 's' }], root_volume: { volumetype: 'SSD' }, count: 1, availability_zone: 'az1' } } })
      assert.equal(created.statusCode, 200)
      assert.notEqual(await hostOf(app.app, (created.json() as { serverIds: string[] }).serverIds[0]!), victim, 'a draining host takes nothing new')
      assert.deepEqual(await audit(app.database.db), [], 'clean while moves are in flight')
      driver.releaseAll()
      await settle(app)
      const drained = (await admin(app.app, 'GET', `/admin/hosts/${victim}`)).json() as { host: { admin_reason: string; servers: number; server_list: unknown[] } }
      assert.equal(drained.host.admin_reason, 'drained')
      assert.equal(drained.host.servers, 0)
      for (const id of onVictim) assert.notEqual(await hostOf(app.app, id), victim)
      assert.equal(((await showServer(app.app, onVictim[1]!)) as Shown).status, 'ACTIVE')
      assert.deepEqual(await audit(app.database.db), [])
    })

    test('admin host API: add, show, update, disable/enable, remove only when empty, and clear errors that change nothing', async (t) => {
      const app = await buildTestApp(t, { dialect })
      const add = (host: unknown) => admin(app.app, 'POST', '/admin/hosts', { host })
      const created = await add({ name: 'rack7-h1', availability_zone: 'az1', vcpus: 48, ram_mb: 196608, fault_domain: 'rack-7', cpu_allocation_ratio: 2 })
      assert.equal(created.statusCode, 201, created.body)
      assert.equal(created.headers['cache-control'], 'no-store')
      const shown = (await admin(app.app, 'GET', '/admin/hosts/rack7-h1')).json() as { host: Record<string, unknown> }
      assert.equal(shown.host.fault_domain, 'rack-7')
      assert.deepEqual(shown.host.capacity, { vcpus: 96, ram_mb: 196608 })
      assert.deepEqual([shown.host.state, shown.host.admin_state, shown.host.agent], ['up', 'enabled', 'simulated'])

      const before = await snapshot(app.database)
      assert.equal((await add({ name: 'rack7-h1', availability_zone: 'az1', vcpus: 1, ram_mb: 1 })).statusCode, 409)
      assert.equal((await add({ name: 'bad name!', availability_zone: 'az1', vcpus: 1, ram_mb: 1 })).statusCode, 400)
      assert.equal((await add({ name: 'h', availability_zone: 'az1', vcpus: 0, ram_mb: 1 })).statusCode, 400)
      assert.equal((await add({ name: 'h2', availability_zone: 'az1', vcpus: 1, ram_mb: 1, dedicated_to: 'nope' })).statusCode, 400)
      assert.equal((await admin(app.app, 'GET', '/admin/hosts/nope')).statusCode, 404)
      assert.equal((await admin(app.app, 'POST', '/admin/hosts/nope/action', { enable: {} })).statusCode, 404)
      assert.equal((await admin(app.app, 'POST', '/admin/hosts/rack7-h1/action', { enable: {}, drain: {} })).statusCode, 400)
      assert.equal((await call(app.app, { method: 'POST', url: '/admin/hosts', body: { host: { name: 'z', availability_zone: 'az1', vcpus: 1, ram_mb: 1 } } })).statusCode, 403)
      assert.deepEqual(await snapshot(app.database), before, 'refused requests change nothing')

      const disabled = (await admin(app.app, 'POST', '/admin/hosts/rack7-h1/action', { disable: { reason: 'firmware' } })).json() as { host: Record<string, unknown> }
      assert.deepEqual([disabled.host.admin_state, disabled.host.admin_reason, disabled.host.schedulable], ['disabled', 'firmware', false])
      const enabled = (await admin(app.app, 'POST', '/admin/hosts/rack7-h1/action', { enable: {} })).json() as { host: Record<string, unknown> }
      assert.deepEqual([enabled.host.admin_state, enabled.host.admin_reason], ['enabled', null])

      const [id] = await createServers(app.app, { count: 1, availability_zone: 'az1' })
      const busyHost = await hostOf(app.app, id!)
      const refused = await admin(app.app, 'DELETE', `/admin/hosts/${busyHost}`)
      assert.equal(refused.statusCode, 409)
      assert.match(refused.body, /not empty/)
      assert.equal((await admin(app.app, 'DELETE', '/admin/hosts/rack7-h1')).statusCode, busyHost === 'rack7-h1' ? 409 : 204)
      assert.deepEqual(await audit(app.database.db), [])
    })

    test('relabelling a host into a fault domain a spreading group already uses is refused; the audit checks the spread', async (t) => {
      const app = await buildTestApp(t, { dialect })
      for (const [i, name] of ['az1-host-01', 'az1-host-02', 'az1-host-03'].entries()) {
        assert.equal((await admin(app.app, 'PUT', `/admin/hosts/${name}`, { host: { fault_domain: `rack-${i + 1}` } })).statusCode, 200)
      }
      await keepOnly(app.database, 'az1', ['az1-host-01', 'az1-host-02', 'az1-host-03'])
      const created = await call(app.app, { method: 'POST', url: `/v1/${DEMO.projectId}/cloudservers/os-server-groups`, body: { server_group: { name: 'racks', policies: ['anti-affinity'], fault_domain: { spread: true } } } })
      const g = (created.json() as { server_group: { id: string } }).server_group.id
      const ids = await createServers(app.app, { count: 2, availability_zone: 'az1', 'os:scheduler_hints': { group: g } })
      const [a, b] = (await Promise.all(ids.map((id) => hostOf(app.app, id)))) as [string, string]
      const rackOfB = ((await admin(app.app, 'GET', `/admin/hosts/${b}`)).json() as { host: { fault_domain: string } }).host.fault_domain
      const refused = await admin(app.app, 'PUT', `/admin/hosts/${a}`, { host: { fault_domain: rackOfB } })
      assert.equal(refused.statusCode, 409, refused.body)
      assert.match(refused.body, /spreads over fault domains/)
      assert.deepEqual(await audit(app.database.db), [])
      await app.database.db.updateTable('hosts').set({ fault_domain: rackOfB }).where('name', '=', a).execute()
      assert.ok((await audit(app.database.db)).some((v) => v.invariant === 'fault-domain'), 'written behind the API, the audit reports it')
    })

    test('heartbeats: a host whose heartbeats stop goes down after the threshold, on its own', async (t) => {
      const app = await buildTestApp(t, { dialect })
      const [id] = await createServers(app.app, { count: 1, availability_zone: 'az1' })
      const victim = await hostOf(app.app, id!)
      const stopped = await admin(app.app, 'POST', '/admin/faults', { fault: { host: victim, step: 'heartbeat', mode: 'fail' } })
      assert.equal(stopped.statusCode, 201, stopped.body)
      // The test's clock is the database: the host's last heartbeat is put past the threshold.
      const past = new Date(Date.now() - app.config.hostDownAfterMs - 60_000).toISOString()
      await app.database.db.updateTable('hosts').set({ last_heartbeat_at: past }).where('name', '=', victim).execute()
      // A monitor that has just started waits one threshold before judging; this one is old enough.
      ;(app.services.hostMonitor as unknown as { startedAt: number }).startedAt = 0
      await settle(app)
      const host = (await admin(app.app, 'GET', `/admin/hosts/${victim}`)).json() as { host: { state: string } }
      assert.equal(host.host.state, 'down')
      assert.notEqual(await hostOf(app.app, id!), victim)
      const fault = (stopped.json() as { fault: { id: string } }).fault.id
      assert.equal((await admin(app.app, 'DELETE', `/admin/faults/${fault}`)).statusCode, 204)
      await new Promise((r) => setTimeout(r, 300))
      await settle(app)
      assert.equal(((await admin(app.app, 'GET', `/admin/hosts/${victim}`)).json() as { host: { state: string } }).host.state, 'up', 'heartbeats again: fenced and up')
      assert.deepEqual(await audit(app.database.db), [])
    })
  })
}

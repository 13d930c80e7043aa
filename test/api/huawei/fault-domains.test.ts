/**
 * Fault domains: an ecsd extension on group create (`"fault_domain": {"spread": true}`) makes a
 * group's members also go to pairwise distinct fault domains (racks). Every placement of a
 * member honours it — create, add_member's re-placement, a move — counting the racks of the
 * other members' moves in flight, and when the racks run out the answer is `Ecs.0319` with the
 * `FaultDomainSpread` line of the diagnosis. Ordinary groups keep today's behaviour and shape.
 */
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import type { App } from '../../../src/app.ts'
import { DEMO } from '../../../src/services/demo.ts'
import type { Database } from '../../../src/store/database.ts'
import { GateDriver } from '../../drivers.ts'
import {
  buildTestApp, call, createBody, createGroup, createServers, groupAction, showServer, snapshot, stopServers, v1, waitForIdle, waitForJob,
  DIALECTS,
} from '../../helper.ts'

const GROUPS = v1('/cloudservers/os-server-groups')
const ADMIN = { accessKey: DEMO.adminAccessKey, secretKey: DEMO.adminSecretKey }

/** az1's eight demo hosts in three racks; az2's hosts keep none (each is a fault domain of its own). */
const RACKS: Record<string, string> = {
  'az1-host-01': 'rack-1', 'az1-host-02': 'rack-1', 'az1-host-03': 'rack-1',
  'az1-host-04': 'rack-2', 'az1-host-05': 'rack-2', 'az1-host-06': 'rack-2',
  'az1-host-07': 'rack-3', 'az1-host-08': 'rack-3',
}

interface GroupBody {
  id: string
  name: string
  policies: string[]
  members: string[]
  metadata: Record<string, string>
  fault_domain?: { fault_domain_names: string[] }
}

function ecsError(res: { json(): unknown }): { code: string; message: string } {
  return (res.json() as { error: { code: string; message: string } }).error
}

/** Puts az1's hosts in their racks through the operator API, as an operator would. */
async function rackHosts(app: App): Promise<void> {
  for (const [name, rack] of Object.entries(RACKS)) {
    const res = await call(app, { method: 'PUT', url: `/admin/hosts/${name}`, body: { host: { fault_domain: rack } }, ...ADMIN })
    assert.equal(res.statusCode, 200, res.body)
    assert.equal((res.json() as { host: { fault_domain: string | null } }).host.fault_domain, rack)
  }
}

function createGroupRequest(app: App, serverGroup: Record<string, unknown>) {
  return call(app, { method: 'POST', url: GROUPS, body: { server_group: serverGroup } })
}

/** Creates a group whose members also spread over fault domains; returns its id. */
async function createSpreadingGroup(app: App, name = 'racks'): Promise<string> {
  const res = await createGroupRequest(app, { name, policies: ['anti-affinity'], fault_domain: { spread: true } })
  assert.equal(res.statusCode, 200, res.body)
  return (res.json() as { server_group: GroupBody }).server_group.id
}

async function showGroup(app: App, id: string): Promise<GroupBody> {
  const res = await call(app, { method: 'GET', url: `${GROUPS}/${id}` })
  assert.equal(res.statusCode, 200, res.body)
  return (res.json() as { server_group: GroupBody }).server_group
}

async function hostOf(app: App, serverId: string): Promise<string> {
  return String((await showServer(app, serverId))['OS-EXT-SRV-ATTR:host'])
}

/** Only the named hosts take new servers (every other host is disabled); none named: all do. */
async function onlyEnabled(database: Database, names: readonly string[]): Promise<void> {
  await database.db.updateTable('hosts').set({ enabled: names.length === 0 ? 1 : 0, admin_state: names.length === 0 ? 'enabled' : 'disabled' }).execute()
  if (names.length > 0) await database.db.updateTable('hosts').set({ enabled: 1, admin_state: 'enabled' }).where('name', 'in', names).execute()
}

/** Creates one server (az1 unless told), optionally into a group; returns its id. */
async function createOne(app: App, group?: string, more: Record<string, unknown> = {}): Promise<string> {
  const [id] = await createServers(app, { availability_zone: 'az1', ...(group === undefined ? {} : { 'os:scheduler_hints': { group } }), ...more })
  return id!
}

function redeploy(app: App, serverId: string) {
  return call(app, { method: 'POST', url: v1(`/cloudservers/${serverId}/actions/redeploy`) })
}

for (const dialect of DIALECTS) {
  describe(`fault domains on ${dialect}`, () => {
    describe('the group extension', () => {
      test('a spreading group shows fault_domain on create, show and list; an ordinary group keeps its exact shape', async (t) => {
        const { app, database } = await buildTestApp(t, { dialect })
        const created = await createGroupRequest(app, { name: 'racks', policies: ['anti-affinity'], fault_domain: { spread: true } })
        assert.equal(created.statusCode, 200, created.body)
        const spreading = (created.json() as { server_group: GroupBody }).server_group
        assert.deepEqual({ ...spreading, id: 'x' }, {
          id: 'x', name: 'racks', policies: ['anti-affinity'], members: [], metadata: {}, fault_domain: { fault_domain_names: [] },
        })
        const ordinary = await createGroup(app, 'plain')
        assert.deepEqual({ ...(await showGroup(app, ordinary)), id: 'x' }, { id: 'x', name: 'plain', policies: ['anti-affinity'], members: [], metadata: {} })

        const stored = await database.db.selectFrom('server_groups').select(['id', 'spread_fault_domains']).orderBy('id').execute()
        assert.deepEqual(
          new Map(stored.map((g) => [g.id, g.spread_fault_domains])),
          new Map([[spreading.id, 1], [ordinary, 0]]),
        )

        await rackHosts(app)
        await createServers(app, { count: 2, availability_zone: 'az1', 'os:scheduler_hints': { group: spreading.id } })
        await createServers(app, { count: 2, availability_zone: 'az1', 'os:scheduler_hints': { group: ordinary } })
        const listed = await call(app, { method: 'GET', url: GROUPS })
        assert.equal(listed.statusCode, 200)
        const byId = new Map((listed.json() as { server_groups: GroupBody[] }).server_groups.map((g) => [g.id, g]))
        const shown = await showGroup(app, spreading.id)
        assert.deepEqual(byId.get(spreading.id), shown, 'list and show agree')
        assert.equal(shown.fault_domain?.fault_domain_names.length, 2)
        assert.deepEqual(shown.fault_domain?.fault_domain_names, [...(shown.fault_domain?.fault_domain_names ?? [])].sort(), 'sorted')
        assert.deepEqual(Object.keys(byId.get(ordinary)!).sort(), ['id', 'members', 'metadata', 'name', 'policies'], 'no fault_domain on an ordinary group')
      })

      test('the extension is validated strictly: anything but {"spread": true} is Ecs.0005 and creates nothing', async (t) => {
        const { app, database } = await buildTestApp(t, { dialect })
        const before = await snapshot(database)
        const cases: Array<{ faultDomain: unknown; mentions: RegExp }> = [
          { faultDomain: {}, mentions: /spread/ },
          { faultDomain: { spread: false }, mentions: /spread/ },
          { faultDomain: { spread: 'true' }, mentions: /spread/ },
          { faultDomain: { spread: true, count: 3 }, mentions: /unknown field "count"/ },
          { faultDomain: { fault_domain_names: ['rack-1'] }, mentions: /fault_domain_names/ },
          { faultDomain: true, mentions: /fault_domain/ },
          { faultDomain: null, mentions: /fault_domain/ },
        ]
        for (const c of cases) {
          const res = await createGroupRequest(app, { name: 'g', policies: ['anti-affinity'], fault_domain: c.faultDomain })
          assert.equal(res.statusCode, 400, `${JSON.stringify(c.faultDomain)} → ${res.body}`)
          assert.equal(ecsError(res).code, 'Ecs.0005', JSON.stringify(c.faultDomain))
          assert.match(ecsError(res).message, c.mentions, JSON.stringify(c.faultDomain))
        }
        const otherPolicy = await createGroupRequest(app, { name: 'g', policies: ['affinity'], fault_domain: { spread: true } })
        assert.equal(otherPolicy.statusCode, 400)
        assert.match(ecsError(otherPolicy).message, /only "anti-affinity"/)
        assert.deepEqual(await snapshot(database), before)
      })
    })

    describe('placement', () => {
      test('members created into a spreading group land in distinct fault domains', async (t) => {
        const { app } = await buildTestApp(t, { dialect })
        await rackHosts(app)
        const group = await createSpreadingGroup(app)
        const ids = await createServers(app, { count: 3, availability_zone: 'az1', 'os:scheduler_hints': { group } })
        const racks = await Promise.all(ids.map(async (id) => RACKS[await hostOf(app, id)]))
        assert.deepEqual([...racks].sort(), ['rack-1', 'rack-2', 'rack-3'])
        assert.deepEqual((await showGroup(app, group)).fault_domain, { fault_domain_names: ['rack-1', 'rack-2', 'rack-3'] })
      })

      test('exhaustion: more members than the zone has fault domains is Ecs.0319 with the FaultDomainSpread line; nothing changes', async (t) => {
        const { app, database } = await buildTestApp(t, { dialect })
        await rackHosts(app)
        const group = await createSpreadingGroup(app)
        await createServers(app, { count: 3, availability_zone: 'az1', 'os:scheduler_hints': { group } })
        const before = await snapshot(database)

        const fourth = await call(app, { method: 'POST', url: v1('/cloudservers'), body: createBody({ availability_zone: 'az1', 'os:scheduler_hints': { group } }) })
        assert.equal(fourth.statusCode, 400, fourth.body)
        assert.equal(ecsError(fourth).code, 'Ecs.0319')
        assert.match(ecsError(fourth).message, /AntiAffinity\(3 hosts used by other members\): 5 → FaultDomainSpread\(3 fault domains used by other members\): 0/)

        const fresh = await createSpreadingGroup(app, 'fresh')
        const afterFresh = await snapshot(database)
        const four = await call(app, { method: 'POST', url: v1('/cloudservers'), body: createBody({ availability_zone: 'az1', count: 4, 'os:scheduler_hints': { group: fresh } }) })
        assert.equal(four.statusCode, 400, four.body)
        assert.equal(ecsError(four).code, 'Ecs.0319', 'a batch that cannot spread fails whole')
        assert.match(ecsError(four).message, /server 4 of 4 .*FaultDomainSpread\(3 fault domains used by other members\): 0/)
        assert.deepEqual(await snapshot(database), afterFresh)
        await call(app, { method: 'DELETE', url: `${GROUPS}/${fresh}` })
        assert.deepEqual(await snapshot(database), before)
      })

      test('ordinary groups ignore fault domains; hosts without one are each a fault domain of their own', async (t) => {
        const { app } = await buildTestApp(t, { dialect })
        await rackHosts(app)
        const ordinary = await createGroup(app, 'plain')
        const plain = await createServers(app, { count: 8, availability_zone: 'az1', 'os:scheduler_hints': { group: ordinary } })
        assert.equal(new Set(await Promise.all(plain.map((id) => hostOf(app, id)))).size, 8, 'eight hosts, three racks: fine for an ordinary group')
        assert.equal((await showGroup(app, ordinary)).fault_domain, undefined)

        const spreading = await createSpreadingGroup(app)
        const unracked = await createServers(app, { count: 8, availability_zone: 'az2', 'os:scheduler_hints': { group: spreading } })
        assert.equal(new Set(await Promise.all(unracked.map((id) => hostOf(app, id)))).size, 8, 'az2 hosts have no rack: eight fault domains')
        assert.deepEqual((await showGroup(app, spreading)).fault_domain, { fault_domain_names: [] }, 'hosts without a fault domain are not named')
      })

      test('add_member re-places a server whose rack another member uses, lets one in a free rack join where it is, and refuses when no rack is left', async (t) => {
        const { app, database } = await buildTestApp(t, { dialect })
        await rackHosts(app)
        const group = await createSpreadingGroup(app)
        const ordinary = await createGroup(app, 'plain')
        await onlyEnabled(database, ['az1-host-01'])
        const first = await createOne(app, group)
        const plainFirst = await createOne(app, ordinary)
        await onlyEnabled(database, ['az1-host-02'])
        const sameRack = await createOne(app)
        const plainSameRack = await createOne(app)
        await onlyEnabled(database, ['az1-host-03'])
        const late = await createOne(app)
        await onlyEnabled(database, ['az1-host-04'])
        const freeRack = await createOne(app)
        await onlyEnabled(database, [])
        await stopServers(app, [sameRack, plainSameRack, late, freeRack])

        assert.equal((await groupAction(app, group, 'add_member', freeRack)).statusCode, 200)
        assert.equal(await hostOf(app, freeRack), 'az1-host-04', 'rack-2 is free: it joins where it is')

        assert.equal((await groupAction(app, group, 'add_member', sameRack)).statusCode, 200)
        await waitForIdle(database)
        const moved = await hostOf(app, sameRack)
        assert.equal(RACKS[moved], 'rack-3', `rack-1 is the first member's, rack-2 the second's; it went to ${moved}`)
        assert.equal((await showServer(app, sameRack)).status, 'SHUTOFF')
        assert.deepEqual((await showGroup(app, group)).fault_domain, { fault_domain_names: ['rack-1', 'rack-2', 'rack-3'] })

        assert.equal((await groupAction(app, ordinary, 'add_member', plainSameRack)).statusCode, 200)
        assert.equal(await hostOf(app, plainSameRack), 'az1-host-02', 'an ordinary group only needs another host')
        assert.equal(await hostOf(app, plainFirst), 'az1-host-01')

        const before = await snapshot(database)
        const refused = await groupAction(app, group, 'add_member', late)
        assert.equal(refused.statusCode, 400, refused.body)
        assert.equal(ecsError(refused).code, 'Ecs.0319')
        assert.match(ecsError(refused).message, /away from the 3 hosts and 3 fault domains of group/)
        assert.match(ecsError(refused).message, /FaultDomainSpread\(3 fault domains used by other members\): 0/)
        assert.deepEqual(await snapshot(database), before)
        assert.equal(await hostOf(app, first), 'az1-host-01')
      })

      test('a redeploy keeps the spread, and a member moving holds both its racks until it lands', async (t) => {
        const driver = new GateDriver()
        driver.releaseAll()
        const { app, database } = await buildTestApp(t, { dialect, driver })
        await rackHosts(app)
        const group = await createSpreadingGroup(app)
        await onlyEnabled(database, ['az1-host-01'])
        const mover = await createOne(app, group)
        await onlyEnabled(database, ['az1-host-04'])
        const other = await createOne(app, group)

        // Free hosts only in rack-2, which the other member uses: nowhere to go.
        await onlyEnabled(database, ['az1-host-01', 'az1-host-04', 'az1-host-05', 'az1-host-06'])
        const before = await snapshot(database)
        const stuck = await redeploy(app, mover)
        assert.equal(stuck.statusCode, 400, stuck.body)
        assert.equal(ecsError(stuck).code, 'Ecs.0319')
        assert.match(ecsError(stuck).message, /AntiAffinity\(1 hosts used by other members\): 2 → FaultDomainSpread\(1 fault domains used by other members\): 0/)
        assert.deepEqual(await snapshot(database), before)

        // rack-3 opens: the redeploy goes there and is held in flight.
        await onlyEnabled(database, ['az1-host-01', 'az1-host-04', 'az1-host-05', 'az1-host-06', 'az1-host-08'])
        driver.hold()
        const accepted = await redeploy(app, mover)
        assert.equal(accepted.statusCode, 200, accepted.body)
        const jobId = (accepted.json() as { job_id: string }).job_id

        // The mover holds rack-1 (its source) and rack-3 (its target), the other member rack-2.
        await onlyEnabled(database, ['az1-host-02', 'az1-host-03', 'az1-host-05', 'az1-host-06', 'az1-host-07'])
        const during = await call(app, { method: 'POST', url: v1('/cloudservers'), body: createBody({ availability_zone: 'az1', 'os:scheduler_hints': { group } }) })
        assert.equal(during.statusCode, 400, during.body)
        assert.equal(ecsError(during).code, 'Ecs.0319')
        assert.match(ecsError(during).message, /AntiAffinity\(3 hosts used by other members\): 5 → FaultDomainSpread\(3 fault domains used by other members\): 0/)

        driver.releaseAll()
        assert.equal((await waitForJob(app, jobId)).status, 'SUCCESS')
        assert.equal(await hostOf(app, mover), 'az1-host-08')
        assert.equal(await hostOf(app, other), 'az1-host-04')
        // rack-1 is free again once the move has landed.
        const third = await createOne(app, group)
        assert.equal(RACKS[await hostOf(app, third)], 'rack-1')
        assert.deepEqual((await showGroup(app, group)).fault_domain, { fault_domain_names: ['rack-1', 'rack-2', 'rack-3'] })
      })

      test('a server reverted from the recycle bin does not go back to a rack another member took meanwhile', async (t) => {
        const { app, database } = await buildTestApp(t, { dialect })
        await rackHosts(app)
        const group = await createSpreadingGroup(app)
        await onlyEnabled(database, ['az1-host-01'])
        const binned = await createOne(app, group)
        assert.equal((await call(app, { method: 'PUT', url: v1('/recycle-bin'), body: { recycle_bin: { switch: 'on' } } })).statusCode, 200)
        // Old enough for the bin (the default threshold is 7 days).
        await database.db.updateTable('servers').set({ created_at: new Date(Date.now() - 8 * 86_400_000).toISOString() }).where('id', '=', binned).execute()
        const deleted = await call(app, { method: 'POST', url: v1('/cloudservers/delete'), body: { servers: [{ id: binned }] } })
        assert.equal((await waitForJob(app, (deleted.json() as { job_id: string }).job_id)).status, 'SUCCESS')

        await onlyEnabled(database, ['az1-host-02'])
        const taker = await createOne(app, group)
        await onlyEnabled(database, [])
        const revert = await call(app, { method: 'POST', url: v1(`/recycle-bin/cloudservers/${binned}/actions/revert`) })
        assert.equal(revert.statusCode, 200, revert.body)
        assert.equal((await waitForJob(app, (revert.json() as { job_id: string }).job_id)).status, 'SUCCESS')
        const back = await hostOf(app, binned)
        assert.notEqual(RACKS[back], 'rack-1', `its old host az1-host-01 has room, but rack-1 is now the other member's (${await hostOf(app, taker)}); it went to ${back}`)
        assert.deepEqual([...(await showGroup(app, group)).members].sort(), [binned, taker].sort(), 'it rejoined its group')
      })
    })
  })
}

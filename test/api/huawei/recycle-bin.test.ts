import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import type { App } from '../../../src/app.ts'
import { SimulatedDriver, type DriverCommand } from '../../../src/compute/driver.ts'
import { audit } from '../../../src/services/audit.ts'
import { DEMO, DEMO_FLEET } from '../../../src/services/demo.ts'
import type { Database } from '../../../src/store/database.ts'
import { GateDriver } from '../../drivers.ts'
import {
  buildTestApp, call, createBody, createGroup, createServers, showServer, snapshot, stopServers, v1, waitForIdle, waitForJob, DIALECTS,
} from '../../helper.ts'

const BIN = v1('/recycle-bin')
const BIN_SERVERS = v1('/recycle-bin/cloudservers')
const HOUR_MS = 3_600_000
const DAY_MS = 24 * HOUR_MS

interface ServerWire {
  id: string
  name: string
  status: string
  flavor: { id: string }
  'OS-EXT-SRV-ATTR:host': string
  'OS-EXT-AZ:availability_zone': string
  'os:scheduler_hints': { group?: string[] }
}
interface HostWire {
  name: string
  availability_zone: string
  free_vcpus: number
  free_ram_mb: number
  dedicated_to: string | null
}

function ecsError(res: { statusCode: number; json(): unknown }): { code: string; message: string } {
  return (res.json() as { error: { code: string; message: string } }).error
}

/** Sends a request that must be refused with `status` and `code`. */
async function refused(app: App, req: Parameters<typeof call>[1], status: number, code: string): Promise<string> {
  const res = await call(app, req)
  assert.equal(res.statusCode, status, `${req.method} ${req.url} → ${res.body}`)
  const err = ecsError(res)
  assert.equal(err.code, code, `${req.method} ${req.url} → ${res.body}`)
  return err.message
}

async function setSwitch(app: App, on: boolean) {
  return call(app, { method: 'PUT', url: BIN, body: { recycle_bin: { switch: on ? 'on' : 'off' } } })
}

async function binOn(app: App): Promise<void> {
  const res = await setSwitch(app, true)
  assert.equal(res.statusCode, 200, res.body)
}

async function setPolicy(app: App, policy: Record<string, unknown>) {
  return call(app, { method: 'PUT', url: `${BIN}/policy`, body: { policy } })
}

/** Makes servers look `days` old, so that the recycle bin takes them when they are deleted. */
async function age(database: Database, ids: readonly string[], days: number): Promise<void> {
  await database.db.updateTable('servers').set({ created_at: new Date(Date.now() - days * DAY_MS).toISOString() }).where('id', 'in', [...ids]).execute()
}

/** Deletes servers through the API and waits for the job; returns the job. */
async function deleteServers(app: App, ids: readonly string[]) {
  const res = await call(app, { method: 'POST', url: v1('/cloudservers/delete'), body: { servers: ids.map((id) => ({ id })) } })
  assert.equal(res.statusCode, 200, res.body)
  const job = await waitForJob(app, (res.json() as { job_id: string }).job_id)
  assert.equal(job.status, 'SUCCESS', JSON.stringify(job))
  return job
}

/** Servers in the bin (the whole list unless `query` pages or filters it). */
async function binList(app: App, query = ''): Promise<ServerWire[]> {
  const res = await call(app, { method: 'GET', url: `${BIN_SERVERS}${query === '' ? '' : `?${query}`}` })
  assert.equal(res.statusCode, 200, `${query} → ${res.body}`)
  return (res.json() as { servers: ServerWire[] }).servers
}

async function binIds(app: App, query = ''): Promise<string[]> {
  return (await binList(app, query)).map((s) => s.id)
}

/** Sends a revert or a delete for good and returns the accepted job id. */
async function binAction(app: App, action: 'revert' | 'delete', id: string): Promise<string> {
  const res = action === 'revert'
    ? await call(app, { method: 'POST', url: `${BIN_SERVERS}/${id}/actions/revert` })
    : await call(app, { method: 'DELETE', url: `${BIN_SERVERS}/${id}` })
  assert.equal(res.statusCode, 200, `${action} ${id} → ${res.body}`)
  const { job_id } = res.json() as { job_id: string }
  assert.equal(typeof job_id, 'string')
  return job_id
}

async function revertAndWait(app: App, id: string): Promise<void> {
  const job = await waitForJob(app, await binAction(app, 'revert', id))
  assert.equal(job.status, 'SUCCESS', JSON.stringify(job))
  assert.equal(job['job_type'], 'revertRecycleBinServer')
}

async function showStatus(app: App, id: string): Promise<number> {
  return (await call(app, { method: 'GET', url: v1(`/cloudservers/${id}`) })).statusCode
}

async function listedIds(app: App): Promise<string[]> {
  const res = await call(app, { method: 'GET', url: v1('/cloudservers/detail?limit=1000') })
  assert.equal(res.statusCode, 200, res.body)
  return (res.json() as { servers: ServerWire[] }).servers.map((s) => s.id)
}

async function groupMembers(app: App, groupId: string): Promise<string[]> {
  const res = await call(app, { method: 'GET', url: v1(`/cloudservers/os-server-groups/${groupId}`) })
  assert.equal(res.statusCode, 200, res.body)
  return [...(res.json() as { server_group: { members: string[] } }).server_group.members].sort()
}

async function limits(app: App): Promise<{ instances: number; cores: number; ram: number }> {
  const res = await call(app, { method: 'GET', url: v1('/cloudservers/limits') })
  assert.equal(res.statusCode, 200, res.body)
  const a = (res.json() as { absolute: Record<string, number> }).absolute
  return { instances: a['totalInstancesUsed']!, cores: a['totalCoresUsed']!, ram: a['totalRAMUsed']! }
}

/** The host inventory through the operator API, by name. */
async function hosts(app: App): Promise<Map<string, HostWire>> {
  const res = await call(app, { method: 'GET', url: '/admin/hosts', accessKey: DEMO.adminAccessKey, secretKey: DEMO.adminSecretKey })
  assert.equal(res.statusCode, 200, res.body)
  return new Map((res.json() as { hosts: HostWire[] }).hosts.map((h) => [h.name, h]))
}

async function hostOf(app: App, id: string): Promise<string> {
  return String((await showServer(app, id))['OS-EXT-SRV-ATTR:host'])
}

/** The host a binned server last ran on, as the bin list shows it. */
async function binnedHostOf(app: App, id: string): Promise<string> {
  const s = (await binList(app)).find((x) => x.id === id)
  assert.ok(s, `${id} is not in the recycle bin`)
  return s['OS-EXT-SRV-ATTR:host']
}

async function assertAuditClean(database: Database): Promise<void> {
  await waitForIdle(database)
  assert.deepEqual(await audit(database.db), [])
}

/**
 * A simulated driver whose faults a test switches on and off. Its disks are local, so that every
 * move — a revert out of the bin too — is a driver step that can fail.
 */
function faultyDriver() {
  let fault: ((c: DriverCommand) => string | undefined) | undefined
  const driver = new SimulatedDriver({ latencyMs: 0, disks: 'local', fault: (c) => fault?.(c) })
  return { driver, setFault: (f: typeof fault) => (fault = f) }
}

for (const dialect of DIALECTS) {
  describe(`recycle bin on ${dialect}`, () => {
    describe('settings', () => {
      test('showRecycleBin: off, threshold 7 days, retention 168 hours, in the flat shape', async (t) => {
        const { app } = await buildTestApp(t, { dialect })
        const res = await call(app, { method: 'GET', url: BIN })
        assert.equal(res.statusCode, 200)
        assert.deepEqual(res.json(), { project_id: DEMO.projectId, switch: 'off', policy: { recycle_threshold_day: 7, retention_hour: 168 } })
      })

      test('updateRecycleBin switches on and off; off is refused with Ecs.0005 while the bin holds servers', async (t) => {
        const { app, database } = await buildTestApp(t, { dialect })
        const on = await setSwitch(app, true)
        assert.equal(on.statusCode, 200)
        assert.equal(on.body, '')
        const show = async () => (await call(app, { method: 'GET', url: BIN })).json() as { switch: string }
        assert.equal((await show()).switch, 'on')
        assert.equal((await setSwitch(app, true)).statusCode, 200, 'switching on twice is fine')

        for (const body of [{ recycle_bin: { switch: 'maybe' } }, { recycle_bin: {} }, { recycle_bin: { switch: 'on', x: 1 } }, { switch: 'on' }]) {
          await refused(app, { method: 'PUT', url: BIN, body }, 400, 'Ecs.0005')
        }

        const [id] = await createServers(app, { name: 'old' })
        await age(database, [id!], 30)
        await deleteServers(app, [id!])
        assert.deepEqual(await binIds(app), [id])
        const message = await refused(app, { method: 'PUT', url: BIN, body: { recycle_bin: { switch: 'off' } } }, 400, 'Ecs.0005')
        assert.match(message, /still holds 1 ECS\b/)
        assert.equal((await show()).switch, 'on', 'the refused switch changed nothing')

        assert.equal((await waitForJob(app, await binAction(app, 'delete', id!))).status, 'SUCCESS')
        const off = await setSwitch(app, false)
        assert.equal(off.statusCode, 200, off.body)
        assert.equal((await show()).switch, 'off')
        await assertAuditClean(database)
      })

      test('updateRecycleBinPolicy enforces 1–720 hours and 1–1000 days with Ecs.0005', async (t) => {
        const { app, database } = await buildTestApp(t, { dialect })
        const before = await snapshot(database)
        for (const policy of [
          { retention_hour: 0, recycle_threshold_day: 7 },
          { retention_hour: 721, recycle_threshold_day: 7 },
          { retention_hour: 24, recycle_threshold_day: 0 },
          { retention_hour: 24, recycle_threshold_day: 1001 },
          { retention_hour: 1.5, recycle_threshold_day: 7 },
          { retention_hour: '24', recycle_threshold_day: 7 },
          { retention_hour: 24 },
          { recycle_threshold_day: 7 },
          { retention_hour: 24, recycle_threshold_day: 7, extra: 1 },
        ]) {
          await refused(app, { method: 'PUT', url: `${BIN}/policy`, body: { policy } }, 400, 'Ecs.0005')
        }
        await refused(app, { method: 'PUT', url: `${BIN}/policy`, body: { retention_hour: 24, recycle_threshold_day: 7 } }, 400, 'Ecs.0005')
        assert.deepEqual(await snapshot(database), before, 'refused policies changed nothing')

        for (const [retention_hour, recycle_threshold_day] of [[1, 1], [720, 1000], [48, 3]] as const) {
          const res = await setPolicy(app, { retention_hour, recycle_threshold_day })
          assert.equal(res.statusCode, 200, res.body)
          assert.deepEqual(res.json(), {})
          const shown = (await call(app, { method: 'GET', url: BIN })).json() as { policy: unknown }
          assert.deepEqual(shown.policy, { recycle_threshold_day, retention_hour })
        }
      })

      test('a policy change applies only to servers binned afterwards; the threshold decides what is binned', async (t) => {
        const { app, database } = await buildTestApp(t, { dialect })
        await binOn(app)
        const [first, second, young] = await createServers(app, { name: 'p', count: 3 })
        const binTimes = async (id: string) => {
          const row = await database.db.selectFrom('servers').select(['recycled_at', 'bin_expires_at']).where('id', '=', id).executeTakeFirstOrThrow()
          return { recycled: Date.parse(row.recycled_at!), expires: Date.parse(row.bin_expires_at!) }
        }

        // Three days old: too young for the default 7-day threshold, so deleted for good.
        await age(database, [young!], 3)
        await deleteServers(app, [young!])
        assert.deepEqual(await binIds(app), [])
        assert.equal(await database.db.selectFrom('servers').select('id').where('id', '=', young!).executeTakeFirst(), undefined)

        await age(database, [first!, second!], 3)
        assert.equal((await setPolicy(app, { retention_hour: 168, recycle_threshold_day: 2 })).statusCode, 200)
        await deleteServers(app, [first!])
        const a = await binTimes(first!)
        assert.equal(a.expires - a.recycled, 168 * HOUR_MS)

        assert.equal((await setPolicy(app, { retention_hour: 2, recycle_threshold_day: 2 })).statusCode, 200)
        assert.deepEqual(await binTimes(first!), a, 'a server already in the bin keeps its retention')
        await deleteServers(app, [second!])
        const b = await binTimes(second!)
        assert.equal(b.expires - b.recycled, 2 * HOUR_MS)
        assert.deepEqual(new Set(await binIds(app)), new Set([first, second]))
        await assertAuditClean(database)
      })
    })

    describe('delete with the bin on', () => {
      test('a young server is deleted for good; an old one goes to the bin: hidden, out of its group and off its host, still counted', async (t) => {
        const { app, database } = await buildTestApp(t, { dialect })
        const g = await createGroup(app)
        const [old, young] = await createServers(app, { name: 'member', count: 2, 'os:scheduler_hints': { group: g } })
        await binOn(app)
        await age(database, [old!], 8)
        const oldHost = await hostOf(app, old!)
        const youngHost = await hostOf(app, young!)
        assert.notEqual(oldHost, youngHost)
        const usageBefore = await limits(app)

        const job = await deleteServers(app, [old!])
        assert.equal(job['job_type'], 'deleteServer', 'the bin does not change the delete job')
        assert.equal(await showStatus(app, old!), 404)
        assert.equal(ecsError(await call(app, { method: 'GET', url: v1(`/cloudservers/${old}`) })).code, 'Ecs.0114')
        assert.deepEqual(await listedIds(app), [young])
        const binned = await binList(app)
        assert.deepEqual(binned.map((s) => s.id), [old])
        assert.equal(binned[0]!.status, 'SHUTOFF')
        assert.equal(binned[0]!['OS-EXT-SRV-ATTR:host'], oldHost, 'the bin shows where it last ran')
        assert.deepEqual(binned[0]!['os:scheduler_hints'], {}, 'a binned server is in no group')
        assert.deepEqual(await groupMembers(app, g), [young])
        const fleet = await hosts(app)
        assert.equal(fleet.get(oldHost)!.free_vcpus, DEMO_FLEET.vcpus, 'its vCPUs are back on the host')
        assert.equal(fleet.get(oldHost)!.free_ram_mb, DEMO_FLEET.ramMb, 'its RAM is back on the host')
        assert.deepEqual(await limits(app), usageBefore, 'a binned server still counts against the quotas')

        // Operations on a binned server are refused; it is not a server any more.
        await refused(app, { method: 'POST', url: v1('/cloudservers/action'), body: { 'os-start': { servers: [{ id: old }] } } }, 400, 'Ecs.0100')
        await refused(app, { method: 'POST', url: v1('/cloudservers/delete'), body: { servers: [{ id: old }] } }, 400, 'Ecs.0100')

        await deleteServers(app, [young!])
        assert.equal(await showStatus(app, young!), 404)
        assert.deepEqual(await binIds(app), [old], 'the young server did not go to the bin')
        assert.equal(await database.db.selectFrom('servers').select('id').where('id', '=', young!).executeTakeFirst(), undefined)
        assert.deepEqual(await groupMembers(app, g), [])
        const after = await limits(app)
        assert.deepEqual(after, { instances: usageBefore.instances - 1, cores: usageBefore.cores - 2, ram: usageBefore.ram - 4096 })
        assert.equal((await hosts(app)).get(youngHost)!.free_ram_mb, DEMO_FLEET.ramMb)
        await assertAuditClean(database)
      })

      test('a server in ERROR is deleted for good, however old', async (t) => {
        const { driver, setFault } = faultyDriver()
        const { app, database } = await buildTestApp(t, { dialect, driver })
        await binOn(app)
        setFault((c) => (c.operation === 'create' ? 'the hypervisor refused to boot it' : undefined))
        const res = await call(app, { method: 'POST', url: v1('/cloudservers'), body: createBody({ name: 'broken' }) })
        assert.equal(res.statusCode, 200, res.body)
        const { job_id, serverIds } = res.json() as { job_id: string; serverIds: string[] }
        assert.equal((await waitForJob(app, job_id)).status, 'FAIL')
        setFault(undefined)
        const id = serverIds[0]!
        assert.equal((await showServer(app, id))['status'], 'ERROR')
        await age(database, [id], 100)
        const usageBefore = await limits(app)

        await deleteServers(app, [id])
        assert.equal(await showStatus(app, id), 404)
        assert.deepEqual(await binIds(app), [])
        assert.equal(await database.db.selectFrom('servers').select('id').where('id', '=', id).executeTakeFirst(), undefined)
        assert.equal((await limits(app)).instances, usageBefore.instances - 1)
        await assertAuditClean(database)
      })

      test('the bin list filters by name and zone and pages with limit, offset (a page number) and marker', async (t) => {
        const { app, database } = await buildTestApp(t, { dialect })
        await binOn(app)
        const alpha = await createServers(app, { name: 'alpha', count: 3, availability_zone: 'az1' })
        const beta = await createServers(app, { name: 'beta', count: 2, availability_zone: 'az2' })
        const kept = await createServers(app, { name: 'alpha-kept' })
        await age(database, [...alpha, ...beta], 10)
        await deleteServers(app, [...alpha, ...beta])
        assert.deepEqual(await listedIds(app), kept)

        const all = await binList(app)
        assert.deepEqual(new Set(all.map((s) => s.id)), new Set([...alpha, ...beta]))
        for (const s of all) {
          assert.equal(s.status, 'SHUTOFF')
          assert.equal(s['OS-EXT-AZ:availability_zone'], alpha.includes(s.id) ? 'az1' : 'az2')
        }
        const ids = all.map((s) => s.id)
        assert.deepEqual(new Set(await binIds(app, 'name=alph')), new Set(alpha))
        assert.deepEqual(new Set(await binIds(app, 'name=BETA')), new Set(beta), 'names match ignoring case')
        assert.deepEqual(new Set(await binIds(app, 'availability_zone=az2')), new Set(beta))
        assert.deepEqual(await binIds(app, 'name=alpha&availability_zone=az2'), [])
        assert.deepEqual(await binIds(app, 'name=gamma'), [])

        // Pages follow the unpaged order, by marker and by page number.
        const byMarker: string[] = []
        let marker: string | undefined
        for (let page = 0; page < 10; page++) {
          const got = await binIds(app, `limit=2${marker === undefined ? '' : `&marker=${marker}`}`)
          byMarker.push(...got)
          if (got.length < 2) break
          marker = got.at(-1)
        }
        assert.deepEqual(byMarker, ids)
        assert.deepEqual(await binIds(app, 'limit=2'), ids.slice(0, 2))
        assert.deepEqual(await binIds(app, 'limit=2&offset=0'), ids.slice(0, 2), 'page 0 is the first page')
        assert.deepEqual(await binIds(app, 'limit=2&offset=1'), ids.slice(0, 2))
        assert.deepEqual(await binIds(app, 'limit=2&offset=2'), ids.slice(2, 4))
        assert.deepEqual(await binIds(app, 'limit=2&offset=3'), ids.slice(4))
        assert.deepEqual(await binIds(app, 'limit=2&offset=4'), [])
        assert.deepEqual(await binIds(app, `limit=2&marker=${ids[0]}&offset=2`), ids.slice(3, 5), 'the page counts from the marker')

        await refused(app, { method: 'GET', url: `${BIN_SERVERS}?marker=${kept[0]}` }, 400, 'Ecs.0005')
        for (const query of ['limit=0', 'limit=1001', 'offset=-1', 'colour=red']) {
          await refused(app, { method: 'GET', url: `${BIN_SERVERS}?${query}` }, 400, 'Ecs.0005')
        }
        await assertAuditClean(database)
      })
    })

    describe('revert', () => {
      test('in place when the old host has room and the group does not hold it; it rejoins its group, stopped', async (t) => {
        const { app, database } = await buildTestApp(t, { dialect })
        const g = await createGroup(app)
        const [a, b] = await createServers(app, { name: 'member', count: 2, availability_zone: 'az1', 'os:scheduler_hints': { group: g } })
        const host = await hostOf(app, a!)
        await binOn(app)
        await age(database, [a!], 30)
        await deleteServers(app, [a!])
        assert.deepEqual(await groupMembers(app, g), [b])
        const usage = await limits(app)

        await revertAndWait(app, a!)
        const back = await showServer(app, a!)
        assert.equal(back['status'], 'SHUTOFF')
        assert.equal(back['OS-EXT-SRV-ATTR:host'], host, 'back on its old host')
        assert.deepEqual(back['os:scheduler_hints'], { group: [g] })
        assert.deepEqual(await groupMembers(app, g), [a, b].sort())
        assert.deepEqual(await binIds(app), [])
        assert.deepEqual(new Set(await listedIds(app)), new Set([a, b]))
        const h = (await hosts(app)).get(host)!
        assert.deepEqual([h.free_vcpus, h.free_ram_mb], [DEMO_FLEET.vcpus - 2, DEMO_FLEET.ramMb - 4096], 'it holds its allocation again')
        assert.deepEqual(await limits(app), usage)

        // It is an ordinary server again: it starts, and a later delete bins it again.
        const start = await call(app, { method: 'POST', url: v1('/cloudservers/action'), body: { 'os-start': { servers: [{ id: a }] } } })
        assert.equal((await waitForJob(app, (start.json() as { job_id: string }).job_id)).status, 'SUCCESS')
        assert.equal((await showServer(app, a!))['status'], 'ACTIVE')
        await deleteServers(app, [a!])
        assert.deepEqual(await binIds(app), [a])
        await assertAuditClean(database)
      })

      test('re-placed when another member of its group now uses its old host; Ecs.0319 while the group holds every host', async (t) => {
        const { app, database } = await buildTestApp(t, { dialect })
        const g = await createGroup(app)
        const [a] = await createServers(app, { name: 'a', availability_zone: 'az1', 'os:scheduler_hints': { group: g } })
        const oldHost = await hostOf(app, a!)
        await binOn(app)
        await age(database, [a!], 30)
        await deleteServers(app, [a!])

        // Eight new members take every host of az1, the old host included.
        const others = await createServers(app, { name: 'other', count: DEMO_FLEET.hostsPerZone, availability_zone: 'az1', 'os:scheduler_hints': { group: g } })
        const hostOfOther = new Map<string, string>()
        for (const id of others) hostOfOther.set(id, await hostOf(app, id))
        assert.equal(new Set(hostOfOther.values()).size, DEMO_FLEET.hostsPerZone)
        const squatter = others.find((id) => hostOfOther.get(id) === oldHost)
        assert.ok(squatter, 'a member now uses the old host')

        const before = await snapshot(database)
        const message = await refused(app, { method: 'POST', url: `${BIN_SERVERS}/${a}/actions/revert` }, 400, 'Ecs.0319')
        assert.match(message, /AntiAffinity/)
        assert.deepEqual(await snapshot(database), before, 'the refused revert changed nothing')
        assert.deepEqual(await binIds(app), [a])

        // One member leaves (too young for the bin): its host is the only one the group does not hold.
        const leaver = others.find((id) => id !== squatter)!
        const freed = hostOfOther.get(leaver)!
        await deleteServers(app, [leaver])
        assert.deepEqual(await binIds(app), [a])

        await revertAndWait(app, a!)
        const back = await showServer(app, a!)
        assert.equal(back['OS-EXT-SRV-ATTR:host'], freed, 're-placed on the one host its group does not hold')
        assert.notEqual(freed, oldHost)
        assert.equal(await hostOf(app, squatter), oldHost, 'the member on the old host stays')
        assert.deepEqual(back['os:scheduler_hints'], { group: [g] })
        const members = await groupMembers(app, g)
        assert.deepEqual(members, [a!, ...others.filter((id) => id !== leaver)].sort())
        const memberHosts = await Promise.all(members.map((id) => hostOf(app, id)))
        assert.equal(new Set(memberHosts).size, members.length, `members share a host: ${JSON.stringify(memberHosts)}`)
        await assertAuditClean(database)
      })

      test('re-placed when its old host lacks room; Ecs.0319 when no host of its zone has room', async (t) => {
        const { app, database } = await buildTestApp(t, { dialect })
        // m6.4xlarge.8 takes a whole host's RAM.
        const [big] = await createServers(app, { name: 'big', flavorRef: 'm6.4xlarge.8', availability_zone: 'az1' })
        const oldHost = await hostOf(app, big!)
        await binOn(app)
        await age(database, [big!], 30)
        await deleteServers(app, [big!])
        assert.equal((await hosts(app)).get(oldHost)!.free_ram_mb, DEMO_FLEET.ramMb)

        // A small server on every host of az1 (a group spreads them): no host can take the big one.
        const filler = await createGroup(app, 'filler')
        const small = await createServers(app, { name: 'small', flavorRef: 's6.small.1', count: DEMO_FLEET.hostsPerZone, availability_zone: 'az1', 'os:scheduler_hints': { group: filler } })
        const before = await snapshot(database)
        const message = await refused(app, { method: 'POST', url: `${BIN_SERVERS}/${big}/actions/revert` }, 400, 'Ecs.0319')
        assert.match(message, /Capacity/)
        assert.deepEqual(await snapshot(database), before, 'the refused revert changed nothing')

        let leaver: string | undefined
        for (const id of small) if ((await hostOf(app, id)) !== oldHost) leaver = id
        const freed = await hostOf(app, leaver!)
        await deleteServers(app, [leaver!])

        await revertAndWait(app, big!)
        const back = await showServer(app, big!)
        assert.equal(back['OS-EXT-SRV-ATTR:host'], freed, 'on the one host with room')
        assert.deepEqual(back['os:scheduler_hints'], {})
        const fleet = await hosts(app)
        assert.equal(fleet.get(freed)!.free_ram_mb, 0)
        assert.equal(fleet.get(oldHost)!.free_ram_mb, DEMO_FLEET.ramMb - 1024, 'the old host keeps only the small server')
        await assertAuditClean(database)
      })

      test('a group deleted meanwhile: reverted without a group', async (t) => {
        const { app, database } = await buildTestApp(t, { dialect })
        const g = await createGroup(app)
        const [a] = await createServers(app, { name: 'a', 'os:scheduler_hints': { group: g } })
        const host = await hostOf(app, a!)
        await binOn(app)
        await age(database, [a!], 30)
        await deleteServers(app, [a!])
        const del = await call(app, { method: 'DELETE', url: v1(`/cloudservers/os-server-groups/${g}`) })
        assert.equal(del.statusCode, 204)

        await revertAndWait(app, a!)
        const back = await showServer(app, a!)
        assert.deepEqual(back['os:scheduler_hints'], {})
        assert.equal(back['OS-EXT-SRV-ATTR:host'], host)
        assert.equal(back['status'], 'SHUTOFF')
        await assertAuditClean(database)
      })

      test('a full group: Ecs.0022 and nothing changes', async (t) => {
        const { app, database } = await buildTestApp(t, { dialect, quotas: { maxServerGroupMembers: 2 } })
        const g = await createGroup(app)
        const [a, b] = await createServers(app, { name: 'm', count: 2, 'os:scheduler_hints': { group: g } })
        await binOn(app)
        await age(database, [a!], 30)
        await deleteServers(app, [a!])
        const [c] = await createServers(app, { name: 'c', 'os:scheduler_hints': { group: g } })
        assert.deepEqual(await groupMembers(app, g), [b!, c!].sort())

        const before = await snapshot(database)
        const message = await refused(app, { method: 'POST', url: `${BIN_SERVERS}/${a}/actions/revert` }, 400, 'Ecs.0022')
        assert.match(message, /maximum of 2 members/)
        assert.deepEqual(await snapshot(database), before)
        assert.deepEqual(await binIds(app), [a])

        // Room in the group again: the revert goes through.
        await deleteServers(app, [c!])
        await revertAndWait(app, a!)
        assert.deepEqual(await groupMembers(app, g), [a!, b!].sort())
        await assertAuditClean(database)
      })

      test('never onto its old host once that host is dedicated to another project', async (t) => {
        const { app, database } = await buildTestApp(t, { dialect })
        const [a] = await createServers(app, { name: 'a', availability_zone: 'az1' })
        const oldHost = await hostOf(app, a!)
        await binOn(app)
        await age(database, [a!], 30)
        await deleteServers(app, [a!])

        // The bin holds nothing on the host, so an operator may dedicate it to another tenant.
        const operator = { accessKey: DEMO.adminAccessKey, secretKey: DEMO.adminSecretKey }
        const project = await call(app, { method: 'POST', url: '/admin/projects', body: { project: { name: 'other' } }, ...operator })
        assert.equal(project.statusCode, 201, project.body)
        const other = (project.json() as { project: { id: string } }).project.id
        const dedicated = await call(app, { method: 'PUT', url: `/admin/hosts/${oldHost}`, body: { host: { dedicated_to: other } }, ...operator })
        assert.equal(dedicated.statusCode, 200, dedicated.body)

        await revertAndWait(app, a!)
        const back = await showServer(app, a!)
        assert.notEqual(back['OS-EXT-SRV-ATTR:host'], oldHost, 'not on a host dedicated to another project')
        assert.equal(back['OS-EXT-AZ:availability_zone'], 'az1')
        const fleet = await hosts(app)
        assert.equal(fleet.get(oldHost)!.free_ram_mb, DEMO_FLEET.ramMb, 'the other project\'s host holds nothing of it')
        assert.equal(fleet.get(String(back['OS-EXT-SRV-ATTR:host']))!.dedicated_to, null, 'back in the shared pool')
        await assertAuditClean(database)
      })

      test('a failed revert leaves the server in the bin, holding nothing; a retry brings it back', async (t) => {
        const { driver, setFault } = faultyDriver()
        const { app, database } = await buildTestApp(t, { dialect, driver })
        const g = await createGroup(app)
        const [a, b] = await createServers(app, { name: 'm', count: 2, 'os:scheduler_hints': { group: g } })
        const host = await hostOf(app, a!)
        await binOn(app)
        await age(database, [a!], 30)
        await deleteServers(app, [a!])
        const usage = await limits(app)

        setFault((c) => (c.operation === 'revert' ? 'the image of the binned server could not be restored' : undefined))
        const job = await waitForJob(app, await binAction(app, 'revert', a!))
        setFault(undefined)
        assert.equal(job.status, 'FAIL')
        assert.match(String(job['fail_reason']), /could not be restored/)
        assert.deepEqual(await binIds(app), [a], 'back in the bin')
        assert.equal(await showStatus(app, a!), 404)
        assert.deepEqual(await groupMembers(app, g), [b])
        const binned = (await binList(app))[0]!
        assert.equal(binned.status, 'SHUTOFF')
        assert.equal(binned['OS-EXT-SRV-ATTR:host'], host)
        const h = (await hosts(app)).get(host)!
        assert.deepEqual([h.free_vcpus, h.free_ram_mb], [DEMO_FLEET.vcpus, DEMO_FLEET.ramMb], 'the claim on the target was given back')
        assert.deepEqual(await limits(app), usage)
        await assertAuditClean(database)

        await revertAndWait(app, a!)
        assert.deepEqual(await groupMembers(app, g), [a!, b!].sort())
        assert.equal(await hostOf(app, a!), host)
        await assertAuditClean(database)
      })

      test('revert and delete need a server in the bin (Ecs.0100), an existing one (404 Ecs.0114), no body and no job in progress', async (t) => {
        const gate = new GateDriver()
        gate.releaseAll()
        const { app, database } = await buildTestApp(t, { dialect, driver: gate })
        const [live, binned] = await createServers(app, { name: 's', count: 2 })
        await stopServers(app, [live!])
        const unknown = '00000000-0000-4000-8000-000000000000'
        for (const req of [
          { method: 'POST' as const, url: `${BIN_SERVERS}/${live}/actions/revert` },
          { method: 'DELETE' as const, url: `${BIN_SERVERS}/${live}` },
        ]) {
          assert.match(await refused(app, req, 400, 'Ecs.0100'), /not in the recycle bin/)
          await refused(app, { ...req, url: req.url.replace(live!, unknown) }, 404, 'Ecs.0114')
        }

        await binOn(app)
        await age(database, [binned!], 30)
        await deleteServers(app, [binned!])
        await refused(app, { method: 'POST', url: `${BIN_SERVERS}/${binned}/actions/revert`, body: { force: true } }, 400, 'Ecs.0005')

        // While a revert is in flight, neither a second revert nor a delete for good may start.
        gate.hold()
        const jobId = await binAction(app, 'revert', binned!)
        await refused(app, { method: 'POST', url: `${BIN_SERVERS}/${binned}/actions/revert` }, 400, 'Ecs.0100')
        await refused(app, { method: 'DELETE', url: `${BIN_SERVERS}/${binned}` }, 400, 'Ecs.0100')
        gate.releaseAll()
        assert.equal((await waitForJob(app, jobId)).status, 'SUCCESS')
        assert.equal((await showServer(app, binned!))['status'], 'SHUTOFF')
        await assertAuditClean(database)
      })
    })

    describe('delete for good', () => {
      test('deleteRecycleBinServer deletes the server for good: usage drops', async (t) => {
        const { app, database } = await buildTestApp(t, { dialect })
        const [a, b] = await createServers(app, { name: 'm', count: 2, flavorRef: 's6.xlarge.2' })
        await binOn(app)
        await age(database, [a!, b!], 30)
        await deleteServers(app, [a!, b!])
        const usage = await limits(app)
        const freeBefore = await hosts(app)

        const job = await waitForJob(app, await binAction(app, 'delete', a!))
        assert.equal(job.status, 'SUCCESS')
        assert.equal(job['job_type'], 'deleteRecycleBinServer')
        assert.deepEqual(await binIds(app), [b])
        assert.equal(await database.db.selectFrom('servers').select('id').where('id', '=', a!).executeTakeFirst(), undefined)
        assert.deepEqual(await limits(app), { instances: usage.instances - 1, cores: usage.cores - 4, ram: usage.ram - 8192 })
        assert.deepEqual(await hosts(app), freeBefore, 'hosts gave its allocation back when it was binned, not again')
        await refused(app, { method: 'POST', url: `${BIN_SERVERS}/${a}/actions/revert` }, 404, 'Ecs.0114')
        await assertAuditClean(database)
      })

      test('the retention reaper deletes expired servers through a deleteRecycleBinServer job', async (t) => {
        const { app, database, services } = await buildTestApp(t, { dialect })
        const [expired, kept] = await createServers(app, { name: 'm', count: 2 })
        await binOn(app)
        await age(database, [expired!, kept!], 30)
        await deleteServers(app, [expired!, kept!])
        const usage = await limits(app)
        assert.equal(await services.jobs.purgeExpiredRecycleBin(), 0, 'nothing has expired yet')

        await database.db.updateTable('servers').set({ bin_expires_at: new Date(Date.now() - 60_000).toISOString() }).where('id', '=', expired!).execute()
        assert.equal(await services.jobs.purgeExpiredRecycleBin(), 1)
        const jobs = await database.db.selectFrom('jobs').select(['id', 'server_ids']).where('type', '=', 'deleteRecycleBinServer').where('parent_id', 'is', null).execute()
        assert.equal(jobs.length, 1)
        assert.deepEqual(JSON.parse(jobs[0]!.server_ids!), [expired])
        assert.equal((await waitForJob(app, jobs[0]!.id)).status, 'SUCCESS')

        assert.deepEqual(await binIds(app), [kept])
        assert.equal(await database.db.selectFrom('servers').select('id').where('id', '=', expired!).executeTakeFirst(), undefined)
        assert.equal((await limits(app)).instances, usage.instances - 1)
        assert.equal(await services.jobs.purgeExpiredRecycleBin(), 0, 'each expired server is purged once')
        await assertAuditClean(database)
      })
    })
  })
}

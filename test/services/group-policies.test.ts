/**
 * Nova's four group policies through the services and the v1 API, on both databases:
 * anti-affinity with `max_server_per_host`, affinity (the first member picks the host, nothing
 * else once it is full), soft-affinity and soft-anti-affinity (scores that never refuse); every
 * move of a member obeys its group's policy as Nova's scheduler does, both ends of a move in
 * flight count, and the audit stays clean. The host monitor is driven tick by tick.
 */
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { EcsError } from '../../src/domain/errors.ts'
import type { GroupPolicy } from '../../src/domain/group.ts'
import { audit } from '../../src/services/audit.ts'
import { DEMO } from '../../src/services/demo.ts'
import type { Database } from '../../src/store/database.ts'
import { GateDriver } from '../drivers.ts'
import {
  DIALECTS, buildTestApp, call, createBody, createServers, groupAction, showServer, stopServers, v1, waitForIdle, waitForJob, type TestApp,
} from '../helper.ts'
import { adminCall, errorCode, until } from '../moves.ts'

/** Creates a group through the service, as the OpenStack surface does. */
async function group(t: TestApp, policy: GroupPolicy, options: { maxServerPerHost?: number } = {}): Promise<string> {
  return (await t.services.groups.create(DEMO.projectId, `${policy}-group`, policy, { ...options, userId: 'demo-user' })).id
}

/** Leaves only `names` of a zone enabled: a small fleet whose limits a few servers reach. */
async function keepOnly(database: Database, az: string, names: string[]): Promise<void> {
  await database.db.updateTable('hosts').set({ enabled: 0, admin_state: 'disabled' }).where('az', '=', az).where('name', 'not in', names).execute()
}

/** Each server's host name. */
async function hostsOf(database: Database, ids: readonly string[]): Promise<Map<string, string>> {
  const rows = await database.db.selectFrom('servers').innerJoin('hosts', 'hosts.id', 'servers.host_id').select(['servers.id', 'hosts.name']).where('servers.id', 'in', [...ids]).execute()
  return new Map(rows.map((r) => [r.id, r.name]))
}

/** How many of `ids` each host holds, as `{host: n}`. */
async function perHost(database: Database, ids: readonly string[]): Promise<Record<string, number>> {
  const counts: Record<string, number> = {}
  for (const host of (await hostsOf(database, ids)).values()) counts[host] = (counts[host] ?? 0) + 1
  return counts
}

/** A create request through the v1 API, not waited for. */
function create(t: TestApp, server: Record<string, unknown>) {
  return call(t.app, { method: 'POST', url: v1('/cloudservers'), body: createBody(server) })
}

/** The Ecs code and message of a refused request. */
function refusal(res: { statusCode: number; body: string; json(): unknown }): { code: string | undefined; message: string } {
  const body = res.json() as { error?: { code?: string; message?: string } }
  return { code: errorCode(body), message: body.error?.message ?? res.body }
}

/** Runs the host monitor until nothing is left to do (a number of ticks, never a time). */
async function settle(t: TestApp, ticks = 6): Promise<void> {
  for (let i = 0; i < ticks; i++) {
    await t.services.hostMonitor.tick()
    await waitForIdle(t.database)
  }
}

const az1 = (n: number) => Array.from({ length: n }, (_, i) => `az1-host-0${i + 1}`)

for (const dialect of DIALECTS) {
  describe(`group policies on ${dialect}`, () => {
    test('create: the rule and the creator are kept and shown; invalid options are refused before anything is written', async (t) => {
      const app = await buildTestApp(t, { dialect })
      const { groups } = app.services
      const made = await groups.create(DEMO.projectId, 'two-a-host', 'anti-affinity', { maxServerPerHost: 2, userId: 'u-1' })
      assert.equal(made.maxServerPerHost, 2)
      assert.equal(made.userId, 'u-1')
      assert.deepEqual({ ...(await groups.show(DEMO.projectId, made.id)), members: [] }, { ...made, members: [] })
      const plain = await groups.create(DEMO.projectId, 'plain', 'anti-affinity')
      assert.equal(plain.maxServerPerHost, undefined, 'no rule given: none shown (one member per host applies)')
      assert.equal(plain.userId, undefined)
      for (const policy of ['affinity', 'soft-affinity', 'soft-anti-affinity'] as const) {
        assert.equal((await groups.create(DEMO.projectId, policy, policy)).policy, policy)
      }
      const before = (await groups.list(DEMO.projectId, undefined, undefined)).groups.length
      const refused = async (policy: GroupPolicy, options: Parameters<typeof groups.create>[3], message: RegExp) =>
        assert.rejects(groups.create(DEMO.projectId, 'x', policy, options), (err: unknown) => {
          assert.ok(err instanceof EcsError)
          assert.equal(err.code, 'Ecs.0005')
          assert.equal(err.status, 400)
          assert.match(err.message, message)
          return true
        })
      for (const bad of [0, -1, 1.5, Number.NaN]) await refused('anti-affinity', { maxServerPerHost: bad }, /max_server_per_host must be a positive integer/)
      await refused('affinity', { maxServerPerHost: 2 }, /^Only anti-affinity policy supports rules\.$/)
      await refused('soft-anti-affinity', { maxServerPerHost: 1 }, /^Only anti-affinity policy supports rules\.$/)
      await refused('affinity', { spreadFaultDomains: true }, /fault_domain\.spread needs the anti-affinity policy/)
      await refused('anti-affinity', { spreadFaultDomains: true, maxServerPerHost: 2 }, /cannot go with max_server_per_host 2/)
      assert.equal((await groups.list(DEMO.projectId, undefined, undefined)).groups.length, before)
      // The database refuses a rule on another policy too (a CHECK), whatever the service does.
      await assert.rejects(app.database.db.updateTable('server_groups').set({ max_server_per_host: 2 }).where('policy', '=', 'affinity').execute(), /check|CHECK/)
    })

    test('anti-affinity with max_server_per_host 2: two members a host, then no valid host', async (t) => {
      const app = await buildTestApp(t, { dialect })
      await keepOnly(app.database, 'az1', az1(3))
      const g = await group(app, 'anti-affinity', { maxServerPerHost: 2 })
      const first = await createServers(app.app, { count: 4, availability_zone: 'az1', 'os:scheduler_hints': { group: g } })
      assert.ok(Object.values(await perHost(app.database, first)).every((n) => n <= 2))
      const second = await createServers(app.app, { count: 2, availability_zone: 'az1', 'os:scheduler_hints': { group: g } })
      assert.deepEqual(Object.values(await perHost(app.database, [...first, ...second])), [2, 2, 2])
      const full = await create(app, { availability_zone: 'az1', 'os:scheduler_hints': { group: g } })
      assert.equal(full.statusCode, 400, full.body)
      assert.equal(refusal(full).code, 'Ecs.0319')
      assert.match(refusal(full).message, /AntiAffinity\(3 hosts holding 2 members, the most one host may\): 0/)
      // Two members share a host, so their memberships are not "distinct"; each takes its own place.
      const holds = await app.database.db.selectFrom('group_host_holds').select(['host_id', 'slot', 'max_server_per_host']).where('group_id', '=', g).execute()
      const places = new Map<string, number[]>()
      for (const h of holds) places.set(h.host_id, [...(places.get(h.host_id) ?? []), h.slot!].sort())
      assert.deepEqual([...places.values()], [[0, 1], [0, 1], [0, 1]])
      assert.ok(holds.every((h) => h.max_server_per_host === 2))
      const flags = await app.database.db.selectFrom('server_group_members').select('distinct_host').where('group_id', '=', g).execute()
      assert.ok(flags.every((f) => f.distinct_host === 0))
      assert.deepEqual(await audit(app.database.db), [])
    })

    test('affinity: every member on the first member\'s host; once it is full, no valid host although others are free; an emptied group starts afresh', async (t) => {
      const app = await buildTestApp(t, { dialect })
      const g = await group(app, 'affinity')
      // c7.2xlarge.4 takes a quarter of a demo host: four fit.
      const three = await createServers(app.app, { count: 3, flavorRef: 'c7.2xlarge.4', availability_zone: 'az1', 'os:scheduler_hints': { group: g } })
      const fourth = await createServers(app.app, { flavorRef: 'c7.2xlarge.4', 'os:scheduler_hints': { group: g } })
      const hosts = await hostsOf(app.database, [...three, ...fourth])
      assert.equal(new Set(hosts.values()).size, 1, `one host: ${JSON.stringify([...hosts])}`)
      const pinned = [...hosts.values()][0]!
      const full = await create(app, { flavorRef: 's6.small.1', 'os:scheduler_hints': { group: g } })
      assert.equal(full.statusCode, 400, full.body)
      assert.equal(refusal(full).code, 'Ecs.0319')
      assert.match(refusal(full).message, /Capacity\(1 vCPU, 1024 MiB\): 15 → Affinity\(the host of the group: [0-9a-f-]+\): 0/)
      assert.deepEqual(await audit(app.database.db), [])

      // Every member deleted: the next one may go anywhere, and pins the group there.
      const del = await call(app.app, { method: 'POST', url: v1('/cloudservers/delete'), body: { servers: [...three, ...fourth].map((id) => ({ id })) } })
      assert.equal((await waitForJob(app.app, (del.json() as { job_id: string }).job_id)).status, 'SUCCESS')
      const [again] = await createServers(app.app, { availability_zone: 'az2', 'os:scheduler_hints': { group: g } })
      const [next] = await createServers(app.app, { 'os:scheduler_hints': { group: g } })
      const now = await hostsOf(app.database, [again!, next!])
      assert.notEqual(now.get(again!), pinned)
      assert.equal(now.get(next!), now.get(again!))
      const row = await app.database.db.selectFrom('server_groups').innerJoin('hosts', 'hosts.id', 'server_groups.affinity_host_id').select('hosts.name').where('server_groups.id', '=', g).executeTakeFirstOrThrow()
      assert.equal(row.name, now.get(again!))
      assert.deepEqual(await audit(app.database.db), [])
    })

    test('soft-affinity: together while the host has room, elsewhere (never refused) when it has not', async (t) => {
      const app = await buildTestApp(t, { dialect })
      const g = await group(app, 'soft-affinity')
      const three = await createServers(app.app, { count: 3, availability_zone: 'az1', 'os:scheduler_hints': { group: g } })
      const fourth = await createServers(app.app, { 'os:scheduler_hints': { group: g } })
      const hosts = await hostsOf(app.database, [...three, ...fourth])
      assert.equal(new Set(hosts.values()).size, 1, 'all four together')
      // m6.4xlarge.8 takes a whole host's memory: not where the members are, but somewhere.
      const [whole] = await createServers(app.app, { flavorRef: 'm6.4xlarge.8', 'os:scheduler_hints': { group: g } })
      assert.notEqual((await hostsOf(app.database, [whole!])).get(whole!), [...hosts.values()][0])
      assert.deepEqual(await audit(app.database.db), [])
    })

    test('soft-anti-affinity: one member a host while hosts are free, then the least crowded (never refused)', async (t) => {
      const app = await buildTestApp(t, { dialect })
      await keepOnly(app.database, 'az1', az1(3))
      const g = await group(app, 'soft-anti-affinity')
      const three = await createServers(app.app, { count: 3, availability_zone: 'az1', 'os:scheduler_hints': { group: g } })
      assert.deepEqual(Object.values(await perHost(app.database, three)), [1, 1, 1])
      const more = await createServers(app.app, { count: 4, availability_zone: 'az1', 'os:scheduler_hints': { group: g } })
      assert.deepEqual(Object.values(await perHost(app.database, [...three, ...more])).sort(), [2, 2, 3])
      assert.deepEqual(await audit(app.database.db), [])
    })

    test('moving a member of an affinity group: in place when the host has room, otherwise no valid host — migrations, redeploys and evacuations never leave the host (as Nova)', async (t) => {
      const app = await buildTestApp(t, { dialect })
      const g = await group(app, 'affinity')
      const [a, b] = await createServers(app.app, { count: 2, flavorRef: 'c7.2xlarge.4', availability_zone: 'az1', 'os:scheduler_hints': { group: g } })
      const [alone] = await createServers(app.app, { flavorRef: 's6.small.1', 'os:scheduler_hints': { group: await group(app, 'affinity') } })
      const home = (await hostsOf(app.database, [a!])).get(a!)!
      await stopServers(app.app, [a!, b!, alone!])

      const noHost = (res: { statusCode: number; body: string; json(): unknown }, why: RegExp) => {
        assert.equal(res.statusCode, 400, res.body)
        assert.equal(refusal(res).code, 'Ecs.0319')
        assert.match(refusal(res).message, why)
      }
      const migrate = (id: string) => adminCall(app.app, { method: 'POST', url: `/admin/servers/${id}/migrate`, body: { migrate: { live: false } } })
      noHost(await migrate(a!), /DifferentHost\(not the current host\): 7 → .*Affinity\(the host of the group: [0-9a-f-]+\): 0/)
      noHost(await migrate(alone!), /Affinity\(the host of the group: [0-9a-f-]+\): 0/)
      noHost(await call(app.app, { method: 'POST', url: v1(`/cloudservers/${a}/actions/redeploy`) }), /Affinity/)
      // Growing in place: 2 × 8 vCPU + 16 = 32, the whole host.
      const grow = await call(app.app, { method: 'POST', url: v1(`/cloudservers/${a}/resize`), body: { resize: { flavorRef: 'm6.4xlarge.8' } } })
      noHost(grow, /Affinity/)
      const fits = await call(app.app, { method: 'POST', url: v1(`/cloudservers/${a}/resize`), body: { resize: { flavorRef: 's6.xlarge.2' } } })
      assert.equal(fits.statusCode, 200, fits.body)
      assert.equal((await waitForJob(app.app, (fits.json() as { job_id: string }).job_id)).status, 'SUCCESS')
      assert.equal((await hostsOf(app.database, [a!])).get(a!), home, 'resized in place')
      assert.deepEqual(await audit(app.database.db), [])

      // The host fails: its members cannot be evacuated anywhere else — stranded there in ERROR.
      const failed = await adminCall(app.app, { method: 'POST', url: `/admin/hosts/${home}/action`, body: { fail: {} } })
      assert.equal(failed.statusCode, 200, failed.body)
      await settle(app)
      for (const id of [a!, b!]) {
        const shown = await showServer(app.app, id) as { status: string; 'OS-EXT-SRV-ATTR:host': string; fault?: { message: string } }
        assert.equal(shown.status, 'ERROR')
        assert.equal(shown['OS-EXT-SRV-ATTR:host'], home)
        assert.match(String(shown.fault?.message), /evacuation found no host.*Affinity\(the host of the group/)
      }
      assert.deepEqual(await audit(app.database.db), [])
    })

    test('moving a member of an anti-affinity group with max_server_per_host 2: both ends count while it moves', async (t) => {
      const gate = new GateDriver()
      gate.releaseAll()
      const app = await buildTestApp(t, { dialect, driver: gate })
      await keepOnly(app.database, 'az1', az1(3))
      const g = await group(app, 'anti-affinity', { maxServerPerHost: 2 })
      const members = await createServers(app.app, { count: 5, availability_zone: 'az1', 'os:scheduler_hints': { group: g } })
      const before = await hostsOf(app.database, members)
      const counts = await perHost(app.database, members)
      const roomy = Object.keys(counts).find((h) => counts[h] === 1)!
      const mover = members.find((id) => before.get(id) !== roomy)!
      const source = before.get(mover)!

      gate.hold()
      const moving = await adminCall(app.app, { method: 'POST', url: `/admin/servers/${mover}/migrate`, body: { migrate: { live: true } } })
      assert.equal(moving.statusCode, 200, moving.body)
      await until(() => gate.held.length === 1, 'the live migration to reach the driver')
      assert.equal((await hostsOf(app.database, [mover])).get(mover), roomy, 'the only host with a place left')
      // In flight: the source keeps its place, so every host holds two — a sixth member has nowhere to go.
      const during = await create(app, { availability_zone: 'az1', 'os:scheduler_hints': { group: g } })
      assert.equal(refusal(during).code, 'Ecs.0319', during.body)
      assert.match(refusal(during).message, /AntiAffinity\(3 hosts holding 2 members, the most one host may\): 0/)
      assert.deepEqual(await audit(app.database.db), [])

      gate.releaseAll()
      assert.equal((await waitForJob(app.app, (moving.json() as { job_id: string }).job_id)).status, 'SUCCESS')
      const [sixth] = await createServers(app.app, { availability_zone: 'az1', 'os:scheduler_hints': { group: g } })
      assert.equal((await hostsOf(app.database, [sixth!])).get(sixth!), source, 'the source was let go')
      assert.deepEqual(Object.values(await perHost(app.database, [...members, sixth!])), [2, 2, 2])
      assert.deepEqual(await audit(app.database.db), [])
    })

    test('moving members of soft groups: the move is never refused for the policy (Nova: soft-affinity migrates away, soft-anti-affinity may share)', async (t) => {
      const app = await buildTestApp(t, { dialect })
      await keepOnly(app.database, 'az1', az1(2))
      const together = await group(app, 'soft-affinity')
      const [a, b] = await createServers(app.app, { count: 2, availability_zone: 'az1', 'os:scheduler_hints': { group: together } })
      const apart = await group(app, 'soft-anti-affinity')
      const [c, d] = await createServers(app.app, { count: 2, availability_zone: 'az1', 'os:scheduler_hints': { group: apart } })
      for (const id of [b!, d!]) {
        const res = await adminCall(app.app, { method: 'POST', url: `/admin/servers/${id}/migrate`, body: { migrate: { live: true } } })
        assert.equal(res.statusCode, 200, res.body)
        assert.equal((await waitForJob(app.app, (res.json() as { job_id: string }).job_id)).status, 'SUCCESS')
      }
      const hosts = await hostsOf(app.database, [a!, b!, c!, d!])
      assert.notEqual(hosts.get(a!), hosts.get(b!))
      assert.equal(hosts.get(c!), hosts.get(d!))
      assert.deepEqual(await audit(app.database.db), [])
    })

    test('a recycle-bin revert rejoins an affinity group on the group\'s host, not on its old one', async (t) => {
      const app = await buildTestApp(t, { dialect })
      assert.equal((await call(app.app, { method: 'PUT', url: v1('/recycle-bin'), body: { recycle_bin: { switch: 'on' } } })).statusCode, 200)
      const g = await group(app, 'affinity')
      const [a] = await createServers(app.app, { availability_zone: 'az1', 'os:scheduler_hints': { group: g } })
      const old = (await hostsOf(app.database, [a!])).get(a!)!
      await app.database.db.updateTable('servers').set({ created_at: new Date(Date.now() - 30 * 86_400_000).toISOString() }).where('id', '=', a!).execute()
      const del = await call(app.app, { method: 'POST', url: v1('/cloudservers/delete'), body: { servers: [{ id: a }] } })
      assert.equal((await waitForJob(app.app, (del.json() as { job_id: string }).job_id)).status, 'SUCCESS')
      // The group is empty now: its next member, kept off the old host, pins it elsewhere.
      await app.database.db.updateTable('hosts').set({ enabled: 0 }).where('name', '=', old).execute()
      const [c] = await createServers(app.app, { availability_zone: 'az1', 'os:scheduler_hints': { group: g } })
      await app.database.db.updateTable('hosts').set({ enabled: 1 }).where('name', '=', old).execute()
      const home = (await hostsOf(app.database, [c!])).get(c!)!
      assert.notEqual(home, old)

      const revert = await call(app.app, { method: 'POST', url: v1(`/recycle-bin/cloudservers/${a}/actions/revert`) })
      assert.equal(revert.statusCode, 200, revert.body)
      assert.equal((await waitForJob(app.app, (revert.json() as { job_id: string }).job_id)).status, 'SUCCESS')
      assert.equal((await hostsOf(app.database, [a!])).get(a!), home)
      assert.deepEqual((await app.services.groups.show(DEMO.projectId, g)).members.sort(), [a!, c!].sort())
      assert.deepEqual(await audit(app.database.db), [])
    })

    test('add_member keeps the v1 rules: anti-affinity groups only (Ecs.0005), and a host takes up to max_server_per_host members', async (t) => {
      const app = await buildTestApp(t, { dialect })
      await keepOnly(app.database, 'az1', az1(2))
      const together = await group(app, 'affinity')
      const twoAHost = await group(app, 'anti-affinity', { maxServerPerHost: 2 })
      const [m] = await createServers(app.app, { availability_zone: 'az1', 'os:scheduler_hints': { group: twoAHost } })
      const hostOfM = (await hostsOf(app.database, [m!])).get(m!)!
      // Two stopped servers next to the member.
      const others = await createServers(app.app, { count: 2, availability_zone: 'az1' })
      for (const id of others) {
        if ((await hostsOf(app.database, [id])).get(id) === hostOfM) continue
        const res = await adminCall(app.app, { method: 'POST', url: `/admin/servers/${id}/migrate`, body: { migrate: { live: true, host: hostOfM } } })
        assert.equal(res.statusCode, 200, res.body)
        assert.equal((await waitForJob(app.app, (res.json() as { job_id: string }).job_id)).status, 'SUCCESS')
      }
      await stopServers(app.app, others)

      const refused = await groupAction(app.app, together, 'add_member', others[0]!)
      assert.equal(refused.statusCode, 400, refused.body)
      assert.equal(refusal(refused).code, 'Ecs.0005')
      assert.match(refusal(refused).message, /has policy "affinity"; only anti-affinity ECS groups accept members/)

      assert.equal((await groupAction(app.app, twoAHost, 'add_member', others[0]!)).statusCode, 200)
      assert.equal((await hostsOf(app.database, [others[0]!])).get(others[0]!), hostOfM, 'the host had a place left: no move')
      assert.equal((await groupAction(app.app, twoAHost, 'add_member', others[1]!)).statusCode, 200)
      await waitForIdle(app.database)
      assert.notEqual((await hostsOf(app.database, [others[1]!])).get(others[1]!), hostOfM, 'the host was full: re-placed')
      assert.deepEqual(await audit(app.database.db), [])
    })
  })
}

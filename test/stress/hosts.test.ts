/**
 * Hosts failing and draining under real replicas on one database: several hosts failed at once
 * while many clients work, and a replica killed with SIGKILL in the middle of an evacuation and
 * of a drain, then restarted. Every wait is on a state of the database or of the API, bounded
 * generously; kills are triggered by what the database shows in flight — held there by a
 * `stall` fault on the moves of the host, so that no machine is too fast or too slow for them —
 * never by a timer. The in-process tests of the same behaviour, tick by tick, are in
 * test/services/hosts.test.ts.
 */
import assert from 'node:assert/strict'
import { setTimeout as sleep } from 'node:timers/promises'
import { describe, test, type TestContext } from 'node:test'
import { audit } from '../../src/services/audit.ts'
import { DEMO } from '../../src/services/demo.ts'
import type { Database } from '../../src/store/database.ts'
import { tempDir } from '../helper.ts'
import { createTestDatabase } from '../postgres.ts'
import {
  ReplicaFleet, checkCapacity, clean, createAndWait, createRng, describeProblems, openDatabase, randomSeed, runLoad, send, summaryLine, verify,
  waitForJobsToFinish, type ReplicaSource, type Rng,
} from './harness.ts'

/** A seed from ECSD_STRESS_SEED replays a failure; otherwise a new one per run, printed. */
const SEED = process.env.ECSD_STRESS_SEED ? Number(process.env.ECSD_STRESS_SEED) : randomSeed()

/** The demo project's operator credential: the admin API is for operators only. */
const OPERATOR = { accessKey: DEMO.adminAccessKey, secretKey: DEMO.adminSecretKey, projectId: DEMO.projectId }

type Dialect = 'postgres' | 'sqlite'
const label = (d: Dialect) => (d === 'postgres' ? 'PostgreSQL' : 'one SQLite file')

/** A started fleet, and the test's own connection to its database. */
interface Started {
  fleet: ReplicaFleet
  database: Database
}

async function startFleet(t: TestContext, dialect: Dialect): Promise<Started> {
  // `after` hooks run in the order they are added: this one first, so that the connection closes
  // and the replicas stop before their directory is removed and their database dropped.
  let fleet: ReplicaFleet | undefined
  let database: Database | undefined
  t.after(async () => {
    await database?.close()
    await fleet?.stop()
  })
  const dataDir = tempDir(t, 'ecsd-hosts-')
  const databaseUrl = dialect === 'postgres' ? await createTestDatabase(t) : undefined
  fleet = await ReplicaFleet.start({ replicas: 3, dataDir, databaseUrl, driverLatencyMs: 20 })
  database = openDatabase(fleet.database)
  return { fleet, database }
}

/** An operator's request that must be answered `status`; answers the body. */
async function admin(replicas: ReplicaSource, rng: Rng, method: string, p: string, body: unknown, status: number): Promise<unknown> {
  const out = await send(replicas, rng, method, p, body, {}, undefined, OPERATOR)
  if (out.kind !== 'response') throw new Error(`${method} ${p}: the answer was lost (${out.error})`)
  assert.equal(out.status, status, `${method} ${p}: ${JSON.stringify(out.body)}`)
  return out.body
}

/**
 * Polls `probe` until it answers something other than undefined; fails the test after `timeoutMs`,
 * which only a failure waits out: generous, so that a busy machine is not a failure.
 */
async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 240_000): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const found = await probe()
    if (found !== undefined) return found
    if (Date.now() > deadline) throw new Error(`gave up after ${timeoutMs} ms waiting for ${what}`)
    await sleep(50)
  }
}

const count = (rows: { n: number | string } | undefined) => Number(rows?.n ?? 0)

/**
 * Evacuation or drain moves of `reason` in flight, each with the pid of the process whose job
 * runner holds its job's lease (`lease_owner` is `host:pid:nonce`).
 */
async function movesInFlight(database: Database, reason: 'evacuate' | 'drain'): Promise<Array<{ serverId: string; jobId: string; owner: string; pid: number }>> {
  const rows = await database.db
    .selectFrom('moves')
    .innerJoin('jobs', 'jobs.id', 'moves.job_id')
    .select(['moves.server_id', 'jobs.id', 'jobs.lease_owner'])
    .where('moves.reason', '=', reason)
    .where('jobs.status', '=', 'RUNNING')
    .execute()
  return rows.flatMap((r) => {
    const pid = /:(\d+):[^:]+$/.exec(r.lease_owner ?? '')?.[1]
    return pid === undefined ? [] : [{ serverId: r.server_id, jobId: r.id, owner: r.lease_owner!, pid: Number(pid) }]
  })
}

/**
 * Kills, with SIGKILL, a replica whose job runner holds a move of `reason` in flight, as the
 * database shows it; answers that replica's index and the jobs it left RUNNING. A `stall` fault
 * holds the moves, so the jobs cannot finish between the look and the kill.
 */
async function killMidMove(fleet: ReplicaFleet, database: Database, reason: 'evacuate' | 'drain'): Promise<{ index: number; orphaned: string[] }> {
  const [index, owner] = await waitFor(`a ${reason} move in flight on a live replica`, async () => {
    for (const m of await movesInFlight(database, reason)) {
      const i = fleet.indexOfPid(m.pid)
      if (i !== undefined) return [i, m.owner] as const
    }
    return undefined
  })
  await fleet.kill(index)
  const orphaned = await database.db.selectFrom('jobs').select('id').where('status', '=', 'RUNNING').where('lease_owner', '=', owner).execute()
  assert.ok(orphaned.length > 0, `replica ${index} died holding ${reason} jobs`)
  // Another replica takes them over once their lease expires — while the stall still holds them.
  await waitFor(`the jobs of the killed replica taken over`, async () =>
    count(await database.db.selectFrom('jobs').select((eb) => eb.fn.countAll<number | string>().as('n')).where('status', '=', 'RUNNING').where('lease_owner', '=', owner).executeTakeFirst()) === 0 ? true : undefined)
  return { index, orphaned: orphaned.map((j) => j.id) }
}

/** The servers on a host, with their status. */
async function serversOn(database: Database, hostName: string): Promise<Map<string, string>> {
  const rows = await database.db.selectFrom('servers').innerJoin('hosts', 'hosts.id', 'servers.host_id').select(['servers.id', 'servers.status'])
    .where('hosts.name', '=', hostName).where('servers.in_recycle_bin', '=', 0).execute()
  return new Map(rows.map((r) => [r.id, r.status]))
}

/**
 * Crowds one host of `az`: all hosts of the zone but the first two are disabled while an
 * anti-affinity group gets a member on each of the two and eight more servers land on them, two
 * of which are stopped; then the zone is enabled again. Answers the busier of the two hosts, its
 * servers, and the group's members — one of them on the other host, which the member on the
 * crowded host must therefore avoid when it moves.
 */
async function crowdHost(fleet: ReplicaFleet, database: Database, rng: Rng, az: 'az1' | 'az2'): Promise<{ host: string; servers: Map<string, string>; members: string[] }> {
  const others = Array.from({ length: 6 }, (_, i) => `${az}-host-0${i + 3}`)
  await Promise.all(others.map((name) => admin(fleet, rng, 'POST', `/admin/hosts/${name}/action`, { disable: { reason: 'test: crowd two hosts' } }, 200)))
  const group = await send(fleet, rng, 'POST', `/v1/${DEMO.projectId}/cloudservers/os-server-groups`, { server_group: { name: `crowd-${az}`, policies: ['anti-affinity'] } })
  assert.ok(group.kind === 'response' && group.status === 200, JSON.stringify(group))
  const groupId = (group.body as { server_group: { id: string } }).server_group.id
  const members = await createAndWait(fleet, SEED, 's6.small.1', 2, az, groupId)
  const plain = await createAndWait(fleet, SEED + 1, 's6.small.1', 8, az)
  const stop = await send(fleet, rng, 'POST', `/v1/${DEMO.projectId}/cloudservers/action`, { 'os-stop': { servers: plain.slice(0, 2).map((id) => ({ id })) } })
  assert.ok(stop.kind === 'response' && stop.status === 200, JSON.stringify(stop))
  assert.deepEqual(await waitForJobsToFinish(database, 60_000), [])
  await Promise.all(others.map((name) => admin(fleet, rng, 'POST', `/admin/hosts/${name}/action`, { enable: {} }, 200)))
  const [a, b] = [await serversOn(database, `${az}-host-01`), await serversOn(database, `${az}-host-02`)]
  const [host, servers] = a.size >= b.size ? [`${az}-host-01`, a] : [`${az}-host-02`, b]
  assert.ok(servers.size >= 5, `${host} carries ${servers.size} servers`)
  return { host, servers, members }
}

/** Each server's host and status as the API shows them. */
async function shown(fleet: ReplicaFleet, rng: Rng, ids: Iterable<string>): Promise<Map<string, { host: string; status: string; taskState: string | null }>> {
  const out = new Map<string, { host: string; status: string; taskState: string | null }>()
  for (const id of ids) {
    const res = await send(fleet, rng, 'GET', `/v1/${DEMO.projectId}/cloudservers/${id}`)
    assert.ok(res.kind === 'response' && res.status === 200, JSON.stringify(res))
    const s = (res.body as { server: Record<string, unknown> }).server
    out.set(id, { host: String(s['OS-EXT-SRV-ATTR:host']), status: String(s.status), taskState: (s['OS-EXT-STS:task_state'] as string | null | undefined) ?? null })
  }
  return out
}

/** Adds a fault that holds every move off (or onto) `host` until it is removed; answers its id. */
async function stallMoves(fleet: ReplicaFleet, rng: Rng, host: string): Promise<string> {
  const body = await admin(fleet, rng, 'POST', '/admin/faults', { fault: { host, step: 'move', mode: 'stall', reason: 'test: hold the moves in flight' } }, 201)
  return (body as { fault: { id: string } }).fault.id
}

/** What every replica-kill case checks at the end: the moved servers, their groups, jobs and the audit. */
async function assertMovedOff(fleet: ReplicaFleet, database: Database, rng: Rng, host: string, before: Map<string, string>, members: string[]): Promise<void> {
  assert.deepEqual(await waitForJobsToFinish(database, 60_000), [], 'no job left RUNNING')
  const after = await shown(fleet, rng, before.keys())
  for (const [id, status] of before) {
    const s = after.get(id)!
    assert.notEqual(s.host, host, `${id} left ${host}`)
    assert.equal(s.status, status, `${id} came back ${status}: running servers run again, stopped ones stay stopped`)
    assert.equal(s.taskState, null)
  }
  const memberHosts = [...(await shown(fleet, rng, members)).values()].map((s) => s.host)
  assert.equal(new Set(memberHosts).size, members.length, `the group's members stay on distinct hosts: ${memberHosts.join(', ')}`)
  assert.deepEqual(await checkCapacity(database), [])
  assert.deepEqual(await audit(database.db, { stuckAfterMs: 0 }), [])
}

/** Operations of the load while hosts fail: sized like the crash test's, for a busy two-core machine. */
const OPS = 240

describe('hosts failing under load, 3 replicas on PostgreSQL', () => {
  test('several hosts failed at once, each on another replica, while clients work: every server placed or stranded with a reason, groups distinct, audit clean; back up, every stranded server runs again', async (t) => {
    const { fleet, database } = await startFleet(t, 'postgres')
    const rng = createRng(SEED)
    const started = Date.now()
    const elapsed = () => `${((Date.now() - started) / 1000).toFixed(1)} s`
    let loadDone = false
    const load = runLoad({
      replicas: fleet, clients: 10, opsTotal: OPS, seed: SEED, groups: 4, serversPerClient: 6, fill: 0.5,
      contended: { clients: 2, servers: 6 }, hostFailures: true, timeLimitMs: 600_000, log: (l) => t.diagnostic(l),
    }).finally(() => {
      loadDone = true
    })

    // The failures land once the clients have servers (a state of the database, not a time), so
    // there are members to evacuate and most of the load is still to come.
    await waitFor('the clients to have created servers', async () => {
      const made = count(await database.db.selectFrom('servers').select((eb) => eb.fn.countAll<number | string>().as('n')).where('name', 'like', 'c%').executeTakeFirst())
      return made >= 24 || loadDone ? true : undefined
    })
    // The hosts with the most group members, in both zones: their evacuations must keep each
    // group apart, and some of them cannot (stranded).
    const busiest = await database.db
      .selectFrom('hosts')
      .leftJoin('server_group_members', 'server_group_members.host_id', 'hosts.id')
      .select(['hosts.name', 'hosts.az'])
      .select((eb) => eb.fn.count<number | string>('server_group_members.server_id').as('members'))
      .where('hosts.az', 'in', ['az1', 'az2'])
      .groupBy(['hosts.name', 'hosts.az'])
      .orderBy('members', 'desc')
      .orderBy('hosts.name')
      .execute()
    const first = (az: string) => busiest.find((h) => h.az === az)!.name
    const victims = [first('az1'), first('az2')]
    victims.push(busiest.find((h) => !victims.includes(h.name))!.name)
    const failedDuringLoad = !loadDone
    await Promise.all(victims.map((name, i) => admin([fleet.url(i)!], rng, 'POST', `/admin/hosts/${name}/action`, { fail: {} }, 200)))
    t.diagnostic(`failed ${victims.join(', ')} (${busiest.filter((h) => victims.includes(h.name)).map((h) => `${h.name}: ${Number(h.members)} members`).join(', ')})`)
    const run = await load
    assert.ok(failedDuringLoad, 'the hosts failed while the load ran')
    const loaded = elapsed()

    // Every server of the failed hosts left them or is stranded there, and no evacuation is in flight.
    await waitFor('every evacuation to end', async () => {
      const left = count(await database.db.selectFrom('servers').innerJoin('hosts', 'hosts.id', 'servers.host_id').select((eb) => eb.fn.countAll<number | string>().as('n'))
        .where('hosts.state', '=', 'down').where('servers.in_recycle_bin', '=', 0).where('servers.stranded', 'is', null).executeTakeFirst())
      const moving = count(await database.db.selectFrom('moves').select((eb) => eb.fn.countAll<number | string>().as('n')).where('reason', '=', 'evacuate').executeTakeFirst())
      return left === 0 && moving === 0 ? true : undefined
    })
    const evacuations = await database.db.selectFrom('jobs').select(['status']).where('operation', '=', 'evacuate').where('parent_id', 'is not', null).execute()
    assert.ok(evacuations.length > 0, 'servers were evacuated')
    assert.ok(evacuations.every((j) => j.status === 'SUCCESS'), `every evacuation succeeded: ${JSON.stringify(evacuations)}`)
    const strandedRows = await database.db.selectFrom('servers').innerJoin('hosts', 'hosts.id', 'servers.host_id').select(['servers.id', 'servers.status', 'servers.fault', 'hosts.name'])
      .where('servers.stranded', 'is not', null).execute()
    for (const s of strandedRows) {
      assert.ok(victims.includes(s.name), `stranded ${s.id} stays on its failed host (${s.name})`)
      assert.equal(s.status, 'ERROR')
      assert.match(s.fault ?? '', /evacuation found no host/, 'stranded with the placement diagnosis as the reason')
    }

    const v = await verify(run, { replicas: fleet, database: fleet.database, hostFailures: true })
    t.diagnostic(`${summaryLine(run.summary, v)}; ${evacuations.length} evacuations, ${strandedRows.length} servers stranded; load done ${loaded}, verified ${elapsed()} after the fleet was up`)
    const problems = describeProblems(run, v)
    assert.ok(problems === '', `${problems}\n${fleet.errorLines().slice(0, 20).join('\n')}`)
    assert.ok(clean(v))
    assert.equal(run.summary.attempted, OPS)

    // The hosts come back (their heartbeat faults removed): fenced, up, and every stranded server
    // is placed again — on its own host, where it still is — in the state its owner knows.
    const faults = (await admin(fleet, rng, 'GET', '/admin/faults', undefined, 200)) as { faults: Array<{ id: string; host: string | null; step: string }> }
    for (const f of faults.faults.filter((x) => x.step === 'heartbeat' && x.host !== null && victims.includes(x.host))) {
      await admin(fleet, rng, 'DELETE', `/admin/faults/${f.id}`, undefined, 204)
    }
    await waitFor('the failed hosts up again and nothing stranded', async () => {
      const down = count(await database.db.selectFrom('hosts').select((eb) => eb.fn.countAll<number | string>().as('n')).where('name', 'in', victims).where('state', '!=', 'up').executeTakeFirst())
      const stranded = count(await database.db.selectFrom('servers').select((eb) => eb.fn.countAll<number | string>().as('n')).where('stranded', 'is not', null).executeTakeFirst())
      return down === 0 && stranded === 0 ? true : undefined
    })
    const back = await verify(run, { replicas: fleet, database: fleet.database, hostFailures: true })
    assert.equal(back.strandedServers, 0)
    assert.ok(clean(back), describeProblems(run, back))
    t.diagnostic(`hosts back, nothing stranded, verified again ${elapsed()} after the fleet was up`)
    assert.deepEqual(fleet.errorLines(), [], 'no replica logged an error')
  })
})

describe('replicas killed in the middle of host maintenance, and restarted', () => {
  for (const dialect of ['postgres', 'sqlite'] as const) {
    test(`3 replicas on ${label(dialect)}: one killed mid-evacuation, one mid-drain; the evacuation completes, the drain resumes and the host ends drained`, async (t) => {
      const { fleet, database } = await startFleet(t, dialect)
      const rng = createRng(SEED)
      const started = Date.now()
      const [failing, draining] = await Promise.all([crowdHost(fleet, database, createRng(SEED + 1), 'az1'), crowdHost(fleet, database, createRng(SEED + 2), 'az2')])
      const stalls = await Promise.all([stallMoves(fleet, rng, failing.host), stallMoves(fleet, rng, draining.host)])
      await admin([fleet.url(0)!], rng, 'POST', `/admin/hosts/${failing.host}/action`, { fail: {} }, 200)
      await admin([fleet.url(1)!], rng, 'POST', `/admin/hosts/${draining.host}/action`, { drain: {} }, 200)

      // Both kills land while the stalls hold the moves; another replica takes each job over.
      const evacuation = await killMidMove(fleet, database, 'evacuate')
      const drain = await killMidMove(fleet, database, 'drain')
      const stillOn = (await serversOn(database, draining.host)).size
      const restarted = Promise.all([evacuation.index, drain.index].filter((i, k, all) => all.indexOf(i) === k).map((i) => fleet.restart(i)))
      for (const id of stalls) await admin(fleet, rng, 'DELETE', `/admin/faults/${id}`, undefined, 204)
      await restarted

      await waitFor(`every server off ${failing.host}`, async () => ((await serversOn(database, failing.host)).size === 0 ? true : undefined))
      const drained = await waitFor(`${draining.host} drained`, async () => {
        const h = (await admin(fleet, rng, 'GET', `/admin/hosts/${draining.host}`, undefined, 200)) as { host: { admin_state: string; admin_reason: string | null; servers: number; moving_out: number } }
        return h.host.admin_reason === 'drained' ? h.host : undefined
      })
      assert.deepEqual([drained.admin_state, drained.servers, drained.moving_out], ['maintenance', 0, 0])
      // A server is on its target from the start of its move: the moves end with their jobs.
      assert.deepEqual(await waitForJobsToFinish(database, 60_000), [], 'no job left RUNNING')

      const jobs = await database.db.selectFrom('jobs').select(['id', 'status', 'server_id']).where('operation', '=', 'evacuate').where('parent_id', 'is not', null).execute()
      const evacuated = jobs.filter((j) => j.status === 'SUCCESS').map((j) => j.server_id)
      assert.deepEqual([...failing.servers.keys()].filter((id) => !evacuated.includes(id)), [], `every server was evacuated by a job that succeeded: ${JSON.stringify(jobs)}`)
      const orphaned = await database.db.selectFrom('jobs').select(['id', 'status']).where('id', 'in', [...evacuation.orphaned, ...drain.orphaned]).execute()
      assert.ok(orphaned.every((j) => j.status === 'SUCCESS'), `the killed replicas' jobs were finished by others: ${JSON.stringify(orphaned)}`)
      await assertMovedOff(fleet, database, rng, failing.host, failing.servers, failing.members)
      await assertMovedOff(fleet, database, rng, draining.host, draining.servers, draining.members)
      t.diagnostic(`replica ${evacuation.index} killed holding ${evacuation.orphaned.length} jobs while evacuating ${failing.servers.size} servers off ${failing.host}; ` +
        `replica ${drain.index} killed holding ${drain.orphaned.length} jobs while draining ${draining.host}, ${stillOn} of its ${draining.servers.size} servers not moving yet; ` +
        `${((Date.now() - started) / 1000).toFixed(1)} s after the fleet was up`)
    })
  }
})

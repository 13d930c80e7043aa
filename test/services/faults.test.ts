import assert from 'node:assert/strict'
import path from 'node:path'
import { describe, test, type TestContext } from 'node:test'
import type { App } from '../../src/app.ts'
import { SimulatedDriver, type DriverCommand, type HostDriver } from '../../src/compute/driver.ts'
import { ConfigError, loadConfig } from '../../src/config.ts'
import { EcsError } from '../../src/domain/errors.ts'
import { defineFault, FAULT_STEPS, faultStepOf, type FaultSpec } from '../../src/domain/fault.ts'
import type { DriverOperation } from '../../src/domain/job.ts'
import { audit } from '../../src/services/audit.ts'
import { DEMO, seedDemo } from '../../src/services/demo.ts'
import { configuredFaultId, FaultingDriver, FaultService, InjectedFault } from '../../src/services/faults.ts'
import { SecretBox } from '../../src/services/identity/secrets.ts'
import { startServer } from '../../src/server.ts'
import { Database, type Dialect } from '../../src/store/database.ts'
import { createTestDatabase } from '../postgres.ts'
import {
  buildTestApp, call, createGroup, createServers, showServer, stopServers, tempDir, v1, waitForJob, DIALECTS, TEST_MASTER_KEY,
} from '../helper.ts'

/**
 * Injected faults of the simulated hosts: every kind of driver step failed by a fault ends
 * cleanly (the job FAIL with a reason naming the fault, the server where the database says,
 * capacity and `ecsd audit` exact); faults on one host, with a probability, and stalls; the
 * cached read every replica shares; the faults of `ECSD_FAULTS`.
 */

const ADMIN = { accessKey: DEMO.adminAccessKey, secretKey: DEMO.adminSecretKey }

interface SubJobBody {
  status: string
  entities: { server_id: string }
  fail_reason: string | null
}

interface JobBody {
  status: string
  fail_reason: string | null
  entities: { sub_jobs: SubJobBody[] }
}

type Response = Awaited<ReturnType<typeof call>>

/** The message an injected `fail` leaves in a job: it says so, and names step, server, host and reason. */
function injected(step: string, serverId: string, host: string | RegExp, reason: string): RegExp {
  const hostPattern = typeof host === 'string' ? escape(host) : host.source
  return new RegExp(`^Injected fault [0-9a-f-]{36}: the ${step} step of ECS ${serverId} on host ${hostPattern} failed: ${escape(reason)}`)
}

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
}

async function finished(app: App, res: Response): Promise<JobBody> {
  assert.equal(res.statusCode, 200, res.body)
  return (await waitForJob(app, (res.json() as { job_id: string }).job_id)) as unknown as JobBody
}

async function jobNow(app: App, jobId: string): Promise<JobBody> {
  const res = await call(app, { method: 'GET', url: v1(`/jobs/${jobId}`) })
  assert.equal(res.statusCode, 200, res.body)
  return res.json() as JobBody
}

/** The one sub-job of a single-server job. */
function onlySub(job: JobBody): SubJobBody {
  assert.equal(job.entities.sub_jobs.length, 1, JSON.stringify(job))
  return job.entities.sub_jobs[0]!
}

function action(app: App, name: 'os-start' | 'os-stop' | 'reboot', ids: readonly string[]) {
  const servers = ids.map((id) => ({ id }))
  return call(app, { method: 'POST', url: v1('/cloudservers/action'), body: { [name]: name === 'reboot' ? { type: 'SOFT', servers } : { servers } } })
}

/** Every host's free vCPU and RAM, by name. */
async function freeCapacity(database: Database): Promise<Record<string, [number, number]>> {
  const rows = await database.db.selectFrom('hosts').select(['name', 'free_vcpus', 'free_ram_mb']).orderBy('name').execute()
  return Object.fromEntries(rows.map((h) => [h.name, [h.free_vcpus, h.free_ram_mb]]))
}

async function assertAuditClean(database: Database): Promise<void> {
  assert.deepEqual(await audit(database.db), [])
}

/** A server as the database holds it: host, status, flavor, task. */
async function serverRecord(database: Database, id: string) {
  return database.db
    .selectFrom('servers')
    .innerJoin('hosts', 'hosts.id', 'servers.host_id')
    .select(['hosts.name as host', 'servers.status', 'servers.flavor_id', 'servers.task_state', 'servers.vcpus', 'servers.ram_mb'])
    .where('servers.id', '=', id)
    .executeTakeFirst()
}

async function createOne(app: App, server: Record<string, unknown> = {}): Promise<string> {
  const [id] = await createServers(app, { availability_zone: 'az1', ...server })
  return id!
}

/** Polls until `check` holds; the deadline only stops a hung test, it asserts nothing about speed. */
async function until(what: string, check: () => boolean | Promise<boolean>): Promise<void> {
  const deadline = Date.now() + 10_000
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`gave up waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 5))
  }
}

/**
 * A driver chosen once the app is built: a `FaultingDriver` needs a `FaultService` over the
 * app's database, which exists only then.
 */
class DeferredDriver implements HostDriver {
  target: HostDriver | undefined
  constructor(readonly movesStoppedServersInstantly: boolean) {}

  async perform(command: DriverCommand): Promise<void> {
    assert.ok(this.target, 'the test set the driver before any step')
    await this.target.perform(command)
  }
}

/** A test app whose driver is a `FaultingDriver` over a local-disk simulated driver, with the test's random source. */
async function appWithDraws(t: TestContext, dialect: Dialect, random: () => number) {
  const driver = new DeferredDriver(false)
  const built = await buildTestApp(t, { dialect, driver })
  const faults = new FaultService(built.database, { random })
  driver.target = new FaultingDriver(new SimulatedDriver({ latencyMs: 0, disks: 'local' }), faults)
  return { ...built, faults }
}

/** A random source that hands out the given draws in order and refuses any other. */
function draws(...values: number[]): { random: () => number; left: () => number } {
  const queue = [...values]
  return {
    random: () => {
      const next = queue.shift()
      if (next === undefined) throw new Error('a draw the test did not expect')
      return next
    },
    left: () => queue.length,
  }
}

/** Two handles on one database, as two replicas hold them; the schema migrated and the demo seeded. */
async function twoReplicas(t: TestContext, dialect: Dialect): Promise<[Database, Database]> {
  let pair: [Database, Database]
  if (dialect === 'postgres') {
    const url = await createTestDatabase(t)
    pair = [Database.postgres({ url, poolSize: 4 }), Database.postgres({ url, poolSize: 4 })]
  } else {
    const file = path.join(tempDir(t), 'ecsd.sqlite')
    pair = [Database.sqlite({ file }), Database.sqlite({ file })]
  }
  t.after(async () => {
    await pair[0].close()
    await pair[1].close()
  })
  await pair[0].migrate()
  await seedDemo(pair[0], new SecretBox(TEST_MASTER_KEY))
  return pair
}

/** Counts the service's reads of the database. */
class CountingFaultService extends FaultService {
  reads = 0
  override async list() {
    this.reads++
    return super.list()
  }
}

describe('injected faults', () => {
  test('every driver operation is one step', () => {
    const operations: Record<DriverOperation, string> = {
      create: 'boot', start: 'start', stop: 'stop', recycle: 'stop', reboot: 'reboot', delete: 'delete', purge: 'delete',
      resize: 'move', migrate: 'move', redeploy: 'move', revert: 'move', evacuate: 'move',
    }
    for (const [operation, step] of Object.entries(operations)) {
      assert.equal(faultStepOf(operation as DriverOperation), step, operation)
      assert.ok(FAULT_STEPS.includes(faultStepOf(operation as DriverOperation)))
    }
  })

  test('a fault without a reason describes itself', () => {
    assert.equal(defineFault({ step: 'start', mode: 'fail' }).reason, 'start fails on every host')
    assert.equal(defineFault({ step: 'move', mode: 'stall', host: 'h1', probability: 0.25 }).reason, 'move stalls on host h1 with probability 0.25')
    assert.equal(defineFault({ step: 'heartbeat', mode: 'fail', host: 'h1' }).reason, 'heartbeats stop on host h1')
    assert.deepEqual(defineFault({ step: 'boot', mode: 'fail', reason: 'disk on fire' }), { hostName: null, step: 'boot', mode: 'fail', probability: 1, reason: 'disk on fire' })
  })

  for (const dialect of DIALECTS) {
    describe(dialect, () => {
      describe('every step kind, failed by a fault, ends cleanly', () => {
        test('boot: the create job fails, the server is in ERROR with the fault, and keeps its allocation', async (t) => {
          const { app, database, services } = await buildTestApp(t, { dialect })
          await services.faults.add({ step: 'boot', mode: 'fail', reason: 'no image on the host' })
          const before = await freeCapacity(database)
          const res = await call(app, {
            method: 'POST', url: v1('/cloudservers'),
            body: { server: { name: 'web', flavorRef: 's6.large.2', imageRef: 'img', vpcid: 'v', nics: [{ subnet_id: 's' }], root_volume: { volumetype: 'SSD' }, availability_zone: 'az1' } },
          })
          const id = (res.json() as { serverIds: string[] }).serverIds[0]!
          const job = await finished(app, res)
          assert.equal(job.status, 'FAIL')
          const server = await serverRecord(database, id)
          assert.ok(server)
          assert.match(String(onlySub(job).fail_reason), injected('boot', id, server.host, 'no image on the host'))
          assert.equal(server.status, 'ERROR')
          assert.equal(server.task_state, null)
          const shown = await showServer(app, id)
          assert.match(String((shown.fault as { message: string }).message), injected('boot', id, server.host, 'no image on the host'))
          const after = await freeCapacity(database)
          const [v, r] = before[server.host]!
          assert.deepEqual(after, { ...before, [server.host]: [v - server.vcpus, r - server.ram_mb] })
          await assertAuditClean(database)
        })

        for (const c of [
          { step: 'start', action: 'os-start', stoppedFirst: true, status: 'SHUTOFF' },
          { step: 'stop', action: 'os-stop', stoppedFirst: false, status: 'ACTIVE' },
          { step: 'reboot', action: 'reboot', stoppedFirst: false, status: 'ACTIVE' },
        ] as const) {
          test(`${c.step}: the job fails, the server stays ${c.status}`, async (t) => {
            const { app, database, services } = await buildTestApp(t, { dialect })
            const id = await createOne(app)
            if (c.stoppedFirst) await stopServers(app, [id])
            const { host } = (await serverRecord(database, id))!
            await services.faults.add({ step: c.step, mode: 'fail', reason: 'hypervisor not answering' })
            const before = await freeCapacity(database)
            const job = await finished(app, await action(app, c.action, [id]))
            assert.equal(job.status, 'FAIL')
            assert.match(String(onlySub(job).fail_reason), injected(c.step, id, host, 'hypervisor not answering'))
            assert.match(String(job.fail_reason), /1 of 1 servers failed; first: Injected fault/)
            const after = await serverRecord(database, id)
            assert.equal(after?.status, c.status)
            assert.equal(after?.task_state, null)
            assert.equal(after?.host, host)
            assert.deepEqual(await freeCapacity(database), before)
            await assertAuditClean(database)
          })
        }

        test('delete: the job fails, the server is still there, on its host, with its allocation', async (t) => {
          const { app, database, services } = await buildTestApp(t, { dialect })
          const id = await createOne(app)
          const { host } = (await serverRecord(database, id))!
          await services.faults.add({ step: 'delete', mode: 'fail' })
          const before = await freeCapacity(database)
          const job = await finished(app, await call(app, { method: 'POST', url: v1('/cloudservers/delete'), body: { servers: [{ id }] } }))
          assert.equal(job.status, 'FAIL')
          assert.match(String(onlySub(job).fail_reason), injected('delete', id, host, 'delete fails on every host'))
          const after = await serverRecord(database, id)
          assert.equal(after?.status, 'ACTIVE')
          assert.equal(after?.task_state, null)
          assert.equal(after?.host, host)
          assert.equal((await showServer(app, id)).id, id)
          assert.deepEqual(await freeCapacity(database), before)
          await assertAuditClean(database)
        })

        for (const c of [
          {
            name: 'resize with mode withStopServer of a running server',
            request: (app: App, id: string) => call(app, { method: 'POST', url: v1(`/cloudservers/${id}/resize`), body: { resize: { flavorRef: 's6.xlarge.2', mode: 'withStopServer' } } }),
          },
          { name: 'redeploy of a running server', request: (app: App, id: string) => call(app, { method: 'POST', url: v1(`/cloudservers/${id}/actions/redeploy`) }) },
          {
            name: "an operator's cold migration of a running server",
            request: (app: App, id: string) => call(app, { method: 'POST', url: `/admin/servers/${id}/migrate`, body: { migrate: {} }, ...ADMIN }),
          },
          {
            name: "an operator's live migration",
            request: (app: App, id: string) => call(app, { method: 'POST', url: `/admin/servers/${id}/migrate`, body: { migrate: { live: true } }, ...ADMIN }),
          },
        ]) {
          test(`move (${c.name}): the job fails, the server is back on its source as it was`, async (t) => {
            const { app, database, services } = await buildTestApp(t, { dialect })
            const id = await createOne(app)
            const source = (await serverRecord(database, id))!
            await services.faults.add({ step: 'move', mode: 'fail', reason: 'copy interrupted' })
            const before = await freeCapacity(database)
            const job = await finished(app, await c.request(app, id))
            assert.equal(job.status, 'FAIL')
            const reason = String(onlySub(job).fail_reason)
            assert.match(reason, injected('move', id, /az1-host-\d\d/, 'copy interrupted'))
            assert.match(reason, /\(the ECS is back where it was\)$/)
            assert.deepEqual(await serverRecord(database, id), source)
            assert.equal((await showServer(app, id)).status, 'ACTIVE')
            assert.deepEqual(await freeCapacity(database), before)
            assert.equal(await database.db.selectFrom('moves').select('id').executeTakeFirst(), undefined)
            await assertAuditClean(database)
          })
        }

        test('move with local disks: a stopped server moved cold fails on its source host or its target host', async (t) => {
          const { app, database, faults } = await appWithDraws(t, dialect, () => 0)
          const id = await createOne(app)
          await stopServers(app, [id])
          const source = (await serverRecord(database, id))!
          const other = source.host === 'az1-host-01' ? 'az1-host-02' : 'az1-host-01'
          const before = await freeCapacity(database)
          const migrateTo = (host: string) => call(app, { method: 'POST', url: `/admin/servers/${id}/migrate`, body: { migrate: { host } }, ...ADMIN })

          const onSource = await faults.add({ step: 'move', mode: 'fail', host: source.host })
          const first = await finished(app, await migrateTo(other))
          assert.equal(first.status, 'FAIL')
          assert.match(String(onlySub(first).fail_reason), injected('move', id, source.host, `move fails on host ${source.host}`))
          assert.deepEqual(await serverRecord(database, id), source)
          assert.deepEqual(await freeCapacity(database), before)
          await assertAuditClean(database)
          await faults.remove(onSource.id)

          await faults.add({ step: 'move', mode: 'fail', host: other })
          const second = await finished(app, await migrateTo(other))
          assert.equal(second.status, 'FAIL')
          assert.match(String(onlySub(second).fail_reason), injected('move', id, other, `move fails on host ${other}`))
          assert.deepEqual(await serverRecord(database, id), source)
          assert.deepEqual(await freeCapacity(database), before)
          await assertAuditClean(database)

          // A third host is neither source nor target: the move goes through.
          const third = ['az1-host-03', 'az1-host-04'].find((h) => h !== source.host)!
          const moved = await finished(app, await migrateTo(third))
          assert.equal(moved.status, 'SUCCESS', JSON.stringify(moved))
          assert.equal((await serverRecord(database, id))?.host, third)
          await assertAuditClean(database)
        })
      })

      test('a fault on a named host hits only the steps on that host', async (t) => {
        const { app, database, services } = await buildTestApp(t, { dialect })
        const group = await createGroup(app)
        const ids = await createServers(app, { count: 2, availability_zone: 'az1', 'os:scheduler_hints': { group } })
        await stopServers(app, ids)
        const [a, b] = ids as [string, string]
        const hostA = (await serverRecord(database, a))!.host
        assert.notEqual((await serverRecord(database, b))!.host, hostA)
        await services.faults.add({ step: 'start', mode: 'fail', host: hostA, reason: 'BMC unreachable' })
        const before = await freeCapacity(database)
        const job = await finished(app, await action(app, 'os-start', ids))
        assert.equal(job.status, 'FAIL')
        const subs = new Map(job.entities.sub_jobs.map((s) => [s.entities.server_id, s]))
        assert.equal(subs.get(a)?.status, 'FAIL')
        assert.match(String(subs.get(a)?.fail_reason), injected('start', a, hostA, 'BMC unreachable'))
        assert.equal(subs.get(b)?.status, 'SUCCESS')
        assert.equal((await serverRecord(database, a))?.status, 'SHUTOFF')
        assert.equal((await serverRecord(database, b))?.status, 'ACTIVE')
        assert.deepEqual(await freeCapacity(database), before)
        await assertAuditClean(database)
      })

      test('a fault with a probability hits the steps whose draw falls below it', async (t) => {
        const random = draws(0.9, 0.1, 0.5)
        const { app, database, faults } = await appWithDraws(t, dialect, random.random)
        const id = await createOne(app)
        await faults.add({ step: 'reboot', mode: 'fail', probability: 0.5 })
        assert.equal((await finished(app, await action(app, 'reboot', [id]))).status, 'SUCCESS', 'draw 0.9: missed')
        const hit = await finished(app, await action(app, 'reboot', [id]))
        assert.equal(hit.status, 'FAIL', 'draw 0.1: hit')
        assert.match(String(onlySub(hit).fail_reason), /reboot fails on every host with probability 0\.5/)
        assert.equal((await finished(app, await action(app, 'reboot', [id]))).status, 'SUCCESS', 'draw 0.5: missed (a hit is strictly below)')
        assert.equal(random.left(), 0)
        assert.equal((await serverRecord(database, id))?.status, 'ACTIVE')
        await assertAuditClean(database)
      })

      test('a stall holds the step until the fault is removed; then the job succeeds', async (t) => {
        const { app, database, services } = await buildTestApp(t, { dialect })
        const id = await createOne(app)
        await stopServers(app, [id])
        const { host } = (await serverRecord(database, id))!
        const stall = await services.faults.add({ step: 'start', mode: 'stall', host })
        const res = await action(app, 'os-start', [id])
        assert.equal(res.statusCode, 200, res.body)
        const jobId = (res.json() as { job_id: string }).job_id
        await until('the start is stalled', () => services.faults.stalled.length === 1)
        assert.deepEqual(services.faults.stalled.map((s) => [s.faultId, s.step, s.hostNames, s.subject]), [[stall.id, 'start', [host], `ECS ${id}`]])
        assert.equal((await jobNow(app, jobId)).status, 'RUNNING')
        assert.equal((await serverRecord(database, id))?.task_state, 'powering-on')
        await assertAuditClean(database)

        await services.faults.remove(stall.id)
        const job = (await waitForJob(app, jobId)) as unknown as JobBody
        assert.equal(job.status, 'SUCCESS')
        assert.equal(services.faults.stalled.length, 0)
        assert.equal((await serverRecord(database, id))?.status, 'ACTIVE')
        await assertAuditClean(database)
      })

      test('a stall and then a fail: once the stall is removed the step looks again, and fails', async (t) => {
        const { app, database, services } = await buildTestApp(t, { dialect })
        const id = await createOne(app)
        const stall = await services.faults.add({ step: 'stop', mode: 'stall' })
        const res = await action(app, 'os-stop', [id])
        const jobId = (res.json() as { job_id: string }).job_id
        await until('the stop is stalled', () => services.faults.stalled.length === 1)
        await services.faults.add({ step: 'stop', mode: 'fail', reason: 'power button stuck' })
        await services.faults.remove(stall.id)
        const job = (await waitForJob(app, jobId)) as unknown as JobBody
        assert.equal(job.status, 'FAIL')
        assert.match(String(onlySub(job).fail_reason), /power button stuck$/)
        assert.equal((await serverRecord(database, id))?.status, 'ACTIVE')
        await assertAuditClean(database)
      })

      test('the cached read: shared by steps, refreshed after 250 ms, and a replica sees what another added', async (t) => {
        const [one, two] = await twoReplicas(t, dialect)
        let now = 0
        const reader = new CountingFaultService(one, { clock: () => now })
        const writer = new FaultService(two)
        assert.deepEqual(await reader.current(), [])
        await Promise.all(Array.from({ length: 20 }, () => reader.beforeStep('start', ['az1-host-01'])))
        assert.equal(reader.reads, 1, 'one read serves every step within the window')

        const fault = await writer.add({ step: 'start', mode: 'fail', host: 'az1-host-01' })
        now = 249
        assert.deepEqual(await reader.current(), [], 'not yet: the read is 249 ms old')
        now = 250
        assert.deepEqual((await reader.current()).map((f) => f.id), [fault.id])
        assert.equal(reader.reads, 2)
        await assert.rejects(reader.beforeStep('start', ['az1-host-01'], 'ECS x'), (err: unknown) => err instanceof InjectedFault && err.fault.id === fault.id)
        await reader.beforeStep('start', ['az1-host-02'])
        await reader.beforeStep('stop', ['az1-host-01'])

        // The replica's own changes are seen at once.
        await reader.remove(fault.id)
        assert.deepEqual(await reader.current(), [])
        assert.equal(reader.reads, 3)
      })

      test('without an injected clock, another replica sees a new fault by itself', async (t) => {
        const [one, two] = await twoReplicas(t, dialect)
        const reader = new FaultService(one)
        assert.deepEqual(await reader.heartbeatsStopped(), { everyHost: false, hosts: new Set() })
        await new FaultService(two).add({ step: 'heartbeat', mode: 'fail', host: 'az2-host-03' })
        await until('the reader sees the fault', async () => (await reader.heartbeatsStopped()).hosts.has('az2-host-03'))
      })

      test('heartbeatsStopped: per host, or every host; the mode does not matter; a probability is drawn at every call', async (t) => {
        const [database] = await twoReplicas(t, dialect)
        const random = draws(0.3, 0.8)
        const faults = new FaultService(database, { random: random.random })
        await faults.add({ step: 'heartbeat', mode: 'stall', host: 'az1-host-01' })
        await faults.add({ step: 'start', mode: 'fail', host: 'az1-host-02' })
        assert.deepEqual(await faults.heartbeatsStopped(), { everyHost: false, hosts: new Set(['az1-host-01']) })
        const flaky = await faults.add({ step: 'heartbeat', mode: 'fail', host: 'az1-host-05', probability: 0.5 })
        assert.deepEqual(await faults.heartbeatsStopped(), { everyHost: false, hosts: new Set(['az1-host-01', 'az1-host-05']) }, 'draw 0.3')
        assert.deepEqual(await faults.heartbeatsStopped(), { everyHost: false, hosts: new Set(['az1-host-01']) }, 'draw 0.8')
        await faults.remove(flaky.id)
        await faults.add({ step: 'heartbeat', mode: 'fail' })
        assert.equal((await faults.heartbeatsStopped()).everyHost, true)
      })

      test('fence faults apply to the driver’s fencing; stalls end with an error when the service closes them', async (t) => {
        const [database] = await twoReplicas(t, dialect)
        const faults = new FaultService(database)
        const fenced: string[] = []
        const performed: string[] = []
        const inner: HostDriver = {
          movesStoppedServersInstantly: true,
          perform: async (c) => void performed.push(c.serverId),
          fence: async (host) => void fenced.push(host),
        }
        const driver = new FaultingDriver(inner, faults)
        assert.equal(driver.movesStoppedServersInstantly, true)
        await faults.add({ step: 'fence', mode: 'fail', host: 'az1-host-01', reason: 'IPMI down' })
        await assert.rejects(driver.fence('az1-host-01', []), /^InjectedFault: Injected fault .*: the fence step on host az1-host-01 failed: IPMI down$/)
        await driver.fence('az1-host-02', [])
        assert.deepEqual(fenced, ['az1-host-02'])

        await faults.add({ step: 'delete', mode: 'stall', host: 'az1-host-03' })
        await faults.add({ step: 'fence', mode: 'stall', host: 'az1-host-04' })
        const purge = driver.perform({ operation: 'purge', jobId: 'j1', serverId: 's1', hostName: 'az1-host-03', vm: { vcpus: 1, ramMb: 1024, image: 'img' } })
        const fence = driver.fence('az1-host-04', [])
        await until('the purge and the fence are stalled', () => faults.stalled.length === 2)
        faults.close(['fence'])
        await assert.rejects(fence, /ecsd is stopping: the fence step stalled by fault /)
        await assert.rejects(driver.fence('az1-host-04', []), /ecsd is stopping/, 'a later fence stall ends at once')
        assert.deepEqual(faults.stalled.map((s) => s.step), ['delete'], 'the purge still waits')
        faults.close()
        await assert.rejects(purge, /ecsd is stopping: the delete step stalled by fault .* was not performed \(a job's step is left to its next runner\)/)
        assert.deepEqual(performed, [])
        assert.deepEqual(fenced, ['az1-host-02'])
        assert.equal(faults.stalled.length, 0)
      })

      test('add refuses a host that does not exist and wrong fields, with Ecs.0005', async (t) => {
        const [database] = await twoReplicas(t, dialect)
        const faults = new FaultService(database)
        const refused = (pattern: RegExp) => (err: unknown) => err instanceof EcsError && err.code === 'Ecs.0005' && err.status === 400 && pattern.test(err.message)
        await assert.rejects(faults.add({ step: 'start', mode: 'fail', host: 'az9-host-01' }), refused(/host "az9-host-01" does not exist/))
        await assert.rejects(faults.add({ step: 'teleport', mode: 'fail' } as unknown as FaultSpec), refused(/step must be one of "boot", "start"/))
        await assert.rejects(faults.add({ step: 'start', mode: 'fail', probability: 0 }), refused(/probability must be a number above 0 and at most 1, got 0/))
        assert.deepEqual(await faults.list(), [])
        await assert.rejects(faults.remove('no-such-fault'), (err: unknown) => err instanceof EcsError && err.status === 404)
      })

      test('configured faults: inserted once however many replicas apply them at once, with ids from their content', async (t) => {
        const [one, two] = await twoReplicas(t, dialect)
        const specs: FaultSpec[] = [
          { step: 'boot', mode: 'fail', host: 'az1-host-01' },
          { step: 'heartbeat', mode: 'fail', host: 'az2-host-02', reason: 'cable pulled' },
          { step: 'boot', mode: 'fail', host: 'az1-host-01' },
        ]
        const added = await Promise.all([new FaultService(one).applyConfigured(specs), new FaultService(two).applyConfigured(specs)])
        assert.equal(added[0] + added[1], 2)
        const listed = await new FaultService(one).list()
        assert.deepEqual(listed.map((f) => f.id).sort(), specs.slice(0, 2).map((s) => configuredFaultId(defineFault(s))).sort())
        assert.equal(await new FaultService(two).applyConfigured(specs), 0, 'a restart adds nothing')
        await assert.rejects(new FaultService(one).applyConfigured([{ step: 'stop', mode: 'fail', host: 'nowhere' }]), /host "nowhere" does not exist/)
        assert.equal((await new FaultService(one).list()).length, 2)
      })

      test('ECSD_FAULTS is applied when replicas start, once; an unknown host stops the start', async (t) => {
        const dataDir = tempDir(t)
        const url = dialect === 'postgres' ? await createTestDatabase(t) : undefined
        const env = {
          ECSD_FAULTS: JSON.stringify([{ host: 'az1-host-02', step: 'start', mode: 'stall' }, { step: 'heartbeat', mode: 'fail', probability: 0.1 }]),
          ECSD_MASTER_KEY: '07'.repeat(32),
          ...(url === undefined ? {} : { ECSD_DATABASE_URL: url }),
        }
        const config = loadConfig({ dataDir, port: 0, logLevel: 'silent' }, env)
        // SQLite: one after another, as two connections of one thread cannot wait for each other's lock.
        const starts = dialect === 'postgres' ? await Promise.allSettled([startServer(config), startServer(config)]) : [
          await startServer(config).then((value) => ({ status: 'fulfilled' as const, value })),
          await startServer(config).then((value) => ({ status: 'fulfilled' as const, value })),
        ]
        const servers = starts.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []))
        try {
          assert.equal(servers.length, 2, JSON.stringify(starts.map((s) => (s.status === 'rejected' ? String(s.reason) : 'started'))))
          const res = await call(servers[0]!.app, { method: 'GET', url: '/admin/faults', ...ADMIN })
          assert.equal(res.statusCode, 200, res.body)
          const { faults } = res.json() as { faults: Array<{ host: string | null; step: string; mode: string; probability: number }> }
          assert.deepEqual(faults.map((f) => [f.host, f.step, f.mode, f.probability]).sort(), [['az1-host-02', 'start', 'stall', 1], [null, 'heartbeat', 'fail', 0.1]].sort())
        } finally {
          await Promise.all(servers.map((s) => s.close()))
        }
        const wrong = loadConfig({ dataDir, port: 0, logLevel: 'silent' }, { ...env, ECSD_FAULTS: '[{"host":"az7-host-01","step":"boot","mode":"fail"}]' })
        await assert.rejects(startServer(wrong), (err: unknown) => err instanceof ConfigError && /^ECSD_FAULTS: .*host "az7-host-01" does not exist/.test(err.message))
      })
    })
  }

  describe('ECSD_FAULTS', () => {
    test('a JSON array of faults, each field checked', () => {
      assert.deepEqual(loadConfig({}, {}).faults, [])
      assert.deepEqual(
        loadConfig({}, { ECSD_FAULTS: '[{"step":"boot","mode":"fail"},{"host":"h1","step":"move","mode":"stall","probability":0.5,"reason":"slow network"}]' }).faults,
        [{ step: 'boot', mode: 'fail' }, { host: 'h1', step: 'move', mode: 'stall', probability: 0.5, reason: 'slow network' }],
      )
    })

    test('unusable values are refused with a ConfigError that says what is wrong', () => {
      for (const [value, message] of [
        ['{', /^ECSD_FAULTS must be a JSON array of faults, but it is not valid JSON/],
        ['{"step":"boot","mode":"fail"}', /^ECSD_FAULTS must be a JSON array of faults, e\.g\./],
        ['[42]', /^ECSD_FAULTS\[0\]: a fault must be an object/],
        ['[{"step":"boot","mode":"fail"},{"step":"fly","mode":"fail"}]', /^ECSD_FAULTS\[1\]: step must be one of "boot", "start", "stop", "reboot", "move", "delete", "heartbeat", "fence", got "fly"/],
        ['[{"step":"boot"}]', /^ECSD_FAULTS\[0\]: mode must be "fail" or "stall", got nothing/],
        ['[{"step":"boot","mode":"crash"}]', /^ECSD_FAULTS\[0\]: mode must be "fail" or "stall", got "crash"/],
        ['[{"step":"boot","mode":"fail","probability":0}]', /^ECSD_FAULTS\[0\]: probability must be a number above 0 and at most 1, got 0/],
        ['[{"step":"boot","mode":"fail","probability":1.5}]', /probability .* got 1\.5/],
        ['[{"step":"boot","mode":"fail","probability":"0.5"}]', /probability .* got "0\.5"/],
        ['[{"step":"boot","mode":"fail","host":""}]', /^ECSD_FAULTS\[0\]: host must be a host name/],
        ['[{"step":"boot","mode":"fail","reason":" "}]', /^ECSD_FAULTS\[0\]: reason must be a non-empty text/],
        ['[{"step":"boot","mode":"fail","hosts":["h1"]}]', /^ECSD_FAULTS\[0\]: unknown field "hosts"/],
      ] as const) {
        assert.throws(() => loadConfig({}, { ECSD_FAULTS: value }), (err: unknown) => err instanceof ConfigError && message.test(err.message), value)
      }
    })
  })
})

import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { describe, test } from 'node:test'
import type { App } from '../../../src/app.ts'
import { ServerLostOnTarget, SimulatedDriver, type DriverCommand } from '../../../src/compute/driver.ts'
import { audit } from '../../../src/services/audit.ts'
import { DEMO } from '../../../src/services/demo.ts'
import type { Database } from '../../../src/store/database.ts'
import { GateDriver } from '../../drivers.ts'
import {
  buildTestApp, call, createGroup, createServers, groupAction, showServer, snapshot, stopServers, v1, waitForIdle, waitForJob,
  DIALECTS,
} from '../../helper.ts'

/**
 * Every operation that changes a server's host or size (resize, migrate, redeploy, operators'
 * migrations, add_member's re-placement) and the reboot, through the HTTP API: what the client
 * sees, what the hosts and the project hold before, during and after, and that a refused or
 * failed move leaves everything as it was.
 */

const ADMIN = { accessKey: DEMO.adminAccessKey, secretKey: DEMO.adminSecretKey }
const TENANT = { accessKey: DEMO.accessKey, secretKey: DEMO.secretKey }
const OTHER = { projectId: 'fedcba9876543210fedcba9876543210', accessKey: 'OTHERAK0000000000001', secretKey: 'other-secret' }
const AZ1 = Array.from({ length: 8 }, (_, i) => `az1-host-0${i + 1}`)
/** Every KVM flavor on sale but s6.large.2, by id: what an s6.large.2 server can be resized to. */
const KVM_TARGETS_OF_LARGE = ['c7.2xlarge.4', 'm6.4xlarge.8', 's6.medium.2', 's6.small.1', 's6.xlarge.2']

type Response = Awaited<ReturnType<typeof call>>

interface HostBody {
  id: string
  name: string
  availability_zone: string
  vcpus: number
  ram_mb: number
  free_vcpus: number
  free_ram_mb: number
  dedicated_to: string | null
}

interface SubJobBody {
  status: string
  job_type: string
  entities: { server_id: string }
  error_code: string | null
  fail_reason: string | null
}

interface JobBody {
  status: string
  job_id: string
  job_type: string
  entities: { sub_jobs_total: number; sub_jobs: SubJobBody[] }
  error_code: string | null
  fail_reason: string | null
}

interface FlavorBody {
  id: string
  vcpus: string
  ram: number
  extra_specs?: Record<string, string>
  os_extra_specs?: unknown
  instance_quota?: unknown
}

function ecsError(res: Response): { code: string; message: string } {
  return (res.json() as { error: { code: string; message: string } }).error
}

function assertRefused(res: Response, status: number, code: string, message?: RegExp): void {
  assert.equal(res.statusCode, status, res.body)
  const err = ecsError(res)
  assert.equal(err.code, code, res.body)
  if (message) assert.match(err.message, message)
}

/** The job id of an accepted request. */
function jobIdOf(res: Response): string {
  assert.equal(res.statusCode, 200, res.body)
  const { job_id } = res.json() as { job_id: string }
  assert.match(job_id, /^[0-9a-f]{32}$/)
  return job_id
}

async function finished(app: App, res: Response): Promise<JobBody> {
  return (await waitForJob(app, jobIdOf(res))) as unknown as JobBody
}

async function jobNow(app: App, jobId: string): Promise<JobBody> {
  const res = await call(app, { method: 'GET', url: v1(`/jobs/${jobId}`) })
  assert.equal(res.statusCode, 200, res.body)
  return res.json() as JobBody
}

/** Polls until `check` holds; the deadline only stops a hung test, it asserts nothing about speed. */
async function until(what: string, check: () => boolean | Promise<boolean>): Promise<void> {
  const deadline = Date.now() + 10_000
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`gave up waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 5))
  }
}

/** The host inventory as operators see it (`GET /admin/hosts`), by name. */
async function hosts(app: App): Promise<Map<string, HostBody>> {
  const res = await call(app, { method: 'GET', url: '/admin/hosts', ...ADMIN })
  assert.equal(res.statusCode, 200, res.body)
  return new Map((res.json() as { hosts: HostBody[] }).hosts.map((h) => [h.name, h]))
}

async function hostNamed(app: App, name: string): Promise<HostBody> {
  const h = (await hosts(app)).get(name)
  assert.ok(h, `host ${name}`)
  return h
}

function free(h: HostBody | undefined): [number, number] {
  assert.ok(h)
  return [h.free_vcpus, h.free_ram_mb]
}

async function hostOf(app: App, serverId: string): Promise<string> {
  return String((await showServer(app, serverId))['OS-EXT-SRV-ATTR:host'])
}

async function createOne(app: App, server: Record<string, unknown> = {}): Promise<string> {
  const [id] = await createServers(app, server)
  return id!
}

/** Only the named hosts take new servers (every other host of both zones is disabled). */
async function onlyEnabled(database: Database, names: readonly string[]): Promise<void> {
  await database.db.updateTable('hosts').set({ enabled: 0 }).execute()
  await database.db.updateTable('hosts').set({ enabled: 1 }).where('name', 'in', [...names]).execute()
}

async function allEnabled(database: Database): Promise<void> {
  await database.db.updateTable('hosts').set({ enabled: 1 }).execute()
}

async function limits(app: App): Promise<Record<string, number>> {
  const res = await call(app, { method: 'GET', url: v1('/cloudservers/limits') })
  return (res.json() as { absolute: Record<string, number> }).absolute
}

/** The group hold rows of a server: its member host and, while it moves, its source. */
async function holdsOf(database: Database, serverId: string): Promise<Array<{ kind: string; host: string }>> {
  const rows = await database.db
    .selectFrom('group_host_holds')
    .innerJoin('hosts', 'hosts.id', 'group_host_holds.host_id')
    .select(['group_host_holds.kind', 'hosts.name'])
    .where('server_id', '=', serverId)
    .orderBy('kind')
    .execute()
  return rows.map((r) => ({ kind: r.kind, host: r.name }))
}

async function memberHost(database: Database, serverId: string): Promise<string | undefined> {
  const row = await database.db
    .selectFrom('server_group_members')
    .innerJoin('hosts', 'hosts.id', 'server_group_members.host_id')
    .select('hosts.name')
    .where('server_id', '=', serverId)
    .executeTakeFirst()
  return row?.name
}

/** Everything a move changes, without job rows and server timestamps: equal means put back exactly. */
async function placementState(database: Database): Promise<Record<string, unknown[]>> {
  const s = await snapshot(database)
  return {
    hosts: s.hosts!,
    projects: s.projects!,
    servers: (s.servers as Array<Record<string, unknown>>).map((r) => ({ ...r, updated_at: undefined })),
    members: s.server_group_members!,
    holds: s.group_host_holds!,
    moves: s.moves!,
  }
}

async function assertAuditClean(database: Database): Promise<void> {
  assert.deepEqual(await audit(database.db), [])
}

const resizeBody = (flavorRef: string, more: Record<string, unknown> = {}) => ({ resize: { flavorRef, ...more } })

function resize(app: App, serverId: string, body: unknown, v11 = false) {
  const url = v11 ? `/v1.1/${DEMO.projectId}/cloudservers/${serverId}/resize` : v1(`/cloudservers/${serverId}/resize`)
  return call(app, { method: 'POST', url, body })
}

function batchResize(app: App, serverIds: readonly string[], flavorRef: string, more: Record<string, unknown> = {}) {
  return call(app, { method: 'POST', url: v1('/cloudservers/batch-resize'), body: { resize: { flavorRef, servers: serverIds.map((id) => ({ id })), ...more } } })
}

function reboot(app: App, serverIds: readonly string[], type: 'SOFT' | 'HARD') {
  return call(app, { method: 'POST', url: v1('/cloudservers/action'), body: { reboot: { type, servers: serverIds.map((id) => ({ id })) } } })
}

function startServers(app: App, serverIds: readonly string[]) {
  return call(app, { method: 'POST', url: v1('/cloudservers/action'), body: { 'os-start': { servers: serverIds.map((id) => ({ id })) } } })
}

function redeploy(app: App, serverId: string, body?: unknown) {
  return call(app, { method: 'POST', url: v1(`/cloudservers/${serverId}/actions/redeploy`), ...(body === undefined ? {} : { body }) })
}

function migrate(app: App, serverId: string, target: unknown) {
  return call(app, { method: 'POST', url: v1(`/cloudservers/${serverId}/migrate`), body: { migrate: target } })
}

function operatorMigrate(app: App, serverId: string, body: unknown, credential: { accessKey: string; secretKey: string } = ADMIN) {
  return call(app, { method: 'POST', url: `/admin/servers/${serverId}/migrate`, body, ...credential })
}

function dedicate(app: App, hostName: string, projectId: string | null, credential: { accessKey: string; secretKey: string } = ADMIN) {
  return call(app, { method: 'PUT', url: `/admin/hosts/${hostName}`, body: { host: { dedicated_to: projectId } }, ...credential })
}

async function dedicated(app: App, hostName: string, projectId: string): Promise<string> {
  const res = await dedicate(app, hostName, projectId)
  assert.equal(res.statusCode, 200, res.body)
  const { host } = res.json() as { host: HostBody }
  assert.equal(host.dedicated_to, projectId)
  return host.id
}

function resizeFlavors(app: App, query: string) {
  return call(app, { method: 'GET', url: `${v1('/cloudservers/resize_flavors')}${query === '' ? '' : `?${query}`}` })
}

function flavorIds(res: Response): string[] {
  assert.equal(res.statusCode, 200, res.body)
  return (res.json() as { flavors: FlavorBody[] }).flavors.map((f) => f.id)
}

/** A gate whose moves fail once released: a move held in flight for as long as a test needs, then failed. */
class FailingMoveGate extends GateDriver {
  constructor(private readonly failure: () => Error) {
    super()
  }

  override async perform(command: DriverCommand): Promise<void> {
    await super.perform(command)
    if (command.move) throw this.failure()
  }
}

/** A second project with its own credential, for cross-project cases. */
async function otherProject(services: Awaited<ReturnType<typeof buildTestApp>>['services']): Promise<void> {
  await services.identity.createProject('other', OTHER.projectId)
  await services.identity.createCredential(OTHER.projectId, { accessKey: OTHER.accessKey, secretKey: OTHER.secretKey })
}

/**
 * Fills az1-host-01 so that it cannot take any resize of `member` to c7.2xlarge.4 in place:
 * the member (s6.large.2, in `group`), three c7.2xlarge.4 and an s6.xlarge.2 (stopped, returned)
 * leave 2 vCPU / 20 GiB free. Leaves only az1-host-01 enabled.
 */
async function crowdHostOne(app: App, database: Database, group: string): Promise<{ member: string; neighbour: string }> {
  await onlyEnabled(database, ['az1-host-01'])
  const member = await createOne(app, { availability_zone: 'az1', 'os:scheduler_hints': { group } })
  await createServers(app, { availability_zone: 'az1', flavorRef: 'c7.2xlarge.4', count: 3 })
  const neighbour = await createOne(app, { availability_zone: 'az1', flavorRef: 's6.xlarge.2' })
  await stopServers(app, [member, neighbour])
  return { member, neighbour }
}

for (const dialect of DIALECTS) {
  describe(`on ${dialect}`, () => {
    describe('reboot (batchRebootServers)', () => {
      for (const type of ['SOFT', 'HARD'] as const) {
        test(`${type}: ${type === 'SOFT' ? 'REBOOT' : 'HARD_REBOOT'} while the driver works, ACTIVE on the same host after`, async (t) => {
          const driver = new GateDriver()
          driver.releaseAll()
          const { app, database } = await buildTestApp(t, { dialect, driver })
          const ids = await createServers(app, { count: 2, availability_zone: 'az1' })
          const hostsBefore = await Promise.all(ids.map((id) => hostOf(app, id)))
          driver.hold()
          const jobId = jobIdOf(await reboot(app, ids, type))
          for (const id of ids) {
            const s = await showServer(app, id)
            assert.equal(s.status, type === 'SOFT' ? 'REBOOT' : 'HARD_REBOOT')
            assert.equal(s['OS-EXT-STS:task_state'], type === 'SOFT' ? 'rebooting' : 'rebooting_hard')
            assert.equal(s['OS-EXT-STS:vm_state'], 'active')
          }
          assert.equal((await jobNow(app, jobId)).status, 'RUNNING')
          await until('both reboots reach the driver', () => driver.held.length === 2)
          assert.deepEqual(driver.held.map((c) => [c.operation, c.reboot]), [['reboot', type], ['reboot', type]])
          assertRefused(await reboot(app, [ids[0]!], type), 400, 'Ecs.0100', /in progress/)
          await assertAuditClean(database)

          driver.releaseAll()
          const job = (await waitForJob(app, jobId)) as unknown as JobBody
          assert.equal(job.status, 'SUCCESS')
          assert.equal(job.job_type, 'batchRebootServer')
          assert.equal(job.entities.sub_jobs_total, 2)
          assert.deepEqual(job.entities.sub_jobs.map((s) => [s.entities.server_id, s.job_type, s.status]), ids.map((id) => [id, 'rebootSingleServer', 'SUCCESS']))
          for (const [i, id] of ids.entries()) {
            const s = await showServer(app, id)
            assert.equal(s.status, 'ACTIVE')
            assert.equal(s['OS-EXT-STS:task_state'], null)
            assert.equal(s['OS-EXT-STS:power_state'], 1)
            assert.equal(s['OS-EXT-SRV-ATTR:host'], hostsBefore[i])
          }
          await assertAuditClean(database)
        })
      }

      test('a stopped server (alone or in a batch) is refused with Ecs.0100; more than 1000 servers with Ecs.0118', async (t) => {
        const { app, database } = await buildTestApp(t, { dialect })
        const [running, stopped] = await createServers(app, { count: 2 })
        await stopServers(app, [stopped!])
        const before = await snapshot(database)
        assertRefused(await reboot(app, [stopped!], 'SOFT'), 400, 'Ecs.0100', /is SHUTOFF.*os-start/)
        assertRefused(await reboot(app, [running!, stopped!], 'HARD'), 400, 'Ecs.0100', /is SHUTOFF/)
        const many = Array.from({ length: 1001 }, () => randomUUID())
        assertRefused(await reboot(app, many, 'SOFT'), 400, 'Ecs.0118', /1001 given, at most 1000/)
        assertRefused(await reboot(app, [randomUUID()], 'SOFT'), 404, 'Ecs.0114')
        const badType = await call(app, { method: 'POST', url: v1('/cloudservers/action'), body: { reboot: { type: 'WARM', servers: [{ id: running }] } } })
        assertRefused(badType, 400, 'Ecs.0005')
        assert.deepEqual(await snapshot(database), before)
      })

      test('a driver failure fails the sub-job with Ecs.0227 and the server stays ACTIVE', async (t) => {
        const driver = new SimulatedDriver({ latencyMs: 0, fault: (c) => (c.operation === 'reboot' ? 'the guest did not come back' : undefined) })
        const { app, database } = await buildTestApp(t, { dialect, driver })
        const id = await createOne(app)
        const host = await hostOf(app, id)
        const job = await finished(app, await reboot(app, [id], 'HARD'))
        assert.equal(job.status, 'FAIL')
        const [sub] = job.entities.sub_jobs
        assert.equal(sub?.status, 'FAIL')
        assert.equal(sub?.error_code, 'Ecs.0227')
        assert.match(String(sub?.fail_reason), /did not come back/)
        const s = await showServer(app, id)
        assert.equal(s.status, 'ACTIVE')
        assert.equal(s['OS-EXT-STS:task_state'], null)
        assert.equal(s['OS-EXT-SRV-ATTR:host'], host)
        await assertAuditClean(database)
      })
    })

    describe('resize', () => {
      test('in place when the host has room: same host, the allocation and the usage follow the flavor', async (t) => {
        const driver = new GateDriver()
        driver.releaseAll()
        const { app, database } = await buildTestApp(t, { dialect, driver })
        const id = await createOne(app, { availability_zone: 'az1' })
        await stopServers(app, [id])
        const hostName = await hostOf(app, id)
        const [vcpus0, ram0] = free(await hostNamed(app, hostName))
        const limits0 = await limits(app)

        driver.hold()
        const grow = jobIdOf(await resize(app, id, resizeBody('s6.xlarge.2')))
        const during = await showServer(app, id)
        assert.equal(during.status, 'RESIZE')
        assert.equal(during['OS-EXT-STS:task_state'], 'resize_migrating')
        assert.equal(during['OS-EXT-SRV-ATTR:host'], hostName)
        assert.deepEqual(free(await hostNamed(app, hostName)), [vcpus0 - 2, ram0 - 4096], 'the host claims the growth at once')
        await until('the resize reaches the driver', () => driver.held.length === 1)
        assert.deepEqual(driver.held[0]?.move, { from: hostName, to: hostName, kind: 'cold', vcpus: 4, ramMb: 8192, powerOnAfter: false })
        await assertAuditClean(database)
        driver.releaseAll()
        const grown = (await waitForJob(app, grow)) as unknown as JobBody
        assert.equal(grown.status, 'SUCCESS')
        assert.equal(grown.job_type, 'resizeServer')
        assert.deepEqual(grown.entities.sub_jobs.map((s) => s.job_type), ['resizeSingleServer'])
        const after = await showServer(app, id)
        assert.equal(after.status, 'SHUTOFF')
        assert.equal(after['OS-EXT-STS:task_state'], null)
        assert.equal(after['OS-EXT-SRV-ATTR:host'], hostName)
        assert.deepEqual(after.flavor, { id: 's6.xlarge.2', name: 's6.xlarge.2', disk: '0', vcpus: '4', ram: '8192' })
        assert.deepEqual(free(await hostNamed(app, hostName)), [vcpus0 - 2, ram0 - 4096])
        const limits1 = await limits(app)
        assert.equal(limits1.totalCoresUsed, limits0.totalCoresUsed! + 2)
        assert.equal(limits1.totalRAMUsed, limits0.totalRAMUsed! + 4096)
        assert.equal(limits1.totalInstancesUsed, limits0.totalInstancesUsed)

        driver.hold()
        const shrink = jobIdOf(await resize(app, id, resizeBody('s6.small.1')))
        assert.deepEqual(free(await hostNamed(app, hostName)), [vcpus0 - 2, ram0 - 4096], 'a shrinking host keeps the difference until the resize succeeds')
        await assertAuditClean(database)
        driver.releaseAll()
        assert.equal((await waitForJob(app, shrink)).status, 'SUCCESS')
        assert.equal((await showServer(app, id))['OS-EXT-SRV-ATTR:host'], hostName)
        assert.deepEqual(free(await hostNamed(app, hostName)), [vcpus0 + 1, ram0 + 3072])
        const limits2 = await limits(app)
        assert.equal(limits2.totalCoresUsed, limits0.totalCoresUsed! - 1)
        assert.equal(limits2.totalRAMUsed, limits0.totalRAMUsed! - 3072)
        await assertAuditClean(database)
      })

      test('a member whose host runs other servers moves to m6.4xlarge.8 on a host no other member uses', async (t) => {
        const { app, database } = await buildTestApp(t, { dialect })
        const g = await createGroup(app)
        await onlyEnabled(database, ['az1-host-01'])
        const a = await createOne(app, { availability_zone: 'az1', 'os:scheduler_hints': { group: g } })
        await createOne(app, { availability_zone: 'az1', flavorRef: 's6.small.1' })
        await allEnabled(database)
        const b = await createOne(app, { availability_zone: 'az1', 'os:scheduler_hints': { group: g } })
        const hostB = await hostOf(app, b)
        const freeB = free(await hostNamed(app, hostB))
        await stopServers(app, [a])

        // On shared disks (the simulated default) a stopped server's move needs no driver step: it
        // has ended by the time the answer comes back.
        const job = await jobNow(app, jobIdOf(await resize(app, a, resizeBody('m6.4xlarge.8'))))
        assert.equal(job.status, 'SUCCESS', JSON.stringify(job))
        assert.deepEqual(job.entities.sub_jobs.map((sub) => [sub.job_type, sub.status]), [['resizeSingleServer', 'SUCCESS']])
        const s = await showServer(app, a)
        const target = String(s['OS-EXT-SRV-ATTR:host'])
        assert.notEqual(target, 'az1-host-01')
        assert.notEqual(target, hostB)
        assert.equal(s['OS-EXT-AZ:availability_zone'], 'az1')
        assert.equal(s.status, 'SHUTOFF')
        assert.deepEqual(s.flavor, { id: 'm6.4xlarge.8', name: 'm6.4xlarge.8', disk: '0', vcpus: '16', ram: '131072' })
        assert.deepEqual(s['os:scheduler_hints'], { group: [g] })
        const after = await hosts(app)
        assert.deepEqual(free(after.get('az1-host-01')), [31, 131072 - 1024], 'the source keeps only the other server')
        assert.deepEqual(free(after.get(target)), [16, 0])
        assert.deepEqual(free(after.get(hostB)), freeB)
        assert.equal(await memberHost(database, a), target)
        assert.deepEqual(await holdsOf(database, a), [{ kind: 'member', host: target }])
        await assertAuditClean(database)
      })

      test('a running server needs mode withStopServer; with it, it is resized and comes back ACTIVE', async (t) => {
        const driver = new GateDriver()
        driver.releaseAll()
        const { app, database } = await buildTestApp(t, { dialect, driver })
        const id = await createOne(app, { availability_zone: 'az1' })
        const before = await snapshot(database)
        for (const v11 of [false, true]) {
          assertRefused(await resize(app, id, resizeBody('s6.xlarge.2'), v11), 400, 'Ecs.0100', /is ACTIVE.*withStopServer/)
        }
        assert.deepEqual(await snapshot(database), before)

        driver.hold()
        const jobId = jobIdOf(await resize(app, id, resizeBody('s6.xlarge.2', { mode: 'withStopServer' })))
        assert.equal((await showServer(app, id)).status, 'RESIZE')
        await until('the resize reaches the driver', () => driver.held.length === 1)
        assert.equal(driver.held[0]?.move?.powerOnAfter, true)
        assertRefused(await startServers(app, [id]), 400, 'Ecs.0100', /in progress/)
        driver.releaseAll()
        assert.equal((await waitForJob(app, jobId)).status, 'SUCCESS')
        const s = await showServer(app, id)
        assert.equal(s.status, 'ACTIVE')
        assert.equal(s['OS-EXT-STS:power_state'], 1)
        assert.equal(s['OS-EXT-STS:vm_state'], 'active')
        assert.equal((s.flavor as { id: string }).id, 's6.xlarge.2')
        await assertAuditClean(database)
      })

      test('same flavor, KVM↔Xen, unknown or sold-out flavor, bad bodies: refused, nothing changes', async (t) => {
        const { app, database } = await buildTestApp(t, { dialect })
        const kvm = await createOne(app, { availability_zone: 'az1' })
        const xen = await createOne(app, { availability_zone: 'az1', flavorRef: 's3.small.1' })
        await stopServers(app, [kvm, xen])
        const shared = await hostNamed(app, 'az1-host-02')
        const before = await snapshot(database)
        const cases: Array<{ id: string; body: unknown; status?: number; code: string; message?: RegExp; only?: 'v1' | 'v1.1' }> = [
          { id: kvm, body: resizeBody('s6.large.2'), code: 'Ecs.0005', message: /already has flavor s6.large.2/ },
          { id: kvm, body: resizeBody('s3.large.2'), code: 'Ecs.0005', message: /a KVM ECS cannot become a Xen one/ },
          { id: xen, body: resizeBody('s6.large.2'), code: 'Ecs.0005', message: /a Xen ECS cannot become a KVM one/ },
          { id: kvm, body: resizeBody('s9.nonexistent.1'), code: 'Ecs.0029', message: /s9.nonexistent.1 does not exist/ },
          { id: kvm, body: resizeBody('s6.2xlarge.2'), code: 'Ecs.0005', message: /not on sale \(cond:operation:status=sellout\)/ },
          { id: randomUUID(), body: resizeBody('s6.xlarge.2'), status: 404, code: 'Ecs.0114' },
          { id: kvm, body: resizeBody('s6.xlarge.2', { mode: 'live' }), code: 'Ecs.0005', message: /withStopServer/ },
          { id: kvm, body: { resize: {} }, code: 'Ecs.0005', message: /flavorRef/ },
          { id: kvm, body: { flavorRef: 's6.xlarge.2' }, code: 'Ecs.0005' },
          { id: kvm, body: { ...resizeBody('s6.xlarge.2'), dry_run: 'yes' }, code: 'Ecs.0005' },
          { id: kvm, body: resizeBody('s6.xlarge.2', { dedicated_host_id: shared.id }), only: 'v1', code: 'Ecs.0005', message: /unknown field "dedicated_host_id"/ },
          { id: kvm, body: resizeBody('s6.xlarge.2', { dedicated_host_id: shared.id }), only: 'v1.1', code: 'Ecs.0005', message: /shared pool/ },
        ]
        for (const c of cases) {
          for (const v11 of [false, true]) {
            if ((c.only === 'v1' && v11) || (c.only === 'v1.1' && !v11)) continue
            const res = await resize(app, c.id, c.body, v11)
            assertRefused(res, c.status ?? 400, c.code, c.message)
          }
        }
        assert.deepEqual(await snapshot(database), before)
        await assertAuditClean(database)
      })

      test('core and RAM quotas refuse a resize with Ecs.0001; a resize within them passes', async (t) => {
        const { app, database } = await buildTestApp(t, { dialect, quotas: { maxTotalCores: 8, maxTotalRAMSize: 16384 } })
        const id = await createOne(app, { availability_zone: 'az1' })
        await stopServers(app, [id])
        const before = await snapshot(database)
        assertRefused(await resize(app, id, resizeBody('c7.2xlarge.4')), 400, 'Ecs.0001', /RAM \(MiB\) would reach 32768.*quota of 16384/)
        assertRefused(await resize(app, id, resizeBody('m6.4xlarge.8')), 400, 'Ecs.0001', /vCPUs would reach 16.*quota of 8/)
        assert.deepEqual(await snapshot(database), before)
        assert.equal((await finished(app, await resize(app, id, resizeBody('s6.xlarge.2')))).status, 'SUCCESS')
        const l = await limits(app)
        assert.equal(l.totalCoresUsed, 4)
        assert.equal(l.totalRAMUsed, 8192)
        await assertAuditClean(database)
      })

      test('no host for the new flavor outside the group: Ecs.0319 with the diagnosis, nothing changes', async (t) => {
        const { app, database } = await buildTestApp(t, { dialect })
        const g = await createGroup(app)
        const { member } = await crowdHostOne(app, database, g)
        await onlyEnabled(database, ['az1-host-02'])
        await createOne(app, { availability_zone: 'az1', 'os:scheduler_hints': { group: g } })
        // Only az1-host-01 (full) and az1-host-02 (room, but the other member's host) take servers.
        await onlyEnabled(database, ['az1-host-01', 'az1-host-02'])
        const before = await snapshot(database)
        const diagnosis = /HostState\(up, enabled\): 2 → AvailabilityZone\(az1\): 2 → Tenancy\(shared pool\): 2 → Capacity\(8 vCPU, 32768 MiB\): 1 → AntiAffinity\(1 hosts used by other members\): 0/
        assertRefused(await resize(app, member, resizeBody('c7.2xlarge.4')), 400, 'Ecs.0319', diagnosis)
        assertRefused(await resize(app, member, { ...resizeBody('c7.2xlarge.4'), dry_run: true }, true), 400, 'Ecs.0319', diagnosis)
        assert.deepEqual(await snapshot(database), before)

        await onlyEnabled(database, ['az1-host-01', 'az1-host-02', 'az1-host-03'])
        assert.equal((await finished(app, await resize(app, member, resizeBody('c7.2xlarge.4')))).status, 'SUCCESS')
        assert.equal(await hostOf(app, member), 'az1-host-03', 'the one host the group does not hold')
        await assertAuditClean(database)
      })

      test('dry_run answers 202 and changes nothing; the v1 and v1.1 paths both resize', async (t) => {
        const { app, database } = await buildTestApp(t, { dialect })
        const id = await createOne(app, { availability_zone: 'az1' })
        await stopServers(app, [id])
        const before = await snapshot(database)
        for (const v11 of [false, true]) {
          const res = await resize(app, id, { ...resizeBody('s6.xlarge.2'), dry_run: true }, v11)
          assert.equal(res.statusCode, 202, res.body)
          assert.equal((res.json() as { job_id?: string }).job_id, undefined)
          assertRefused(await resize(app, id, { ...resizeBody('s6.large.2'), dry_run: true }, v11), 400, 'Ecs.0005', /already has flavor/)
        }
        assert.deepEqual(await snapshot(database), before)

        const v11 = await finished(app, await resize(app, id, { ...resizeBody('s6.xlarge.2'), dry_run: false }, true))
        assert.equal(v11.status, 'SUCCESS')
        assert.equal(((await showServer(app, id)).flavor as { id: string }).id, 's6.xlarge.2')
        assert.equal((await finished(app, await resize(app, id, resizeBody('s6.medium.2')))).status, 'SUCCESS')
        assert.equal(((await showServer(app, id)).flavor as { id: string }).id, 's6.medium.2')
        await assertAuditClean(database)
      })
    })

    describe('batch-resize', () => {
      test('resizes every server under one batchResizeServers job, one sub-job each', async (t) => {
        const { app, database } = await buildTestApp(t, { dialect })
        const ids = await createServers(app, { count: 3, availability_zone: 'az1' })
        await stopServers(app, ids)
        const job = await finished(app, await batchResize(app, ids, 's6.xlarge.2'))
        assert.equal(job.status, 'SUCCESS')
        assert.equal(job.job_type, 'batchResizeServers')
        assert.equal(job.entities.sub_jobs_total, 3)
        assert.deepEqual(job.entities.sub_jobs.map((s) => [s.entities.server_id, s.job_type, s.status]), ids.map((id) => [id, 'resizeSingleServer', 'SUCCESS']))
        for (const id of ids) assert.equal(((await showServer(app, id)).flavor as { id: string }).id, 's6.xlarge.2')
        const l = await limits(app)
        assert.equal(l.totalCoresUsed, 12)
        assert.equal(l.totalRAMUsed, 3 * 8192)
        await assertAuditClean(database)
      })

      test('mixed zones or flavors, more than 50 servers, a running server without mode: refused, nothing changes', async (t) => {
        const { app, database } = await buildTestApp(t, { dialect })
        const [a1, a2] = await createServers(app, { count: 2, availability_zone: 'az1' })
        const z2 = await createOne(app, { availability_zone: 'az2' })
        const small = await createOne(app, { availability_zone: 'az1', flavorRef: 's6.small.1' })
        await stopServers(app, [a1!, a2!, z2, small])
        const running = await createOne(app, { availability_zone: 'az1' })
        const before = await snapshot(database)
        assertRefused(await batchResize(app, [a1!, z2], 's6.xlarge.2'), 400, 'Ecs.0005', /same availability zone.*is in az2/)
        assertRefused(await batchResize(app, [a1!, small], 's6.xlarge.2'), 400, 'Ecs.0005', /same current flavor.*has flavor s6.small.1/)
        assertRefused(await batchResize(app, Array.from({ length: 51 }, () => randomUUID()), 's6.xlarge.2'), 400, 'Ecs.0118', /51 given, at most 50/)
        assertRefused(await batchResize(app, [a1!, running], 's6.xlarge.2'), 400, 'Ecs.0100', /is ACTIVE/)
        assertRefused(await batchResize(app, [a1!, randomUUID()], 's6.xlarge.2'), 404, 'Ecs.0114')
        assertRefused(await batchResize(app, [], 's6.xlarge.2'), 400, 'Ecs.0005')
        assertRefused(await batchResize(app, [a1!, a2!], 's6.xlarge.2', { mode: 'now' }), 400, 'Ecs.0005')
        assert.deepEqual(await snapshot(database), before)
        // With the mode, the running server is stopped, resized and started with the others.
        const job = await finished(app, await batchResize(app, [a1!, a2!, running], 's6.xlarge.2', { mode: 'withStopServer' }))
        assert.equal(job.status, 'SUCCESS')
        assert.deepEqual(await Promise.all([a1!, a2!, running].map(async (id) => (await showServer(app, id)).status)), ['SHUTOFF', 'SHUTOFF', 'ACTIVE'])
        await assertAuditClean(database)
      })

      test('members of one group that must move are placed on distinct hosts, or the whole batch is refused', async (t) => {
        const { app, database } = await buildTestApp(t, { dialect })
        const g = await createGroup(app)
        const ids = await createServers(app, { count: 2, availability_zone: 'az1', 'os:scheduler_hints': { group: g } })
        await stopServers(app, ids)
        const sources = await Promise.all(ids.map((id) => hostOf(app, id)))
        const [spare1, spare2] = AZ1.filter((h) => !sources.includes(h))
        // The members' own hosts take nothing new, so both must move; one spare host is too few.
        await onlyEnabled(database, [spare1!])
        const before = await snapshot(database)
        assertRefused(await batchResize(app, ids, 's6.xlarge.2'), 400, 'Ecs.0319', /Capacity\(4 vCPU, 8192 MiB\): 1 → AntiAffinity\(\d hosts used by other members\): 0/)
        assert.deepEqual(await snapshot(database), before)

        await onlyEnabled(database, [spare1!, spare2!])
        const job = await finished(app, await batchResize(app, ids, 's6.xlarge.2'))
        assert.equal(job.status, 'SUCCESS')
        const targets = await Promise.all(ids.map((id) => hostOf(app, id)))
        assert.deepEqual([...targets].sort(), [spare1, spare2].sort())
        const after = await hosts(app)
        for (const h of sources) assert.deepEqual(free(after.get(h)), [32, 131072], `${h} is released`)
        for (const h of targets) assert.deepEqual(free(after.get(h)), [28, 131072 - 8192])
        for (const [i, id] of ids.entries()) assert.equal(await memberHost(database, id), targets[i])
        await assertAuditClean(database)
      })
    })

    describe('batch-resize, partly failed', () => {
      test('a server whose move fails is put back; the others stay resized; the job fails', async (t) => {
        let failOn: string | undefined
        const driver = new SimulatedDriver({ latencyMs: 0, disks: 'local', fault: (c: DriverCommand) => (c.move && c.serverId === failOn ? 'no room on the hypervisor after all' : undefined) })
        const { app, database } = await buildTestApp(t, { dialect, driver })
        const ids = await createServers(app, { count: 2, availability_zone: 'az1' })
        await stopServers(app, ids)
        failOn = ids[1]
        const job = await finished(app, await batchResize(app, ids, 's6.xlarge.2'))
        assert.equal(job.status, 'FAIL')
        assert.match(String(job.fail_reason), /1 of 2 servers failed/)
        assert.deepEqual(job.entities.sub_jobs.map((s) => [s.entities.server_id, s.status]), [[ids[0], 'SUCCESS'], [ids[1], 'FAIL']])
        assert.equal(((await showServer(app, ids[0]!)).flavor as { id: string }).id, 's6.xlarge.2')
        assert.equal(((await showServer(app, ids[1]!)).flavor as { id: string }).id, 's6.large.2')
        const l = await limits(app)
        assert.equal(l.totalCoresUsed, 6)
        assert.equal(l.totalRAMUsed, 8192 + 4096)
        await assertAuditClean(database)
      })
    })

    describe('a move in flight', () => {
      test('holds both hosts, for capacity and for the group; the server takes no other operation', async (t) => {
        const driver = new GateDriver()
        driver.releaseAll()
        const { app, database } = await buildTestApp(t, { dialect, driver })
        const g = await createGroup(app)
        const { member, neighbour } = await crowdHostOne(app, database, g)
        await onlyEnabled(database, ['az1-host-01', 'az1-host-02'])
        assert.deepEqual(free(await hostNamed(app, 'az1-host-01')), [2, 20480])

        driver.hold()
        const jobId = jobIdOf(await resize(app, member, resizeBody('c7.2xlarge.4')))
        const s = await showServer(app, member)
        assert.equal(s.status, 'RESIZE')
        assert.equal(s['OS-EXT-SRV-ATTR:host'], 'az1-host-02', 'the server already points at its target')
        const during = await hosts(app)
        assert.deepEqual(free(during.get('az1-host-01')), [2, 20480], 'the source still holds the old flavor')
        assert.deepEqual(free(during.get('az1-host-02')), [24, 131072 - 32768], 'the target holds the new flavor')
        assert.deepEqual(await holdsOf(database, member), [{ kind: 'member', host: 'az1-host-02' }, { kind: 'move-source', host: 'az1-host-01' }])
        await assertAuditClean(database)

        const before = await snapshot(database)
        const intoGroup = await call(app, {
          method: 'POST', url: v1('/cloudservers'),
          body: { server: { name: 'x', flavorRef: 's6.small.1', imageRef: 'i', vpcid: 'v', nics: [{ subnet_id: 's' }], root_volume: { volumetype: 'SSD' }, availability_zone: 'az1', 'os:scheduler_hints': { group: g } } },
        })
        assertRefused(intoGroup, 400, 'Ecs.0319', /Capacity\(1 vCPU, 1024 MiB\): 2 → AntiAffinity\(2 hosts used by other members\): 0/)
        assertRefused(await groupAction(app, g, 'add_member', neighbour), 400, 'Ecs.0319', /AntiAffinity\(2 hosts used by other members\): 0/)
        const busy = /in progress/
        assertRefused(await resize(app, member, resizeBody('s6.xlarge.2')), 400, 'Ecs.0100', busy)
        assertRefused(await redeploy(app, member), 400, 'Ecs.0100', busy)
        assertRefused(await reboot(app, [member], 'SOFT'), 400, 'Ecs.0100', busy)
        assertRefused(await call(app, { method: 'POST', url: v1('/cloudservers/delete'), body: { servers: [{ id: member }] } }), 400, 'Ecs.0100', busy)
        assertRefused(await migrate(app, member, null), 400, 'Ecs.0100', busy)
        assertRefused(await operatorMigrate(app, member, { migrate: {} }), 400, 'Ecs.0100', busy)
        assertRefused(await batchResize(app, [member], 's6.xlarge.2'), 400, 'Ecs.0100', busy)
        assert.deepEqual(await snapshot(database), before)
        // A stop is already done: the server moves cold and stays stopped.
        const stop = await jobNow(app, jobIdOf(await call(app, { method: 'POST', url: v1('/cloudservers/action'), body: { 'os-stop': { servers: [{ id: member }] } } })))
        assert.equal(stop.status, 'SUCCESS')
        assert.equal((await showServer(app, member)).status, 'RESIZE')
        await assertAuditClean(database)

        driver.releaseAll()
        assert.equal((await waitForJob(app, jobId)).status, 'SUCCESS')
        const after = await hosts(app)
        assert.deepEqual(free(after.get('az1-host-01')), [4, 24576], 'the source is released')
        assert.deepEqual(free(after.get('az1-host-02')), [24, 131072 - 32768])
        assert.deepEqual(await holdsOf(database, member), [{ kind: 'member', host: 'az1-host-02' }])
        await assertAuditClean(database)
        // The group no longer holds the source: a new member can go there.
        const [joined] = await createServers(app, { flavorRef: 's6.small.1', availability_zone: 'az1', 'os:scheduler_hints': { group: g } })
        assert.equal(await hostOf(app, joined!), 'az1-host-01')
        await assertAuditClean(database)
      })
    })

    describe('a failed move', () => {
      test('puts the server back on its source: flavor, status, allocations, usage and membership exactly as before', async (t) => {
        let failing = false
        const driver = new SimulatedDriver({ latencyMs: 0, disks: 'local', fault: (c: DriverCommand) => (failing && c.move ? 'the target host refused the disk image' : undefined) })
        const { app, database } = await buildTestApp(t, { dialect, driver })
        const g = await createGroup(app)
        await onlyEnabled(database, ['az1-host-01'])
        const a = await createOne(app, { availability_zone: 'az1', 'os:scheduler_hints': { group: g } })
        await createOne(app, { availability_zone: 'az1', flavorRef: 's6.small.1' })
        await allEnabled(database)
        const b = await createOne(app, { availability_zone: 'az1', 'os:scheduler_hints': { group: g } })
        await stopServers(app, [b])
        const hostB = await hostOf(app, b)
        const before = await placementState(database)

        failing = true
        // To another host (a running member, stopped and to be restarted) …
        const moved = await finished(app, await resize(app, a, resizeBody('m6.4xlarge.8', { mode: 'withStopServer' })))
        assert.equal(moved.status, 'FAIL')
        assert.match(String(moved.fail_reason), /refused the disk image/)
        const [sub] = moved.entities.sub_jobs
        assert.equal(sub?.status, 'FAIL')
        assert.equal(sub?.error_code, 'Ecs.0207')
        assert.match(String(sub?.fail_reason), /refused the disk image \(the ECS is back where it was\)/)
        // … and in place.
        const inPlace = await finished(app, await resize(app, b, resizeBody('s6.xlarge.2')))
        assert.equal(inPlace.status, 'FAIL')
        assert.deepEqual(await placementState(database), before)

        const sa = await showServer(app, a)
        assert.equal(sa.status, 'ACTIVE')
        assert.equal(sa['OS-EXT-STS:power_state'], 1)
        assert.equal(sa['OS-EXT-STS:task_state'], null)
        assert.equal(sa['OS-EXT-SRV-ATTR:host'], 'az1-host-01')
        assert.equal((sa.flavor as { id: string }).id, 's6.large.2')
        assert.equal(sa.fault, undefined)
        assert.equal(await memberHost(database, a), 'az1-host-01')
        const sb = await showServer(app, b)
        assert.equal(sb.status, 'SHUTOFF')
        assert.equal(sb['OS-EXT-SRV-ATTR:host'], hostB)
        assert.equal((sb.flavor as { id: string }).id, 's6.large.2')
        await assertAuditClean(database)

        failing = false
        assert.equal((await finished(app, await resize(app, b, resizeBody('s6.xlarge.2')))).status, 'SUCCESS', 'the server can move again')
        await assertAuditClean(database)
      })

      test('a server lost on the target is left in ERROR there with a fault, its source released', async (t) => {
        let failing = false
        const driver = new SimulatedDriver({ latencyMs: 0, disks: 'local', fault: (c: DriverCommand) => (failing && c.move ? new ServerLostOnTarget('the target hypervisor crashed mid-copy') : undefined) })
        const { app, database } = await buildTestApp(t, { dialect, driver })
        const g = await createGroup(app)
        await onlyEnabled(database, ['az1-host-01'])
        const a = await createOne(app, { availability_zone: 'az1', 'os:scheduler_hints': { group: g } })
        await createOne(app, { availability_zone: 'az1', flavorRef: 's6.small.1' })
        await allEnabled(database)
        const b = await createOne(app, { availability_zone: 'az1', 'os:scheduler_hints': { group: g } })
        await stopServers(app, [a])
        const limits0 = await limits(app)

        failing = true
        const job = await finished(app, await resize(app, a, resizeBody('m6.4xlarge.8')))
        assert.equal(job.status, 'FAIL')
        assert.match(String(job.entities.sub_jobs[0]?.fail_reason), /crashed mid-copy \(the ECS is in ERROR on the target host\)/)
        const s = await showServer(app, a)
        const target = String(s['OS-EXT-SRV-ATTR:host'])
        assert.notEqual(target, 'az1-host-01')
        assert.notEqual(target, await hostOf(app, b))
        assert.equal(s.status, 'ERROR')
        assert.equal(s['OS-EXT-STS:vm_state'], 'error')
        assert.equal(s['OS-EXT-STS:task_state'], null)
        const fault = s.fault as { code: number; message: string; details: string }
        assert.match(fault.message, /crashed mid-copy/)
        assert.equal(fault.details, 'Ecs.0207')
        const after = await hosts(app)
        assert.deepEqual(free(after.get('az1-host-01')), [31, 131072 - 1024], 'the source is released')
        assert.deepEqual(free(after.get(target)), [16, 0], 'the target keeps what the server takes')
        assert.equal(await memberHost(database, a), target)
        assert.deepEqual(await holdsOf(database, a), [{ kind: 'member', host: target }])
        const l = await limits(app)
        assert.equal(l.totalCoresUsed, limits0.totalCoresUsed! + 14, 'the server counts with the flavor it has on the target')
        await assertAuditClean(database)

        // A redeploy is the way out of ERROR: the server comes back stopped, without the fault.
        failing = false
        assert.equal((await finished(app, await redeploy(app, a))).status, 'SUCCESS')
        const back = await showServer(app, a)
        assert.equal(back.status, 'SHUTOFF')
        assert.equal(back.fault, undefined)
        assert.notEqual(back['OS-EXT-SRV-ATTR:host'], target)
        await assertAuditClean(database)
      })
    })

    describe('a start queued behind a move', () => {
      test('add_member re-places a stopped server, os-start sent at once waits and the server ends ACTIVE on the new host', async (t) => {
        const driver = new GateDriver()
        driver.releaseAll()
        const { app, database } = await buildTestApp(t, { dialect, driver })
        await onlyEnabled(database, ['az1-host-01'])
        const [a, b] = await createServers(app, { count: 2, availability_zone: 'az1' })
        await allEnabled(database)
        await stopServers(app, [a!, b!])
        const g = await createGroup(app)
        assert.equal((await groupAction(app, g, 'add_member', a!)).statusCode, 200)

        driver.hold()
        assert.equal((await groupAction(app, g, 'add_member', b!)).statusCode, 200)
        const moving = await showServer(app, b!)
        const target = String(moving['OS-EXT-SRV-ATTR:host'])
        assert.notEqual(target, 'az1-host-01')
        assert.equal(moving.status, 'SHUTOFF')
        assert.equal(moving['OS-EXT-STS:task_state'], 'migrating')

        const start = jobIdOf(await startServers(app, [b!]))
        const waiting = await jobNow(app, start)
        assert.equal(waiting.status, 'RUNNING')
        assert.deepEqual(waiting.entities.sub_jobs.map((s) => [s.job_type, s.status]), [['startSingleServer', 'INIT']])
        assertRefused(await startServers(app, [b!]), 400, 'Ecs.0100', /in progress/)
        await assertAuditClean(database)

        driver.releaseAll()
        assert.equal((await waitForJob(app, start)).status, 'SUCCESS')
        await waitForIdle(database)
        const s = await showServer(app, b!)
        assert.equal(s.status, 'ACTIVE')
        assert.equal(s['OS-EXT-STS:power_state'], 1)
        assert.equal(s['OS-EXT-SRV-ATTR:host'], target)
        assert.equal(await hostOf(app, a!), 'az1-host-01')
        assert.equal((await showServer(app, a!)).status, 'SHUTOFF')
        await assertAuditClean(database)
      })

      test('a start queued behind a resize that fails still starts the server, on its source with its old flavor', async (t) => {
        const driver = new FailingMoveGate(() => new Error('the copy broke'))
        driver.releaseAll()
        const { app, database } = await buildTestApp(t, { dialect, driver })
        const id = await createOne(app, { availability_zone: 'az1' })
        await stopServers(app, [id])
        const source = await hostOf(app, id)
        driver.hold()
        const resizeJob = jobIdOf(await resize(app, id, resizeBody('s6.xlarge.2')))
        const start = jobIdOf(await startServers(app, [id]))
        assert.deepEqual((await jobNow(app, start)).entities.sub_jobs.map((s) => s.status), ['INIT'])
        driver.releaseAll()
        assert.equal((await waitForJob(app, resizeJob)).status, 'FAIL')
        assert.equal((await waitForJob(app, start)).status, 'SUCCESS')
        const s = await showServer(app, id)
        assert.equal(s.status, 'ACTIVE')
        assert.equal(s['OS-EXT-SRV-ATTR:host'], source)
        assert.equal((s.flavor as { id: string }).id, 's6.large.2')
        await assertAuditClean(database)
      })

      test('a start queued behind a re-placement that fails fails with it (Ecs.0226); the server is in ERROR on the target', async (t) => {
        const driver = new FailingMoveGate(() => new Error('the target host lost the disk'))
        driver.releaseAll()
        const { app, database } = await buildTestApp(t, { dialect, driver })
        await onlyEnabled(database, ['az1-host-01'])
        const [a, b] = await createServers(app, { count: 2, availability_zone: 'az1' })
        await allEnabled(database)
        await stopServers(app, [a!, b!])
        const g = await createGroup(app)
        assert.equal((await groupAction(app, g, 'add_member', a!)).statusCode, 200)
        driver.hold()
        assert.equal((await groupAction(app, g, 'add_member', b!)).statusCode, 200)
        const target = await hostOf(app, b!)
        const start = jobIdOf(await startServers(app, [b!]))
        driver.releaseAll()
        const job = (await waitForJob(app, start)) as unknown as JobBody
        await waitForIdle(database)
        assert.equal(job.status, 'FAIL')
        assert.equal(job.entities.sub_jobs[0]?.error_code, 'Ecs.0226')
        assert.match(String(job.entities.sub_jobs[0]?.fail_reason), /ended its move in ERROR/)
        const s = await showServer(app, b!)
        assert.equal(s.status, 'ERROR')
        assert.equal(s['OS-EXT-SRV-ATTR:host'], target, 'the source is the other member\'s host: it cannot go back there')
        assert.match(String((s.fault as { message: string }).message), /lost the disk/)
        assert.equal(await memberHost(database, b!), target)
        assert.deepEqual(free(await hostNamed(app, 'az1-host-01')), [30, 131072 - 4096], 'the source keeps only the first member')
        await assertAuditClean(database)
      })
    })

    describe('redeploy', () => {
      test('a running server comes back ACTIVE on another host; a stopped one stays SHUTOFF', async (t) => {
        const driver = new GateDriver()
        driver.releaseAll()
        const { app, database } = await buildTestApp(t, { dialect, driver })
        const [running, stopped] = await createServers(app, { count: 2, availability_zone: 'az1' })
        await stopServers(app, [stopped!])
        const fromRunning = await hostOf(app, running!)
        const fromStopped = await hostOf(app, stopped!)

        driver.hold()
        const jobId = jobIdOf(await redeploy(app, running!))
        const during = await showServer(app, running!)
        assert.equal(during.status, 'MIGRATING')
        assert.equal(during['OS-EXT-STS:task_state'], 'migrating')
        assert.equal(during['OS-EXT-STS:vm_state'], 'active')
        await until('the redeploy reaches the driver', () => driver.held.length === 1)
        const command = driver.held[0]!
        assert.equal(command.operation, 'redeploy')
        assert.equal(command.move?.from, fromRunning)
        assert.notEqual(command.move?.to, fromRunning)
        assert.equal(command.move?.powerOnAfter, true)
        await assertAuditClean(database)
        driver.releaseAll()
        const job = (await waitForJob(app, jobId)) as unknown as JobBody
        assert.equal(job.status, 'SUCCESS')
        assert.equal(job.job_type, 'redeployServer')
        assert.deepEqual(job.entities.sub_jobs.map((s) => s.job_type), ['redeploySingleServer'])
        const r = await showServer(app, running!)
        assert.equal(r.status, 'ACTIVE')
        assert.equal(r['OS-EXT-STS:power_state'], 1)
        assert.notEqual(r['OS-EXT-SRV-ATTR:host'], fromRunning)
        assert.equal(r['OS-EXT-AZ:availability_zone'], 'az1')

        assert.equal((await finished(app, await redeploy(app, stopped!, {}))).status, 'SUCCESS')
        const s = await showServer(app, stopped!)
        assert.equal(s.status, 'SHUTOFF')
        assert.equal(s['OS-EXT-STS:power_state'], 4)
        assert.notEqual(s['OS-EXT-SRV-ATTR:host'], fromStopped)
        await assertAuditClean(database)
      })

      test('members stay on distinct hosts; with no other host Ecs.0319 and nothing changes', async (t) => {
        const { app, database } = await buildTestApp(t, { dialect })
        const g = await createGroup(app)
        const ids = await createServers(app, { count: 8, availability_zone: 'az1', flavorRef: 's6.small.1', 'os:scheduler_hints': { group: g } })
        const before = await snapshot(database)
        assertRefused(
          await redeploy(app, ids[0]!),
          400,
          'Ecs.0319',
          /AvailabilityZone\(az1\): 8 → Tenancy\(shared pool\): 8 → DifferentHost\(not the current host\): 7 → Capacity\(1 vCPU, 1024 MiB\): 7 → AntiAffinity\(7 hosts used by other members\): 0/,
        )
        assert.deepEqual(await snapshot(database), before)

        const freed = await hostOf(app, ids[7]!)
        assert.equal((await finished(app, await call(app, { method: 'POST', url: v1('/cloudservers/delete'), body: { servers: [{ id: ids[7] }] } }))).status, 'SUCCESS')
        assert.equal((await finished(app, await redeploy(app, ids[0]!))).status, 'SUCCESS')
        assert.equal(await hostOf(app, ids[0]!), freed, 'the one host no other member holds')
        const memberHosts = await Promise.all(ids.slice(0, 7).map((id) => hostOf(app, id)))
        assert.equal(new Set(memberHosts).size, 7)
        assert.equal((await showServer(app, ids[0]!)).status, 'ACTIVE')
        await assertAuditClean(database)
      })

      test('takes no body: anything but none or {} is Ecs.0005; an unknown server is 404', async (t) => {
        const { app, database } = await buildTestApp(t, { dialect })
        const id = await createOne(app)
        const before = await snapshot(database)
        for (const body of [{ redeploy: {} }, { a: 1 }, [], '"x"', 7]) {
          assertRefused(await redeploy(app, id, body), 400, 'Ecs.0005', /takes no request body/)
        }
        assertRefused(await redeploy(app, id, '{"a":'), 400, 'Ecs.0005', /not valid JSON/)
        assertRefused(await redeploy(app, randomUUID()), 404, 'Ecs.0114')
        assert.deepEqual(await snapshot(database), before)
      })
    })

    describe('migrate and dedicated hosts', () => {
      test('shared placement never uses a dedicated host; a create names one, or any with tenancy dedicated', async (t) => {
        const { app, database } = await buildTestApp(t, { dialect })
        const dehs = AZ1.slice(1)
        const dehIds = new Map<string, string>()
        for (const name of dehs) dehIds.set(name, await dedicated(app, name, DEMO.projectId))
        const shared = await createServers(app, { count: 4, availability_zone: 'az1', flavorRef: 's6.small.1' })
        for (const id of shared) assert.equal(await hostOf(app, id), 'az1-host-01')
        const g = await createGroup(app)
        const before = await snapshot(database)
        const intoGroup = await call(app, {
          method: 'POST', url: v1('/cloudservers'),
          body: { server: { name: 'x', flavorRef: 's6.small.1', imageRef: 'i', vpcid: 'v', nics: [{ subnet_id: 's' }], root_volume: { volumetype: 'SSD' }, count: 2, availability_zone: 'az1', 'os:scheduler_hints': { group: g } } },
        })
        assertRefused(intoGroup, 400, 'Ecs.0319', /Tenancy\(shared pool\): 1/)

        const refusals: Array<{ hints: Record<string, unknown>; message: RegExp }> = [
          { hints: { group: g, dedicated_host_id: dehIds.get('az1-host-05') }, message: /cannot be combined with a dedicated host/ },
          { hints: { group: g, tenancy: 'dedicated' }, message: /cannot be combined with a dedicated host/ },
          { hints: { dedicated_host_id: randomUUID() }, message: /not a dedicated host of this project/ },
          { hints: { dedicated_host_id: (await hostNamed(app, 'az1-host-01')).id }, message: /not a dedicated host of this project/ },
        ]
        for (const r of refusals) {
          const res = await call(app, {
            method: 'POST', url: v1('/cloudservers'),
            body: { server: { name: 'x', flavorRef: 's6.small.1', imageRef: 'i', vpcid: 'v', nics: [{ subnet_id: 's' }], root_volume: { volumetype: 'SSD' }, 'os:scheduler_hints': r.hints } },
          })
          assertRefused(res, 400, 'Ecs.0005', r.message)
        }
        assert.deepEqual(await snapshot(database), before)

        const named = await createOne(app, { availability_zone: 'az1', 'os:scheduler_hints': { dedicated_host_id: dehIds.get('az1-host-05') } })
        assert.equal(await hostOf(app, named), 'az1-host-05')
        const anyDeh = await createServers(app, { count: 3, 'os:scheduler_hints': { tenancy: 'dedicated' } })
        for (const id of anyDeh) assert.ok(dehs.includes(await hostOf(app, id)))
        await assertAuditClean(database)
      })

      test('pool → dedicated host → another dedicated host → back to the pool', async (t) => {
        const driver = new GateDriver()
        driver.releaseAll()
        const { app, database } = await buildTestApp(t, { dialect, driver })
        const deh7 = await dedicated(app, 'az1-host-07', DEMO.projectId)
        const deh8 = await dedicated(app, 'az1-host-08', DEMO.projectId)
        const id = await createOne(app, { availability_zone: 'az1' })
        await stopServers(app, [id])
        const source = await hostOf(app, id)

        driver.hold()
        const jobId = jobIdOf(await migrate(app, id, { dedicated_host_id: deh7 }))
        const during = await showServer(app, id)
        assert.equal(during.status, 'MIGRATING')
        assert.equal(during['OS-EXT-STS:task_state'], 'migrating')
        assert.equal(during['OS-EXT-STS:vm_state'], 'stopped')
        await until('the migration reaches the driver', () => driver.held.length === 1)
        assert.deepEqual(driver.held[0]?.move, { from: source, to: 'az1-host-07', kind: 'cold', vcpus: 2, ramMb: 4096, powerOnAfter: false })
        await assertAuditClean(database)
        driver.releaseAll()
        const job = (await waitForJob(app, jobId)) as unknown as JobBody
        assert.equal(job.status, 'SUCCESS')
        assert.equal(job.job_type, 'migrateServer')
        assert.deepEqual(job.entities.sub_jobs.map((s) => s.job_type), ['migrateSingleServer'])
        assert.equal(await hostOf(app, id), 'az1-host-07')
        assert.equal((await showServer(app, id)).status, 'SHUTOFF')

        assert.equal((await finished(app, await migrate(app, id, { dedicated_host_id: deh8 }))).status, 'SUCCESS')
        assert.equal(await hostOf(app, id), 'az1-host-08')
        assert.equal((await finished(app, await migrate(app, id, null))).status, 'SUCCESS')
        const back = await showServer(app, id)
        assert.ok(AZ1.slice(0, 6).includes(String(back['OS-EXT-SRV-ATTR:host'])), 'a shared host of its zone')
        assert.equal(back.status, 'SHUTOFF')
        const after = await hosts(app)
        assert.deepEqual(free(after.get('az1-host-07')), [32, 131072])
        assert.deepEqual(free(after.get('az1-host-08')), [32, 131072])
        await assertAuditClean(database)
      })

      test('a server on a dedicated host resizes on dedicated hosts; v1.1 dedicated_host_id names the one', async (t) => {
        const { app, database } = await buildTestApp(t, { dialect })
        const deh7 = await dedicated(app, 'az1-host-07', DEMO.projectId)
        const deh8 = await dedicated(app, 'az1-host-08', DEMO.projectId)
        const id = await createOne(app, { availability_zone: 'az1', 'os:scheduler_hints': { dedicated_host_id: deh7 } })
        await stopServers(app, [id])
        const before = await snapshot(database)
        assertRefused(await resize(app, id, resizeBody('s6.xlarge.2', { dedicated_host_id: randomUUID() }), true), 400, 'Ecs.0005', /not a dedicated host of this project/)
        assert.deepEqual(await snapshot(database), before)
        assert.equal((await finished(app, await resize(app, id, resizeBody('s6.xlarge.2', { dedicated_host_id: deh8 }), true))).status, 'SUCCESS')
        assert.equal(await hostOf(app, id), 'az1-host-08')
        assert.equal((await finished(app, await resize(app, id, resizeBody('s6.large.2')))).status, 'SUCCESS')
        assert.equal(await hostOf(app, id), 'az1-host-08', 'in place')
        const after = await hosts(app)
        assert.deepEqual(free(after.get('az1-host-07')), [32, 131072])
        assert.deepEqual(free(after.get('az1-host-08')), [30, 131072 - 4096])
        await assertAuditClean(database)
      })

      test('running, pool to pool, same dedicated host, foreign or unknown dedicated host: refused, nothing changes', async (t) => {
        const { app, database, services } = await buildTestApp(t, { dialect })
        await otherProject(services)
        const foreign = await dedicated(app, 'az1-host-06', OTHER.projectId)
        const deh8 = await dedicated(app, 'az1-host-08', DEMO.projectId)
        const running = await createOne(app, { availability_zone: 'az1' })
        const pool = await createOne(app, { availability_zone: 'az1' })
        const onDeh = await createOne(app, { availability_zone: 'az1', 'os:scheduler_hints': { dedicated_host_id: deh8 } })
        await stopServers(app, [pool, onDeh])
        const sharedHost = await hostNamed(app, 'az1-host-01')
        const before = await snapshot(database)
        assertRefused(await migrate(app, running, { dedicated_host_id: deh8 }), 400, 'Ecs.0100', /is ACTIVE.*stopped/)
        assertRefused(await migrate(app, pool, null), 400, 'Ecs.0005', /runs in the shared pool/)
        assertRefused(await migrate(app, pool, {}), 400, 'Ecs.0005', /runs in the shared pool/)
        assertRefused(await migrate(app, onDeh, { dedicated_host_id: deh8 }), 400, 'Ecs.0221', /already runs on dedicated host/)
        for (const target of [foreign, randomUUID(), sharedHost.id]) {
          assertRefused(await migrate(app, pool, { dedicated_host_id: target }), 400, 'Ecs.0005', /not a dedicated host of this project/)
        }
        assertRefused(await migrate(app, randomUUID(), { dedicated_host_id: deh8 }), 404, 'Ecs.0114')
        assertRefused(await migrate(app, pool, { dedicated_host_id: deh8, live: true }), 400, 'Ecs.0005')
        assertRefused(await call(app, { method: 'POST', url: v1(`/cloudservers/${pool}/migrate`), body: {} }), 400, 'Ecs.0005')
        assert.deepEqual(await snapshot(database), before)
        await assertAuditClean(database)
      })

      test('a dedicated host that another member of the group uses: Ecs.0319 with the diagnosis, nothing changes', async (t) => {
        const { app, database } = await buildTestApp(t, { dialect })
        const deh8 = await dedicated(app, 'az1-host-08', DEMO.projectId)
        const x = await createOne(app, { availability_zone: 'az1', 'os:scheduler_hints': { dedicated_host_id: deh8 } })
        const y = await createOne(app, { availability_zone: 'az1' })
        await stopServers(app, [x, y])
        const g = await createGroup(app)
        assert.equal((await groupAction(app, g, 'add_member', x)).statusCode, 200)
        assert.equal((await groupAction(app, g, 'add_member', y)).statusCode, 200)
        await waitForIdle(database)
        const before = await snapshot(database)
        assertRefused(
          await migrate(app, y, { dedicated_host_id: deh8 }),
          400,
          'Ecs.0319',
          new RegExp(`RequestedHost\\(${deh8}\\): 1 → AvailabilityZone\\(az1\\): 1 → Tenancy\\(dedicated to ${DEMO.projectId}\\): 1 → DifferentHost\\(not the current host\\): 1 → Capacity\\(2 vCPU, 4096 MiB\\): 1 → AntiAffinity\\(1 hosts used by other members\\): 0`),
        )
        assert.deepEqual(await snapshot(database), before)
      })

      test('add_member re-places a server on a dedicated host onto another dedicated host of its project, never the pool', async (t) => {
        const { app, database } = await buildTestApp(t, { dialect })
        await dedicated(app, 'az1-host-07', DEMO.projectId)
        const deh8 = await dedicated(app, 'az1-host-08', DEMO.projectId)
        const [x, y] = await createServers(app, { count: 2, availability_zone: 'az1', 'os:scheduler_hints': { dedicated_host_id: deh8 } })
        const z = await createOne(app, { availability_zone: 'az1', 'os:scheduler_hints': { dedicated_host_id: deh8 } })
        await stopServers(app, [x!, y!, z])
        const g = await createGroup(app)
        assert.equal((await groupAction(app, g, 'add_member', x!)).statusCode, 200)
        assert.equal((await groupAction(app, g, 'add_member', y!)).statusCode, 200)
        await waitForIdle(database)
        assert.equal(await hostOf(app, x!), 'az1-host-08')
        assert.equal(await hostOf(app, y!), 'az1-host-07')
        // Both dedicated hosts are the group's now: the third has nowhere to go.
        const before = await snapshot(database)
        assertRefused(await groupAction(app, g, 'add_member', z), 400, 'Ecs.0319', new RegExp(`Tenancy\\(dedicated to ${DEMO.projectId}\\): 2 → Capacity\\(2 vCPU, 4096 MiB\\): 2 → AntiAffinity\\(2 hosts used by other members\\): 0`))
        assert.deepEqual(await snapshot(database), before)
        await assertAuditClean(database)
      })

      test('dedicating a host: refused while another project runs servers on it; operators only', async (t) => {
        const { app, database, services } = await buildTestApp(t, { dialect })
        await otherProject(services)
        await onlyEnabled(database, ['az1-host-03'])
        const res = await call(app, {
          method: 'POST', url: `/v1/${OTHER.projectId}/cloudservers`, ...OTHER,
          body: { server: { name: 'theirs', flavorRef: 's6.small.1', imageRef: 'i', vpcid: 'v', nics: [{ subnet_id: 's' }], root_volume: { volumetype: 'SSD' } } },
        })
        assert.equal(res.statusCode, 200, res.body)
        const [theirs] = (res.json() as { serverIds: string[] }).serverIds
        await allEnabled(database)
        await until('their server is ACTIVE', async () => (await database.db.selectFrom('servers').select('status').where('id', '=', theirs!).executeTakeFirst())?.status === 'ACTIVE')

        const before = await snapshot(database)
        assertRefused(await dedicate(app, 'az1-host-03', DEMO.projectId), 409, 'Ecs.0005', new RegExp(`runs servers of other projects \\(e\\.g\\. ${theirs}\\)`))
        assertRefused(await dedicate(app, 'az1-host-03', DEMO.projectId, TENANT), 403, 'Ecs.0003')
        assertRefused(await dedicate(app, 'az9-host-99', DEMO.projectId), 404, 'Ecs.0005')
        assertRefused(await dedicate(app, 'az1-host-04', 'ffffffffffffffffffffffffffffffff'), 400, 'Ecs.0005', /does not exist/)
        assert.deepEqual(await snapshot(database), before)

        await dedicated(app, 'az1-host-03', OTHER.projectId)
        const shared = await dedicate(app, 'az1-host-03', null)
        assert.equal(shared.statusCode, 200, shared.body)
        assert.equal((shared.json() as { host: HostBody }).host.dedicated_to, null)
        await assertAuditClean(database)
      })
    })

    describe('listResizeFlavors', () => {
      test('lists compatible flavors by instance, flavor id or flavor name, in that precedence', async (t) => {
        const { app } = await buildTestApp(t, { dialect })
        const kvm = await createOne(app, { availability_zone: 'az1' })
        const xen = await createOne(app, { availability_zone: 'az1', flavorRef: 's3.small.1' })
        assert.deepEqual(flavorIds(await resizeFlavors(app, `instance_uuid=${kvm}`)), KVM_TARGETS_OF_LARGE, 'KVM only, not the current one, not the sold-out one')
        assert.deepEqual(flavorIds(await resizeFlavors(app, `instance_uuid=${xen}`)), ['s3.large.2'])
        assert.deepEqual(flavorIds(await resizeFlavors(app, 'source_flavor_id=s3.large.2')), ['s3.small.1'])
        assert.deepEqual(flavorIds(await resizeFlavors(app, 'source_flavor_name=s6.large.2')), KVM_TARGETS_OF_LARGE)
        assert.deepEqual(flavorIds(await resizeFlavors(app, `source_flavor_name=s3.large.2&source_flavor_id=s6.large.2&instance_uuid=${kvm}`)), KVM_TARGETS_OF_LARGE)
        assert.deepEqual(flavorIds(await resizeFlavors(app, `source_flavor_name=s3.large.2&source_flavor_id=s6.large.2`)), KVM_TARGETS_OF_LARGE)
        assert.deepEqual(flavorIds(await resizeFlavors(app, `source_flavor_name=s6.large.2&source_flavor_id=s3.small.1`)), ['s3.large.2'])

        const body = (await resizeFlavors(app, 'source_flavor_id=s6.small.1')).json() as { flavors: FlavorBody[] }
        const large = body.flavors.find((f) => f.id === 's6.large.2')
        assert.ok(large)
        assert.equal(large.vcpus, '2')
        assert.equal(large.ram, 4096)
        assert.equal(large.os_extra_specs, undefined)
        assert.equal(large.extra_specs?.['ecs:virtualization_env_types'], 'CloudCompute')
        assert.equal(large.extra_specs?.['cond:operation:status'], 'normal')
        assert.deepEqual(large.instance_quota, {})

        const none = await resizeFlavors(app, '')
        assertRefused(none, 400, 'Ecs.0005', /instance_uuid, source_flavor_id or source_flavor_name/)
        assert.equal((none.json() as { server?: unknown }).server, undefined, 'not answered by the show-server route')
        assertRefused(await resizeFlavors(app, `instance_uuid=${randomUUID()}`), 404, 'Ecs.0114')
        assertRefused(await resizeFlavors(app, 'source_flavor_id=s9.none.1'), 400, 'Ecs.0029')
        assertRefused(await resizeFlavors(app, 'source_flavor_name=s9.none.1'), 400, 'Ecs.0029')
      })

      test('sort_key, sort_dir, limit and marker', async (t) => {
        const { app } = await buildTestApp(t, { dialect })
        const all = flavorIds(await resizeFlavors(app, 'source_flavor_id=s6.large.2'))
        assert.deepEqual(all, KVM_TARGETS_OF_LARGE)
        assert.deepEqual(flavorIds(await resizeFlavors(app, 'source_flavor_id=s6.large.2&sort_key=name&sort_dir=desc')), [...all].reverse())
        const byVcpus = ((await resizeFlavors(app, 'source_flavor_id=s6.large.2&sort_key=vcpus&sort_dir=desc')).json() as { flavors: FlavorBody[] }).flavors
        assert.deepEqual(byVcpus.map((f) => Number(f.vcpus)), byVcpus.map((f) => Number(f.vcpus)).sort((a, b) => b - a))
        assert.equal(byVcpus[0]?.id, 'm6.4xlarge.8')
        const byRam = ((await resizeFlavors(app, 'source_flavor_id=s6.large.2&sort_key=memory_mb')).json() as { flavors: FlavorBody[] }).flavors
        assert.deepEqual(byRam.map((f) => f.id), ['s6.small.1', 's6.medium.2', 's6.xlarge.2', 'c7.2xlarge.4', 'm6.4xlarge.8'])

        const paged: string[] = []
        let marker: string | undefined
        for (let page = 0; page < 5; page++) {
          const ids = flavorIds(await resizeFlavors(app, `source_flavor_id=s6.large.2&limit=2${marker === undefined ? '' : `&marker=${marker}`}`))
          assert.ok(ids.length <= 2)
          paged.push(...ids)
          if (ids.length < 2) break
          marker = ids.at(-1)
        }
        assert.deepEqual(paged, all)
        for (const query of ['marker=s3.large.2', 'limit=0', 'limit=1001', 'sort_key=ram', 'sort_dir=up', 'flavor=x']) {
          assertRefused(await resizeFlavors(app, `source_flavor_id=s6.large.2&${query}`), 400, 'Ecs.0005')
        }
      })
    })

    describe('showFlavorCapacity', () => {
      test('one entry per zone with the region; prefer false where every host of the zone is full for the flavor', async (t) => {
        const { app, config } = await buildTestApp(t, { dialect })
        const g = await createGroup(app)
        // One small server on each az2 host: none of them can take a whole-host flavor any more.
        await createServers(app, { count: 8, availability_zone: 'az2', flavorRef: 's6.small.1', 'os:scheduler_hints': { group: g } })
        const capacity = async (flavor: string) => {
          const res = await call(app, { method: 'GET', url: v1(`/cloudservers/flavors/${flavor}/resources`) })
          assert.equal(res.statusCode, 200, res.body)
          return (res.json() as { resources: unknown[] }).resources
        }
        assert.deepEqual(await capacity('m6.4xlarge.8'), [
          { region_id: config.region, availability_zone: 'az1', prefer: true },
          { region_id: config.region, availability_zone: 'az2', prefer: false },
        ])
        assert.deepEqual(await capacity('s6.small.1'), [
          { region_id: config.region, availability_zone: 'az1', prefer: true },
          { region_id: config.region, availability_zone: 'az2', prefer: true },
        ])
        assertRefused(await call(app, { method: 'GET', url: v1('/cloudservers/flavors/s9.none.1/resources') }), 400, 'Ecs.0029')
      })
    })

    describe('operator migration (POST /admin/servers/{id}/migrate)', () => {
      test('live keeps the server ACTIVE; cold moves a stopped one, to a named host if asked', async (t) => {
        const driver = new GateDriver()
        driver.releaseAll()
        const { app, database } = await buildTestApp(t, { dialect, driver })
        const [live, cold] = await createServers(app, { count: 2, availability_zone: 'az1' })
        await stopServers(app, [cold!])
        const from = await hostOf(app, live!)

        driver.hold()
        const jobId = jobIdOf(await operatorMigrate(app, live!, { migrate: { live: true } }))
        const during = await showServer(app, live!)
        assert.equal(during.status, 'MIGRATING')
        assert.equal(during['OS-EXT-STS:vm_state'], 'active')
        assert.equal(during['OS-EXT-STS:power_state'], 1)
        await until('the migration reaches the driver', () => driver.held.length === 1)
        assert.equal(driver.held[0]?.move?.kind, 'live')
        assert.equal(driver.held[0]?.move?.from, from)
        await assertAuditClean(database)
        driver.releaseAll()
        const job = (await waitForJob(app, jobId)) as unknown as JobBody
        assert.equal(job.status, 'SUCCESS')
        assert.equal(job.job_type, 'migrateServer')
        const s = await showServer(app, live!)
        assert.equal(s.status, 'ACTIVE')
        assert.notEqual(s['OS-EXT-SRV-ATTR:host'], from)

        const coldFrom = await hostOf(app, cold!)
        const target = AZ1.find((h) => h !== coldFrom && h !== s['OS-EXT-SRV-ATTR:host'])!
        assert.equal((await finished(app, await operatorMigrate(app, cold!, { migrate: { host: target } }))).status, 'SUCCESS')
        const c = await showServer(app, cold!)
        assert.equal(c['OS-EXT-SRV-ATTR:host'], target)
        assert.equal(c.status, 'SHUTOFF')
        assert.equal((await finished(app, await operatorMigrate(app, cold!, { migrate: {} }))).status, 'SUCCESS')
        assert.notEqual(await hostOf(app, cold!), target)
        await assertAuditClean(database)
      })

      test('a named host the group holds is refused with the diagnosis; other refusals; tenants get 403', async (t) => {
        const { app, database } = await buildTestApp(t, { dialect })
        const g = await createGroup(app)
        const [a, b] = await createServers(app, { count: 2, availability_zone: 'az1', 'os:scheduler_hints': { group: g } })
        await stopServers(app, [a!])
        const hostA = await hostOf(app, a!)
        const hostB = await hostNamed(app, await hostOf(app, b!))
        const before = await snapshot(database)
        assertRefused(
          await operatorMigrate(app, a!, { migrate: { host: hostB.name } }),
          400,
          'Ecs.0319',
          new RegExp(`RequestedHost\\(${hostB.id}\\): 1 → .*AntiAffinity\\(1 hosts used by other members\\): 0`),
        )
        assertRefused(await operatorMigrate(app, a!, { migrate: { live: true } }), 400, 'Ecs.0100', /live migration needs it ACTIVE/)
        assertRefused(await operatorMigrate(app, a!, { migrate: { host: 'az9-host-99' } }), 400, 'Ecs.0005', /does not exist/)
        assertRefused(await operatorMigrate(app, a!, { migrate: { host: hostA } }), 400, 'Ecs.0005', /already runs on/)
        assertRefused(await operatorMigrate(app, randomUUID(), { migrate: {} }), 404, 'Ecs.0114')
        assertRefused(await operatorMigrate(app, a!, { migrate: { live: 'yes' } }), 400, 'Ecs.0005')
        assertRefused(await operatorMigrate(app, a!, { migrate: {} }, TENANT), 403, 'Ecs.0003')
        assert.deepEqual(await snapshot(database), before)
        await assertAuditClean(database)
      })
    })
  })
}

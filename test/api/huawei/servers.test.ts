import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import type { DriverCommand } from '../../../src/compute/driver.ts'
import { SimulatedDriver } from '../../../src/compute/driver.ts'
import { GateDriver } from '../../drivers.ts'
import {
  buildTestApp, call, createBody, createGroup, createServers, groupAction, showServer, snapshot, stopServers, v1, waitForJob,
  DIALECTS,
} from '../../helper.ts'

for (const dialect of DIALECTS) {
  describe(`on ${dialect}`, () => {
    const SERVERS = v1('/cloudservers')

    function ecsError(res: { json(): unknown }): { code: string; message: string } {
      return (res.json() as { error: { code: string; message: string } }).error
    }

    interface JobBody {
      status: string
      job_id: string
      job_type: string
      entities: { sub_jobs_total: number; sub_jobs: Array<{ status: string; job_type: string; entities: { server_id: string }; fail_reason: string | null }> }
      fail_reason: string | null
      error_code: string | null
    }

    describe('create servers', () => {
      test('returns job_id and serverIds; the job goes RUNNING → SUCCESS and servers BUILD → ACTIVE', async (t) => {
        const driver = new GateDriver()
        const { app } = await buildTestApp(t, { dialect, driver })
        const res = await call(app, { method: 'POST', url: SERVERS, body: createBody({ count: 3, name: 'web' }) })
        assert.equal(res.statusCode, 200, res.body)
        const { job_id, serverIds } = res.json() as { job_id: string; serverIds: string[] }
        assert.match(job_id, /^[0-9a-f]{32}$/)
        assert.equal(serverIds.length, 3)

        const building = await showServer(app, serverIds[0]!)
        assert.equal(building.status, 'BUILD')
        assert.equal(building['OS-EXT-STS:task_state'], 'spawning')
        const running = (await call(app, { method: 'GET', url: v1(`/jobs/${job_id}`) })).json() as JobBody
        assert.equal(running.status, 'RUNNING')

        driver.releaseAll()
        const job = (await waitForJob(app, job_id)) as unknown as JobBody
        assert.equal(job.status, 'SUCCESS')
        assert.equal(job.job_type, 'createServer')
        assert.equal(job.entities.sub_jobs_total, 3)
        assert.deepEqual(job.entities.sub_jobs.map((s) => s.entities.server_id), serverIds)
        assert.ok(job.entities.sub_jobs.every((s) => s.status === 'SUCCESS' && s.job_type === 'createSingleServer'))

        const names = []
        for (const id of serverIds) {
          const s = await showServer(app, id)
          assert.equal(s.status, 'ACTIVE')
          assert.equal(s['OS-EXT-STS:vm_state'], 'active')
          assert.equal(s['OS-EXT-STS:task_state'], null)
          assert.equal(s['OS-EXT-STS:power_state'], 1)
          assert.deepEqual(s.flavor, { id: 's6.large.2', name: 's6.large.2', disk: '0', vcpus: '2', ram: '4096' })
          assert.match(String(s.hostId), /^[0-9a-f]{56}$/)
          assert.match(String(s.created), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/)
          names.push(s.name)
        }
        assert.deepEqual(names, ['web-0001', 'web-0002', 'web-0003'])
      })

      test('into a group: servers land on distinct hosts and show the group', async (t) => {
        const { app } = await buildTestApp(t, { dialect })
        const g = await createGroup(app)
        const ids = await createServers(app, { count: 4, availability_zone: 'az2', 'os:scheduler_hints': { group: g } })
        const hosts = new Set()
        for (const id of ids) {
          const s = await showServer(app, id)
          hosts.add(s['OS-EXT-SRV-ATTR:host'])
          assert.equal(s['OS-EXT-AZ:availability_zone'], 'az2')
          assert.deepEqual(s['os:scheduler_hints'], { group: [g] })
        }
        assert.equal(hosts.size, 4)
        const more = await createServers(app, { count: 4, availability_zone: 'az2', 'os:scheduler_hints': { group: g } })
        for (const id of more) hosts.add((await showServer(app, id))['OS-EXT-SRV-ATTR:host'])
        assert.equal(hosts.size, 8, 'a later create avoids the hosts of earlier members')
      })

      test('into a group with more servers than free hosts: Ecs.0319 and nothing is created', async (t) => {
        const { app, database } = await buildTestApp(t, { dialect })
        const g = await createGroup(app)
        await createServers(app, { count: 6, availability_zone: 'az1', 'os:scheduler_hints': { group: g } })
        const before = await snapshot(database)
        const res = await call(app, { method: 'POST', url: SERVERS, body: createBody({ count: 3, availability_zone: 'az1', 'os:scheduler_hints': { group: g } }) })
        assert.equal(res.statusCode, 400)
        assert.equal(ecsError(res).code, 'Ecs.0319')
        assert.match(ecsError(res).message, /server 3 of 3/)
        assert.match(ecsError(res).message, /AntiAffinity\(8 hosts used by other members\): 0/)
        assert.deepEqual(await snapshot(database), before)
      })

      test('a repeated X-Client-Token returns the first job and creates nothing more', async (t) => {
        const { app, database } = await buildTestApp(t, { dialect })
        const send = () => call(app, { method: 'POST', url: SERVERS, body: createBody({ count: 2 }), headers: { 'x-client-token': 'tok-1' } })
        const first = (await send()).json() as { job_id: string; serverIds: string[] }
        const second = (await send()).json() as { job_id: string; serverIds: string[] }
        assert.deepEqual(second, first)
        const rows = await database.db.selectFrom('servers').select('id').execute()
        assert.equal(rows.length, 2)
        await waitForJob(app, first.job_id)
      })

      test('dry_run checks and places, answers 202, and creates nothing', async (t) => {
        const { app, database } = await buildTestApp(t, { dialect })
        const before = await snapshot(database)
        const res = await call(app, { method: 'POST', url: SERVERS, body: { ...createBody({ count: 2 }), dry_run: true } })
        assert.equal(res.statusCode, 202)
        assert.deepEqual(await snapshot(database), before)
        const bad = await call(app, { method: 'POST', url: SERVERS, body: { ...createBody({ flavorRef: 'nope' }), dry_run: true } })
        assert.equal(ecsError(bad).code, 'Ecs.0029')
      })

      test('bad requests are refused with clear errors and change nothing', async (t) => {
        const { app, database } = await buildTestApp(t, { dialect, quotas: { maxServerGroupMembers: 2, maxTotalInstances: 5 } })
        const g = await createGroup(app)
        const before = await snapshot(database)
        const cases: Array<{ body: unknown; status: number; code: string; mentions: RegExp }> = [
          { body: createBody({ flavorRef: 'm9.huge' }), status: 400, code: 'Ecs.0029', mentions: /flavor m9.huge does not exist/ },
          { body: createBody({ availability_zone: 'az9' }), status: 400, code: 'Ecs.0005', mentions: /az9.*zones: az1, az2/ },
          { body: createBody({ count: 0 }), status: 400, code: 'Ecs.0005', mentions: /count/ },
          { body: createBody({ count: '2' }), status: 400, code: 'Ecs.0005', mentions: /count must be integer/ },
          { body: createBody({ count: 501 }), status: 400, code: 'Ecs.0913', mentions: /at most 500/ },
          { body: createBody({ count: 6 }), status: 400, code: 'Ecs.0001', mentions: /instances/ },
          { body: createBody({ colour: 'red' }), status: 400, code: 'Ecs.0005', mentions: /unknown field "colour"/ },
          { body: createBody({ name: 'x'.repeat(65) }), status: 400, code: 'Ecs.0005', mentions: /name/ },
          { body: createBody({ nics: [] }), status: 400, code: 'Ecs.0005', mentions: /nics/ },
          { body: createBody({ 'os:scheduler_hints': { group: '5bbcc3c4-1da2-4437-a48a-66f15b1b13f9' } }), status: 404, code: 'Ecs.0313', mentions: /does not exist/ },
          { body: createBody({ 'os:scheduler_hints': { group: g }, flavorRef: 's3.large.2' }), status: 400, code: 'Ecs.0005', mentions: /only KVM/ },
          { body: createBody({ 'os:scheduler_hints': { group: g }, count: 3 }), status: 400, code: 'Ecs.0022', mentions: /maximum of 2 members/ },
          { body: createBody({ metadata: { a: 1 } }), status: 400, code: 'Ecs.0005', mentions: /metadata/ },
          { body: { server: { name: 'x' } }, status: 400, code: 'Ecs.0005', mentions: /missing required field "imageRef"/ },
          { body: { servers: {} }, status: 400, code: 'Ecs.0005', mentions: /unknown field "servers"/ },
        ]
        for (const c of cases) {
          const res = await call(app, { method: 'POST', url: SERVERS, body: c.body })
          assert.equal(res.statusCode, c.status, `${JSON.stringify(c.body)} → ${res.body}`)
          assert.equal(ecsError(res).code, c.code, res.body)
          assert.match(ecsError(res).message, c.mentions, res.body)
        }
        assert.deepEqual(await snapshot(database), before)
      })

      test('every documented PostPaidServer field is accepted', async (t) => {
        const { app } = await buildTestApp(t, { dialect })
        await createServers(app, {
          adminPass: 'Secret#1234', key_name: 'kp', user_data: 'IyEvYmluL2Jhc2g=', description: 'd', isAutoRename: false,
          security_groups: [{ id: 'sg' }], data_volumes: [{ volumetype: 'SSD', size: 10 }], publicip: { eip: { iptype: '5_bgp' } },
          extendparam: { chargingMode: 0 }, tags: ['a.b'], server_tags: [{ key: 'k', value: 'v' }], metadata: { owner: 'me' },
          batch_create_in_multi_az: false,
        })
      })
    })

    describe('show and list', () => {
      test('show of an unknown or malformed id is 404 Ecs.0114', async (t) => {
        const { app } = await buildTestApp(t, { dialect })
        for (const id of ['34dac9a0-c4a7-457b-bab2-e2c696e0e401', 'nope', "x'or'1'='1"]) {
          const res = await call(app, { method: 'GET', url: `${SERVERS}/${encodeURIComponent(id)}` })
          assert.equal(res.statusCode, 404, id)
          assert.equal(ecsError(res).code, 'Ecs.0114')
        }
      })

      test('list detail pages with offset (page number) and limit, filters by status, name and flavor', async (t) => {
        const { app } = await buildTestApp(t, { dialect })
        const web = await createServers(app, { count: 3, name: 'web' })
        const db = await createServers(app, { count: 2, name: 'db_%', flavorRef: 's6.small.1' })
        await stopServers(app, [web[0]!])
        const list = async (query: string) => {
          const res = await call(app, { method: 'GET', url: `${SERVERS}/detail${query}` })
          assert.equal(res.statusCode, 200, res.body)
          return res.json() as { count: number; servers: Array<{ id: string; name: string; status: string }> }
        }
        const all = await list('')
        assert.equal(all.count, 5)
        assert.equal(all.servers.length, 5)
        const pages = [await list('?limit=2&offset=1'), await list('?limit=2&offset=2'), await list('?limit=2&offset=3')]
        assert.deepEqual(pages.map((p) => p.servers.length), [2, 2, 1])
        assert.ok(pages.every((p) => p.count === 5))
        assert.deepEqual(new Set(pages.flatMap((p) => p.servers.map((s) => s.id))), new Set([...web, ...db]))
        assert.deepEqual((await list('?offset=0&limit=2')).servers, pages[0]!.servers, 'offset 0 behaves like 1')
        const stopped = await list('?status=SHUTOFF')
        assert.deepEqual(stopped.servers.map((s) => s.id), [web[0]])
        assert.equal(stopped.count, 1)
        assert.equal((await list('?status=MIGRATING')).count, 0)
        assert.equal((await list('?name=db_%25')).count, 2, 'LIKE metacharacters are literal')
        assert.equal((await list('?name=b_')).count, 2)
        assert.equal((await list('?name=eb-000')).count, 3)
        assert.equal((await list('?name=%25')).count, 2)
        assert.equal((await list('?flavor=s6.small.1')).count, 2)
      })

      test('list rejects unknown parameters and bad values', async (t) => {
        const { app } = await buildTestApp(t, { dialect })
        for (const query of ['status=RUNNING', 'limit=0', 'limit=1001', 'offset=-1', 'limit=x', 'sort_key=name']) {
          const res = await call(app, { method: 'GET', url: `${SERVERS}/detail?${query}` })
          assert.equal(res.statusCode, 400, `${query} → ${res.body}`)
          assert.equal(ecsError(res).code, 'Ecs.0005')
        }
      })
    })

    describe('start, stop and delete', () => {
      const action = (app: Parameters<typeof call>[0], body: unknown) => call(app, { method: 'POST', url: `${SERVERS}/action`, body })

      test('stop then start; the host does not change', async (t) => {
        const { app } = await buildTestApp(t, { dialect })
        const [id] = await createServers(app)
        const host = (await showServer(app, id!))['OS-EXT-SRV-ATTR:host']
        const stop = await action(app, { 'os-stop': { servers: [{ id }], type: 'HARD' } })
        assert.equal(stop.statusCode, 200)
        const stopJob = (await waitForJob(app, (stop.json() as { job_id: string }).job_id)) as unknown as JobBody
        assert.equal(stopJob.status, 'SUCCESS')
        assert.equal(stopJob.job_type, 'batchStopServer')
        const stopped = await showServer(app, id!)
        assert.equal(stopped.status, 'SHUTOFF')
        assert.equal(stopped['OS-EXT-STS:power_state'], 4)
        assert.equal(stopped['OS-EXT-STS:vm_state'], 'stopped')
        const start = await action(app, { 'os-start': { servers: [{ id }] } })
        assert.equal(((await waitForJob(app, (start.json() as { job_id: string }).job_id)) as unknown as JobBody).status, 'SUCCESS')
        const started = await showServer(app, id!)
        assert.equal(started.status, 'ACTIVE')
        assert.equal(started['OS-EXT-SRV-ATTR:host'], host)
      })

      test('stopping a stopped server and starting a running one succeed without work', async (t) => {
        const { app, database } = await buildTestApp(t, { dialect })
        const [id] = await createServers(app)
        const start = await action(app, { 'os-start': { servers: [{ id }] } })
        const job = (await waitForJob(app, (start.json() as { job_id: string }).job_id)) as unknown as JobBody
        assert.equal(job.status, 'SUCCESS')
        assert.equal(job.entities.sub_jobs[0]?.status, 'SUCCESS')
        await stopServers(app, [id!])
        const before = (await database.db.selectFrom('servers').selectAll().execute())
        await stopServers(app, [id!])
        assert.deepEqual(await database.db.selectFrom('servers').selectAll().execute(), before)
      })

      test('a server with a job in progress is refused; unknown ids refuse the whole batch', async (t) => {
        const driver = new GateDriver()
        const { app, database } = await buildTestApp(t, { dialect, driver })
        const created = await call(app, { method: 'POST', url: SERVERS, body: createBody({ count: 2 }) })
        const { serverIds, job_id } = created.json() as { job_id: string; serverIds: string[] }
        const busy = await action(app, { 'os-stop': { servers: [{ id: serverIds[0] }] } })
        assert.equal(busy.statusCode, 400)
        assert.equal(ecsError(busy).code, 'Ecs.0100')
        assert.match(ecsError(busy).message, /spawning/)
        driver.releaseAll()
        await waitForJob(app, job_id)
        const before = await snapshot(database)
        const unknown = await action(app, { 'os-stop': { servers: [{ id: serverIds[0] }, { id: '34dac9a0-c4a7-457b-bab2-e2c696e0e401' }] } })
        assert.equal(unknown.statusCode, 404)
        assert.equal(ecsError(unknown).code, 'Ecs.0114')
        assert.deepEqual(await snapshot(database), before, 'the known server was not stopped either')
      })

      test('malformed actions are refused', async (t) => {
        const { app } = await buildTestApp(t, { dialect })
        const id = '34dac9a0-c4a7-457b-bab2-e2c696e0e401'
        const cases = [
          {}, { 'os-start': { servers: [{ id }] }, 'os-stop': { servers: [{ id }] } }, { reboot: { servers: [{ id }] } },
          { 'os-stop': { servers: [] } }, { 'os-stop': { servers: [{ id }], type: 'GENTLE' } }, { 'os-start': { servers: [id] } },
        ]
        for (const body of cases) {
          const res = await action(app, body)
          assert.equal(res.statusCode, 400, JSON.stringify(body))
          assert.equal(ecsError(res).code, 'Ecs.0005')
        }
        const many = await action(app, { 'os-start': { servers: Array.from({ length: 1001 }, () => ({ id: crypto.randomUUID() })) } })
        assert.equal(many.statusCode, 400)
        assert.equal(ecsError(many).code, 'Ecs.0118')
      })

      test('delete frees the allocation and the membership', async (t) => {
        const { app, database } = await buildTestApp(t, { dialect })
        const g = await createGroup(app)
        const [id] = await createServers(app, { 'os:scheduler_hints': { group: g }, flavorRef: 'c7.2xlarge.4' })
        const hostName = (await showServer(app, id!))['OS-EXT-SRV-ATTR:host'] as string
        const res = await call(app, { method: 'POST', url: `${SERVERS}/delete`, body: { servers: [{ id }], delete_publicip: true, delete_volume: true } })
        assert.equal(res.statusCode, 200)
        const job = (await waitForJob(app, (res.json() as { job_id: string }).job_id)) as unknown as JobBody
        assert.equal(job.status, 'SUCCESS')
        assert.equal(job.job_type, 'deleteServer')
        const gone = await call(app, { method: 'GET', url: `${SERVERS}/${id}` })
        assert.equal(gone.statusCode, 404)
        const host = await database.db.selectFrom('hosts').selectAll().where('name', '=', hostName).executeTakeFirstOrThrow()
        assert.equal(host.free_vcpus, host.vcpus)
        assert.equal(host.free_ram_mb, host.ram_mb)
        const group = await call(app, { method: 'GET', url: v1(`/cloudservers/os-server-groups/${g}`) })
        assert.deepEqual((group.json() as { server_group: { members: string[] } }).server_group.members, [])
        const again = await call(app, { method: 'POST', url: `${SERVERS}/delete`, body: { servers: [{ id }] } })
        assert.equal(again.statusCode, 404)
      })

      test('a driver failure fails the job with a reason; a failed create leaves the server in ERROR', async (t) => {
        const driver = new SimulatedDriver({ latencyMs: 0, fault: (c: DriverCommand) => (c.operation === 'create' ? 'hypervisor refused to boot' : undefined) })
        const { app } = await buildTestApp(t, { dialect, driver })
        const res = await call(app, { method: 'POST', url: SERVERS, body: createBody() })
        const { job_id, serverIds } = res.json() as { job_id: string; serverIds: string[] }
        const job = (await waitForJob(app, job_id)) as unknown as JobBody
        assert.equal(job.status, 'FAIL')
        assert.equal(job.error_code, 'Ecs.0611')
        assert.match(String(job.fail_reason), /hypervisor refused to boot/)
        assert.equal(job.entities.sub_jobs[0]?.status, 'FAIL')
        const s = await showServer(app, serverIds[0]!)
        assert.equal(s.status, 'ERROR')
        const start = await call(app, { method: 'POST', url: `${SERVERS}/action`, body: { 'os-start': { servers: [{ id: serverIds[0] }] } } })
        assert.equal(ecsError(start).code, 'Ecs.0100')
        const del = await call(app, { method: 'POST', url: `${SERVERS}/delete`, body: { servers: [{ id: serverIds[0] }] } })
        assert.equal(((await waitForJob(app, (del.json() as { job_id: string }).job_id)) as unknown as JobBody).status, 'SUCCESS')
      })
    })

    describe('jobs, flavors, limits', () => {
      test('an unknown job is 404 Common.0011', async (t) => {
        const { app } = await buildTestApp(t, { dialect })
        const res = await call(app, { method: 'GET', url: v1('/jobs/ff80808288d41e1b018960b8f6a81ba6') })
        assert.equal(res.statusCode, 404)
        assert.equal(ecsError(res).code, 'Common.0011')
      })

      test('flavors list the demo catalogue with the virtualization extra spec', async (t) => {
        const { app } = await buildTestApp(t, { dialect })
        const res = await call(app, { method: 'GET', url: v1('/cloudservers/flavors') })
        assert.equal(res.statusCode, 200)
        const flavors = (res.json() as { flavors: Array<{ id: string; vcpus: string; ram: number; os_extra_specs: Record<string, string> }> }).flavors
        const byId = Object.fromEntries(flavors.map((f) => [f.id, f]))
        assert.deepEqual(Object.keys(byId).sort(), ['c7.2xlarge.4', 'm6.4xlarge.8', 's3.large.2', 's3.small.1', 's6.2xlarge.2', 's6.large.2', 's6.medium.2', 's6.small.1', 's6.xlarge.2'])
        assert.equal(byId['s6.2xlarge.2']?.os_extra_specs['cond:operation:status'], 'sellout', 'a sold-out flavor says so')
        assert.equal(byId['c7.2xlarge.4']?.vcpus, '8')
        assert.equal(byId['c7.2xlarge.4']?.ram, 32768)
        assert.equal(byId['s6.large.2']?.os_extra_specs['ecs:virtualization_env_types'], 'CloudCompute')
        assert.equal(byId['s3.large.2']?.os_extra_specs['ecs:virtualization_env_types'], 'FusionCompute')
        const inZone = await call(app, { method: 'GET', url: v1('/cloudservers/flavors?availability_zone=az2') })
        assert.equal((inZone.json() as { flavors: unknown[] }).flavors.length, 9)
        const noZone = await call(app, { method: 'GET', url: v1('/cloudservers/flavors?availability_zone=az7') })
        assert.equal((noZone.json() as { flavors: unknown[] }).flavors.length, 0)
      })

      test('limits report quotas and usage', async (t) => {
        const { app } = await buildTestApp(t, { dialect })
        await createGroup(app)
        await createServers(app, { count: 2, flavorRef: 's6.xlarge.2' })
        const res = await call(app, { method: 'GET', url: v1('/cloudservers/limits') })
        assert.equal(res.statusCode, 200)
        const a = (res.json() as { absolute: Record<string, number> }).absolute
        assert.equal(a.maxServerGroups, 10)
        assert.equal(a.maxServerGroupMembers, 16)
        assert.equal(a.totalServerGroupsUsed, 1)
        assert.equal(a.totalInstancesUsed, 2)
        assert.equal(a.totalCoresUsed, 8)
        assert.equal(a.totalRAMUsed, 16384)
        assert.equal(typeof a.maxTotalInstances, 'number')
      })
    })

    test('members keep their membership across stop and start', async (t) => {
      const { app } = await buildTestApp(t, { dialect })
      const [id] = await createServers(app)
      await stopServers(app, [id!])
      const g = await createGroup(app)
      await groupAction(app, g, 'add_member', id!)
      const start = await call(app, { method: 'POST', url: `${SERVERS}/action`, body: { 'os-start': { servers: [{ id }] } } })
      await waitForJob(app, (start.json() as { job_id: string }).job_id)
      assert.deepEqual((await showServer(app, id!))['os:scheduler_hints'], { group: [g] })
    })
  })
}

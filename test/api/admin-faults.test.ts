import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import type { App } from '../../src/app.ts'
import { audit } from '../../src/services/audit.ts'
import { DEMO } from '../../src/services/demo.ts'
import { buildTestApp, call, createServers, stopServers, v1, waitForJob, DIALECTS } from '../helper.ts'

/**
 * `GET/POST /admin/faults`, `DELETE /admin/faults/{id}`: operators inject faults into the
 * simulated hosts and take them out again; only with an admin credential.
 */

interface Credential {
  accessKey: string
  secretKey: string
}

const ADMIN: Credential = { accessKey: DEMO.adminAccessKey, secretKey: DEMO.adminSecretKey }
const TENANT: Credential = { accessKey: DEMO.accessKey, secretKey: DEMO.secretKey }

interface FaultBody {
  id: string
  host: string | null
  step: string
  mode: string
  probability: number
  reason: string
  created_at: string
}

type Response = Awaited<ReturnType<typeof call>>

function addFault(app: App, body: unknown, credential: Credential = ADMIN) {
  return call(app, { method: 'POST', url: '/admin/faults', body, ...credential })
}

async function listFaults(app: App): Promise<FaultBody[]> {
  const res = await call(app, { method: 'GET', url: '/admin/faults', ...ADMIN })
  assert.equal(res.statusCode, 200, res.body)
  return (res.json() as { faults: FaultBody[] }).faults
}

function removeFault(app: App, id: string, credential: Credential = ADMIN) {
  return call(app, { method: 'DELETE', url: `/admin/faults/${id}`, ...credential })
}

function assertRefused(res: Response, status: number, code: string, message: RegExp): void {
  assert.equal(res.statusCode, status, res.body)
  const { error } = res.json() as { error: { code: string; message: string } }
  assert.equal(error.code, code, res.body)
  assert.match(error.message, message)
}

for (const dialect of DIALECTS) {
  describe(`admin faults (${dialect})`, () => {
    test('add, list and remove faults', async (t) => {
      const { app } = await buildTestApp(t, { dialect })
      assert.deepEqual(await listFaults(app), [])

      const minimal = await addFault(app, { fault: { step: 'start', mode: 'fail' } })
      assert.equal(minimal.statusCode, 201, minimal.body)
      const first = (minimal.json() as { fault: FaultBody }).fault
      assert.match(first.id, /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/)
      assert.deepEqual({ ...first, id: undefined, created_at: undefined }, {
        id: undefined, created_at: undefined, host: null, step: 'start', mode: 'fail', probability: 1, reason: 'start fails on every host',
      })
      assert.ok(!Number.isNaN(Date.parse(first.created_at)))

      const full = await addFault(app, { fault: { host: 'az2-host-08', step: 'move', mode: 'stall', probability: 0.25, reason: 'slow storage network' } })
      assert.equal(full.statusCode, 201, full.body)
      const second = (full.json() as { fault: FaultBody }).fault
      assert.deepEqual([second.host, second.step, second.mode, second.probability, second.reason], ['az2-host-08', 'move', 'stall', 0.25, 'slow storage network'])

      assert.deepEqual(await listFaults(app), [first, second])

      const removed = await removeFault(app, first.id)
      assert.equal(removed.statusCode, 204)
      assert.equal(removed.body, '')
      assert.deepEqual(await listFaults(app), [second])
      assertRefused(await removeFault(app, first.id), 404, 'Ecs.0005', new RegExp(`Fault ${first.id} does not exist`))
    })

    test('a fault added through the API fails the next matching step; removed, the step runs again', async (t) => {
      const { app, database } = await buildTestApp(t, { dialect })
      const [id] = (await createServers(app, { availability_zone: 'az1' })) as [string]
      await stopServers(app, [id])
      const added = await addFault(app, { fault: { step: 'start', mode: 'fail', reason: 'host is on fire' } })
      const { fault } = added.json() as { fault: FaultBody }
      const start = () => call(app, { method: 'POST', url: v1('/cloudservers/action'), body: { 'os-start': { servers: [{ id }] } } })

      const failed = await waitForJob(app, (((await start()).json()) as { job_id: string }).job_id)
      assert.equal(failed.status, 'FAIL')
      assert.match(String(failed.fail_reason), new RegExp(`Injected fault ${fault.id}: the start step of ECS ${id} on host az1-host-\\d\\d failed: host is on fire`))
      assert.deepEqual(await audit(database.db), [])

      assert.equal((await removeFault(app, fault.id)).statusCode, 204)
      assert.equal((await waitForJob(app, (((await start()).json()) as { job_id: string }).job_id)).status, 'SUCCESS')
      assert.deepEqual(await audit(database.db), [])
    })

    test('wrong bodies and unknown hosts are refused with Ecs.0005 and nothing is added', async (t) => {
      const { app } = await buildTestApp(t, { dialect })
      for (const [body, message] of [
        [{ fault: { step: 'fly', mode: 'fail' } }, /body\/fault\/step: must be one of "boot", "start", "stop", "reboot", "move", "delete", "heartbeat", "fence"/],
        [{ fault: { step: 'boot', mode: 'crash' } }, /body\/fault\/mode: must be one of "fail", "stall"/],
        [{ fault: { mode: 'fail' } }, /missing required field "step"/],
        [{ fault: { step: 'boot' } }, /missing required field "mode"/],
        [{ fault: { step: 'boot', mode: 'fail', probability: 0 } }, /body\/fault\/probability must be > 0/],
        [{ fault: { step: 'boot', mode: 'fail', probability: 1.01 } }, /body\/fault\/probability must be <= 1/],
        [{ fault: { step: 'boot', mode: 'fail', probability: '0.5' } }, /body\/fault\/probability must be number/],
        [{ fault: { step: 'boot', mode: 'fail', reason: '' } }, /body\/fault\/reason must NOT have fewer than 1 characters/],
        [{ fault: { step: 'boot', mode: 'fail', host: '' } }, /body\/fault\/host must NOT have fewer than 1 characters/],
        [{ fault: { step: 'boot', mode: 'fail', hosts: ['az1-host-01'] } }, /unknown field "hosts"/],
        [{ fault: { step: 'boot', mode: 'fail' }, extra: 1 }, /unknown field "extra"/],
        [{ step: 'boot', mode: 'fail' }, /missing required field "fault"/],
        [{ fault: { step: 'boot', mode: 'fail', host: 'az9-host-01' } }, /host "az9-host-01" does not exist/],
      ] as const) {
        assertRefused(await addFault(app, body), 400, 'Ecs.0005', message)
      }
      assert.deepEqual(await listFaults(app), [])
    })

    test('tenants get 403 Ecs.0003 on every fault route', async (t) => {
      const { app, services } = await buildTestApp(t, { dialect })
      const fault = await services.faults.add({ step: 'boot', mode: 'fail' })
      const needsAdmin = /needs an operator \(admin\) credential/
      assertRefused(await call(app, { method: 'GET', url: '/admin/faults', ...TENANT }), 403, 'Ecs.0003', needsAdmin)
      assertRefused(await addFault(app, { fault: { step: 'boot', mode: 'fail' } }, TENANT), 403, 'Ecs.0003', needsAdmin)
      assertRefused(await removeFault(app, fault.id, TENANT), 403, 'Ecs.0003', needsAdmin)
      assert.deepEqual((await listFaults(app)).map((f) => f.id), [fault.id])
    })
  })
}

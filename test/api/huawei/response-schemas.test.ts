import assert from 'node:assert/strict'
import { test } from 'node:test'
import type { DriverCommand } from '../../../src/compute/driver.ts'
import { SimulatedDriver } from '../../../src/compute/driver.ts'
import { groupBody, serverBody } from '../../../src/api/huawei/views.ts'
import { DEMO } from '../../../src/services/demo.ts'
import { buildTestApp, call, createBody, v1, waitForJob } from '../../helper.ts'

/** A driver whose creates fail, so that a server in ERROR carries a fault. */
class FailingCreates extends SimulatedDriver {
  override async perform(command: DriverCommand): Promise<void> {
    if (command.operation === 'create') throw new Error('the hypervisor refused the boot')
    return super.perform(command)
  }
}

test('the compiled serializers of show and list answer exactly what the views build, field for field', async (t) => {
  const { app, services } = await buildTestApp(t, { driver: new FailingCreates({ latencyMs: 0 }) })
  const group = await call(app, { method: 'POST', url: v1('/cloudservers/os-server-groups'), body: { server_group: { name: 'g', policies: ['anti-affinity'] } } })
  const groupId = (group.json() as { server_group: { id: string } }).server_group.id
  const created = await call(app, {
    method: 'POST',
    url: v1('/cloudservers'),
    body: createBody({ name: 'Web_1', metadata: { owner: 'team-a', 'x.y': '"quoted"\n' }, 'os:scheduler_hints': { group: groupId } }),
  })
  assert.equal(created.statusCode, 200, created.body)
  const { job_id, serverIds } = created.json() as { job_id: string; serverIds: string[] }
  assert.equal((await waitForJob(app, job_id)).status, 'FAIL')

  const shown = await call(app, { method: 'GET', url: v1(`/cloudservers/${serverIds[0]}`) })
  assert.equal(shown.statusCode, 200)
  const expected = { server: serverBody(await services.servers.show(DEMO.projectId, serverIds[0]!)) }
  assert.ok('fault' in expected.server && expected.server['OS-EXT-STS:task_state'] === null, 'the server has a fault and a null task state')
  assert.deepEqual(shown.json(), JSON.parse(JSON.stringify(expected)))

  const listed = await call(app, { method: 'GET', url: v1('/cloudservers/os-server-groups') })
  assert.equal(listed.statusCode, 200)
  const page = await services.groups.list(DEMO.projectId, undefined, undefined)
  assert.deepEqual(listed.json(), JSON.parse(JSON.stringify({ server_groups: page.groups.map(groupBody) })))
  assert.ok(page.groups.some((g) => g.members.includes(serverIds[0]!)), 'the member is listed')
})

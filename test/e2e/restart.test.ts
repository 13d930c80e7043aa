import assert from 'node:assert/strict'
import path from 'node:path'
import { test } from 'node:test'
import { audit } from '../../src/services/audit.ts'
import { DEMO_FLAVORS } from '../../src/services/demo.ts'
import { Database } from '../../src/store/database.ts'
import { tempDir } from '../helper.ts'
import { demoPath, httpCall, httpWaitForJob, startEcsd } from '../process.ts'

const server = (extra: Record<string, unknown> = {}) => ({
  server: { name: 'p', flavorRef: 's6.large.2', imageRef: 'i', vpcid: 'v', nics: [{ subnet_id: 's' }], root_volume: { volumetype: 'SSD' }, ...extra },
})

async function show(url: string, id: string): Promise<Record<string, unknown>> {
  const res = await httpCall(url, 'GET', demoPath(`/cloudservers/${id}`))
  assert.equal(res.status, 200)
  return (res.body as { server: Record<string, unknown> }).server
}

test('state survives a clean stop and a start of the process', async (t) => {
  const dataDir = tempDir(t)
  const first = await startEcsd(dataDir, ['--driver-latency-ms', '0'])
  t.after(() => first.stop('SIGKILL'))
  const group = await httpCall(first.url, 'POST', demoPath('/cloudservers/os-server-groups'), { server_group: { name: 'keep', policies: ['anti-affinity'] } })
  const g = (group.body as { server_group: { id: string } }).server_group.id
  const created = await httpCall(first.url, 'POST', demoPath('/cloudservers'), server({ count: 2, 'os:scheduler_hints': { group: g } }))
  const { job_id, serverIds } = created.body as { job_id: string; serverIds: string[] }
  assert.equal(await httpWaitForJob(first.url, job_id), 'SUCCESS')
  const before = await Promise.all(serverIds.map((id) => show(first.url, id)))
  const groupBefore = (await httpCall(first.url, 'GET', demoPath(`/cloudservers/os-server-groups/${g}`))).body
  assert.equal(await first.stop('SIGTERM'), 0)

  const second = await startEcsd(dataDir, ['--driver-latency-ms', '0'])
  t.after(() => second.stop('SIGKILL'))
  assert.match(second.stdout(), /ECSDDEMOAK0000000001/, 'the banner still prints the demo credentials')
  assert.deepEqual(await Promise.all(serverIds.map((id) => show(second.url, id))), before)
  assert.deepEqual((await httpCall(second.url, 'GET', demoPath(`/cloudservers/os-server-groups/${g}`))).body, groupBefore)
  const flavors = (await httpCall(second.url, 'GET', demoPath('/cloudservers/flavors'))).body as { flavors: unknown[] }
  assert.equal(flavors.flavors.length, DEMO_FLAVORS.length, 'the demo is not seeded twice')
  await second.stop()
})

test('after kill -9: acknowledged changes are there, and an interrupted job is resumed to the end', async (t) => {
  const dataDir = tempDir(t)
  const slow = await startEcsd(dataDir, ['--driver-latency-ms', '60000'], { ECSD_JOB_LEASE_MS: '1000', ECSD_JOB_SWEEP_MS: '100' })
  t.after(() => slow.stop('SIGKILL'))
  const created = await httpCall(slow.url, 'POST', demoPath('/cloudservers'), server({ count: 2, availability_zone: 'az1' }))
  const { job_id, serverIds } = created.body as { job_id: string; serverIds: string[] }
  const group = await httpCall(slow.url, 'POST', demoPath('/cloudservers/os-server-groups'), { server_group: { name: 'crash', policies: ['anti-affinity'] } })
  const g = (group.body as { server_group: { id: string } }).server_group.id
  assert.equal((await httpCall(slow.url, 'GET', demoPath(`/jobs/${job_id}`)).then((r) => (r.body as { status: string }).status)), 'RUNNING')
  assert.equal(await slow.stop('SIGKILL'), 'SIGKILL')

  const resumed = await startEcsd(dataDir, ['--driver-latency-ms', '10'], { ECSD_JOB_LEASE_MS: '1000', ECSD_JOB_SWEEP_MS: '100' })
  t.after(() => resumed.stop('SIGKILL'))
  assert.equal(await httpWaitForJob(resumed.url, job_id), 'SUCCESS', 'the create job finished after the restart')
  for (const id of serverIds) assert.equal((await show(resumed.url, id)).status, 'ACTIVE')
  const shownGroup = await httpCall(resumed.url, 'GET', demoPath(`/cloudservers/os-server-groups/${g}`))
  assert.equal(shownGroup.status, 200, 'the acknowledged group survived kill -9')

  const stop = await httpCall(resumed.url, 'POST', demoPath('/cloudservers/action'), { 'os-stop': { servers: serverIds.map((id) => ({ id })) } })
  assert.equal(await httpWaitForJob(resumed.url, (stop.body as { job_id: string }).job_id), 'SUCCESS')
  for (const id of serverIds) {
    const add = await httpCall(resumed.url, 'POST', demoPath(`/cloudservers/os-server-groups/${g}/action`), { add_member: { instance_uuid: id } })
    assert.equal(add.status, 200)
  }
  assert.equal(await resumed.stop('SIGKILL'), 'SIGKILL')

  const database = Database.sqlite({ file: path.join(dataDir, 'ecsd.sqlite') })
  t.after(() => database.close())
  const members = await database.db.selectFrom('server_group_members').select('server_id').where('group_id', '=', g).execute()
  assert.deepEqual(new Set(members.map((m) => m.server_id)), new Set(serverIds), 'both acknowledged add_member calls are durable')
  const running = await database.db.selectFrom('jobs').select('id').where('status', '=', 'RUNNING').execute()
  assert.deepEqual(running, [])
  assert.deepEqual(await audit(database.db), [])
})

test('a clean stop hands back the leases of unfinished jobs, so the next start resumes them at once', async (t) => {
  const dataDir = tempDir(t)
  const env = { ECSD_JOB_LEASE_MS: '600000', ECSD_JOB_SWEEP_MS: '100' }
  const first = await startEcsd(dataDir, ['--driver-latency-ms', '600000'], env)
  t.after(() => first.stop('SIGKILL'))
  const created = await httpCall(first.url, 'POST', demoPath('/cloudservers'), server())
  const { job_id } = created.body as { job_id: string }
  const stoppedAt = Date.now()
  assert.equal(await first.stop('SIGTERM'), 0)
  assert.ok(Date.now() - stoppedAt < 10_000, 'SIGTERM does not wait for the ten-minute driver step')

  const second = await startEcsd(dataDir, ['--driver-latency-ms', '0'], env)
  t.after(() => second.stop('SIGKILL'))
  assert.equal(await httpWaitForJob(second.url, job_id, 10_000), 'SUCCESS', 'resumed long before the ten-minute lease would expire')
  await second.stop()
})

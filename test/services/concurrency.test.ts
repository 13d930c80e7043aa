import assert from 'node:assert/strict'
import path from 'node:path'
import { describe, test } from 'node:test'
import { audit } from '../../src/services/audit.ts'
import { Database } from '../../src/store/database.ts'
import { DIALECTS, buildTestApp, createGroup, createServers, groupAction, stopServers, tempDir } from '../helper.ts'
import { demoPath, httpCall, httpWaitForJob, startEcsd } from '../process.ts'

/**
 * 24 stopped servers spread three to a host over the 8 hosts of az1, then 24 simultaneous
 * add_member calls at one anti-affinity group: exactly one member per host can win, every
 * loser must get Ecs.0319, and the membership must be exactly the acknowledged calls.
 */
const SERVERS = 24
const HOSTS_IN_AZ = 8

describe('simultaneous add_member on one group', () => {
  for (const dialect of DIALECTS) {
    test(`in one process on ${dialect === 'sqlite' ? 'a real SQLite file' : 'PostgreSQL (pool of 8)'}: distinct hosts, exact membership, clean audit`, async (t) => {
      const { app, database } = await buildTestApp(t, { dialect, quotas: { maxServerGroupMembers: 100 } })
      const ids = await createServers(app, { count: SERVERS, availability_zone: 'az1', flavorRef: 's6.small.1' })
      await stopServers(app, ids)
      const g = await createGroup(app)
      const results = await Promise.all(ids.map(async (id) => ({ id, res: await groupAction(app, g, 'add_member', id) })))

      const accepted = results.filter((r) => r.res.statusCode === 200).map((r) => r.id)
      const refused = results.filter((r) => r.res.statusCode !== 200)
      assert.equal(accepted.length, HOSTS_IN_AZ)
      for (const r of refused) {
        assert.equal(r.res.statusCode, 400, r.res.body)
        assert.equal((r.res.json() as { error: { code: string } }).error.code, 'Ecs.0319')
      }
      const members = await database.db.selectFrom('server_group_members as m').innerJoin('servers as s', 's.id', 'm.server_id').select(['m.server_id', 's.host_id']).where('m.group_id', '=', g).execute()
      assert.deepEqual(new Set(members.map((m) => m.server_id)), new Set(accepted))
      assert.equal(new Set(members.map((m) => m.host_id)).size, HOSTS_IN_AZ)
      assert.deepEqual(await audit(database.db), [])
    })
  }

  test('against a real server process over HTTP: the same guarantees', async (t) => {
    const dataDir = tempDir(t)
    const ecsd = await startEcsd(dataDir, ['--driver-latency-ms', '0'])
    t.after(() => ecsd.stop())
    const created = await httpCall(ecsd.url, 'POST', demoPath('/cloudservers'), {
      server: { name: 'c', flavorRef: 's6.small.1', imageRef: 'i', vpcid: 'v', nics: [{ subnet_id: 's' }], root_volume: { volumetype: 'SSD' }, count: SERVERS, availability_zone: 'az1' },
    })
    assert.equal(created.status, 200, JSON.stringify(created.body))
    const { job_id, serverIds } = created.body as { job_id: string; serverIds: string[] }
    assert.equal(await httpWaitForJob(ecsd.url, job_id), 'SUCCESS')
    const stop = await httpCall(ecsd.url, 'POST', demoPath('/cloudservers/action'), { 'os-stop': { servers: serverIds.map((id) => ({ id })) } })
    assert.equal(await httpWaitForJob(ecsd.url, (stop.body as { job_id: string }).job_id), 'SUCCESS')
    // Members quota is 16 by default; 8 hosts bound the group first.
    const group = await httpCall(ecsd.url, 'POST', demoPath('/cloudservers/os-server-groups'), { server_group: { name: 'race', policies: ['anti-affinity'] } })
    const g = (group.body as { server_group: { id: string } }).server_group.id

    const results = await Promise.all(serverIds.map(async (id) => ({
      id,
      res: await httpCall(ecsd.url, 'POST', demoPath(`/cloudservers/os-server-groups/${g}/action`), { add_member: { instance_uuid: id } }),
    })))
    const accepted = results.filter((r) => r.res.status === 200).map((r) => r.id)
    assert.equal(accepted.length, HOSTS_IN_AZ)
    for (const r of results.filter((x) => x.res.status !== 200)) {
      assert.equal((r.res.body as { error: { code: string } }).error.code, 'Ecs.0319')
    }
    const shown = await httpCall(ecsd.url, 'GET', demoPath(`/cloudservers/os-server-groups/${g}`))
    assert.deepEqual(new Set((shown.body as { server_group: { members: string[] } }).server_group.members), new Set(accepted))
    const hosts = await Promise.all(accepted.map(async (id) => ((await httpCall(ecsd.url, 'GET', demoPath(`/cloudservers/${id}`))).body as { server: Record<string, string> }).server['OS-EXT-SRV-ATTR:host']))
    assert.equal(new Set(hosts).size, HOSTS_IN_AZ)

    assert.equal(await ecsd.stop(), 0, 'clean exit on SIGTERM')
    const database = Database.sqlite({ file: path.join(dataDir, 'ecsd.sqlite') })
    t.after(() => database.close())
    assert.deepEqual(await audit(database.db), [])
  })
})

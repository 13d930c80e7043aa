import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { DEMO } from '../../src/services/demo.ts'
import { DIALECTS, buildTestApp, call, createBody, createGroup, createServers, groupAction, snapshot, stopServers, v1 } from '../helper.ts'

const RANDOM = '4f6d3c1e-9a8b-4c7d-8e9f-0a1b2c3d4e5f'
const RANDOM_JOB = 'ff80808288d41e1b018960b8f6a81ba6'

for (const dialect of DIALECTS) {
  describe(`project isolation on ${dialect}`, () => {
    test("another project's ids answer exactly like ids that do not exist, and nothing changes", async (t) => {
      const { app, database, services } = await buildTestApp(t, { dialect })
      // Project A (the demo): a group with a stopped member, a running server, jobs.
      const groupA = await createGroup(app, 'a')
      const [memberA, runningA] = await createServers(app, { count: 2 })
      await stopServers(app, [memberA!])
      assert.equal((await groupAction(app, groupA, 'add_member', memberA!)).statusCode, 200)
      const jobA = (await database.db.selectFrom('jobs').select('id').where('parent_id', 'is', null).limit(1).executeTakeFirstOrThrow()).id

      // Project B, with its own credential and group.
      const b = { projectId: 'b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0', accessKey: 'PROJECTBAK0000000001', secretKey: 'project-b-secret' }
      await services.identity.createProject('b', b.projectId)
      await services.identity.createCredential(b.projectId, { accessKey: b.accessKey, secretKey: b.secretKey })
      const asB = (method: 'GET' | 'POST' | 'DELETE', path: string, body?: unknown) =>
        call(app, { method, url: `/v1/${b.projectId}${path}`, ...(body === undefined ? {} : { body }), ...b })
      const groupB = ((await asB('POST', '/cloudservers/os-server-groups', { server_group: { name: 'b', policies: ['anti-affinity'] } })).json() as { server_group: { id: string } }).server_group.id

      const before = await snapshot(database)
      const pairs: Array<[string, (id: string) => ReturnType<typeof asB>, string]> = [
        ['show server', (id) => asB('GET', `/cloudservers/${id}`), runningA!],
        ['show group', (id) => asB('GET', `/cloudservers/os-server-groups/${id}`), groupA],
        ['delete group', (id) => asB('DELETE', `/cloudservers/os-server-groups/${id}`), groupA],
        ['add to their group', (id) => asB('POST', `/cloudservers/os-server-groups/${id}/action`, { add_member: { instance_uuid: memberA } }), groupA],
        ['remove from their group', (id) => asB('POST', `/cloudservers/os-server-groups/${id}/action`, { remove_member: { instance_uuid: memberA } }), groupA],
        ['add their server to my group', (id) => asB('POST', `/cloudservers/os-server-groups/${groupB}/action`, { add_member: { instance_uuid: id } }), memberA!],
        ['remove their server from my group', (id) => asB('POST', `/cloudservers/os-server-groups/${groupB}/action`, { remove_member: { instance_uuid: id } }), memberA!],
        ['show job', (id) => asB('GET', `/jobs/${id}`), jobA],
        ['stop', (id) => asB('POST', '/cloudservers/action', { 'os-stop': { servers: [{ id }] } }), runningA!],
        ['start', (id) => asB('POST', '/cloudservers/action', { 'os-start': { servers: [{ id }] } }), memberA!],
        ['delete', (id) => asB('POST', '/cloudservers/delete', { servers: [{ id }] }), runningA!],
        ['create into their group', (id) => asB('POST', '/cloudservers', createBody({ 'os:scheduler_hints': { group: id } })), groupA],
        ['page from their group', (id) => asB('GET', `/cloudservers/os-server-groups?limit=1&marker=${id}`), groupA],
        ['reboot', (id) => asB('POST', '/cloudservers/action', { reboot: { type: 'SOFT', servers: [{ id }] } }), runningA!],
        ['resize', (id) => asB('POST', `/cloudservers/${id}/resize`, { resize: { flavorRef: 's6.xlarge.2' } }), memberA!],
        ['resize (v1.1)', (id) => call(app, { method: 'POST', url: `/v1.1/${b.projectId}/cloudservers/${id}/resize`, body: { resize: { flavorRef: 's6.xlarge.2', mode: 'withStopServer' } }, ...b }), runningA!],
        ['batch resize', (id) => asB('POST', '/cloudservers/batch-resize', { resize: { flavorRef: 's6.xlarge.2', servers: [{ id }] } }), memberA!],
        ['migrate', (id) => asB('POST', `/cloudservers/${id}/migrate`, { migrate: null }), memberA!],
        ['redeploy', (id) => asB('POST', `/cloudservers/${id}/actions/redeploy`), runningA!],
        ['resize flavors of their server', (id) => asB('GET', `/cloudservers/resize_flavors?instance_uuid=${id}`), runningA!],
        ['revert their server from the bin', (id) => asB('POST', `/recycle-bin/cloudservers/${id}/actions/revert`), memberA!],
        ['delete their server from the bin', (id) => asB('DELETE', `/recycle-bin/cloudservers/${id}`), memberA!],
      ]
      for (const [name, request, theirs] of pairs) {
        const random = name === 'show job' ? RANDOM_JOB : RANDOM
        const a = await request(theirs)
        const r = await request(random)
        assert.ok(a.statusCode >= 400, `${name}: refused`)
        assert.equal(a.statusCode, r.statusCode, `${name}: same status as for a random id`)
        assert.equal(a.body.replaceAll(theirs, '<id>'), r.body.replaceAll(random, '<id>'), `${name}: same body as for a random id`)
      }
      assert.deepEqual(await snapshot(database), before, "nothing of project A changed")

      const list = (await asB('GET', '/cloudservers/detail')).json() as { count: number }
      assert.equal(list.count, 0)
      const binned = (await asB('GET', '/recycle-bin/cloudservers')).json() as { servers: unknown[] }
      assert.deepEqual(binned.servers, [])
      const groups = (await asB('GET', '/cloudservers/os-server-groups')).json() as { server_groups: Array<{ id: string }> }
      assert.deepEqual(groups.server_groups.map((g) => g.id), [groupB])
      const limits = (await asB('GET', '/cloudservers/limits')).json() as { absolute: Record<string, number> }
      assert.equal(limits.absolute.totalInstancesUsed, 0)
      assert.equal(limits.absolute.totalServerGroupsUsed, 1)
      const onTheirPath = await call(app, { method: 'GET', url: v1('/cloudservers/os-server-groups'), ...b, projectId: DEMO.projectId })
      assert.equal(onTheirPath.statusCode, 401, "B's credential on A's path")
    })
  })
}

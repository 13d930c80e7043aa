import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { audit } from '../../src/services/audit.ts'
import { DEMO } from '../../src/services/demo.ts'
import { usage } from '../../src/services/servers.ts'
import { DIALECTS, buildTestApp, call, createServers, v1, waitForJob } from '../helper.ts'

for (const dialect of DIALECTS) {
  describe(`project usage counters on ${dialect}`, () => {
    test('follow creates and deletes, match the limits API, and the audit checks them', async (t) => {
      const { app, database } = await buildTestApp(t, { dialect })
      const ids = await createServers(app, { count: 3, flavorRef: 's6.large.2' })
      assert.deepEqual(await usage(database.db, DEMO.projectId), { instances: 3, cores: 6, ramMb: 3 * 4096 })

      const dry = await call(app, { method: 'POST', url: v1('/cloudservers'), body: { dry_run: true, server: { name: 'd', flavorRef: 's6.large.2', imageRef: 'i', vpcid: 'v', nics: [{ subnet_id: 's' }], root_volume: { volumetype: 'SSD' } } } })
      assert.equal(dry.statusCode, 202)
      assert.equal((await usage(database.db, DEMO.projectId)).instances, 3, 'a dry run changes nothing')

      const del = await call(app, { method: 'POST', url: v1('/cloudservers/delete'), body: { servers: [{ id: ids[0] }] } })
      assert.equal(del.statusCode, 200)
      assert.equal((await waitForJob(app, (del.json() as { job_id: string }).job_id)).status, 'SUCCESS')
      assert.deepEqual(await usage(database.db, DEMO.projectId), { instances: 2, cores: 4, ramMb: 2 * 4096 })

      const limits = (await call(app, { method: 'GET', url: v1('/cloudservers/limits') })).json() as { absolute: Record<string, number> }
      assert.equal(limits.absolute.totalInstancesUsed, 2)
      assert.equal(limits.absolute.totalCoresUsed, 4)
      assert.equal(limits.absolute.totalRAMUsed, 8192)
      assert.deepEqual(await audit(database.db), [])

      await database.db.updateTable('projects').set({ servers_used: 7 }).where('id', '=', DEMO.projectId).execute()
      const violations = await audit(database.db)
      assert.equal(violations.length, 1)
      assert.equal(violations[0]!.invariant, 'quota-usage')
      assert.match(violations[0]!.message, new RegExp(`project ${DEMO.projectId} records 7 servers / 4 vCPU / 8192 MiB in use, but its servers add up to 2 / 4 / 8192`))
    })
  })
}

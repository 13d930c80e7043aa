/**
 * The agent task queue's housekeeping: ended tasks are forgotten after their retention, open
 * ones never; a console read is forgotten once answered. On both databases.
 */
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { AgentTaskQueue } from '../../src/services/agent-tasks.ts'
import { DIALECTS, buildTestApp } from '../helper.ts'

const HOUR_MS = 3600 * 1000

for (const dialect of DIALECTS) {
  describe(`agent tasks on ${dialect}`, () => {
    test('ended tasks older than the retention are forgotten, when an agent takes work or by prune(); open and recent ones stay', async (t) => {
      const { database } = await buildTestApp(t, { dialect })
      const host = await database.db.selectFrom('hosts').select('id').limit(1).executeTakeFirstOrThrow()
      const at = (msAgo: number) => new Date(Date.now() - msAgo).toISOString()
      const task = (id: string, state: string, finishedMsAgo: number | null) => ({
        id, host_id: host.id, server_id: null, kind: 'boot', spec: '{}', state, result: null, error: state === 'failed' ? 'x' : null,
        created_at: at(48 * HOUR_MS), claimed_at: state === 'claimed' ? at(47 * HOUR_MS) : null, claimed_by: state === 'claimed' ? 'an-earlier-session' : null, finished_at: finishedMsAgo === null ? null : at(finishedMsAgo),
      })
      await database.db.insertInto('agent_tasks').values([
        task('old-done', 'done', 3 * HOUR_MS),
        task('old-failed', 'failed', 3 * HOUR_MS),
        task('recent-done', 'done', 60_000),
        task('old-pending', 'pending', null),
        task('old-claimed', 'claimed', null),
      ]).execute()
      const ids = async () => (await database.db.selectFrom('agent_tasks').select('id').orderBy('id').execute()).map((r) => r.id)

      // An agent taking work makes its process forget what ended more than the retention ago.
      const queue = new AgentTaskQueue(database, { pollMs: 10, retentionMs: 2 * HOUR_MS })
      const claimed = await queue.claim(host.id, 'session-1')
      assert.deepEqual(claimed.map((c) => c.id).sort(), ['old-claimed', 'old-pending'], 'the open tasks are handed out')
      assert.deepEqual(await ids(), ['old-claimed', 'old-pending', 'recent-done'])

      assert.equal(await queue.prune(new Date()), 1, 'prune() forgets every ended task before the cutoff')
      assert.deepEqual(await ids(), ['old-claimed', 'old-pending'], 'open tasks are never forgotten')
    })

    test('a console read answered by the agent leaves no task behind; an open one is not discarded', async (t) => {
      const { database } = await buildTestApp(t, { dialect })
      const host = await database.db.selectFrom('hosts').select('id').limit(1).executeTakeFirstOrThrow()
      const queue = new AgentTaskQueue(database, { pollMs: 5 })
      // The queue's polling timers do not hold the process open (a server's socket does): this does.
      const keepAlive = setInterval(() => undefined, 1000)
      t.after(() => clearInterval(keepAlive))
      const reading = queue.run(host.id, 'console:x:1', 'console', null, { serverId: 'x', offset: 0 })
      // Stands in for the agent: take the task and answer it.
      let taken: string[] = []
      for (let i = 0; i < 2000 && taken.length === 0; i++) taken = (await queue.claim(host.id, 'agent')).map((c) => c.id)
      assert.deepEqual(taken, ['console:x:1'])
      await queue.discard('console:x:1')
      assert.equal((await database.db.selectFrom('agent_tasks').select('id').execute()).length, 1, 'still open: kept')
      await queue.complete(host.id, 'console:x:1', { state: 'done', result: { data: 'hello', offset: 5 } })
      assert.deepEqual((await reading).result, { data: 'hello', offset: 5 })
      await queue.discard('console:x:1')
      assert.deepEqual(await database.db.selectFrom('agent_tasks').select('id').execute(), [])
    })
  })
}

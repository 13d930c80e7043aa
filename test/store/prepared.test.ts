import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { DIALECTS, openTestDatabase } from '../helper.ts'
import { placeholders, prepared } from '../../src/store/prepared.ts'

const PROJECT_BY_ID = prepared((db, p: { id: string }) => db.selectFrom('projects').select(['id', 'name']).where('id', '=', p.id))
const INSERT_PROJECT = prepared((db, row: { id: string; name: string; created_at: string }) =>
  db.insertInto('projects').values(placeholders(row, { id: true, name: true, created_at: true })),
)
const RENAME = prepared((db, p: { id: string; name: string }) => db.updateTable('projects').set({ name: p.name }).where('id', '=', p.id))

for (const dialect of DIALECTS) {
  describe(`prepared queries on ${dialect}`, () => {
    test('bind their parameters anew on every run, in and outside transactions, and report changed rows', async (t) => {
      const database = await openTestDatabase(t, { dialect })
      t.after(() => database.close())
      await database.migrate()
      await database.transaction(async ({ db }) => {
        await INSERT_PROJECT.run(db, { id: 'p-one', name: 'one', created_at: '2026-01-01T00:00:00.000Z' })
        await INSERT_PROJECT.run(db, { id: 'p-two', name: 'two', created_at: '2026-01-02T00:00:00.000Z' })
        assert.deepEqual(await PROJECT_BY_ID.first(db, { id: 'p-one' }), { id: 'p-one', name: 'one' }, 'read inside the transaction')
      })
      assert.deepEqual(await PROJECT_BY_ID.all(database.db, { id: 'p-two' }), [{ id: 'p-two', name: 'two' }])
      assert.equal(await PROJECT_BY_ID.first(database.db, { id: 'p-none' }), undefined)
      assert.equal(await database.transaction(({ db }) => RENAME.run(db, { id: 'p-two', name: 'deux' })), 1)
      assert.equal(await database.transaction(({ db }) => RENAME.run(db, { id: 'p-none', name: 'x' })), 0)
      assert.deepEqual(await PROJECT_BY_ID.first(database.db, { id: 'p-two' }), { id: 'p-two', name: 'deux' })
    })

    test('refuse a run that leaves a parameter out, without running anything', async (t) => {
      const database = await openTestDatabase(t, { dialect })
      t.after(() => database.close())
      await database.migrate()
      await assert.rejects(PROJECT_BY_ID.first(database.db, {} as { id: string }), /no value for parameter "id"/)
    })
  })
}

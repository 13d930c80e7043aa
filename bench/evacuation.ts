/**
 * `npm run bench:evacuation`: a host fails on a large fleet — how long until every one of its
 * servers runs again elsewhere, and how many evacuations a second that is.
 *
 *   npm run bench:evacuation [-- --hosts 10000 --servers 50 --rounds 5 --driver-latency-ms 200 --disks shared,local]
 *
 * Generates the fleet (`ecsd fleet generate`, SQLite) and, in the benchmark tenant, hosts of az1
 * carrying `--servers` running small servers each, every server the one member of its own
 * anti-affinity group. Then, per disk mode (`ECSD_SIMULATED_DISKS`), it starts ecsd pinned to
 * CPU 0 (this process on CPU 1), waits until the server has evacuated the generated fleet's own
 * down hosts, and measures `--rounds` times, each time on hosts of its own:
 *
 * - the baseline: one host's servers moved by operators' cold migrations, all requested at
 *   once — the same move primitive, placement and driver step as an evacuation, on the same
 *   fleet and server process, with nothing to detect (a few such migrations warm the process up
 *   first: the first requests of a process pay for compiling its code);
 * - the evacuation: another host declared failed (`POST /admin/hosts/{name}/action
 *   {"fail":{}}`), from the moment it is down to the end of the last server's move.
 *
 * Every figure comes from the jobs table. The host monitor looks every `ECSD_JOB_SWEEP_MS` (1 s),
 * so when in that period the host fails decides much of one round's time: the table gives the
 * median round, and each server's move is pooled over the rounds. Prints the table and writes
 * bench/results/evacuation.json.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { parseArgs } from 'node:util'
import { loadConfig } from '../src/config.ts'
import { audit } from '../src/services/audit.ts'
import { Database } from '../src/store/database.ts'
import { failAndEvacuate, migrateAll, settle, type MoveFigures } from './lib/evacuation.ts'
import { createBenchTenant, createCrowdedHost, type CrowdedHost } from './lib/fixtures.ts'
import { BENCH_SERVER_ENV, generateFleetCli, pin, ROOT, startEcsd } from './lib/processes.ts'
import { fixed, fleetSize, int, machine, percentile, table, writeJson } from './lib/report.ts'

/** What the server does by default, for the report. */
const DEFAULTS = loadConfig({}, {})

const { values: args } = parseArgs({
  options: {
    hosts: { type: 'string', default: '10000' },
    'servers-per-host': { type: 'string', default: '10' },
    servers: { type: 'string', default: '50' },
    rounds: { type: 'string', default: '5' },
    'driver-latency-ms': { type: 'string', default: String(DEFAULTS.driverLatencyMs) },
    disks: { type: 'string', default: 'shared,local' },
    'log-level': { type: 'string', default: 'info' },
    out: { type: 'string' },
    keep: { type: 'boolean', default: false },
  },
})

const SERVER_CORE = 0
const LOAD_CORE = 1
const log = (line: string) => process.stderr.write(`bench:evacuation: ${line}\n`)
const modes = args.disks.split(',').map((d) => {
  if (d !== 'shared' && d !== 'local') throw new Error(`--disks takes shared and/or local, got "${d}"`)
  return d
})
const perHost = Number(args.servers)
const rounds = Number(args.rounds)
/** Migrations before the baseline is measured. */
const WARMUP_MIGRATIONS = 10

/** One kind of moves over the rounds: the median round, each server's move pooled, and every round. */
interface Summary {
  servers: number
  succeeded: number
  /** Of the median round (by wall time). */
  wallMs: number
  perSecond: number
  firstBegunMs: number
  lastBegunMs: number
  /** Shortest and longest round. */
  wallRangeMs: [number, number]
  /** Each server's move over every round, sub-job begin → end. */
  p50Ms: number
  p99Ms: number
  rounds: Array<Omit<MoveFigures, 'durationsMs'>>
}

/** One disk mode's run. */
interface ModeResult {
  disks: 'shared' | 'local'
  /** The generated fleet's down hosts, evacuated when the server started (first run only). */
  startup: Omit<MoveFigures, 'durationsMs'> | null
  migration: Summary
  evacuation: Summary
  /** Evacuations per second ÷ migrations per second, median rounds, same server process. */
  ratio: number
  server: { startupMs: number; peakRssMb: number | null }
}

function summary(figures: MoveFigures[]): Summary {
  const byWall = [...figures].sort((a, b) => a.wallMs - b.wallMs)
  const median = byWall[Math.floor((byWall.length - 1) / 2)]!
  const pooled = figures.flatMap((f) => f.durationsMs).sort((a, b) => a - b)
  return {
    servers: figures.reduce((n, f) => n + f.servers, 0),
    succeeded: figures.reduce((n, f) => n + f.succeeded, 0),
    wallMs: median.wallMs,
    perSecond: median.perSecond,
    firstBegunMs: median.firstBegunMs,
    lastBegunMs: median.lastBegunMs,
    wallRangeMs: [byWall[0]!.wallMs, byWall[byWall.length - 1]!.wallMs],
    p50Ms: percentile(pooled, 50)!,
    p99Ms: percentile(pooled, 99)!,
    rounds: figures.map(withoutDurations),
  }
}

/** Figures without the per-server list, for the report. */
function withoutDurations(f: MoveFigures): Omit<MoveFigures, 'durationsMs'> {
  const { durationsMs: _, ...rest } = f
  return rest
}

const work = mkdtempSync(path.join(tmpdir(), 'ecsd-bench-evacuation-'))
try {
  pin(LOAD_CORE)
  const dataDir = path.join(work, 'data')
  log(`generating ${args.hosts} hosts × ${args['servers-per-host']} servers`)
  const fleetLine = generateFleetCli(['--hosts', args.hosts, '--servers-per-host', args['servers-per-host'], '--data-dir', dataDir])
  log(fleetLine)

  const database = Database.open({ url: undefined, sqliteFile: path.join(dataDir, 'ecsd.sqlite'), poolSize: 2 })
  await createBenchTenant(database, dataDir)
  const crowded = new Map<string, { warmup: CrowdedHost; rounds: Array<{ migrate: CrowdedHost; fail: CrowdedHost }> }>()
  for (const mode of modes) {
    const warmup = await createCrowdedHost(database, `bench-evac-${mode}-warmup`, 'az1', WARMUP_MIGRATIONS)
    const hosts: Array<{ migrate: CrowdedHost; fail: CrowdedHost }> = []
    for (let r = 1; r <= rounds; r++) {
      hosts.push({
        migrate: await createCrowdedHost(database, `bench-evac-${mode}-${r}-migrate`, 'az1', perHost),
        fail: await createCrowdedHost(database, `bench-evac-${mode}-${r}-fail`, 'az1', perHost),
      })
    }
    crowded.set(mode, { warmup, rounds: hosts })
  }
  const size = await fleetSize(database.db)

  const results: ModeResult[] = []
  for (const mode of modes) {
    const hosts = crowded.get(mode)!
    log(`${mode} disks: starting ecsd (driver latency ${args['driver-latency-ms']} ms)`)
    const since = new Date().toISOString()
    const server = await startEcsd({
      dataDir, core: SERVER_CORE, logFile: path.join(work, `ecsd-${mode}.log`), logLevel: args['log-level'],
      env: { ECSD_SIMULATED_DISKS: mode, ECSD_DRIVER_LATENCY_MS: args['driver-latency-ms'] },
    })
    try {
      const startup = await settle(database.db, since)
      if (startup) log(`${mode} disks: the fleet's own down hosts evacuated at start-up: ${startup.servers} servers in ${fixed(startup.wallMs / 1000)} s`)
      await migrateAll(server, database.db, hosts.warmup.servers)
      const migrations: MoveFigures[] = []
      const evacuations: MoveFigures[] = []
      for (const [r, round] of hosts.rounds.entries()) {
        await settle(database.db, since)
        migrations.push(await migrateAll(server, database.db, round.migrate.servers))
        await settle(database.db, since)
        const evacuation = await failAndEvacuate(server, database.db, round.fail.name, round.fail.servers)
        evacuations.push(evacuation)
        log(`${mode} disks, round ${r + 1}/${rounds}: ${perHost} migrations in ${fixed(migrations[r]!.wallMs / 1000, 2)} s; ` +
          `${round.fail.name} failed, ${evacuation.succeeded}/${evacuation.servers} evacuated in ${fixed(evacuation.wallMs / 1000, 2)} s (first begun after ${int(evacuation.firstBegunMs)} ms)`)
      }
      const rss = server.peakRssMb()
      const migration = summary(migrations)
      const evacuation = summary(evacuations)
      results.push({
        disks: mode, startup: startup ? withoutDurations(startup) : null, migration, evacuation,
        ratio: Number((evacuation.perSecond / migration.perSecond).toFixed(3)),
        server: { startupMs: Math.round(server.startupMs), peakRssMb: rss === undefined ? null : Math.round(rss) },
      })
    } finally {
      await server.stop()
    }
  }
  const violations = await audit(database.db, { stuckAfterMs: 0 })
  await database.close()

  const row = (name: string, f: Summary, ratio: string) => [
    name, `${f.succeeded}/${f.servers}`, fixed(f.wallMs / 1000, 2), `${fixed(f.wallRangeMs[0] / 1000, 2)}–${fixed(f.wallRangeMs[1] / 1000, 2)}`, fixed(f.perSecond),
    int(f.firstBegunMs), int(f.lastBegunMs), int(f.p50Ms), int(f.p99Ms), ratio,
  ]
  const rows = results.flatMap((r) => [
    row(`${r.disks} disks: operator migrations (baseline)`, r.migration, '1.00'),
    row(`${r.disks} disks: evacuation of a failed host`, r.evacuation, r.ratio.toFixed(2)),
  ])
  process.stdout.write(`\necsd evacuation benchmark — SQLite, ${size.hosts.toLocaleString('en-US')} hosts, ${size.servers.toLocaleString('en-US')} servers; ` +
    `${perHost} running servers in ${perHost} anti-affinity groups on one host, ${rounds} rounds; driver latency ${args['driver-latency-ms']} ms, host monitor every ${DEFAULTS.jobSweepMs} ms\n\n`)
  process.stdout.write(`${table(['moves (median round)', 'done', 'wall s', 'rounds s', 'moves/s', 'first begun ms', 'last begun ms', 'p50 ms', 'p99 ms', '× baseline'], rows)}\n\n`)
  for (const r of results) {
    if (r.startup) process.stdout.write(`${r.disks} disks, at start-up: the generated fleet's down hosts, ${r.startup.servers} servers evacuated in ${fixed(r.startup.wallMs / 1000, 1)} s (${fixed(r.startup.perSecond)}/s)\n`)
  }
  process.stdout.write(`audit: ${violations.length} violations\n`)

  const out = args.out ?? path.join(ROOT, 'bench', 'results', 'evacuation.json')
  writeJson(out, {
    date: new Date().toISOString(),
    machine: machine(),
    dialect: 'sqlite',
    fleet: { ...size, generator: fleetLine },
    crowdedHost: { servers: perHost, flavor: 's6.small.1', groups: 'one anti-affinity group per server', az: 'az1' },
    rounds,
    serverEnv: { ...BENCH_SERVER_ENV, ECSD_DRIVER_LATENCY_MS: args['driver-latency-ms'], ECSD_LOG_LEVEL: args['log-level'] },
    hostMonitorIntervalMs: DEFAULTS.jobSweepMs,
    runs: results,
    audit: violations,
  })
  log(`wrote ${path.relative(ROOT, out)}`)
  if (violations.length > 0 || results.some((r) => r.evacuation.succeeded !== r.evacuation.servers || r.migration.succeeded !== r.migration.servers)) process.exitCode = 1
} finally {
  if (!args.keep) rmSync(work, { recursive: true, force: true })
  else log(`kept ${work}`)
}

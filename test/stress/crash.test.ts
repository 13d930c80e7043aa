/**
 * Crash safety under load, at a size that fits `npm test`: while many clients work, replicas are
 * killed with SIGKILL at random moments and restarted on the same database. Afterwards the audit
 * must be clean, every acknowledged change must be there, and no job may be left RUNNING — the
 * jobs of a killed replica are taken over by another (or by the restarted process) after their
 * lease. Larger runs: `npm run test:stress -- --ops 100000 --kills 20`.
 */
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import net from 'node:net'
import path from 'node:path'
import { describe, test, type TestContext } from 'node:test'
import { fileURLToPath } from 'node:url'
import { sql } from 'kysely'
import { audit } from '../../src/services/audit.ts'
import { DEMO_FLAVORS } from '../../src/services/demo.ts'
import { migrationsFor } from '../../src/store/migrations/index.ts'
import { tempDir } from '../helper.ts'
import { createTestDatabase } from '../postgres.ts'
import { demoPath } from '../process.ts'
import { ReplicaFleet, STRESS_ENV, clean, createAndWait, createRng, describeProblems, openDatabase, randomSeed, runLoad, summaryLine, verify } from './harness.ts'

/** A seed from ECSD_STRESS_SEED replays a failure; otherwise a new one per run, printed. */
const SEED = process.env.ECSD_STRESS_SEED ? Number(process.env.ECSD_STRESS_SEED) : randomSeed()

interface CrashCase {
  name: string
  dialect: 'postgres' | 'sqlite'
  replicas: number
  ops: number
  kills: number
}

const CASES: readonly CrashCase[] = [
  { name: '3 replicas on PostgreSQL, one killed at a time', dialect: 'postgres', replicas: 3, ops: 160, kills: 3 },
  { name: 'the single process on SQLite', dialect: 'sqlite', replicas: 1, ops: 120, kills: 3 },
  { name: '3 processes on one SQLite file, one killed at a time', dialect: 'sqlite', replicas: 3, ops: 120, kills: 3 },
]

async function startFleet(t: TestContext, c: CrashCase): Promise<ReplicaFleet> {
  // `after` hooks run in the order they are added: this one first, so that the replicas stop
  // before their directory is removed and their database dropped.
  let fleet: ReplicaFleet | undefined
  t.after(async () => {
    await fleet?.stop()
  })
  const dataDir = tempDir(t, 'ecsd-crash-')
  const databaseUrl = c.dialect === 'postgres' ? await createTestDatabase(t) : undefined
  // Slower driver steps than the race test: more jobs are RUNNING when a replica dies, so more
  // of them must be taken over by another replica or the restarted process.
  fleet = await ReplicaFleet.start({ replicas: c.replicas, dataDir, databaseUrl, driverLatencyMs: 30 })
  return fleet
}

describe('kill -9 under load, restart on the same database', () => {
  for (const c of CASES) {
    test(`${c.name}: zero violations, no acknowledged change lost, no job left RUNNING`, async (t) => {
      const fleet = await startFleet(t, c)
      const run = await runLoad({
        replicas: fleet, clients: 12, opsTotal: c.ops, seed: SEED, groups: 4, serversPerClient: 6, fill: 0.5,
        // No time limit short enough to cut the run on a slow machine: every planned kill must land.
        contended: { clients: 3, servers: 8 }, kill: { times: c.kills, downMs: [0, 300] }, timeLimitMs: 600_000, log: (l) => t.diagnostic(l),
      })
      const v = await verify(run, { replicas: fleet, database: fleet.database })
      t.diagnostic(summaryLine(run.summary, v))
      const problems = describeProblems(run, v)
      assert.ok(problems === '', `${problems}\n${fleet.errorLines().slice(0, 20).join('\n')}`)
      assert.ok(clean(v))
      // The load waits for the kills (by operation count), so every planned kill lands however
      // slow the machine is.
      assert.equal(run.summary.stoppedEarly, false)
      assert.equal(run.summary.kills, c.kills, 'every planned kill happened during the load')
      assert.equal(run.summary.attempted, c.ops)
    })
  }
})

/**
 * A deploy restarts replicas with SIGTERM while the others serve. Requests in flight at that
 * moment are answered, and their keep-alive connections then sit idle (the replica has left the
 * load balancer's rotation); the replica must still finish, hand its job leases back and exit 0
 * well within its 10 s limit. One request is held half-sent across the SIGTERM so that there is
 * always one in flight.
 */
test('graceful SIGTERM of a replica under load: exits 0, nothing acknowledged lost', async (t) => {
  const c: CrashCase = { name: 'sigterm', dialect: 'postgres', replicas: 3, ops: 300, kills: 0 }
  const fleet = await startFleet(t, c)
  const load = runLoad({ replicas: fleet, clients: 12, opsTotal: c.ops, seed: SEED, groups: 4, serversPerClient: 6, fill: 0.5, timeLimitMs: 30_000 })
  await new Promise((r) => setTimeout(r, 2000))
  const target = new URL(fleet.url(1)!)
  const socket = net.connect(Number(target.port), target.hostname)
  t.after(() => socket.destroy())
  await new Promise((r) => socket.once('connect', r))
  const body = '{"server_group":{"name":"g","policies":["anti-affinity"]}}'
  socket.write(`POST ${demoPath('/cloudservers/os-server-groups')} HTTP/1.1\r\nHost: ${target.host}\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n`)
  await new Promise((r) => setTimeout(r, 200))
  const started = Date.now()
  const stopping = fleet.terminate(1)
  await new Promise((r) => setTimeout(r, 200))
  socket.write(body) // unsigned: answered 401, on a connection kept alive
  const { exit } = await stopping
  const stoppedAfterMs = Date.now() - started
  await fleet.restart(1)
  const run = await load
  const v = await verify(run, { replicas: fleet, database: fleet.database })
  t.diagnostic(`${summaryLine(run.summary, v)}; SIGTERM took ${stoppedAfterMs} ms, exit ${String(exit)}`)
  const problems = describeProblems(run, v)
  assert.ok(problems === '', problems)
  assert.equal(exit, 0, `exit after SIGTERM (took ${stoppedAfterMs} ms)`)
})

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..')
/** As in test/process.ts: the child ends itself when this process's pipe closes, however this process ends. */
const PARENT_WATCHDOG = 'data:text/javascript,' + encodeURIComponent('process.stdin.on("end",()=>process.kill(process.pid,"SIGTERM")).resume();process.stdin.unref?.()')

/** Spawns `ecsd serve` and kills it with SIGKILL after `ms`, whatever it was doing; resolves when it is gone. */
async function startAndKill(args: string[], env: Record<string, string>, ms: number): Promise<string> {
  const child = spawn(process.execPath, ['--import', 'tsx', '--import', PARENT_WATCHDOG, 'src/main.ts', 'serve', '--port', '0', '--log-level', 'warn', ...args], {
    cwd: ROOT, stdio: ['pipe', 'pipe', 'pipe'],
    env: { ...Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('ECSD_'))), ...env },
  })
  child.stdin.on('error', () => undefined)
  let out = ''
  child.stdout.on('data', (d: Buffer) => (out += d.toString()))
  child.stderr.on('data', (d: Buffer) => (out += d.toString()))
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  const timer = setTimeout(() => child.kill('SIGKILL'), ms)
  await exited
  clearTimeout(timer)
  return out
}

describe('kill -9 during start-up on a fresh database, again and again', () => {
  for (const dialect of ['postgres', 'sqlite'] as const) {
    test(`${dialect}: the next start completes the schema and the demo, exactly once`, async (t) => {
      let fleet: ReplicaFleet | undefined
      let database: ReturnType<typeof openDatabase> | undefined
      // `after` hooks run in the order they are added: replicas and connections go before the directory and database.
      t.after(async () => {
        await database?.close()
        await fleet?.stop()
      })
      const dataDir = tempDir(t, 'ecsd-startkill-')
      const databaseUrl = dialect === 'postgres' ? await createTestDatabase(t) : undefined
      const env = { ...STRESS_ENV, ECSD_MASTER_KEY: 'ab'.repeat(32) }
      const args = ['--data-dir', dataDir, ...(databaseUrl ? ['--database', databaseUrl] : [])]
      const rng = createRng(SEED)
      // Start-up takes about a second (module loading, then migrations and seeding); kills land all over it.
      const kills: string[] = []
      for (let i = 0; i < 8; i++) {
        const ms = rng.int(300, 2500)
        const out = await startAndKill(args, env, ms)
        kills.push(`${ms} ms${/listening on/.test(out) ? ' (was up)' : ''}`)
        assert.doesNotMatch(out, /ecsd: |Error/, `a start killed after ${ms} ms had already failed:\n${out}`)
      }
      t.diagnostic(`killed after ${kills.join(', ')}`)
      fleet = await ReplicaFleet.start({ replicas: dialect === 'postgres' ? 2 : 1, dataDir, databaseUrl, driverLatencyMs: 5, env: { ECSD_MASTER_KEY: env.ECSD_MASTER_KEY } })
      database = openDatabase(fleet.database)
      const db = database
      const count = async (table: 'projects' | 'hosts' | 'flavors') =>
        Number((await db.db.selectFrom(table).select((eb) => eb.fn.countAll<number | string>().as('n')).executeTakeFirstOrThrow()).n)
      assert.equal(await count('projects'), 1)
      assert.equal(await count('hosts'), 16)
      assert.equal(await count('flavors'), DEMO_FLAVORS.length)
      const applied = await sql<{ name: string }>`select name from kysely_migration order by name`.execute(db.db)
      assert.deepEqual(applied.rows.map((r) => r.name), Object.keys(migrationsFor(dialect)).sort())
      assert.equal((await createAndWait(fleet, SEED, 's6.small.1', 2, 'az1')).length, 2)
      assert.deepEqual(await audit(db.db), [])
    })
  }
})

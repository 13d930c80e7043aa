/**
 * Stress harness: real `ecsd serve` replicas, many concurrent clients firing mixed operations at
 * shared groups and hosts, optional `kill -9` of replicas in the middle, and a verifier that
 * compares what every client was told with what the API and the database hold afterwards.
 *
 * Used by test/stress/*.test.ts (small, inside `npm test`) and by scripts/stress.ts
 * (`npm run test:stress -- --ops 100000`), so one definition of "correct under load" serves both.
 */
import { randomBytes } from 'node:crypto'
import path from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { sdkHeaders } from '../../src/api/auth/signature.ts'
import { audit, type Violation } from '../../src/services/audit.ts'
import { DEMO, DEMO_FLAVORS } from '../../src/services/demo.ts'
import { Database } from '../../src/store/database.ts'
import { startEcsd, type EcsdProcess } from '../process.ts'

// ───────────────────────────── randomness ─────────────────────────────

/** A seeded random source, so that a failing run can be replayed with the seed it printed. */
export interface Rng {
  /** Uniform in [0, 1). */
  next(): number
  /** Uniform integer in [min, max]. */
  int(min: number, max: number): number
  pick<T>(items: readonly T[]): T
  chance(p: number): boolean
}

/**
 * mulberry32: tiny, fast and good enough for choosing operations; Math.random cannot be seeded,
 * and a stress failure that cannot be replayed is hard to act on.
 */
export function createRng(seed: number): Rng {
  let a = seed >>> 0
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
  return {
    next,
    int: (min, max) => min + Math.floor(next() * (max - min + 1)),
    pick: <T>(items: readonly T[]): T => {
      if (items.length === 0) throw new Error('rng.pick on an empty list')
      return items[Math.floor(next() * items.length)]!
    },
    chance: (p) => next() < p,
  }
}

/** A seed for a run that was not given one; printed so the run can be replayed. */
export function randomSeed(): number {
  return Math.floor(Math.random() * 2 ** 31)
}

// ───────────────────────────── replicas ─────────────────────────────

/**
 * Settings every stress replica runs with. Quotas are raised so that the fleet (hosts, anti-
 * affinity) is what refuses work — the capacity races are what the stress is about — and leases
 * are short so that jobs of a killed replica are taken over within a second or two. Disks are
 * local, so that every move — a stopped server's too — is in flight for a driver step, where
 * races and kills can meet it.
 */
export const STRESS_ENV: Readonly<Record<string, string>> = {
  ECSD_SIMULATED_DISKS: 'local',
  ECSD_JOB_LEASE_MS: '1000',
  ECSD_JOB_SWEEP_MS: '100',
  ECSD_QUOTA_INSTANCES: '100000',
  ECSD_QUOTA_CORES: '10000000',
  ECSD_QUOTA_RAM_MB: '2000000000',
  ECSD_QUOTA_SERVER_GROUPS: '10000',
  ECSD_QUOTA_SERVER_GROUP_MEMBERS: '10000',
}

/** Where a fleet keeps its state, for the verifier's direct database checks. */
export type DatabaseTarget = { dialect: 'postgres'; url: string } | { dialect: 'sqlite'; file: string }

/** How to start a fleet of replicas. */
export interface FleetOptions {
  replicas: number
  /** PostgreSQL URL shared by every replica; absent: every replica opens the SQLite file in `dataDir`. */
  databaseUrl?: string | undefined
  /** SQLite: the one data directory all replicas share. PostgreSQL: parent of per-replica directories. */
  dataDir: string
  driverLatencyMs?: number
  /** Extra environment; STRESS_ENV is always applied first. */
  env?: Record<string, string>
  /**
   * Replicas must share the master key that seals credential secrets. Default: one random key
   * for the fleet, given to every replica as ECSD_MASTER_KEY (what operators are told to do).
   * `'file'`: none given, so SQLite processes sharing a data directory share its key file —
   * created by whichever process starts first.
   */
  masterKey?: 'env' | 'file'
  /** Replica log level (default warn); error lines are collected either way. */
  logLevel?: string
  log?: (line: string) => void
}

interface Slot {
  index: number
  process: EcsdProcess | undefined
  /** Set only while the replica is up and may be sent requests. */
  url: string | undefined
}

/**
 * N replicas of ecsd on one database, started at the same moment (the start-up race is part of
 * what is tested), which can be killed with SIGKILL and restarted. A killed replica leaves the
 * rotation before the signal, so that no client is sent to a port the OS might hand to another
 * process meanwhile; a restarted one comes back on a new port.
 */
export class ReplicaFleet {
  private readonly slots: Slot[]
  /** Every process ever started, also the dead ones: their logs explain failures. */
  private readonly history: EcsdProcess[] = []
  private readonly waiters = new Set<() => void>()
  kills = 0
  terms = 0
  pauses = 0
  restarts = 0

  private readonly masterKey = randomBytes(32).toString('hex')

  private constructor(private readonly options: FleetOptions) {
    this.slots = Array.from({ length: options.replicas }, (_, index) => ({ index, process: undefined, url: undefined }))
  }

  /** Starts every replica at once; if any fails to come up, stops the others and rejects with its log. */
  static async start(options: FleetOptions): Promise<ReplicaFleet> {
    const fleet = new ReplicaFleet(options)
    const started = await Promise.allSettled(fleet.slots.map((s) => fleet.launch(s)))
    const failed = started.find((r): r is PromiseRejectedResult => r.status === 'rejected')
    if (failed) {
      await fleet.stop()
      throw failed.reason instanceof Error ? failed.reason : new Error(String(failed.reason))
    }
    return fleet
  }

  get size(): number {
    return this.slots.length
  }

  get database(): DatabaseTarget {
    return this.options.databaseUrl !== undefined
      ? { dialect: 'postgres', url: this.options.databaseUrl }
      : { dialect: 'sqlite', file: path.join(this.options.dataDir, 'ecsd.sqlite') }
  }

  /** Base URLs of the replicas that are up now. */
  urls(): string[] {
    return this.slots.flatMap((s) => (s.url === undefined ? [] : [s.url]))
  }

  /** Base URL of replica `index`, if it is up. */
  url(index: number): string | undefined {
    return this.slot(index).url
  }

  /** Indexes of the replicas that are up now. */
  liveIndexes(): number[] {
    return this.slots.filter((s) => s.url !== undefined).map((s) => s.index)
  }

  /**
   * The live replica whose process has this pid, if any: a job's `lease_owner` names its
   * runner's pid, so a test can kill exactly the replica that runs a job it sees in flight.
   */
  indexOfPid(pid: number): number | undefined {
    return this.slots.find((s) => s.url !== undefined && s.process?.child.pid === pid)?.index
  }

  /**
   * A live replica's URL; waits (bounded) while none is up, which happens when the only
   * process of a single-process deployment is being restarted.
   */
  async pick(rng: Rng, timeoutMs = 60_000): Promise<string> {
    const deadline = Date.now() + timeoutMs
    for (;;) {
      const live = this.urls()
      if (live.length > 0) return rng.pick(live)
      if (Date.now() > deadline) throw new Error(`no replica up for ${timeoutMs} ms`)
      await new Promise<void>((resolve) => {
        const done = () => {
          clearTimeout(timer)
          this.waiters.delete(done)
          resolve()
        }
        const timer = setTimeout(done, 200)
        this.waiters.add(done)
      })
    }
  }

  /** kill -9 of replica `index`: out of the rotation first, then SIGKILL, then wait for the exit. */
  async kill(index: number): Promise<void> {
    const slot = this.slot(index)
    slot.url = undefined
    if (slot.process) await slot.process.stop('SIGKILL')
    slot.process = undefined
    this.kills++
  }

  /**
   * Graceful stop of replica `index` (SIGTERM), as a deploy does; resolves with its exit, which
   * must be 0. It stays in the rotation while it drains, as behind a load balancer that has not
   * noticed yet.
   */
  async terminate(index: number): Promise<{ exit: number | string | null; output: string }> {
    const slot = this.slot(index)
    const p = slot.process
    if (!p) return { exit: null, output: '' }
    const started = Date.now()
    const exit = p.stop('SIGTERM')
    // Out of the rotation shortly after: requests already sent or sent meanwhile meet a draining process.
    await sleep(50)
    slot.url = undefined
    const code = await exit
    slot.process = undefined
    this.terms++
    return { exit: code, output: `stopped after ${Date.now() - started} ms; output tail:\n${(p.stdout() + p.stderr()).slice(-3000)}` }
  }

  /**
   * Freezes replica `index` (SIGSTOP) for `ms`, then resumes it: a stalled VM or a long GC pause.
   * Its job leases expire meanwhile and other replicas take its jobs over; when it wakes up it
   * must not undo or repeat anything they did. It stays in the rotation: requests sent to it wait.
   */
  async pause(index: number, ms: number): Promise<void> {
    const p = this.slot(index).process
    if (!p) return
    p.child.kill('SIGSTOP')
    try {
      await sleep(ms)
    } finally {
      p.child.kill('SIGCONT')
    }
    this.pauses++
  }

  /** Starts replica `index` again on the same database. */
  async restart(index: number): Promise<void> {
    await this.launch(this.slot(index))
    this.restarts++
  }

  /**
   * Stops every replica with SIGTERM (graceful: leases handed back), SIGKILL after 15 s; returns
   * the exit of each, so that a caller can notice a replica that did not stop cleanly.
   */
  async stop(): Promise<Array<number | string | null>> {
    const exits = await Promise.all(
      this.slots.map(async (s) => {
        s.url = undefined
        const p = s.process
        s.process = undefined
        p?.child.kill('SIGCONT')
        return p ? p.stop('SIGTERM') : null
      }),
    )
    return exits
  }

  /** Error-level lines every replica logged (pino level ≥ 50), with the replica's number. */
  errorLines(): string[] {
    return this.history.flatMap((p, i) =>
      (p.stdout() + p.stderr())
        .split('\n')
        .filter((l) => /"level":(50|60)/.test(l) || /^(Error|TypeError|RangeError)/.test(l))
        .map((l) => `[process ${i}] ${l.slice(0, 2000)}`),
    )
  }

  /** The tail of every process's output, for a failure message. */
  diagnostics(maxPerProcess = 4000): string {
    return this.history
      .map((p, i) => {
        const out = (p.stdout() + p.stderr()).split('\n').filter((l) => !/^\s*$/.test(l) && !/Demo|AK |SK |endpoint|project id/.test(l)).join('\n')
        return `── process ${i} ──\n${out.slice(-maxPerProcess)}`
      })
      .join('\n')
  }

  private slot(index: number): Slot {
    const slot = this.slots[index]
    if (!slot) throw new Error(`no replica ${index}`)
    return slot
  }

  private async launch(slot: Slot): Promise<void> {
    const { databaseUrl, dataDir } = this.options
    const args = ['--driver-latency-ms', String(this.options.driverLatencyMs ?? 5), '--log-level', this.options.logLevel ?? 'warn']
    if (databaseUrl !== undefined) args.push('--database', databaseUrl)
    const dir = databaseUrl !== undefined ? path.join(dataDir, `replica-${slot.index}`) : dataDir
    const key: Record<string, string> = this.options.masterKey === 'file' ? {} : { ECSD_MASTER_KEY: this.masterKey }
    const proc = await startEcsd(dir, args, { ...STRESS_ENV, ...key, ...this.options.env }, 60_000)
    this.history.push(proc)
    slot.process = proc
    slot.url = proc.url
    this.options.log?.(`replica ${slot.index} up at ${proc.url}`)
    for (const w of [...this.waiters]) w()
    this.waiters.clear()
  }
}

// ───────────────────────────── HTTP ─────────────────────────────

/** What became of one request. */
export type Outcome =
  | { kind: 'response'; status: number; body: unknown; code: string | undefined; requestId: string | null; replica: string }
  /** The replica's socket went away after the request may have been sent: the effect is unknown. */
  | { kind: 'lost'; reason: 'reset' | 'timeout'; error: string; replica: string }

/** Transport events `send` absorbs by retrying on another replica. */
export interface NetCounters {
  refusedConnections: number
  /** 503 answers of a replica that was shutting down. */
  draining503: number
  /** The first such answer, as received. */
  draining503Body?: string
}

/** Where a client sends requests: a fixed list of URLs, or a fleet whose members come and go. */
export type ReplicaSource = readonly string[] | ReplicaFleet

const REQUEST_TIMEOUT_MS = 30_000

/**
 * How long a check waits for a server or a job to settle before calling it a failure. Only a
 * failure waits this long, so it is generous: a busy 2-core machine running other suites beside
 * this one must not turn a slow success into a failure.
 */
const SETTLE_LIMIT_MS = 120_000

/**
 * Sends one signed request to a live replica. A refused connection (nothing was delivered) is
 * retried on another replica transparently — that is what a load balancer does — so the caller
 * only sees answers and "lost" requests whose effect is unknown.
 */
export async function send(
  replicas: ReplicaSource, rng: Rng, method: string, pathAndQuery: string, body?: unknown, extraHeaders: Record<string, string> = {},
  counters?: NetCounters, credential: Credential = DEMO,
): Promise<Outcome> {
  for (let attempt = 1; ; attempt++) {
    const base = replicas instanceof ReplicaFleet ? await replicas.pick(rng) : rng.pick(replicas)
    const payload = body === undefined ? undefined : JSON.stringify(body)
    const headers = sdkHeaders({ method, url: pathAndQuery, host: new URL(base).host, body: payload, credential, extra: extraHeaders })
    try {
      const res = await fetch(base + pathAndQuery, {
        method,
        headers,
        ...(payload === undefined ? {} : { body: payload }),
        signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
      })
      const text = await res.text()
      let parsed: unknown
      try {
        parsed = text === '' ? undefined : (JSON.parse(text) as unknown)
      } catch {
        parsed = text
      }
      // A replica that is shutting down refuses requests on open connections with 503 before
      // routing them (fastify's return503OnClosing): nothing was done, so the request goes to
      // another replica, as a load balancer would send it. Counted, and the body kept as a note.
      if (res.status === 503 && attempt < 50 && counters) {
        counters.draining503++
        counters.draining503Body ??= `${text.slice(0, 300)} (x-request-id: ${res.headers.get('x-request-id') ?? 'absent'})`
        await sleep(20 + rng.int(0, 80))
        continue
      }
      return { kind: 'response', status: res.status, body: parsed, code: errorCode(parsed), requestId: res.headers.get('x-request-id'), replica: base }
    } catch (err) {
      const e = err as { name?: string; message?: string; code?: string; cause?: { code?: string; message?: string } }
      const code = e.cause?.code ?? e.code
      if (code === 'ECONNREFUSED' && attempt < 50) {
        if (counters) counters.refusedConnections++
        await sleep(20 + rng.int(0, 80))
        continue
      }
      const timeout = e.name === 'TimeoutError' || e.name === 'AbortError'
      return { kind: 'lost', reason: timeout ? 'timeout' : 'reset', error: `${e.message ?? String(err)}${e.cause ? ` (${e.cause.code ?? e.cause.message ?? ''})` : ''}`, replica: base }
    }
  }
}

function errorCode(body: unknown): string | undefined {
  if (typeof body !== 'object' || body === null) return undefined
  const b = body as { error?: { code?: unknown }; error_code?: unknown }
  if (typeof b.error?.code === 'string') return b.error.code
  if (typeof b.error_code === 'string') return b.error_code
  return undefined
}

const v1 = (p: string) => `/v1/${DEMO.projectId}${p}`

/** Who signs a request: the demo tenant, or its operator credential for /admin routes. */
interface Credential {
  accessKey: string
  secretKey: string
  projectId: string
}

/** The demo project's operator credential, for operators' migrations. */
const OPERATOR: Credential = { accessKey: DEMO.adminAccessKey, secretKey: DEMO.adminSecretKey, projectId: DEMO.projectId }

// ───────────────────────────── load ─────────────────────────────

/**
 * The mutating operations the load mixes: the lifecycle, group membership, and the moves —
 * resizes (some must leave their host), redeploys, operators' live and cold migrations — and
 * reboots.
 */
export const OPERATIONS = ['create', 'add_member', 'remove_member', 'stop', 'start', 'delete', 'resize', 'redeploy', 'migrate', 'reboot'] as const
export type Operation = (typeof OPERATIONS)[number]

/** The flavor every request that wants to hit the capacity limits uses: 8 vCPU / 32 GiB, four to a demo host. */
export const BIG_FLAVOR = 'c7.2xlarge.4'
const SMALL_FLAVORS = ['s6.small.1', 's6.medium.2', 's6.large.2', 's6.xlarge.2'] as const
const ZONES = ['az1', 'az2'] as const

/** Options of a load run. */
export interface LoadOptions {
  /** Replica base URLs, or a fleet (required for `kill`). */
  replicas: ReplicaSource
  /** Concurrent clients (async workers). */
  clients: number
  /** Mutating operations to issue in total, across clients. */
  opsTotal: number
  seed: number
  /** Anti-affinity groups shared by every client. */
  groups: number
  /** How many live servers a client keeps at most. */
  serversPerClient: number
  /**
   * Part of the fleet's RAM (0–1) filled with big-flavor "ballast" servers before the load, so
   * that the clients run the fleet to its limits and placements race for the last room.
   */
  fill?: number
  /** Share of creates that use the big flavor (default 0.4). */
  bigFlavorShare?: number
  /**
   * Share of an owner's operations that move or resize its server, or reboot it (default 0.25;
   * 0 for the lifecycle and membership mix alone).
   */
  moveShare?: number
  /**
   * kill -9 a random replica this many times at random moments of the run, restarting it each
   * time. `faults: 'mixed'` makes half of them something else: a graceful SIGTERM restart (exit
   * code must be 0) or a SIGSTOP freeze longer than the job lease.
   */
  kill?: {
    times: number
    /** how long a stopped replica stays down, ms */
    downMs?: [number, number]
    faults?: 'kill' | 'mixed'
  }
  /**
   * Extra clients that own nothing: they fire random operations at a shared pool of `servers`
   * servers (and the shared groups), so that one server gets concurrent requests — two
   * add_member calls into different groups, add_member racing start or delete, and so on. Their
   * answers are only checked for being documented (no 5xx); the audit and the API's own
   * consistency check the outcome.
   */
  contended?: { clients: number; servers: number }
  /**
   * The caller fails hosts during the run, so any server may be being evacuated (busy) or be
   * stranded (ERROR, the reason as its fault) when its owner acts. Ecs.0100 is then a correct
   * answer to every operation on a server, and after one the owner checks, once the server is
   * idle, that it kept its power state or is stranded. Owners migrate instead of redeploying: a
   * redeploy takes a stranded server and brings it back stopped, which its owner could not tell
   * apart from a lost change.
   */
  hostFailures?: boolean
  /** Stop issuing new operations after this long (default 10 min); the summary says so. */
  timeLimitMs?: number
  /** Progress and kill log (default: silent). */
  log?: (line: string) => void
}

/** What a client knows about one server: the state its acknowledged operations must have left. */
export interface TrackedServer {
  id: string
  /** Client index; -1 for ballast. */
  owner: number
  exists: boolean
  status: 'ACTIVE' | 'SHUTOFF'
  group: string | null
  flavor: string
  /**
   * An acknowledged add_member may have started a re-placement that is still running: until an
   * operation of the owner shows the server idle, other operations may find it busy (Ecs.0100).
   */
  mayBeMoving: boolean
  /** Why the state is not known (an answer was lost and could not be resolved); undefined when known. */
  unknown: string | undefined
  /** The last acknowledged operations, for failure messages. */
  history: string[]
}

/** Something the harness did not expect: a 5xx, an undocumented refusal, a lost acknowledgement. */
export interface Failure {
  op: string
  message: string
  replica?: string | undefined
  requestId?: string | null | undefined
  serverId?: string | undefined
}

/** Figures of a run, printed as a table by the stress script and asserted by the tests. */
export interface LoadSummary {
  seed: number
  /** Mutating requests issued (first attempts; retries of lost requests are not counted again). */
  attempted: number
  /** Answered 2xx (after resolution of lost answers where the operation is idempotent). */
  acknowledged: number
  /** Documented refusals, by error code. */
  refusedByCode: Record<string, number>
  /** Requests whose answer was lost (socket reset, timeout). */
  networkErrors: number
  /** Lost answers whose effect could afterwards be established. */
  resolved: number
  /** Lost answers whose effect stays unknown; those servers are skipped by the verifier. */
  unresolved: number
  /** Of those, creates: servers nobody knows the id of may exist. */
  unresolvedCreates: number
  /** Connections refused by a replica that was down (retried on another one, nothing delivered). */
  refusedConnections: number
  /** 503 answers of a draining replica (retried on another one, nothing done). */
  draining503: number
  /** What such a 503 looked like, when there was one. */
  draining503Body: string | undefined
  kills: number
  /** Graceful SIGTERM restarts (with `faults: 'mixed'`). */
  terms: number
  /** SIGSTOP freezes longer than the job lease (with `faults: 'mixed'`). */
  pauses: number
  failures: number
  byOperation: Record<Operation, { attempted: number; acknowledged: number }>
  durationMs: number
  /** True when the time limit stopped the run before `opsTotal`. */
  stoppedEarly: boolean
}

/** The outcome of `runLoad`: figures, failures, and every server's expected state for `verify`. */
export interface LoadRun {
  summary: LoadSummary
  failures: Failure[]
  groups: string[]
  servers: Map<string, TrackedServer>
}

/** Kills happen between 5 % and this share of the run's operations. */
const KILL_WINDOW_END = 0.9

/** Failures kept in detail; beyond this only counted. */
const MAX_FAILURES_KEPT = 200

class LoadContext {
  readonly servers = new Map<string, TrackedServer>()
  readonly failures: Failure[] = []
  failureCount = 0
  issued = 0
  acknowledged = 0
  readonly refusedByCode: Record<string, number> = {}
  networkErrors = 0
  resolved = 0
  unresolved = 0
  unresolvedCreates = 0
  readonly net: NetCounters = { refusedConnections: 0, draining503: 0 }
  readonly byOperation = Object.fromEntries(OPERATIONS.map((o) => [o, { attempted: 0, acknowledged: 0 }])) as Record<Operation, { attempted: number; acknowledged: number }>
  stoppedEarly = false
  done = false
  /** Groups the contended clients delete and re-create. */
  readonly contendedGroups: string[] = []

  constructor(
    readonly options: LoadOptions,
    readonly groups: string[],
    readonly deadline: number,
  ) {}

  /** Kills planned but not done yet; the last tenth of the operations waits for them. */
  killsPending = 0

  private lastTrickle = 0

  /**
   * Takes the right to issue one more operation; false when the run is over. While kills are
   * pending, the last tenth of the run only trickles out (four operations a second) and its very
   * last operation waits: a restart takes seconds — many on a busy machine — and the run must
   * not end before every planned kill has happened, however slow the machine (kills are
   * triggered by operation counts, which the load waits for, never by time), nor leave the
   * remaining kills an idle fleet.
   */
  async ticket(): Promise<boolean> {
    while (this.killsPending > 0 && this.issued >= KILL_WINDOW_END * this.options.opsTotal) {
      if (this.issued < this.options.opsTotal - 1 && Date.now() - this.lastTrickle >= 250) {
        this.lastTrickle = Date.now()
        break
      }
      await sleep(20 + Math.random() * 60)
    }
    if (this.issued >= this.options.opsTotal) return false
    if (Date.now() > this.deadline) {
      this.stoppedEarly = true
      return false
    }
    this.issued++
    return true
  }

  fail(f: Failure): void {
    this.failureCount++
    if (this.failures.length < MAX_FAILURES_KEPT) this.failures.push(f)
    this.options.log?.(`FAILURE ${f.op}: ${f.message}${f.serverId ? ` [server ${f.serverId}]` : ''}${f.requestId ? ` [request ${f.requestId}]` : ''}`)
  }

  refused(code: string): void {
    this.refusedByCode[code] = (this.refusedByCode[code] ?? 0) + 1
  }
}

const serverBody = (name: string, flavorRef: string, count: number, az: string | undefined, group: string | undefined) => ({
  server: {
    name,
    flavorRef,
    imageRef: 'img-ubuntu-22.04',
    vpcid: 'vpc-stress',
    nics: [{ subnet_id: 'subnet-stress' }],
    root_volume: { volumetype: 'SSD' },
    count,
    ...(az === undefined ? {} : { availability_zone: az }),
    ...(group === undefined ? {} : { 'os:scheduler_hints': { group } }),
  },
})

/**
 * Fires `opsTotal` mixed operations from `clients` concurrent workers at the replicas.
 *
 * Groups and hosts are shared by every client, so placements, re-placements and capacity claims
 * race; but each server is owned by one client, which issues its operations one after another
 * and waits for their jobs. That makes "no acknowledged change lost" checkable under any
 * concurrency: the owner alone knows what its server must look like. A lost answer (replica
 * killed mid-request) is resolved where the API allows it — creates are retried with the same
 * `X-Client-Token`, add/remove_member are idempotent, start/stop/delete are observed once the
 * server is idle — and otherwise marks the server unknown. Every 5xx, undocumented refusal,
 * failed job or missing acknowledged change is collected as a failure.
 */
export async function runLoad(options: LoadOptions): Promise<LoadRun> {
  const started = Date.now()
  const log = options.log ?? (() => undefined)
  log(`stress: seed=${options.seed} (replay with --seed ${options.seed}); ${options.clients} clients, ${options.opsTotal} ops, ${options.groups} groups`)
  if (options.kill && !(options.replicas instanceof ReplicaFleet)) throw new Error('runLoad: kill needs a ReplicaFleet')
  const setupRng = createRng(options.seed)

  const groups: string[] = []
  for (let i = 0; i < options.groups; i++) {
    const res = await sendRetrying(options.replicas, setupRng, 'POST', v1('/cloudservers/os-server-groups'), { server_group: { name: `stress-${i}`, policies: ['anti-affinity'] } })
    if (res.status !== 200) throw new Error(`could not create group: ${res.status} ${JSON.stringify(res.body)}`)
    groups.push((res.body as { server_group: { id: string } }).server_group.id)
  }
  const ctx = new LoadContext(options, groups, started + (options.timeLimitMs ?? 600_000))
  await addBallast(ctx, setupRng)

  const pool = await addContendedPool(ctx, setupRng)
  const clients = [
    ...Array.from({ length: options.clients }, (_, i) => runClient(ctx, i)),
    ...Array.from({ length: options.contended?.clients ?? 0 }, (_, i) => runContendedClient(ctx, options.clients + i, pool)),
  ]
  const killer = options.kill && options.replicas instanceof ReplicaFleet ? runKiller(ctx, options.replicas, options.kill, createRng(options.seed ^ 0x5bd1e995)).catch((err: unknown) => ctx.fail({ op: 'kill', message: String(err) }))
    : Promise.resolve()
  const progress = setInterval(() => log(`stress: ${ctx.issued}/${options.opsTotal} ops, ${ctx.acknowledged} acknowledged, ${ctx.failureCount} failures`), 10_000)
  progress.unref()
  try {
    await Promise.all(clients)
  } finally {
    ctx.done = true
    clearInterval(progress)
    await killer
  }
  const summary: LoadSummary = {
    seed: options.seed,
    attempted: ctx.issued,
    acknowledged: ctx.acknowledged,
    refusedByCode: ctx.refusedByCode,
    networkErrors: ctx.networkErrors,
    resolved: ctx.resolved,
    unresolved: ctx.unresolved,
    unresolvedCreates: ctx.unresolvedCreates,
    refusedConnections: ctx.net.refusedConnections,
    draining503: ctx.net.draining503,
    draining503Body: ctx.net.draining503Body,
    kills: options.replicas instanceof ReplicaFleet ? options.replicas.kills : 0,
    terms: options.replicas instanceof ReplicaFleet ? options.replicas.terms : 0,
    pauses: options.replicas instanceof ReplicaFleet ? options.replicas.pauses : 0,
    failures: ctx.failureCount,
    byOperation: ctx.byOperation,
    durationMs: Date.now() - started,
    stoppedEarly: ctx.stoppedEarly,
  }
  return { summary, failures: ctx.failures, groups, servers: ctx.servers }
}

/** A setup request that must succeed: retried (bounded) when a replica is not reachable. */
async function sendRetrying(replicas: ReplicaSource, rng: Rng, method: string, p: string, body?: unknown): Promise<{ status: number; body: unknown }> {
  for (let attempt = 1; ; attempt++) {
    const out = await send(replicas, rng, method, p, body)
    if (out.kind === 'response') return out
    if (attempt >= 5) throw new Error(`${method} ${p}: ${out.error}`)
    await sleep(200)
  }
}

/** Fills `fill` of the fleet's RAM with big servers, half in each zone; they are tracked like any other. */
async function addBallast(ctx: LoadContext, rng: Rng): Promise<void> {
  const fill = ctx.options.fill ?? 0
  if (fill <= 0) return
  const big = DEMO_FLAVORS.find((f) => f.id === BIG_FLAVOR)!
  // Four big servers fill one demo host; eight hosts a zone.
  const perZone = Math.floor(fill * 8 * Math.floor((128 * 1024) / big.ram_mb))
  for (const az of ZONES) {
    if (perZone === 0) continue
    const res = await sendRetrying(ctx.options.replicas, rng, 'POST', v1('/cloudservers'), serverBody(`ballast-${az}`, BIG_FLAVOR, perZone, az, undefined))
    if (res.status !== 200) throw new Error(`ballast in ${az} refused: ${res.status} ${JSON.stringify(res.body)}`)
    const { job_id, serverIds } = res.body as { job_id: string; serverIds: string[] }
    const status = await waitJob(ctx, rng, job_id)
    if (status !== 'SUCCESS') throw new Error(`ballast job ${job_id} ended ${status}`)
    for (const id of serverIds) {
      ctx.servers.set(id, { id, owner: -1, exists: true, status: 'ACTIVE', group: null, flavor: BIG_FLAVOR, mayBeMoving: false, unknown: undefined, history: ['ballast'] })
    }
  }
}

/**
 * Polls a job on any live replica until it finishes; answers lost to a killed replica are
 * retried elsewhere. Returns the final status, 'MISSING' for a job the API does not know, or
 * 'TIMEOUT'.
 */
async function waitJob(ctx: LoadContext, rng: Rng, jobId: string, timeoutMs = 60_000): Promise<string> {
  const deadline = Date.now() + timeoutMs
  let delay = 10
  for (;;) {
    const out = await send(ctx.options.replicas, rng, 'GET', v1(`/jobs/${jobId}`), undefined, {}, ctx.net)
    if (out.kind === 'response') {
      if (out.status === 404) return 'MISSING'
      if (out.status !== 200) {
        ctx.fail({ op: 'job', message: `GET job ${jobId}: ${out.status} ${JSON.stringify(out.body)}`, replica: out.replica, requestId: out.requestId })
      } else {
        const status = (out.body as { status: string }).status
        if (status !== 'RUNNING' && status !== 'INIT') return status
      }
    }
    if (Date.now() > deadline) return 'TIMEOUT'
    await sleep(delay)
    delay = Math.min(200, Math.round(delay * 1.5))
  }
}

/** A server as the API shows it (the fields the verifier compares), or null when it is 404. */
interface ShownServer {
  status: string
  taskState: string | null
  group: string | null
  host: string
  flavor: string
  /** The message of the server's `fault`, when it shows one. */
  fault: string | null
}

async function showServer(ctx: LoadContext, rng: Rng, id: string): Promise<ShownServer | null | 'lost'> {
  const out = await send(ctx.options.replicas, rng, 'GET', v1(`/cloudservers/${id}`), undefined, {}, ctx.net)
  if (out.kind === 'lost') return 'lost'
  if (out.status === 404 && out.code === 'Ecs.0114') return null
  if (out.status !== 200) {
    ctx.fail({ op: 'show', message: `GET server: ${out.status} ${JSON.stringify(out.body)}`, replica: out.replica, requestId: out.requestId, serverId: id })
    return 'lost'
  }
  return parseShown(out.body)
}

function parseShown(body: unknown): ShownServer {
  const s = (body as { server: Record<string, unknown> }).server
  const hints = s['os:scheduler_hints'] as { group?: string[] } | undefined
  return {
    status: String(s.status),
    taskState: (s['OS-EXT-STS:task_state'] as string | null | undefined) ?? null,
    group: hints?.group?.[0] ?? null,
    host: String(s['OS-EXT-SRV-ATTR:host']),
    flavor: String((s.flavor as { id?: string } | undefined)?.id),
    fault: (s.fault as { message?: string } | undefined)?.message ?? null,
  }
}

/** A server that no host could take when its host failed: ERROR, with the placement diagnosis as its fault. */
function stranded(shown: ShownServer): boolean {
  return shown.status === 'ERROR' && /^evacuation found no host/.test(shown.fault ?? '')
}

/** Which answers an operation may get, given what its owner knows of the server. */
interface Expectation {
  /** A 200 is a correct answer. */
  okAllowed: boolean
  /** Error codes that are correct answers (the documented refusals for this state). */
  codes: readonly string[]
}

function expectationFor(op: Operation, s: TrackedServer | undefined, group: string | undefined): Expectation {
  switch (op) {
    case 'create':
      return { okAllowed: true, codes: ['Ecs.0319', 'Ecs.0001'] }
    case 'add_member':
      if (!s) throw new Error('add_member without a server')
      if (s.group === group) return { okAllowed: true, codes: [] }
      if (s.status !== 'SHUTOFF') return { okAllowed: false, codes: ['Ecs.0100'] }
      // A re-placement still running makes the server busy.
      if (s.group !== null) return { okAllowed: false, codes: s.mayBeMoving ? ['Ecs.0005', 'Ecs.0100'] : ['Ecs.0005'] }
      return { okAllowed: true, codes: s.mayBeMoving ? ['Ecs.0319', 'Ecs.0100'] : ['Ecs.0319'] }
    case 'delete':
      return { okAllowed: true, codes: s?.mayBeMoving ? ['Ecs.0100'] : [] }
    default:
      return { okAllowed: true, codes: [] }
  }
}

type Verdict = { kind: 'ack'; body: unknown; replica: string } | { kind: 'refused'; code: string } | { kind: 'failed' } | { kind: 'unknown'; why: string }

/**
 * Sends a mutating request and judges its answer against the expectation. Lost answers of
 * idempotent requests (`idempotent`) are retried up to a bound, the retry's answer standing for
 * both; others are returned as unknown for the caller to resolve.
 */
async function mutate(
  ctx: LoadContext, rng: Rng, op: Operation, method: string, p: string, body: unknown, headers: Record<string, string>,
  expect: Expectation, idempotent: boolean, serverId: string | undefined, credential: Credential = DEMO,
): Promise<Verdict> {
  ctx.byOperation[op].attempted++
  const owned = serverId === undefined ? undefined : ctx.servers.get(serverId)
  // An owner's server may be being evacuated, or be stranded, whatever its owner last did.
  const evacuee = ctx.options.hostFailures === true && owned !== undefined && owned.unknown === undefined && owned.owner >= 0 ? owned : undefined
  const codes = evacuee && !expect.codes.includes('Ecs.0100') ? [...expect.codes, 'Ecs.0100'] : expect.codes
  let lostOnce = false
  for (let attempt = 1; attempt <= 6; attempt++) {
    const out = await send(ctx.options.replicas, rng, method, p, body, headers, ctx.net, credential)
    if (out.kind === 'lost') {
      if (!lostOnce) ctx.networkErrors++
      lostOnce = true
      if (!idempotent || out.reason === 'timeout') {
        return { kind: 'unknown', why: `${op}: answer lost (${out.error}) from ${out.replica}` }
      }
      await sleep(50 + rng.int(0, 150))
      continue
    }
    if (lostOnce) ctx.resolved++
    if (out.status === 200) {
      if (!expect.okAllowed) {
        ctx.fail({ op, message: `accepted, but expected refusal ${expect.codes.join('/')}: ${JSON.stringify(body)}`, replica: out.replica, requestId: out.requestId, serverId })
        return { kind: 'failed' }
      }
      ctx.acknowledged++
      ctx.byOperation[op].acknowledged++
      return { kind: 'ack', body: out.body, replica: out.replica }
    }
    if (out.status >= 400 && out.status < 500 && out.code !== undefined && codes.includes(out.code)) {
      ctx.refused(out.code)
      if (evacuee && out.code === 'Ecs.0100') await checkEvacuee(ctx, rng, evacuee, op)
      return { kind: 'refused', code: out.code }
    }
    ctx.fail({
      op,
      message: `unexpected ${out.status} ${JSON.stringify(out.body)?.slice(0, 600)} (expected 200${expect.okAllowed ? '' : ' NOT allowed'} or ${codes.join('/') || 'no refusal'})`,
      replica: out.replica,
      requestId: out.requestId,
      serverId,
    })
    return { kind: 'failed' }
  }
  return { kind: 'unknown', why: `${op}: answer lost on every attempt` }
}

/**
 * After an owner's request was refused Ecs.0100 while hosts fail: waits (bounded) until the
 * server is idle — an evacuation of it may be running — and checks that it kept the power state
 * its owner knows, or is stranded with the reason. Either way its owner's knowledge stands: a
 * stranded server comes back in that state once capacity returns.
 */
async function checkEvacuee(ctx: LoadContext, rng: Rng, s: TrackedServer, op: Operation): Promise<void> {
  const deadline = Date.now() + SETTLE_LIMIT_MS
  while (Date.now() < deadline) {
    const shown = await showServer(ctx, rng, s.id)
    if (shown === null) {
      ctx.fail({ op, message: `server vanished while hosts failed; history ${s.history.join(' | ')}`, serverId: s.id })
      s.exists = false
      return
    }
    if (shown !== 'lost' && shown.taskState === null) {
      if (shown.status !== s.status && !stranded(shown)) {
        ctx.fail({ op, message: `after an Ecs.0100 the idle server is ${shown.status}${shown.fault ? ` (${shown.fault})` : ''}; expected ${s.status} or stranded; history ${s.history.join(' | ')}`, serverId: s.id })
        s.unknown = 'power state changed while hosts failed'
      }
      return
    }
    await sleep(50)
  }
  ctx.fail({ op, message: 'still busy 30 s after an Ecs.0100 while hosts failed', serverId: s.id })
}

/** One client: owns its servers, picks operations at random, verifies each answer and job. */
async function runClient(ctx: LoadContext, index: number): Promise<void> {
  const rng = createRng((ctx.options.seed ^ Math.imul(index + 1, 0x9e3779b1)) >>> 0)
  const mine: TrackedServer[] = []
  let seq = 0
  const bigShare = ctx.options.bigFlavorShare ?? 0.4
  const moveShare = ctx.options.moveShare ?? 0.25
  const cap = ctx.options.serversPerClient
  try {
    while (await ctx.ticket()) {
      const live = mine.filter((s) => s.exists && s.unknown === undefined)
      const s = live.length > 0 ? rng.pick(live) : undefined
      const roll = rng.next()
      if (!s || (live.length < cap && roll < 0.3)) {
        await opCreate(ctx, rng, index, seq++, bigShare, mine)
        continue
      }
      if (rng.chance(moveShare)) {
        await opMove(ctx, rng, s)
        continue
      }
      const group = rng.pick(ctx.groups)
      if (roll < 0.6) {
        // add_member wants a stopped server; a running one is mostly stopped first, and sometimes
        // sent anyway to check the Ecs.0100 refusal.
        // A member of another group mostly leaves it first; sometimes it is sent anyway (Ecs.0005),
        // or re-added to its own group (idempotent 200).
        const pick = rng.next()
        if (s.status === 'ACTIVE' && rng.chance(0.8)) await opPower(ctx, rng, s, 'stop')
        else if (s.group === null) await opGroup(ctx, rng, s, 'add_member', group)
        else if (pick < 0.2) await opGroup(ctx, rng, s, 'add_member', s.group)
        else if (pick < 0.4) await opGroup(ctx, rng, s, 'add_member', group)
        else await opGroup(ctx, rng, s, 'remove_member', s.group)
      } else if (roll < 0.72) {
        await opGroup(ctx, rng, s, 'remove_member', s.group !== null && rng.chance(0.8) ? s.group : group)
      } else if (roll < 0.8) {
        await opPower(ctx, rng, s, 'stop')
      } else if (roll < 0.9) {
        await opPower(ctx, rng, s, 'start')
      } else {
        await opPower(ctx, rng, s, 'delete')
      }
    }
  } catch (err) {
    ctx.fail({ op: 'client', message: `client ${index} stopped: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}` })
  }
}

async function opCreate(ctx: LoadContext, rng: Rng, index: number, seq: number, bigShare: number, mine: TrackedServer[]): Promise<void> {
  const flavor = rng.chance(bigShare) ? BIG_FLAVOR : rng.pick(SMALL_FLAVORS)
  const count = rng.chance(0.3) ? 2 : 1
  const az = rng.chance(0.8) ? rng.pick(ZONES) : undefined
  const group = rng.chance(0.6) ? rng.pick(ctx.groups) : undefined
  const token = `stress-${ctx.options.seed}-${index}-${seq}`
  const verdict = await mutate(
    ctx, rng, 'create', 'POST', v1('/cloudservers'), serverBody(`c${index}-${seq}`, flavor, count, az, group),
    { 'x-client-token': token }, expectationFor('create', undefined, group), true, undefined,
  )
  if (verdict.kind === 'unknown') {
    // A create whose answer is lost for good may or may not have made servers, whose ids nobody
    // knows; the verifier reports servers it cannot account for only when no create is unresolved.
    ctx.unresolved++
    ctx.unresolvedCreates++
    return
  }
  if (verdict.kind !== 'ack') return
  const { job_id, serverIds } = verdict.body as { job_id: string; serverIds: string[] }
  const created = serverIds.map((id): TrackedServer => ({ id, owner: index, exists: true, status: 'ACTIVE', group: group ?? null, flavor, mayBeMoving: false, unknown: undefined, history: [`create(${flavor}${group ? `, group ${group}` : ''}) job ${job_id}`] }))
  for (const c of created) {
    mine.push(c)
    ctx.servers.set(c.id, c)
  }
  if (serverIds.length !== count) ctx.fail({ op: 'create', message: `asked for ${count} servers, got ${serverIds.length}`, replica: verdict.replica })
  await finishJob(ctx, rng, 'create', job_id, created)
}

/** Waits for an acknowledged job; a job that does not succeed is a failure and leaves its servers unknown. */
async function finishJob(ctx: LoadContext, rng: Rng, op: Operation, jobId: string, servers: TrackedServer[]): Promise<boolean> {
  const status = await waitJob(ctx, rng, jobId)
  if (status === 'SUCCESS') return true
  ctx.fail({ op, message: `acknowledged job ${jobId} ended ${status}`, serverId: servers.map((s) => s.id).join(',') })
  for (const s of servers) s.unknown = `job ${jobId} ${status}`
  return false
}

async function opGroup(ctx: LoadContext, rng: Rng, s: TrackedServer, op: 'add_member' | 'remove_member', group: string): Promise<void> {
  const expect = op === 'add_member' ? expectationFor(op, s, group) : expectationFor(op, s, group)
  const verdict = await mutate(
    ctx, rng, op, 'POST', v1(`/cloudservers/os-server-groups/${group}/action`), { [op]: { instance_uuid: s.id } }, {}, expect, true, s.id,
  )
  if (verdict.kind === 'unknown') {
    s.unknown = verdict.why
    ctx.unresolved++
    return
  }
  if (verdict.kind !== 'ack') return
  if (op === 'add_member' && s.group !== group) {
    s.group = group
    s.mayBeMoving = true
  } else if (op === 'remove_member' && s.group === group) {
    s.group = null
  }
  remember(s, `${op} ${group} via ${verdict.replica}`)
  // Most owners wait for a re-placement to finish before going on; the others go straight on,
  // and a start they send meanwhile must wait for the move rather than be refused.
  if (s.mayBeMoving && rng.chance(0.7)) await settle(ctx, rng, s)
  // Read-your-writes across replicas: an acknowledged membership change must be visible from
  // any replica at once, not only after the run.
  if (rng.chance(0.25)) {
    const shown = await showServer(ctx, rng, s.id)
    if (shown !== 'lost' && (shown === null || shown.group !== s.group)) {
      ctx.fail({ op, message: `acknowledged ${op} ${group} not visible right after: the API shows ${shown === null ? '404' : `group ${shown.group ?? 'none'}`}; history ${s.history.join(' | ')}`, serverId: s.id })
    }
  }
}

async function opPower(ctx: LoadContext, rng: Rng, s: TrackedServer, op: 'stop' | 'start' | 'delete'): Promise<void> {
  const [p, body] = op === 'delete'
    ? [v1('/cloudservers/delete'), { servers: [{ id: s.id }] }]
    : [v1('/cloudservers/action'), { [op === 'stop' ? 'os-stop' : 'os-start']: { servers: [{ id: s.id }] } }]
  const verdict = await mutate(ctx, rng, op, 'POST', p, body, {}, expectationFor(op, s, undefined), false, s.id)
  if (verdict.kind === 'unknown') {
    await resolvePower(ctx, rng, s, op, verdict.why)
    return
  }
  if (verdict.kind !== 'ack') return
  const jobId = (verdict.body as { job_id: string }).job_id
  if (!(await finishJob(ctx, rng, op, jobId, [s]))) return
  if (op === 'delete') s.exists = false
  else s.status = op === 'stop' ? 'SHUTOFF' : 'ACTIVE'
  // A start waited for any move; a stop or delete was only accepted on an idle server or one
  // that keeps moving — so only a start proves the move is over.
  if (op === 'start') s.mayBeMoving = false
  remember(s, `${op} job ${jobId}`)
}

/** Waits until the server shows no task (its add_member re-placement ended); bounded. */
async function settle(ctx: LoadContext, rng: Rng, s: TrackedServer): Promise<void> {
  const deadline = Date.now() + SETTLE_LIMIT_MS
  while (Date.now() < deadline) {
    const shown = await showServer(ctx, rng, s.id)
    if (shown !== 'lost' && shown !== null && shown.taskState === null) {
      s.mayBeMoving = false
      return
    }
    if (shown === null) return
    await sleep(20)
  }
  ctx.fail({ op: 'add_member', message: `the re-placement after add_member did not end within 30 s`, serverId: s.id })
}

/** Flavors an owner resizes between: the small ones and the big one, KVM all. */
const RESIZE_FLAVORS = [...SMALL_FLAVORS, BIG_FLAVOR] as const

/**
 * A move or a reboot of the owner's server: a resize (to a flavor that may not fit its host, so
 * that it must move; a running server mostly with `withStopServer`), a redeploy, an operator's
 * migration (live when it runs), or a reboot. Each is acknowledged with a job that must succeed;
 * the server keeps its status and group, and a resize takes the new flavor.
 */
async function opMove(ctx: LoadContext, rng: Rng, s: TrackedServer): Promise<void> {
  if (s.mayBeMoving) await settle(ctx, rng, s)
  const roll = rng.next()
  const running = s.status === 'ACTIVE'
  const room = { okAllowed: true, codes: ['Ecs.0319'] as readonly string[] }
  let op: Operation
  let verdict: Verdict
  let flavor = s.flavor
  if (roll < 0.4) {
    op = 'resize'
    flavor = rng.pick(RESIZE_FLAVORS.filter((f) => f !== s.flavor))
    const withStop = running ? rng.chance(0.8) : rng.chance(0.2)
    const expect = running && !withStop ? { okAllowed: false, codes: ['Ecs.0100'] } : { okAllowed: true, codes: ['Ecs.0319', 'Ecs.0001'] }
    verdict = await mutate(ctx, rng, op, 'POST', v1(`/cloudservers/${s.id}/resize`), { resize: { flavorRef: flavor, ...(withStop ? { mode: 'withStopServer' } : {}) } }, {}, expect, false, s.id)
  } else if (roll < 0.65 && ctx.options.hostFailures !== true) {
    op = 'redeploy'
    verdict = await mutate(ctx, rng, op, 'POST', v1(`/cloudservers/${s.id}/actions/redeploy`), undefined, {}, room, false, s.id)
  } else if (roll < 0.9) {
    op = 'migrate'
    const live = running && rng.chance(0.7)
    verdict = await mutate(ctx, rng, op, 'POST', `/admin/servers/${s.id}/migrate`, { migrate: { live } }, {}, room, false, s.id, OPERATOR)
  } else {
    op = 'reboot'
    const expect = running ? { okAllowed: true, codes: [] } : { okAllowed: false, codes: ['Ecs.0100'] }
    verdict = await mutate(ctx, rng, op, 'POST', v1('/cloudservers/action'), { reboot: { type: rng.pick(['SOFT', 'HARD'] as const), servers: [{ id: s.id }] } }, {}, expect, false, s.id)
  }
  if (verdict.kind === 'unknown') {
    await resolveMove(ctx, rng, s, op, verdict.why, [s.flavor, flavor])
    return
  }
  if (verdict.kind !== 'ack') return
  const jobId = (verdict.body as { job_id: string }).job_id
  if (!(await finishJob(ctx, rng, op, jobId, [s]))) return
  s.flavor = flavor
  remember(s, `${op}${op === 'resize' ? ` to ${flavor}` : ''} job ${jobId}`)
}

/**
 * After a lost move or reboot: waits until the server is idle and accepts what it shows if its
 * status and group are unchanged and its flavor is the old or the requested one.
 */
async function resolveMove(ctx: LoadContext, rng: Rng, s: TrackedServer, op: Operation, why: string, flavors: string[]): Promise<void> {
  const deadline = Date.now() + SETTLE_LIMIT_MS
  while (Date.now() < deadline) {
    const shown = await showServer(ctx, rng, s.id)
    if (shown === 'lost' || (shown !== null && shown.taskState !== null)) {
      await sleep(100)
      continue
    }
    ctx.resolved++
    if (shown === null) {
      ctx.fail({ op, message: `server vanished after a lost ${op} (${why}); history ${s.history.join(' | ')}`, serverId: s.id })
      s.exists = false
      return
    }
    if (shown.status !== s.status || shown.group !== s.group || !flavors.includes(shown.flavor)) {
      ctx.fail({ op, message: `after a lost ${op} the server is ${shown.status} ${shown.flavor} in group ${shown.group ?? 'none'}; expected ${s.status} ${flavors.join(' or ')} in ${s.group ?? 'none'}`, serverId: s.id })
      s.unknown = 'inconsistent after lost answer'
      return
    }
    s.flavor = shown.flavor
    remember(s, `${op} (answer lost; observed ${shown.flavor})`)
    return
  }
  s.unknown = `${why}; still busy after 30 s`
  ctx.unresolved++
}

/**
 * After a lost start/stop/delete: waits until the server is idle (its job, if one was recorded,
 * finished — on a surviving replica after the lease) and accepts what it shows if that is the
 * state before or after the operation; anything else is a failure.
 */
async function resolvePower(ctx: LoadContext, rng: Rng, s: TrackedServer, op: 'stop' | 'start' | 'delete', why: string): Promise<void> {
  const deadline = Date.now() + SETTLE_LIMIT_MS
  while (Date.now() < deadline) {
    const shown = await showServer(ctx, rng, s.id)
    if (shown === 'lost' || (shown !== null && shown.taskState !== null)) {
      await sleep(100)
      continue
    }
    ctx.resolved++
    if (shown === null) {
      if (op !== 'delete') ctx.fail({ op, message: `server vanished after a lost ${op} (${why}); history ${s.history.join(' | ')}`, serverId: s.id })
      s.exists = false
      return
    }
    const after = op === 'stop' ? 'SHUTOFF' : op === 'start' ? 'ACTIVE' : s.status
    if (shown.status !== s.status && shown.status !== after) {
      ctx.fail({ op, message: `after a lost ${op} the server is ${shown.status}; expected ${s.status} or ${after}`, serverId: s.id })
      s.unknown = 'inconsistent after lost answer'
      return
    }
    if (shown.group !== s.group) {
      ctx.fail({ op, message: `after a lost ${op} the server shows group ${shown.group ?? 'none'}, expected ${s.group ?? 'none'}; history ${s.history.join(' | ')}`, serverId: s.id })
      s.group = shown.group
    }
    s.status = shown.status as 'ACTIVE' | 'SHUTOFF'
    remember(s, `${op} (answer lost; observed ${shown.status})`)
    return
  }
  s.unknown = `${why}; still busy after 30 s`
  ctx.unresolved++
}

function remember(s: TrackedServer, what: string): void {
  s.history.push(what)
  if (s.history.length > 8) s.history.shift()
}

/** Marks servers that contended clients work on: their state is nobody's to know. */
const CONTENDED = 'contended: operated on by several clients at once'

/** Creates the shared pool of servers the contended clients fight over (half of them stopped). */
async function addContendedPool(ctx: LoadContext, rng: Rng): Promise<string[]> {
  const n = ctx.options.contended?.servers ?? 0
  if (n === 0 || (ctx.options.contended?.clients ?? 0) === 0) return []
  const res = await sendRetrying(ctx.options.replicas, rng, 'POST', v1('/cloudservers'), serverBody('pool', 's6.large.2', n, undefined, undefined))
  if (res.status !== 200) throw new Error(`contended pool refused: ${res.status} ${JSON.stringify(res.body)}`)
  const { job_id, serverIds } = res.body as { job_id: string; serverIds: string[] }
  if ((await waitJob(ctx, rng, job_id)) !== 'SUCCESS') throw new Error(`contended pool job ${job_id} failed`)
  const stop = await sendRetrying(ctx.options.replicas, rng, 'POST', v1('/cloudservers/action'), { 'os-stop': { servers: serverIds.slice(0, Math.ceil(n / 2)).map((id) => ({ id })) } })
  if (stop.status !== 200 || (await waitJob(ctx, rng, (stop.body as { job_id: string }).job_id)) !== 'SUCCESS') throw new Error('could not stop half of the contended pool')
  for (const id of serverIds) ctx.servers.set(id, { id, owner: -2, exists: true, status: 'ACTIVE', group: null, flavor: 's6.large.2', mayBeMoving: false, unknown: CONTENDED, history: ['pool'] })
  return serverIds
}

/**
 * Every answer a request on a contended server may get: it may have been deleted, be busy or in
 * the wrong state, be in another group, or find no host; all documented. Only 5xx, undocumented
 * codes and jobs that end neither SUCCESS nor FAIL are failures (a job may fail legitimately
 * here: a delete can complete while a start of the same server is queued).
 */
const CONTENDED_CODES = ['Ecs.0100', 'Ecs.0005', 'Ecs.0319', 'Ecs.0114', 'Ecs.0001', 'Ecs.0313'] as const

/** Deletes one of the churned groups (204, or 404 when another client was first) and creates its replacement. */
async function churnGroup(ctx: LoadContext, rng: Rng, churned: string[]): Promise<void> {
  const slot = rng.int(0, churned.length - 1)
  const victim = churned[slot]!
  const del = await send(ctx.options.replicas, rng, 'DELETE', v1(`/cloudservers/os-server-groups/${victim}`), undefined, {}, ctx.net)
  if (del.kind === 'response' && del.status !== 204 && !(del.status === 404 && del.code === 'Ecs.0313')) {
    ctx.fail({ op: 'delete_group', message: `unexpected ${del.status} ${JSON.stringify(del.body)}`, replica: del.replica, requestId: del.requestId })
  }
  if (churned[slot] !== victim) return
  const res = await send(ctx.options.replicas, rng, 'POST', v1('/cloudservers/os-server-groups'), { server_group: { name: `contended-${slot}`, policies: ['anti-affinity'] } }, {}, ctx.net)
  if (res.kind === 'lost') return
  if (res.status !== 200) {
    ctx.fail({ op: 'create_group', message: `unexpected ${res.status} ${JSON.stringify(res.body)}`, replica: res.replica, requestId: res.requestId })
    return
  }
  if (churned[slot] === victim) churned[slot] = (res.body as { server_group: { id: string } }).server_group.id
}

/**
 * Groups only the contended clients use, deleted and created again while the others add to them,
 * so that a group's deletion races add_member and creates into it.
 */
async function contendedGroups(ctx: LoadContext, rng: Rng): Promise<string[]> {
  if (ctx.contendedGroups.length > 0) return ctx.contendedGroups
  for (let i = 0; i < 2; i++) {
    const res = await sendRetrying(ctx.options.replicas, rng, 'POST', v1('/cloudservers/os-server-groups'), { server_group: { name: `contended-${i}`, policies: ['anti-affinity'] } })
    if (res.status !== 200) throw new Error(`could not create a contended group: ${res.status} ${JSON.stringify(res.body)}`)
    ctx.contendedGroups.push((res.body as { server_group: { id: string } }).server_group.id)
  }
  return ctx.contendedGroups
}

async function runContendedClient(ctx: LoadContext, index: number, pool: string[]): Promise<void> {
  const rng = createRng((ctx.options.seed ^ Math.imul(index + 1, 0x85ebca6b)) >>> 0)
  let seq = 0
  try {
    const churned = await contendedGroups(ctx, rng)
    while (pool.length > 0 && (await ctx.ticket())) {
      const roll = rng.next()
      const id = rng.pick(pool)
      const group = rng.chance(0.5) ? rng.pick(churned) : rng.pick(ctx.groups)
      if (roll < 0.04) {
        await churnGroup(ctx, rng, churned)
        continue
      }
      let op: Operation
      let request: [string, unknown]
      if (roll < 0.1) {
        op = 'create'
        request = [v1('/cloudservers'), serverBody(`pool-${index}-${seq++}`, 's6.large.2', 1, rng.pick(ZONES), rng.chance(0.7) ? group : undefined)]
      } else if (roll < 0.45) {
        op = 'add_member'
        request = [v1(`/cloudservers/os-server-groups/${group}/action`), { add_member: { instance_uuid: id } }]
      } else if (roll < 0.6) {
        op = 'remove_member'
        request = [v1(`/cloudservers/os-server-groups/${group}/action`), { remove_member: { instance_uuid: id } }]
      } else if (roll < 0.68) {
        op = 'stop'
        request = [v1('/cloudservers/action'), { 'os-stop': { servers: [{ id }] } }]
      } else if (roll < 0.78) {
        op = 'start'
        request = [v1('/cloudservers/action'), { 'os-start': { servers: [{ id }] } }]
      } else if (roll < 0.83) {
        op = 'resize'
        request = [v1(`/cloudservers/${id}/resize`), { resize: { flavorRef: rng.pick(RESIZE_FLAVORS), mode: 'withStopServer' } }]
      } else if (roll < 0.88) {
        op = 'redeploy'
        request = [v1(`/cloudservers/${id}/actions/redeploy`), undefined]
      } else if (roll < 0.93) {
        op = 'migrate'
        request = [`/admin/servers/${id}/migrate`, { migrate: { live: rng.chance(0.5) } }]
      } else {
        op = 'delete'
        request = [v1('/cloudservers/delete'), { servers: [{ id }] }]
      }
      const verdict = await mutate(
        ctx, rng, op, 'POST', request[0], request[1], {}, { okAllowed: true, codes: CONTENDED_CODES }, op === 'add_member' || op === 'remove_member',
        op === 'create' ? undefined : id, op === 'migrate' ? OPERATOR : DEMO,
      )
      if (verdict.kind === 'unknown') {
        ctx.unresolved++
        if (op === 'create') ctx.unresolvedCreates++
        continue
      }
      if (verdict.kind !== 'ack') continue
      const body = verdict.body as { job_id?: string; serverIds?: string[] } | undefined
      if (op === 'create' && body?.serverIds) {
        for (const created of body.serverIds) {
          pool.push(created)
          ctx.servers.set(created, { id: created, owner: -2, exists: true, status: 'ACTIVE', group: null, flavor: 's6.large.2', mayBeMoving: false, unknown: CONTENDED, history: ['pool create'] })
        }
      }
      // Sometimes wait for the job, sometimes fire the next request while it runs.
      if (body?.job_id && rng.chance(0.5)) {
        const status = await waitJob(ctx, rng, body.job_id)
        if (status !== 'SUCCESS' && status !== 'FAIL') ctx.fail({ op, message: `job ${body.job_id} of a contended server ended ${status}`, serverId: id })
      }
      // Keep the pool from emptying: deleted servers are replaced by the creates above.
      if (op === 'delete' && pool.length > 4) pool.splice(pool.indexOf(id), 1)
    }
  } catch (err) {
    ctx.fail({ op: 'client', message: `contended client ${index} stopped: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}` })
  }
}

/**
 * Kills random replicas at random points of the run (spread over its progress, so every kill
 * lands while clients are busy), restarting each after a short downtime.
 */
async function runKiller(ctx: LoadContext, fleet: ReplicaFleet, plan: NonNullable<LoadOptions['kill']>, rng: Rng): Promise<void> {
  const marks = Array.from({ length: plan.times }, () => Math.floor((0.05 + rng.next() * (KILL_WINDOW_END - 0.05)) * ctx.options.opsTotal)).sort((a, b) => a - b)
  ctx.killsPending = marks.length
  try {
    for (const mark of marks) {
      while (!ctx.done && ctx.issued < mark) await sleep(10)
      if (ctx.done) return
      await sleep(rng.int(0, 100))
      await faultOnce(ctx, fleet, rng, plan)
      ctx.killsPending--
    }
  } finally {
    ctx.killsPending = 0
  }
}

/** One fault on a random live replica; a replica that was stopped is started again. */
async function faultOnce(ctx: LoadContext, fleet: ReplicaFleet, rng: Rng, plan: NonNullable<LoadOptions['kill']>): Promise<void> {
  const log = ctx.options.log ?? (() => undefined)
  const [minDown, maxDown] = plan.downMs ?? [0, 500]
  const live = fleet.liveIndexes()
  if (live.length === 0) return
  const victim = rng.pick(live)
  const roll = plan.faults === 'mixed' ? rng.next() : 0
  if (roll >= 0.75) {
    // Longer than the 1 s job lease, so that other replicas (or nobody, for a single process) take over.
    const ms = rng.int(1500, 3000)
    log(`stress: SIGSTOP replica ${victim} for ${ms} ms at op ${ctx.issued}`)
    await fleet.pause(victim, ms)
    return
  }
  if (roll >= 0.5) {
    log(`stress: SIGTERM replica ${victim} at op ${ctx.issued}`)
    const { exit, output } = await fleet.terminate(victim)
    if (exit !== 0) ctx.fail({ op: 'terminate', message: `replica ${victim} exited ${String(exit)} on SIGTERM, not 0; ${output}` })
  } else {
    log(`stress: kill -9 replica ${victim} at op ${ctx.issued}`)
    await fleet.kill(victim)
  }
  await sleep(rng.int(minDown, maxDown))
  for (let attempt = 1; ; attempt++) {
    try {
      await fleet.restart(victim)
      return
    } catch (err) {
      ctx.fail({ op: 'restart', message: `replica ${victim} did not restart (attempt ${attempt}): ${err instanceof Error ? err.message.slice(0, 3000) : String(err)}` })
      if (attempt >= 3) throw new Error(`replica ${victim} could not be restarted`)
    }
  }
}

// ───────────────────────────── verification ─────────────────────────────

/** What the verifier found; every list must be empty for a correct run. */
export interface Verification {
  /** `audit()` of the database. */
  violations: Violation[]
  /** Acknowledged state the API does not show, servers nobody can account for, API inconsistencies. */
  mismatches: string[]
  /** Jobs still RUNNING/INIT after waiting several lease periods. */
  runningJobs: string[]
  /** Direct capacity checks, independent of the audit: negative free capacity, sums that disagree. */
  capacity: string[]
  /** Servers compared with their expected state. */
  checkedServers: number
  /** Servers skipped because a lost answer left their state unknown. */
  skippedServers: number
  /** Servers stranded in ERROR with the reason (only accepted with `hostFailures`). */
  strandedServers: number
}

/** Opens the fleet's database from the test process (SQLite: the same file, WAL; PostgreSQL: a small pool). */
export function openDatabase(target: DatabaseTarget): Database {
  return target.dialect === 'postgres' ? Database.postgres({ url: target.url, poolSize: 2 }) : Database.sqlite({ file: target.file })
}

/**
 * Independent capacity check (not trusting `audit`): no host has negative free capacity, and
 * each host's free figures equal its capacity minus the sum of its servers' flavors.
 */
export async function checkCapacity(database: Database): Promise<string[]> {
  const problems: string[] = []
  const hosts = await database.db.selectFrom('hosts').select(['id', 'name', 'vcpus', 'ram_mb', 'cpu_allocation_ratio', 'ram_allocation_ratio', 'free_vcpus', 'free_ram_mb']).execute()
  // Binned servers hold no host; a move in flight still holds part of its server on the source.
  const servers = await database.db.selectFrom('servers').select(['host_id', 'vcpus', 'ram_mb']).where('in_recycle_bin', '=', 0).execute()
  const moves = await database.db.selectFrom('moves').select(['source_host_id as host_id', 'held_vcpus as vcpus', 'held_ram_mb as ram_mb']).execute()
  const used = new Map<string, { v: number; r: number }>()
  for (const s of [...servers, ...moves]) {
    const u = used.get(s.host_id) ?? { v: 0, r: 0 }
    u.v += s.vcpus
    u.r += s.ram_mb
    used.set(s.host_id, u)
  }
  for (const h of hosts) {
    const u = used.get(h.id) ?? { v: 0, r: 0 }
    const capV = Math.floor(h.vcpus * h.cpu_allocation_ratio)
    const capR = Math.floor(h.ram_mb * h.ram_allocation_ratio)
    if (h.free_vcpus < 0 || h.free_ram_mb < 0) problems.push(`host ${h.name} has negative free capacity: ${h.free_vcpus} vCPU, ${h.free_ram_mb} MiB`)
    if (u.v > capV || u.r > capR) problems.push(`host ${h.name} is overfilled: ${u.v}/${capV} vCPU, ${u.r}/${capR} MiB`)
    if (h.free_vcpus !== capV - u.v || h.free_ram_mb !== capR - u.r) {
      problems.push(`host ${h.name} records free ${h.free_vcpus} vCPU / ${h.free_ram_mb} MiB but its servers leave ${capV - u.v} / ${capR - u.r}`)
    }
  }
  return problems
}

/** Waits until no job is RUNNING/INIT (bounded); returns those still running. */
export async function waitForJobsToFinish(database: Database, timeoutMs: number): Promise<string[]> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const running = await database.db.selectFrom('jobs').select(['id', 'operation', 'server_id', 'lease_owner', 'lease_expires_at']).where('status', 'in', ['RUNNING', 'INIT']).execute()
    if (running.length === 0) return []
    if (Date.now() > deadline) {
      return running.map((j) => `job ${j.id} (${j.operation}${j.server_id ? ` of ${j.server_id}` : ''}) RUNNING, lease ${j.lease_owner ?? '-'} until ${j.lease_expires_at ?? '-'}`)
    }
    await sleep(100)
  }
}

/**
 * Checks a finished run: waits for every job to end (a few lease periods), runs the audit and
 * the independent capacity check on the database, then compares every server whose state is
 * known with what the API shows — existence, status, group hint, idle task — and every group's
 * member list with the servers expected in it; member hosts of each group must be distinct as
 * the API reports them; every server in the database must be accounted for. With
 * `hostFailures` (hosts failed during the run), a server stranded in ERROR with the reason
 * stands for the status its owner expects — it returns to it when capacity does — and is counted.
 */
export async function verify(
  run: LoadRun, options: { replicas: ReplicaSource; database: DatabaseTarget; jobWaitMs?: number; seed?: number; hostFailures?: boolean },
): Promise<Verification> {
  const rng = createRng((options.seed ?? run.summary.seed) ^ 0x1234567)
  const database = openDatabase(options.database)
  try {
    const runningJobs = await waitForJobsToFinish(database, options.jobWaitMs ?? SETTLE_LIMIT_MS)
    const violations = await audit(database.db, { stuckAfterMs: 0 })
    const capacity = await checkCapacity(database)
    const mismatches: string[] = []

    const get = async (p: string) => {
      for (let attempt = 1; attempt <= 5; attempt++) {
        const out = await send(options.replicas, rng, 'GET', v1(p))
        if (out.kind === 'response') return out
        await sleep(200)
      }
      throw new Error(`GET ${p}: no answer`)
    }

    // Servers, eight requests at a time.
    const tracked = [...run.servers.values()]
    const shown = new Map<string, ShownServer>()
    let checked = 0
    let skipped = 0
    let strandedServers = 0
    for (let i = 0; i < tracked.length; i += 8) {
      await Promise.all(
        tracked.slice(i, i + 8).map(async (s) => {
          const out = await get(`/cloudservers/${s.id}`)
          if (out.status === 200) shown.set(s.id, parseShown(out.body))
          else if (!(out.status === 404 && out.code === 'Ecs.0114')) mismatches.push(`GET server ${s.id}: ${out.status} ${JSON.stringify(out.body)}`)
          const strandedView = shown.get(s.id)
          if (strandedView && stranded(strandedView)) {
            strandedServers++
            if (options.hostFailures !== true) mismatches.push(`server ${s.id} is stranded (${strandedView.fault ?? ''}), but no host was failed`)
          }
          if (s.unknown !== undefined) {
            skipped++
            const view = shown.get(s.id)
            if (view && s.unknown === CONTENDED && view.taskState !== null) mismatches.push(`contended server ${s.id} still has task ${view.taskState} after every job ended`)
            return
          }
          checked++
          const view = shown.get(s.id)
          const history = `(owner ${s.owner}; ${s.history.join(' | ')})`
          if (!s.exists) {
            if (view) mismatches.push(`server ${s.id} was deleted (acknowledged, job succeeded) but the API still shows it ${view.status} ${history}`)
            return
          }
          if (!view) {
            mismatches.push(`server ${s.id} should exist (${s.status}, group ${s.group ?? 'none'}) but the API answers 404 ${history}`)
            return
          }
          if (view.status !== s.status && !stranded(view)) mismatches.push(`server ${s.id} is ${view.status}, expected ${s.status} ${history}`)
          if (view.flavor !== s.flavor) mismatches.push(`server ${s.id} has flavor ${view.flavor}, expected ${s.flavor} ${history}`)
          if (view.taskState !== null) mismatches.push(`server ${s.id} still has task ${view.taskState} ${history}`)
          if (view.group !== s.group) mismatches.push(`server ${s.id} shows group ${view.group ?? 'none'}, expected ${s.group ?? 'none'} ${history}`)
        }),
      )
    }

    // Groups: members as listed must be exactly the servers expected in them (plus unknown ones).
    const listed = new Map<string, Set<string>>()
    for (const g of run.groups) {
      const out = await get(`/cloudservers/os-server-groups/${g}`)
      if (out.status !== 200) {
        mismatches.push(`GET group ${g}: ${out.status} ${JSON.stringify(out.body)}`)
        continue
      }
      const members = (out.body as { server_group: { members: string[] } }).server_group.members
      listed.set(g, new Set(members))
      const expected = tracked.filter((s) => s.unknown === undefined && s.exists && s.group === g).map((s) => s.id)
      for (const id of expected) if (!members.includes(id)) mismatches.push(`group ${g} does not list ${id}, whose acknowledged membership stands (${run.servers.get(id)?.history.join(' | ')})`)
      const hosts = new Map<string, string>()
      for (const id of members) {
        const s = run.servers.get(id)
        if (!s) mismatches.push(`group ${g} lists ${id}, a server no client knows`)
        else if (s.unknown === undefined && (!s.exists || s.group !== g)) mismatches.push(`group ${g} lists ${id}, expected ${!s.exists ? 'deleted' : `in ${s.group ?? 'no group'}`} (${s.history.join(' | ')})`)
        const view = shown.get(id)
        if (view && view.group !== g) mismatches.push(`group ${g} lists ${id}, but the server shows group ${view.group ?? 'none'}`)
        if (!view && s && s.unknown === CONTENDED) mismatches.push(`group ${g} lists ${id}, which the API answers 404 for`)
        if (view) {
          const other = hosts.get(view.host)
          if (other !== undefined) mismatches.push(`anti-affinity broken as the API shows it: ${id} and ${other} of group ${g} both on ${view.host}`)
          hosts.set(view.host, id)
        }
      }
    }

    // Every group of the project (the churned ones too): members it lists show it as their group,
    // and a server whose hint names a group is listed by that group, which exists.
    const all = await get('/cloudservers/os-server-groups')
    if (all.status !== 200) mismatches.push(`GET groups: ${all.status} ${JSON.stringify(all.body)}`)
    else {
      for (const g of (all.body as { server_groups: Array<{ id: string; members: string[] }> }).server_groups) {
        if (!listed.has(g.id)) listed.set(g.id, new Set(g.members))
        for (const id of g.members) {
          const view = shown.get(id)
          if (view && view.group !== g.id) mismatches.push(`group ${g.id} lists ${id}, but the server shows group ${view.group ?? 'none'}`)
        }
      }
    }
    for (const [id, view] of shown) {
      if (view.group === null) continue
      if (!listed.has(view.group)) mismatches.push(`server ${id} shows group ${view.group}, which does not exist`)
      else if (!listed.get(view.group)!.has(id)) mismatches.push(`server ${id} shows group ${view.group}, which does not list it`)
    }

    // Every server in the database must be one a client knows, unless a create stayed unresolved.
    const inDb = await database.db.selectFrom('servers').select(['id', 'name', 'status']).execute()
    const unaccounted = inDb.filter((r) => !run.servers.has(r.id))
    if (unaccounted.length > 0 && run.summary.unresolvedCreates === 0) {
      for (const r of unaccounted.slice(0, 20)) mismatches.push(`server ${r.id} (${r.name}, ${r.status}) exists but no acknowledged create made it`)
    }
    return { violations, mismatches, runningJobs, capacity, checkedServers: checked, skippedServers: skipped, strandedServers }
  } finally {
    await database.close()
  }
}

/** True when a verification found nothing wrong. */
export function clean(v: Verification): boolean {
  return v.violations.length === 0 && v.mismatches.length === 0 && v.runningJobs.length === 0 && v.capacity.length === 0
}

/** Everything wrong with a run and its verification, as one message (empty when all is well). */
export function describeProblems(run: LoadRun, v: Verification | undefined): string {
  const lines: string[] = []
  if (run.failures.length > 0 || run.summary.failures > 0) {
    lines.push(`${run.summary.failures} failures during the load (seed ${run.summary.seed}):`, ...run.failures.slice(0, 30).map((f) => `  ${f.op}: ${f.message}${f.serverId ? ` [server ${f.serverId}]` : ''}${f.requestId ? ` [request ${f.requestId} on ${f.replica ?? '?'}]` : ''}`))
  }
  if (v) {
    if (v.violations.length > 0) lines.push('audit violations:', ...v.violations.slice(0, 30).map((x) => `  ${x.invariant}: ${x.message}`))
    if (v.capacity.length > 0) lines.push('capacity:', ...v.capacity.slice(0, 30).map((x) => `  ${x}`))
    if (v.runningJobs.length > 0) lines.push('jobs left running:', ...v.runningJobs.slice(0, 30).map((x) => `  ${x}`))
    if (v.mismatches.length > 0) lines.push('state mismatches:', ...v.mismatches.slice(0, 30).map((x) => `  ${x}`))
  }
  return lines.join('\n')
}

/** One line of figures, for test logs. */
export function summaryLine(s: LoadSummary, v?: Verification): string {
  const refused = Object.entries(s.refusedByCode).map(([c, n]) => `${c}×${n}`).join(' ') || 'none'
  return `seed ${s.seed}: ${s.attempted} ops in ${(s.durationMs / 1000).toFixed(1)} s (${(s.attempted / (s.durationMs / 1000)).toFixed(0)}/s), ` +
    `${s.acknowledged} acknowledged, refused ${refused}, ${s.networkErrors} lost answers (${s.resolved} resolved, ${s.unresolved} unresolved), ` +
    `${s.refusedConnections} refused connections, ${s.draining503} draining 503s, ${s.kills} kills, ${s.terms} SIGTERM restarts, ${s.pauses} pauses, ${s.failures} failures` +
    (v ? `, ${v.violations.length} violations, ${v.mismatches.length} mismatches, ${v.checkedServers} servers checked (${v.skippedServers} skipped, ${v.strandedServers} stranded)` : '') +
    (s.stoppedEarly ? ' — STOPPED EARLY by the time limit' : '')
}

// ───────────────────────────── capacity race ─────────────────────────────

/** Result of `capacityRace`. */
export interface CapacityRaceResult {
  /** Big-flavor slots free in the zone before the race. */
  slotsBefore: number
  slotsAfter: number
  accepted: string[]
  refusedByCode: Record<string, number>
  /** Answers other than 200 / documented refusals, and lost answers. */
  unexpected: string[]
  /** Accepted servers that did not become ACTIVE, or are missing. */
  missing: string[]
}

/** Big-flavor servers that still fit in a zone, host by host, read from the database. */
export async function freeSlots(database: Database, az: string, flavor: { vcpus: number; ram_mb: number }): Promise<number> {
  const hosts = await database.db.selectFrom('hosts').select(['free_vcpus', 'free_ram_mb']).where('az', '=', az).where('state', '=', 'up').where('enabled', '=', 1).execute()
  return hosts.reduce((n, h) => n + Math.max(0, Math.min(Math.floor(h.free_vcpus / flavor.vcpus), Math.floor(h.free_ram_mb / flavor.ram_mb))), 0)
}

/**
 * Many simultaneous single-server creates of the big flavor into one zone that has only a few
 * free slots left, spread over the replicas. Placement reads candidates without locking them,
 * so only the conditional capacity claim stands between the racers and an overfilled host —
 * exactly the window this exercises. Because nothing is released during the race, a refusal
 * means the zone was full at that moment, so the winners must be exactly the free slots.
 */
export async function capacityRace(options: {
  replicas: ReplicaSource
  database: DatabaseTarget
  az: string
  requests: number
  seed: number
  /** Servers a request (all placed or none); default 1. */
  count?: number
}): Promise<CapacityRaceResult> {
  const rng = createRng(options.seed)
  const big = DEMO_FLAVORS.find((f) => f.id === BIG_FLAVOR)!
  const database = openDatabase(options.database)
  try {
    const slotsBefore = await freeSlots(database, options.az, big)
    const answers = await Promise.all(
      Array.from({ length: options.requests }, (_, i) => send(options.replicas, rng, 'POST', v1('/cloudservers'), serverBody(`race-${i}`, BIG_FLAVOR, options.count ?? 1, options.az, undefined))),
    )
    const accepted: Array<{ jobId: string; id: string }> = []
    const refusedByCode: Record<string, number> = {}
    const unexpected: string[] = []
    for (const a of answers) {
      if (a.kind === 'lost') unexpected.push(`lost: ${a.error}`)
      else if (a.status === 200) {
        const b = a.body as { job_id: string; serverIds: string[] }
        for (const id of b.serverIds) accepted.push({ jobId: b.job_id, id })
      } else if (a.status === 400 && (a.code === 'Ecs.0319' || a.code === 'Ecs.0001')) refusedByCode[a.code] = (refusedByCode[a.code] ?? 0) + 1
      else unexpected.push(`${a.status} ${JSON.stringify(a.body)} [request ${a.requestId ?? '?'}]`)
    }
    const missing: string[] = []
    const ctx = new LoadContext({ replicas: options.replicas, clients: 0, opsTotal: 0, seed: options.seed, groups: 0, serversPerClient: 0 }, [], Date.now() + 60_000)
    for (const { jobId, id } of accepted) {
      const status = await waitJob(ctx, rng, jobId)
      const shown = await showServer(ctx, rng, id)
      if (status !== 'SUCCESS' || shown === 'lost' || shown === null || shown.status !== 'ACTIVE') {
        missing.push(`${id}: job ${status}, server ${shown === null ? '404' : shown === 'lost' ? 'unreadable' : shown.status}`)
      }
    }
    for (const f of ctx.failures) unexpected.push(f.message)
    const slotsAfter = await freeSlots(database, options.az, big)
    return { slotsBefore, slotsAfter, accepted: accepted.map((a) => a.id), refusedByCode, unexpected, missing }
  } finally {
    await database.close()
  }
}

/**
 * Creates servers and waits for their job, retrying lost answers with the same client token;
 * for test set-up (filling a zone before a race).
 */
export async function createAndWait(replicas: ReplicaSource, seed: number, flavor: string, count: number, az: string | undefined, group?: string): Promise<string[]> {
  const rng = createRng(seed)
  const res = await sendRetrying(replicas, rng, 'POST', v1('/cloudservers'), serverBody(`setup-${flavor}`, flavor, count, az, group))
  if (res.status !== 200) throw new Error(`create ${count}×${flavor} in ${az ?? 'any zone'}: ${res.status} ${JSON.stringify(res.body)}`)
  const { job_id, serverIds } = res.body as { job_id: string; serverIds: string[] }
  const ctx = new LoadContext({ replicas, clients: 0, opsTotal: 0, seed, groups: 0, serversPerClient: 0 }, [], Date.now() + 60_000)
  const status = await waitJob(ctx, rng, job_id)
  if (status !== 'SUCCESS') throw new Error(`create job ${job_id} ended ${status}`)
  return serverIds
}

/**
 * Simultaneous moves on the members of one anti-affinity group in a small fleet: operators' live
 * and cold migrations (some to a named host), resizes (up, so that some must move, and down),
 * redeploys, migrations to and off a dedicated host, add_member re-placements, with starts,
 * stops and remove_members mixed in. While moves are in flight both their source and target
 * count as used by the group (ARCHITECTURE §2 invariant 7); this is checked from the raw tables
 * at every point the test can observe, together with the whole audit, and at the end. Every
 * answer must be a 200 or a documented refusal.
 *
 * In process (both dialects) a GateDriver holds every driver operation while a burst of requests
 * is answered, so that all the moves a burst starts are in flight together when the test looks;
 * across three real replicas on one PostgreSQL the simulated driver's latency makes them overlap.
 */
import assert from 'node:assert/strict'
import { describe, test, type TestContext } from 'node:test'
import { sql, type Kysely } from 'kysely'
import { PlacementEngine, type PlacementOptions } from '../../src/placement/engine.ts'
import type { HostCandidate, PlacementRequest } from '../../src/placement/types.ts'
import { DEMO } from '../../src/services/demo.ts'
import { audit } from '../../src/services/audit.ts'
import type { Database } from '../../src/store/database.ts'
import type { Schema } from '../../src/store/schema.ts'
import { GateDriver } from '../drivers.ts'
import { DIALECTS, buildTestApp, call, createGroup, createServers, groupAction, stopServers, v1, waitForIdle } from '../helper.ts'
import { ADMIN, adminCall, consistentRead, errorCode, inFlightViolations, shrinkFleet, signedFetch, until, type KeptHost } from '../moves.ts'
import { createRng, randomSeed, type Rng } from '../stress/harness.ts'
import { replicasOnPostgres } from '../replicas.ts'

/** A seed from ECSD_STRESS_SEED replays a failure; otherwise a new one per run, printed. */
const SEED = process.env.ECSD_STRESS_SEED ? Number(process.env.ECSD_STRESS_SEED) : randomSeed()

/** What the workload sends. */
type Op = 'live' | 'cold' | 'resize' | 'redeploy' | 'dedicated' | 'add_member' | 'remove_member' | 'start' | 'stop'

/** How often each operation is drawn. */
const WEIGHTS: ReadonlyArray<readonly [Op, number]> = [
  ['live', 3], ['cold', 3], ['resize', 4], ['redeploy', 2], ['dedicated', 1], ['add_member', 4], ['remove_member', 3], ['start', 2], ['stop', 2],
]

/**
 * The refusals each operation may answer (HTTP 400), from the error catalogue
 * (src/domain/errors.ts): the server's state does not allow it or a job is working on it (Ecs.0100), no
 * host can take it (Ecs.0319), a parameter that no longer fits the server once a concurrent
 * request changed it — the same flavor, the host it is already on, a dedicated host it left or
 * reached (Ecs.0005, Ecs.0221).
 */
const REFUSALS: Readonly<Record<Op, readonly string[]>> = {
  live: ['Ecs.0100', 'Ecs.0319', 'Ecs.0005'],
  cold: ['Ecs.0100', 'Ecs.0319', 'Ecs.0005'],
  resize: ['Ecs.0100', 'Ecs.0319', 'Ecs.0005'],
  redeploy: ['Ecs.0100', 'Ecs.0319'],
  dedicated: ['Ecs.0100', 'Ecs.0319', 'Ecs.0005', 'Ecs.0221'],
  add_member: ['Ecs.0100', 'Ecs.0319'],
  remove_member: [],
  start: ['Ecs.0100'],
  stop: ['Ecs.0100'],
}

const FLAVORS = ['s6.small.1', 's6.medium.2', 's6.large.2', 's6.xlarge.2'] as const

/** Six shared hosts that take two s6.large.2 each (an s6.xlarge.2 takes a whole one), and one dedicated host. */
const FLEET = Array.from({ length: 7 }, () => ({ vcpus: 4, ramMb: 8192 }))

/** A request to ecsd, signed with the demo tenant's credential or the operator's (`admin`). */
interface Call {
  method: 'GET' | 'POST' | 'PUT'
  url: string
  body?: unknown
  admin: boolean
}

/** One request of a burst. */
interface Request extends Call {
  op: Op
  server: string
}

/** Sends requests to ecsd: in process (`app.inject`) or over HTTP to a replica. */
interface Client {
  send(c: Call): Promise<{ status: number; body: unknown }>
}

/** The scenario's servers and hosts. */
interface Scene {
  group: string
  members: string[]
  others: string[]
  hosts: KeptHost[]
  dedicated: KeptHost
}

/** Tally of the answers: per operation, per status/code; and anything not allowed. */
class Answers {
  readonly counts = new Map<string, number>()
  readonly unexpected: string[] = []

  record(r: Request, status: number, body: unknown): void {
    const code = errorCode(body)
    const key = `${r.op} ${status === 200 ? '200' : `${status} ${code ?? '?'}`}`
    this.counts.set(key, (this.counts.get(key) ?? 0) + 1)
    const allowed = status === 200 || (status === 400 && code !== undefined && REFUSALS[r.op].includes(code))
    if (!allowed) this.unexpected.push(`${r.op} ${r.url} ${JSON.stringify(r.body ?? null)} → ${status} ${JSON.stringify(body)}`)
  }

  acknowledged(op: Op): number {
    return this.counts.get(`${op} 200`) ?? 0
  }

  summary(): string {
    return [...this.counts].sort().map(([k, n]) => `${k}: ${n}`).join(', ')
  }
}

/**
 * Checks, on one consistent view, the in-flight invariant and the whole audit; returns the
 * problems and the moves in flight.
 */
async function observe(database: Database): Promise<{ problems: string[]; moves: Array<{ reason: string; source_host_id: string; target_host_id: string }> }> {
  return consistentRead(database, async (db) => {
    const problems = await inFlightViolations(db)
    for (const v of await audit(db)) problems.push(`audit ${v.invariant}: ${v.message}`)
    const moves = await db.selectFrom('moves').select(['reason', 'source_host_id', 'target_host_id']).execute()
    return { problems, moves }
  })
}

/**
 * Observes the database again and again until stopped, keeping every problem seen (with the
 * sample it was seen in) and the largest number of moves seen in flight at once.
 */
function sampler(database: Database) {
  const problems: string[] = []
  let samples = 0
  let maxInFlight = 0
  let running = true
  const loop = (async () => {
    while (running) {
      const seen = await observe(database)
      samples++
      maxInFlight = Math.max(maxInFlight, seen.moves.length)
      for (const p of seen.problems) problems.push(`sample ${samples}: ${p}`)
      await new Promise((r) => setTimeout(r, 2))
    }
  })()
  return {
    problems,
    async stop() {
      running = false
      await loop
      return { samples, maxInFlight }
    },
  }
}

/** Sets up the scene through the API: a dedicated host, the group and its members, and other servers. */
async function setScene(client: Client, database: Database, waitJob: (jobId: string) => Promise<string>): Promise<Scene> {
  const hosts = await shrinkFleet(database, FLEET)
  const dedicated = hosts[hosts.length - 1]!
  const ok = async (r: Call) => {
    const res = await client.send(r)
    if (res.status !== 200) throw new Error(`setup ${r.method} ${r.url}: ${res.status} ${JSON.stringify(res.body)}`)
    return res.body as Record<string, unknown>
  }
  await ok({ method: 'PUT', url: `/admin/hosts/${dedicated.name}`, body: { host: { dedicated_to: DEMO.projectId } }, admin: true })
  const group = ((await ok({ method: 'POST', url: v1('/cloudservers/os-server-groups'), body: { server_group: { name: 'moving', policies: ['anti-affinity'] } }, admin: false }))
    .server_group as { id: string }).id
  const create = async (count: number, hints: Record<string, unknown>) => {
    const body = await ok({
      method: 'POST', url: v1('/cloudservers'), admin: false,
      body: { server: { name: 'm', flavorRef: 's6.large.2', imageRef: 'i', vpcid: 'v', nics: [{ subnet_id: 's' }], root_volume: { volumetype: 'SSD' }, count, availability_zone: 'az1', ...hints } },
    })
    const status = await waitJob(body.job_id as string)
    if (status !== 'SUCCESS') throw new Error(`setup create job ${status}`)
    return body.serverIds as string[]
  }
  const members = await create(3, { 'os:scheduler_hints': { group } })
  const others = await create(3, {})
  // Some stopped servers: add_member takes only those, and cold moves keep them stopped.
  const stop = await ok({ method: 'POST', url: v1('/cloudservers/action'), body: { 'os-stop': { servers: [others[0], others[1], members[0]].map((id) => ({ id })) } }, admin: false })
  if ((await waitJob(stop.job_id as string)) !== 'SUCCESS') throw new Error('setup stop failed')
  // The two stopped ones next to members, so that adding them to the group re-places them.
  for (const other of others.slice(0, 2)) {
    const hostOf = async () => (await database.db.selectFrom('servers').select('host_id').where('id', '=', other!).executeTakeFirstOrThrow()).host_id
    const held = (await database.db.selectFrom('group_host_holds').select('host_id').where('group_id', '=', group).execute()).map((h) => h.host_id)
    for (const hostId of held) {
      if (held.includes(await hostOf())) break
      const res = await client.send({ method: 'POST', url: `/admin/servers/${other}/migrate`, body: { migrate: { live: false, host: hosts.find((h) => h.id === hostId)!.name } }, admin: true })
      if (res.status === 200 && (await waitJob((res.body as { job_id: string }).job_id)) !== 'SUCCESS') throw new Error('setup migration failed')
    }
    if (!held.includes(await hostOf())) throw new Error(`setup: ${other} could not be put next to a member`)
  }
  return { group, members, others, hosts, dedicated }
}

/** Draws one burst of requests at the scene's servers, from the database as it is now. */
async function planBurst(database: Database, scene: Scene, rng: Rng, size: number): Promise<Request[]> {
  const { db } = database
  const servers = await db.selectFrom('servers').select(['id', 'flavor_id', 'host_id', 'status', 'task_state']).execute()
  const byId = new Map(servers.map((s) => [s.id, s]))
  const all = [...scene.members, ...scene.others]
  const members = new Set((await db.selectFrom('server_group_members').select('server_id').where('group_id', '=', scene.group).execute()).map((m) => m.server_id))
  const held = new Set((await db.selectFrom('group_host_holds').select('host_id').where('group_id', '=', scene.group).execute()).map((h) => h.host_id))
  // Servers whose add_member must re-place them: stopped, idle, not members, on a host the group holds.
  const mustMove = servers.filter((s) => all.includes(s.id) && !members.has(s.id) && s.status === 'SHUTOFF' && s.task_state === null && held.has(s.host_id)).map((s) => s.id)
  const total = WEIGHTS.reduce((n, [, w]) => n + w, 0)
  const draw = (): Op => {
    let x = rng.next() * total
    for (const [op, w] of WEIGHTS) if ((x -= w) < 0) return op
    return WEIGHTS[0]![0]
  }
  // One of them joins the group in every burst that has one, untouched by the burst's other requests.
  const joiner = mustMove.length > 0 ? rng.pick(mustMove) : undefined
  const others = all.filter((id) => id !== joiner)
  const joining: Request[] = joiner === undefined ? [] : [{
    op: 'add_member', server: joiner, method: 'POST', url: v1(`/cloudservers/os-server-groups/${scene.group}/action`), body: { add_member: { instance_uuid: joiner } }, admin: false,
  }]
  return [...joining, ...Array.from({ length: size - joining.length }, (): Request => {
    const op = draw()
    const server = rng.pick(others)
    const now = byId.get(server)!
    const post = (url: string, body: unknown, admin = false): Request => ({ op, server, method: 'POST', url, body, admin })
    switch (op) {
      case 'live':
      case 'cold': {
        // Sometimes a named host: a stopped outsider next to a member (to be re-placed when it
        // joins), or any host of the fleet, held or not, the current one included.
        const outsider = !members.has(server) && now.status === 'SHUTOFF' && held.size > 0
        const nextToMember = outsider && rng.chance(0.7) ? rng.pick([...held]) : undefined
        const host = nextToMember !== undefined
          ? scene.hosts.find((h) => h.id === nextToMember)!.name
          : rng.chance(0.3) ? rng.pick(scene.hosts.slice(0, -1)).name : undefined
        return post(`/admin/servers/${server}/migrate`, { migrate: { live: op === 'live', ...(host ? { host } : {}) } }, true)
      }
      case 'resize': {
        // Often up to a whole host, which a server sharing its host must move for.
        const flavorRef = now.flavor_id !== 's6.xlarge.2' && rng.chance(0.5) ? 's6.xlarge.2' : rng.pick(FLAVORS.filter((f) => f !== now.flavor_id))
        return post(v1(`/cloudservers/${server}/resize`), { resize: { flavorRef, mode: 'withStopServer' } })
      }
      case 'redeploy':
        return { op, server, method: 'POST', url: v1(`/cloudservers/${server}/actions/redeploy`), admin: false }
      case 'dedicated':
        return post(v1(`/cloudservers/${server}/migrate`), { migrate: now.host_id === scene.dedicated.id ? null : { dedicated_host_id: scene.dedicated.id } })
      case 'add_member':
      case 'remove_member':
        return post(v1(`/cloudservers/os-server-groups/${scene.group}/action`), { [op]: { instance_uuid: server } })
      case 'start':
      case 'stop':
        return post(v1('/cloudservers/action'), { [`os-${op}`]: { servers: [{ id: server }] } })
    }
  })]
}

/** Fires a burst all at once and records every answer. */
async function fire(client: Client, burst: Request[], answers: Answers): Promise<void> {
  await Promise.all(burst.map(async (r) => {
    const res = await client.send(r)
    answers.record(r, res.status, res.body)
  }))
}

/** The end state: nothing in flight or running, every server settled, the audit and the invariant clean. */
async function assertSettled(database: Database): Promise<void> {
  const { db } = database
  assert.deepEqual(await db.selectFrom('moves').select(['server_id', 'reason']).execute(), [], 'no move left in flight')
  assert.deepEqual(await db.selectFrom('jobs').select(['id', 'operation', 'status']).where('status', 'in', ['RUNNING', 'INIT']).execute(), [], 'no job left RUNNING or INIT')
  assert.deepEqual(await db.selectFrom('group_host_holds').select(['server_id', 'host_id']).where('kind', '=', 'move-source').execute(), [], 'no source still held')
  const unsettled = await db.selectFrom('servers').select(['id', 'status', 'task_state']).where((eb) => eb.or([eb('task_state', 'is not', null), eb('status', 'not in', ['ACTIVE', 'SHUTOFF'])])).execute()
  assert.deepEqual(unsettled, [], 'every server ACTIVE or SHUTOFF with no task')
  assert.deepEqual(await inFlightViolations(db), [])
  assert.deepEqual(await audit(db), [])
}

/** In-flight move reasons a run must have seen before it may stop, so that it covers every kind of move. */
const REQUIRED_MOVES = ['live_migrate', 'migrate', 'resize (moved)', 'resize (in place)', 'redeploy', 'add_member'] as const

function moveKind(m: { reason: string; source_host_id: string; target_host_id: string }): string {
  if (m.reason !== 'resize') return m.reason
  return m.source_host_id === m.target_host_id ? 'resize (in place)' : 'resize (moved)'
}

/** A placement engine that can stop the next placement after it chose its host, until released. */
class PausingPlacement extends PlacementEngine {
  private next: { reached: () => void; released: Promise<void> } | undefined

  /** Pauses the next placement; `reached` settles once it has chosen, `release` lets it return. */
  pauseNext(): { reached: Promise<void>; release: () => void } {
    let reached!: () => void
    let release!: () => void
    const reachedP = new Promise<void>((r) => (reached = r))
    this.next = { reached, released: new Promise<void>((r) => (release = r)) }
    return { reached: reachedP, release }
  }

  override async place(db: Kysely<Schema>, req: PlacementRequest): Promise<HostCandidate> {
    const host = await super.place(db, req)
    const pause = this.next
    this.next = undefined
    if (pause) {
      pause.reached()
      await pause.released
    }
    return host
  }
}

describe('lock order on PostgreSQL', () => {
  test('a re-placement holding the group and a resize holding the project do not deadlock', async (t) => {
    let engine: PausingPlacement | undefined
    const { app, database } = await buildTestApp(t, {
      dialect: 'postgres',
      placement: { score: 'pack', subsetSize: 1 },
      placementEngine: (options: PlacementOptions) => (engine = new PausingPlacement(options)),
    })
    const retries: string[] = []
    const previous = database.onRetry
    database.onRetry = (code) => {
      retries.push(code)
      previous?.(code)
    }
    await shrinkFleet(database, Array.from({ length: 3 }, () => ({ vcpus: 32, ramMb: 131072 })))
    const g = await createGroup(app)
    // Packed: the second server lands on the member's host, so adding it to the group re-places it.
    const [member] = await createServers(app, { flavorRef: 's6.large.2', 'os:scheduler_hints': { group: g } })
    const [joining] = await createServers(app, { flavorRef: 's6.large.2' })
    await stopServers(app, [joining!])

    // The add_member holds the group (and its server) and stops after placement, before it records its job.
    const pause = engine!.pauseNext()
    const added = groupAction(app, g, 'add_member', joining!)
    await pause.reached
    // The resize takes the project, then waits for the group.
    const resized = call(app, { method: 'POST', url: v1(`/cloudservers/${member}/resize`), body: { resize: { flavorRef: 's6.xlarge.2', mode: 'withStopServer' } } })
    await until(async () => {
      const { rows } = await sql<{ n: string }>`select count(*) as n from pg_stat_activity where datname = current_database() and wait_event_type = 'Lock'`.execute(database.db)
      return Number(rows[0]!.n) > 0
    }, 'the resize to wait for the group lock')
    // Recording the job references the project row (a foreign key), which the resize has locked.
    pause.release()
    const [a, r] = await Promise.all([added, resized])
    assert.equal(a.statusCode, 200, a.body)
    assert.equal(r.statusCode, 200, r.body)
    assert.deepEqual(retries.filter((c) => c === '40P01'), [], `no deadlock (retries: ${retries.join(', ')})`)
    await waitForIdle(database)
    assert.deepEqual(await audit(database.db), [])
  })
})

describe('simultaneous moves on the members of one anti-affinity group in a small fleet', () => {
  for (const dialect of DIALECTS) {
    test(`in one process on ${dialect === 'sqlite' ? 'a real SQLite file' : 'PostgreSQL (pool of 8)'}: the group never uses a host twice, in flight or not`, async (t) => {
      const gate = new GateDriver()
      gate.releaseAll()
      const { app, database } = await buildTestApp(t, { dialect, driver: gate, quotas: { maxServerGroupMembers: 100 } })
      const client: Client = {
        async send(r) {
          const res = r.admin ? await adminCall(app, { method: r.method, url: r.url, body: r.body }) : await call(app, { method: r.method, url: r.url, body: r.body })
          return { status: res.statusCode, body: res.body === '' ? undefined : res.json() }
        },
      }
      const waitJob = async (jobId: string) => {
        await until(async () => {
          const j = await database.db.selectFrom('jobs').select('status').where('id', '=', jobId).executeTakeFirstOrThrow()
          return j.status !== 'RUNNING' && j.status !== 'INIT'
        }, `job ${jobId}`)
        return (await database.db.selectFrom('jobs').select('status').where('id', '=', jobId).executeTakeFirstOrThrow()).status
      }
      const scene = await setScene(client, database, waitJob)
      const rng = createRng(SEED)
      const answers = new Answers()
      const seenMoves = new Map<string, number>()
      const problems: string[] = []
      const background = sampler(database)

      let rounds = 0
      for (; rounds < 120; rounds++) {
        if (rounds >= 10 && REQUIRED_MOVES.every((k) => seenMoves.has(k))) break
        gate.hold()
        await fire(client, await planBurst(database, scene, rng, 10), answers)
        // Every move this burst started is held by the gate: all in flight together now.
        const seen = await observe(database)
        problems.push(...seen.problems.map((p) => `after burst ${rounds}: ${p}`))
        for (const m of seen.moves) seenMoves.set(moveKind(m), (seenMoves.get(moveKind(m)) ?? 0) + 1)
        gate.releaseAll()
      }
      gate.releaseAll()
      await waitForIdle(database, 60_000)
      const { samples, maxInFlight } = await background.stop()
      t.diagnostic(`seed ${SEED}: ${rounds} bursts, ${samples} samples, at most ${maxInFlight} moves in flight; moves seen ${JSON.stringify(Object.fromEntries(seenMoves))}`)
      t.diagnostic(answers.summary())

      assert.deepEqual(answers.unexpected, [], 'every answer is a 200 or a documented refusal')
      assert.deepEqual(problems, [], 'the invariant and the audit held after every burst')
      assert.deepEqual(background.problems.slice(0, 20), [], 'and in every sample taken while requests ran')
      assert.deepEqual(REQUIRED_MOVES.filter((k) => !seenMoves.has(k)), [], `every kind of move was in flight at some point (seed ${SEED})`)
      await assertSettled(database)
    })

    test(`in one process on ${dialect}: with every move held, each in-flight move holds its source and target for the group until it ends`, async (t) => {
      const gate = new GateDriver()
      gate.releaseAll()
      const { app, database } = await buildTestApp(t, { dialect, driver: gate })
      const { db } = database
      const hosts = await shrinkFleet(database, Array.from({ length: 5 }, () => ({ vcpus: 32, ramMb: 131072 })))
      const g = await createGroup(app)
      const members = await createServers(app, { count: 3, flavorRef: 's6.large.2', 'os:scheduler_hints': { group: g } })
      const [outsider] = await createServers(app, { flavorRef: 's6.large.2' })
      await stopServers(app, [outsider!])
      const heldByGroup = async () => (await db.selectFrom('group_host_holds').select('host_id').where('group_id', '=', g).execute()).map((h) => h.host_id).sort()
      const hostOf = async (id: string) => (await db.selectFrom('servers').select('host_id').where('id', '=', id).executeTakeFirstOrThrow()).host_id
      const nameOf = (id: string) => hosts.find((h) => h.id === id)!.name

      // Three members on five hosts: each move holds two, so exactly two of three moves fit.
      gate.hold()
      const [m1, m2, m3] = members as [string, string, string]
      const requests = [
        { server: m1, send: () => adminCall(app, { method: 'POST', url: `/admin/servers/${m1}/migrate`, body: { migrate: { live: true } } }) },
        { server: m2, send: () => adminCall(app, { method: 'POST', url: `/admin/servers/${m2}/migrate`, body: { migrate: { live: false } } }) },
        { server: m3, send: () => call(app, { method: 'POST', url: v1(`/cloudservers/${m3}/actions/redeploy`) }) },
      ]
      const results = await Promise.all(requests.map(async (r) => ({ server: r.server, res: await r.send() })))
      const moving = results.filter((r) => r.res.statusCode === 200).map((r) => r.server)
      const refused = results.filter((r) => r.res.statusCode !== 200)
      assert.equal(moving.length, 2, results.map((r) => `${r.res.statusCode} ${r.res.body}`).join('\n'))
      assert.equal(refused[0]!.res.statusCode, 400)
      assert.equal(errorCode(refused[0]!.res.json()), 'Ecs.0319', refused[0]!.res.body)
      const idle = refused[0]!.server
      await until(() => gate.held.length === 2, 'both moves to reach the driver')

      const moves = await db.selectFrom('moves').select(['server_id', 'source_host_id', 'target_host_id']).orderBy('server_id').execute()
      assert.deepEqual(moves.map((m) => m.server_id), [...moving].sort())
      assert.deepEqual(await heldByGroup(), hosts.map((h) => h.id).sort(), 'the group holds all five hosts: three members, two sources')
      assert.deepEqual(await inFlightViolations(db), [])
      assert.deepEqual(await audit(db), [])

      // Nothing of the group may land on a held host while the moves are held.
      const outsiderJoins = await groupAction(app, g, 'add_member', outsider!)
      assert.equal(outsiderJoins.statusCode, 400, outsiderJoins.body)
      assert.equal(errorCode(outsiderJoins.json()), 'Ecs.0319')
      const created = await call(app, { method: 'POST', url: v1('/cloudservers'), body: { server: { name: 'x', flavorRef: 's6.small.1', imageRef: 'i', vpcid: 'v', nics: [{ subnet_id: 's' }], root_volume: { volumetype: 'SSD' }, 'os:scheduler_hints': { group: g } } } })
      assert.equal(created.statusCode, 400, created.body)
      assert.equal(errorCode(created.json()), 'Ecs.0319')
      for (const m of moves) {
        for (const host of [m.source_host_id, m.target_host_id]) {
          const res = await adminCall(app, { method: 'POST', url: `/admin/servers/${idle}/migrate`, body: { migrate: { live: true, host: nameOf(host) } } })
          assert.equal(res.statusCode, 400, `onto ${host === m.source_host_id ? 'the source' : 'the target'} of a move in flight: ${res.body}`)
          assert.equal(errorCode(res.json()), 'Ecs.0319')
        }
      }
      // A resize that fits where the member is stays there and needs no other host.
      const resized = await call(app, { method: 'POST', url: v1(`/cloudservers/${idle}/resize`), body: { resize: { flavorRef: 's6.xlarge.2', mode: 'withStopServer' } } })
      assert.equal(resized.statusCode, 200, resized.body)
      await until(() => gate.held.length === 3, 'the resize to reach the driver')
      const inPlace = await db.selectFrom('moves').select(['source_host_id', 'target_host_id']).where('server_id', '=', idle).executeTakeFirstOrThrow()
      assert.equal(inPlace.source_host_id, inPlace.target_host_id)
      assert.deepEqual(await inFlightViolations(db), [])
      assert.deepEqual(await audit(db), [])

      gate.releaseAll()
      await waitForIdle(database)
      for (const m of moves) assert.equal(await hostOf(m.server_id), m.target_host_id, 'each moved member ended on its target')
      const after = await Promise.all(members.map(hostOf))
      assert.deepEqual(await heldByGroup(), [...after].sort(), 'the sources were let go')
      assert.equal(new Set(after).size, 3)
      assert.deepEqual(await audit(db), [])

      // With the sources free again, the outsider can join (re-placed if its host is a member's).
      const joined = await groupAction(app, g, 'add_member', outsider!)
      assert.equal(joined.statusCode, 200, joined.body)
      await waitForIdle(database)
      assert.equal(new Set([...after, await hostOf(outsider!)]).size, 4)
      await assertSettled(database)
    })
  }

  test('across 3 replica processes on one PostgreSQL: the same guarantees, with the driver slow enough that moves overlap', async (t: TestContext) => {
    const { fleet: replicas, database: db } = await replicasOnPostgres(t, { replicas: 3, dirPrefix: 'ecsd-moves-', driverLatencyMs: 100 })
    const rng = createRng(SEED)
    const client: Client = {
      send: (r) => signedFetch(rng.pick(replicas.urls()), r.method, r.url, r.body, r.admin ? ADMIN : DEMO),
    }
    const waitJob = async (jobId: string) => {
      let status = 'RUNNING'
      await until(async () => {
        status = ((await client.send({ method: 'GET', url: v1(`/jobs/${jobId}`), admin: false })).body as { status: string }).status
        return status !== 'RUNNING' && status !== 'INIT'
      }, `job ${jobId}`)
      return status
    }
    const scene = await setScene(client, db, waitJob)
    const answers = new Answers()
    const problems: string[] = []
    const background = sampler(db)
    const required: Op[] = ['live', 'cold', 'resize', 'redeploy', 'add_member']
    let rounds = 0
    for (; rounds < 60; rounds++) {
      if (rounds >= 10 && required.every((op) => answers.acknowledged(op) > 0)) break
      // No waiting between bursts: the moves of one are still running when the next arrives.
      await fire(client, await planBurst(db, scene, rng, 12), answers)
      const seen = await observe(db)
      problems.push(...seen.problems.map((p) => `after burst ${rounds}: ${p}`))
    }
    await until(async () => {
      const move = await db.db.selectFrom('moves').select('id').limit(1).executeTakeFirst()
      const job = await db.db.selectFrom('jobs').select('id').where('status', 'in', ['RUNNING', 'INIT']).limit(1).executeTakeFirst()
      return !move && !job
    }, 'every move and job to finish')
    const { samples, maxInFlight } = await background.stop()
    t.diagnostic(`seed ${SEED}: ${rounds} bursts, ${samples} samples, at most ${maxInFlight} moves in flight seen at once`)
    t.diagnostic(answers.summary())

    assert.deepEqual(answers.unexpected, [], 'every answer is a 200 or a documented refusal')
    assert.deepEqual(problems, [], 'the invariant and the audit held after every burst')
    assert.deepEqual(background.problems.slice(0, 20), [], 'and in every sample taken while requests ran')
    assert.deepEqual(required.filter((op) => answers.acknowledged(op) === 0), [], `every kind of move was acknowledged at least once (seed ${SEED})`)
    await assertSettled(db)
    assert.deepEqual(replicas.errorLines(), [], 'no replica logged an error')
  })
})

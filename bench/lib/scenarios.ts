/** The benchmark scenarios: each warms up, then measures one load phase. */
import type { Kysely } from 'kysely'
import type { Schema } from '../../src/store/schema.ts'
import type { CycleFixture } from './fixtures.ts'
import { runLoad, signed, type Credential, type LoadResult, type WireRequest } from './load.ts'
import { percentile } from './report.ts'
import type { ServerProcess } from './processes.ts'

/** Phase lengths and concurrency. */
export interface PhaseOptions {
  seconds: number
  warmupSeconds: number
  connections: number
  /** Stop each phase after this many requests instead of `seconds` (smoke runs). */
  amount?: number
  /** Wraps each measured load (not its warm-up): how `--budget` profiles exactly that window. */
  measure?: (run: () => Promise<LoadResult>) => Promise<LoadResult>
}

function measured(p: PhaseOptions, run: () => Promise<LoadResult>): Promise<LoadResult> {
  return p.measure ? p.measure(run) : run()
}

async function phase(url: string, p: PhaseOptions, next: (connection: number) => WireRequest, onBody?: (status: number, body: string) => void): Promise<LoadResult> {
  if (p.warmupSeconds > 0) await runLoad({ url, connections: p.connections, seconds: p.warmupSeconds, next, ...(onBody ? { onBody } : {}) })
  return measured(p, () => runLoad({ url, connections: p.connections, seconds: p.seconds, amount: p.amount, next, ...(onBody ? { onBody } : {}) }))
}

/** GET /ping on the baseline server. */
export function baseline(server: ServerProcess, p: PhaseOptions): Promise<LoadResult> {
  const req: WireRequest = { method: 'GET', path: '/ping', headers: { host: new URL(server.url).host } }
  return phase(server.url, p, () => req)
}

/** showServer (`GET /v1/{project}/cloudservers/{id}`), rotating over `serverIds`. */
export function showServer(server: ServerProcess, credential: Credential, serverIds: string[], p: PhaseOptions): Promise<LoadResult> {
  const reqs = serverIds.map((id) => signed(server.url, credential, 'GET', `/v1/${credential.projectId}/cloudservers/${id}`))
  let i = 0
  return phase(server.url, p, () => reqs[i++ % reqs.length]!)
}

/** listServerGroups (`GET /v1/{project}/cloudservers/os-server-groups`), as the SDK calls it (no paging). */
export function listServerGroups(server: ServerProcess, credential: Credential, p: PhaseOptions): Promise<LoadResult> {
  const req = signed(server.url, credential, 'GET', `/v1/${credential.projectId}/cloudservers/os-server-groups`)
  return phase(server.url, p, () => req)
}

/**
 * add_member + remove_member cycles, one fixture per connection: add S to GA (moves S), remove,
 * add S to GB (moves it back), remove. Reported per request (each add or remove is one).
 */
export function addRemoveCycles(server: ServerProcess, credential: Credential, fixtures: CycleFixture[], p: PhaseOptions): Promise<LoadResult> {
  if (fixtures.length < p.connections) throw new Error(`need ${p.connections} cycle fixtures, have ${fixtures.length}`)
  const action = (group: string, body: unknown) => signed(server.url, credential, 'POST', `/v1/${credential.projectId}/cloudservers/os-server-groups/${group}/action`, body)
  const steps = fixtures.map((f) => [
    action(f.groupA, { add_member: { instance_uuid: f.server } }),
    action(f.groupA, { remove_member: { instance_uuid: f.server } }),
    action(f.groupB, { add_member: { instance_uuid: f.server } }),
    action(f.groupB, { remove_member: { instance_uuid: f.server } }),
  ])
  const position = new Array<number>(fixtures.length).fill(0)
  // Each connection's place in its cycle carries over from the warm-up to the measured phase.
  // A request prepared but never sent when a phase ends would put one connection a step out of
  // phase: at worst one add that does not move, or one 409, per connection and phase — they
  // show in non2xx.
  return phase(server.url, p, (connection) => {
    const c = connection % steps.length
    return steps[c]![position[c]!++ % 4]!
  })
}

/**
 * Redeploys (`POST …/cloudservers/{id}/actions/redeploy`), rotating over `serverIds`: each one
 * moves a stopped group member to another host of the fleet that its group does not hold. On
 * the default shared disks the whole move — placement, claim, release, membership, job — is done
 * in the request, so redeploys per second are moves per second.
 */
export function redeploys(server: ServerProcess, credential: Credential, serverIds: string[], p: PhaseOptions): Promise<LoadResult> {
  const reqs = serverIds.map((id) => signed(server.url, credential, 'POST', `/v1/${credential.projectId}/cloudservers/${id}/actions/redeploy`))
  let i = 0
  return phase(server.url, p, () => reqs[i++ % reqs.length]!)
}

/**
 * Resizes that must move: each request resizes the next of `serverIds` (each on a host with no
 * room left) to `s6.medium.2`, once; so the phase is bounded by the fixtures (`amount`), without
 * a warm-up. Moves per second as `redeploys`.
 */
export function resizesThatMove(server: ServerProcess, credential: Credential, serverIds: string[], p: PhaseOptions): Promise<LoadResult> {
  const reqs = serverIds.map((id) => signed(server.url, credential, 'POST', `/v1/${credential.projectId}/cloudservers/${id}/resize`, { resize: { flavorRef: 's6.medium.2' } }))
  let i = 0
  const amount = Math.min(reqs.length, p.amount ?? reqs.length)
  return measured(p, () => runLoad({ url: server.url, connections: p.connections, seconds: p.seconds, amount, next: () => reqs[i++ % reqs.length]! }))
}

/** The body of a create request of one small server into `group`. */
export function createBody(group: string, az: string) {
  return {
    server: {
      name: 'bench',
      flavorRef: 's6.small.1',
      imageRef: 'img-ubuntu-22.04',
      vpcid: 'vpc-bench',
      nics: [{ subnet_id: 'subnet-bench' }],
      root_volume: { volumetype: 'SSD' },
      availability_zone: az,
      'os:scheduler_hints': { group },
    },
  }
}

/**
 * Create-into-group: each request places one new server in an anti-affinity group (away from
 * the hosts of the group's members), rotating over `groups` so that no group reaches its member
 * quota. Returns the HTTP figures and when the measured phase began (for the job figures).
 */
export async function createIntoGroup(server: ServerProcess, credential: Credential, groups: string[], az: string, p: PhaseOptions): Promise<{ load: LoadResult; since: string }> {
  const reqs = groups.map((g) => signed(server.url, credential, 'POST', `/v1/${credential.projectId}/cloudservers`, createBody(g, az)))
  let i = 0
  const next = () => reqs[i++ % reqs.length]!
  if (p.warmupSeconds > 0) await runLoad({ url: server.url, connections: p.connections, seconds: p.warmupSeconds, next })
  const since = new Date().toISOString()
  const load = await measured(p, () => runLoad({ url: server.url, connections: p.connections, seconds: p.seconds, amount: p.amount, next }))
  return { load, since }
}

/** Job completion of the servers created since `since`, read from the database once every job ended. */
export interface JobFigures {
  jobs: number
  succeeded: number
  failed: number
  /** Request accepted → job SUCCESS/FAIL committed (includes the simulated driver's latency). */
  p50Ms: number | undefined
  p99Ms: number | undefined
  /** Jobs finished per second, from the first job's start to the last one's end. */
  perSecond: number
  /** How long after the load stopped the last job finished. */
  drainSeconds: number
}

export async function jobFigures(db: Kysely<Schema>, projectId: string, since: string, timeoutMs = 120_000): Promise<JobFigures> {
  const loadEnded = Date.now()
  const deadline = loadEnded + timeoutMs
  for (;;) {
    const running = await db
      .selectFrom('jobs')
      .select((eb) => eb.fn.countAll<number | string>().as('n'))
      .where('project_id', '=', projectId)
      .where('status', 'in', ['RUNNING', 'INIT'])
      .executeTakeFirstOrThrow()
    if (Number(running.n) === 0) break
    if (Date.now() > deadline) throw new Error(`${running.n} jobs still running ${timeoutMs} ms after the load`)
    await new Promise((r) => setTimeout(r, 100))
  }
  const rows = await db
    .selectFrom('jobs')
    .select(['status', 'begin_time', 'end_time'])
    .where('project_id', '=', projectId)
    .where('parent_id', 'is', null)
    .where('type', '=', 'createServer')
    .where('begin_time', '>=', since)
    .execute()
  const latencies = rows.map((r) => Date.parse(r.end_time ?? r.begin_time) - Date.parse(r.begin_time)).sort((a, b) => a - b)
  const first = Math.min(...rows.map((r) => Date.parse(r.begin_time)))
  const last = Math.max(...rows.map((r) => Date.parse(r.end_time ?? r.begin_time)))
  return {
    jobs: rows.length,
    succeeded: rows.filter((r) => r.status === 'SUCCESS').length,
    failed: rows.filter((r) => r.status === 'FAIL').length,
    p50Ms: percentile(latencies, 50),
    p99Ms: percentile(latencies, 99),
    perSecond: rows.length === 0 ? 0 : rows.length / Math.max(0.001, (last - first) / 1000),
    drainSeconds: Math.max(0, (last - loadEnded) / 1000),
  }
}

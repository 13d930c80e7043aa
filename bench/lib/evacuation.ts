/**
 * Measurements of the evacuation benchmark: a host failed through the admin API and its servers
 * evacuated by the server's host monitor, and — the same-run baseline — as many servers moved by
 * operators' cold migrations requested all at once. Every figure is read from the jobs table
 * (begin and end of each server's sub-job, the host's `state_changed_at`), so polling only
 * decides when to look, never what is measured.
 */
import type { Kysely } from 'kysely'
import { sdkHeaders } from '../../src/api/auth/signature.ts'
import { DEMO } from '../../src/services/demo.ts'
import type { Schema } from '../../src/store/schema.ts'
import type { ServerProcess } from './processes.ts'
import { percentile } from './report.ts'

/** The demo project's operator credential (every generated fleet has it): the admin API is for operators. */
const OPERATOR = { accessKey: DEMO.adminAccessKey, secretKey: DEMO.adminSecretKey, projectId: DEMO.projectId }

/** How one batch of moves of `servers` servers went. */
export interface MoveFigures {
  servers: number
  succeeded: number
  /** From the trigger — the host going down, or the operator's requests — to the end of the last move, ms. */
  wallMs: number
  /** Moves finished per second over `wallMs`. */
  perSecond: number
  /** Trigger → the first move began, ms (for an evacuation: until the host monitor looked). */
  firstBegunMs: number
  /** Trigger → the last move began, ms (for an evacuation: the monitor starts them one after another). */
  lastBegunMs: number
  /** One server's move, sub-job begin → end, ms. */
  p50Ms: number
  p99Ms: number
  maxMs: number
  /** Every server's move, sub-job begin → end, ms, ascending (to pool several batches). */
  durationsMs: number[]
}

/** An operator's request to the server; throws unless it is answered `expected`. */
async function operator(server: ServerProcess, method: 'GET' | 'POST', url: string, body: unknown, expected: number): Promise<unknown> {
  const payload = body === undefined ? undefined : JSON.stringify(body)
  const headers = sdkHeaders({ method, url, host: new URL(server.url).host, body: payload, credential: OPERATOR })
  const res = await fetch(server.url + url, { method, headers, ...(payload === undefined ? {} : { body: payload }) })
  const text = await res.text()
  if (res.status !== expected) throw new Error(`${method} ${url}: ${res.status} ${text.slice(0, 500)}`)
  return text === '' ? undefined : (JSON.parse(text) as unknown)
}

/** Polls `done` every 50 ms until it holds; throws after `timeoutMs`. */
async function until(what: string, done: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await done())) {
    if (Date.now() > deadline) throw new Error(`${what}: not done after ${timeoutMs} ms`)
    await new Promise((r) => setTimeout(r, 50))
  }
}

/**
 * Waits until the server has nothing left to do: no job running or waiting, and no server on a
 * down host that is neither moving nor stranded (a generated fleet has down hosts, whose servers
 * the host monitor evacuates once the server starts). Answers the figures of the evacuations
 * begun since `since` (the server's start), measured from the first one's begin, or undefined
 * when there were none.
 */
export async function settle(db: Kysely<Schema>, since: string, timeoutMs = 600_000): Promise<MoveFigures | undefined> {
  await until('start-up evacuations', async () => {
    const running = await db.selectFrom('jobs').select('id').where('status', 'in', ['RUNNING', 'INIT']).limit(1).executeTakeFirst()
    const waiting = await db
      .selectFrom('servers')
      .innerJoin('hosts', 'hosts.id', 'servers.host_id')
      .select('servers.id')
      .where('hosts.state', '=', 'down')
      .where('servers.in_recycle_bin', '=', 0)
      .where('servers.stranded', 'is', null)
      .limit(1)
      .executeTakeFirst()
    return running === undefined && waiting === undefined
  }, timeoutMs)
  const jobs = await subJobs(db, 'evacuate', since)
  if (jobs.length === 0) return undefined
  return figures(jobs, Math.min(...jobs.map((j) => Date.parse(j.begin_time))))
}

/**
 * Declares `host` failed (`POST /admin/hosts/{name}/action {"fail":{}}`) and waits until every
 * one of `serverIds` was evacuated; the figures run from the moment the host went down (its
 * `state_changed_at`).
 */
export async function failAndEvacuate(server: ServerProcess, db: Kysely<Schema>, host: string, serverIds: readonly string[], timeoutMs = 600_000): Promise<MoveFigures> {
  await operator(server, 'POST', `/admin/hosts/${host}/action`, { fail: {} }, 200)
  const down = await db.selectFrom('hosts').select('state_changed_at').where('name', '=', host).executeTakeFirstOrThrow()
  const downAt = down.state_changed_at!
  await until(`evacuation of ${host}`, async () => (await subJobs(db, 'evacuate', downAt, serverIds, true)).length === serverIds.length, timeoutMs)
  return figures(await subJobs(db, 'evacuate', downAt, serverIds), Date.parse(downAt))
}

/**
 * The baseline: an operator's cold migration of each of `serverIds` (running servers, so each
 * one is a driver step, as an evacuation is), all requested at once; figures from the moment
 * the requests went out.
 */
export async function migrateAll(server: ServerProcess, db: Kysely<Schema>, serverIds: readonly string[], timeoutMs = 600_000): Promise<MoveFigures> {
  const sent = new Date()
  await Promise.all(serverIds.map((id) => operator(server, 'POST', `/admin/servers/${id}/migrate`, { migrate: { live: false } }, 200)))
  const since = sent.toISOString()
  await until('operator migrations', async () => (await subJobs(db, 'migrate', since, serverIds, true)).length === serverIds.length, timeoutMs)
  return figures(await subJobs(db, 'migrate', since, serverIds), sent.getTime())
}

interface SubJob {
  status: string
  begin_time: string
  end_time: string | null
}

/** Sub-jobs of `operation` begun since `since`, of `serverIds` when given; only finished ones with `finished`. */
async function subJobs(db: Kysely<Schema>, operation: 'evacuate' | 'migrate', since: string, serverIds?: readonly string[], finished = false): Promise<SubJob[]> {
  let q = db.selectFrom('jobs').select(['status', 'begin_time', 'end_time']).where('operation', '=', operation).where('parent_id', 'is not', null).where('begin_time', '>=', since)
  if (serverIds !== undefined) q = q.where('server_id', 'in', [...serverIds])
  if (finished) q = q.where('status', 'in', ['SUCCESS', 'FAIL'])
  return q.execute()
}

function figures(jobs: SubJob[], triggerMs: number): MoveFigures {
  const begun = jobs.map((j) => Date.parse(j.begin_time))
  const ended = jobs.map((j) => Date.parse(j.end_time ?? j.begin_time))
  const each = jobs.map((_, i) => ended[i]! - begun[i]!).sort((a, b) => a - b)
  const wallMs = Math.max(...ended) - triggerMs
  return {
    servers: jobs.length,
    succeeded: jobs.filter((j) => j.status === 'SUCCESS').length,
    wallMs,
    perSecond: jobs.length / Math.max(0.001, wallMs / 1000),
    firstBegunMs: Math.min(...begun) - triggerMs,
    lastBegunMs: Math.max(...begun) - triggerMs,
    p50Ms: percentile(each, 50)!,
    p99Ms: percentile(each, 99)!,
    maxMs: each[each.length - 1]!,
    durationsMs: each,
  }
}

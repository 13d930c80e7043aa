import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import type { TestContext } from 'node:test'
import { pino } from 'pino'
import { sdkHeaders } from '../src/api/auth/signature.ts'
import { buildApp, type App } from '../src/app.ts'
import type { HostDriver } from '../src/compute/driver.ts'
import { loadConfig, type Config, type Quotas } from '../src/config.ts'
import type { PlacementEngine, PlacementOptions } from '../src/placement/engine.ts'
import { DEMO, seedDemo } from '../src/services/demo.ts'
import { SecretBox } from '../src/services/identity/secrets.ts'
import { createServices, type Services } from '../src/services/index.ts'
import { Database, type Dialect } from '../src/store/database.ts'
import { createTestDatabase } from './postgres.ts'

/** A temporary directory removed when the test ends. */
export function tempDir(t: TestContext, prefix = 'ecsd-test-'): string {
  const dir = mkdtempSync(path.join(tmpdir(), prefix))
  t.after(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

/** The master key of test applications. */
export const TEST_MASTER_KEY = Buffer.alloc(32, 7)

/** Both databases ecsd runs on; service-level tests run once on each. */
export const DIALECTS: readonly Dialect[] = ['sqlite', 'postgres']

/** Options of a test application. */
export interface TestAppOptions {
  /** Which database; default SQLite. PostgreSQL gets a fresh database on the suite's server. */
  dialect?: Dialect
  /** SQLite file; default a fresh file in a temp dir (real file, WAL, as in production). */
  file?: string
  driverLatencyMs?: number
  quotas?: Partial<Quotas>
  driver?: HostDriver
  demo?: boolean
  /** Placement settings other than the defaults (score, subset size). */
  placement?: Partial<Config['placement']>
  /** Builds the placement engine, e.g. a subclass that waits between choosing a host and returning it. */
  placementEngine?: (options: PlacementOptions) => PlacementEngine
}

/** A wired application on a real SQLite file with the demo seeded, closed when the test ends. */
export interface TestApp {
  app: App
  services: Services
  database: Database
  config: Config
}

export async function buildTestApp(t: TestContext, options: TestAppOptions = {}): Promise<TestApp> {
  const database = await openTestDatabase(t, options)
  const base = loadConfig({ dataDir: tempDir(t), driverLatencyMs: options.driverLatencyMs ?? 0, logLevel: 'silent' }, {})
  const config: Config = { ...base, quotas: { ...base.quotas, ...options.quotas }, placement: { ...base.placement, ...options.placement } }
  const logger = pino({ level: 'silent' })
  await database.migrate()
  const box = new SecretBox(TEST_MASTER_KEY)
  if (options.demo !== false) await seedDemo(database, box)
  const services = createServices(config, database, logger, box, options.driver, options.placementEngine)
  const app = buildApp(services, logger)
  await app.ready()
  t.after(async () => {
    await app.close()
    await database.close()
  })
  return { app, services, database, config }
}

/** An empty database of the requested dialect (not migrated); closed by the caller. */
export async function openTestDatabase(t: TestContext, options: Pick<TestAppOptions, 'dialect' | 'file'> = {}): Promise<Database> {
  if (options.dialect === 'postgres') return Database.postgres({ url: await createTestDatabase(t), poolSize: 8 })
  return Database.sqlite({ file: options.file ?? path.join(tempDir(t), 'ecsd.sqlite') })
}

/** A request signed with a credential, as the SDK would send it. */
export interface SignedCall {
  method: 'GET' | 'POST' | 'DELETE' | 'PUT' | 'PATCH'
  url: string
  body?: unknown
  headers?: Record<string, string>
  accessKey?: string
  secretKey?: string
  projectId?: string
}

/** Sends a signed request through `app.inject` (the full lifecycle, no socket). */
export async function call(app: App, c: SignedCall) {
  const payload = c.body === undefined ? undefined : typeof c.body === 'string' ? c.body : JSON.stringify(c.body)
  const headers = sdkHeaders({
    method: c.method,
    url: c.url,
    host: '127.0.0.1:8080',
    body: payload,
    credential: { accessKey: c.accessKey ?? DEMO.accessKey, secretKey: c.secretKey ?? DEMO.secretKey, projectId: c.projectId ?? DEMO.projectId },
    extra: c.headers,
  })
  return app.inject({ method: c.method, url: c.url, headers, ...(payload === undefined ? {} : { payload }) })
}

/** `/v1/{demo project}` + path. */
export function v1(pathAfterProject: string, projectId: string = DEMO.projectId): string {
  return `/v1/${projectId}${pathAfterProject}`
}

/** Polls a job until it is no longer RUNNING; returns its body. */
export async function waitForJob(app: App, jobId: string, timeoutMs = 10_000): Promise<{ status: string; [k: string]: unknown }> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const res = await call(app, { method: 'GET', url: v1(`/jobs/${jobId}`) })
    const body = res.json() as { status: string }
    if (body.status !== 'RUNNING' && body.status !== 'INIT') return body
    if (Date.now() > deadline) throw new Error(`job ${jobId} still ${body.status} after ${timeoutMs} ms`)
    await new Promise((r) => setTimeout(r, 5))
  }
}

/**
 * Waits until no job is running and no move is in flight — for moves a test did not get a job
 * id for (add_member's re-placement).
 */
export async function waitForIdle(database: Database, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const move = await database.db.selectFrom('moves').select('id').limit(1).executeTakeFirst()
    const job = await database.db.selectFrom('jobs').select('id').where('status', 'in', ['RUNNING', 'INIT']).limit(1).executeTakeFirst()
    if (!move && !job) return
    if (Date.now() > deadline) throw new Error(`still busy after ${timeoutMs} ms: ${move ? `move ${move.id}` : `job ${job!.id}`}`)
    await new Promise((r) => setTimeout(r, 5))
  }
}

/** Minimal valid create-server body. */
export function createBody(server: Record<string, unknown> = {}): { server: Record<string, unknown> } {
  return {
    server: {
      name: 'web',
      flavorRef: 's6.large.2',
      imageRef: 'img-ubuntu-22.04',
      vpcid: 'vpc-1',
      nics: [{ subnet_id: 'subnet-1' }],
      root_volume: { volumetype: 'SSD' },
      ...server,
    },
  }
}

/** Creates servers through the API and waits for them to be ACTIVE; returns their ids. */
export async function createServers(app: App, server: Record<string, unknown> = {}): Promise<string[]> {
  const res = await call(app, { method: 'POST', url: v1('/cloudservers'), body: createBody(server) })
  if (res.statusCode !== 200) throw new Error(`create failed: ${res.statusCode} ${res.body}`)
  const { job_id, serverIds } = res.json() as { job_id: string; serverIds: string[] }
  const job = await waitForJob(app, job_id)
  if (job.status !== 'SUCCESS') throw new Error(`create job ${job.status}: ${JSON.stringify(job)}`)
  return serverIds
}

/** Stops servers through the API and waits for the job. */
export async function stopServers(app: App, ids: string[]): Promise<void> {
  const res = await call(app, { method: 'POST', url: v1('/cloudservers/action'), body: { 'os-stop': { servers: ids.map((id) => ({ id })) } } })
  if (res.statusCode !== 200) throw new Error(`stop failed: ${res.statusCode} ${res.body}`)
  const job = await waitForJob(app, (res.json() as { job_id: string }).job_id)
  if (job.status !== 'SUCCESS') throw new Error(`stop job ${job.status}`)
}

/** Shows a server through the API. */
export async function showServer(app: App, id: string): Promise<Record<string, unknown>> {
  const res = await call(app, { method: 'GET', url: v1(`/cloudservers/${id}`) })
  if (res.statusCode !== 200) throw new Error(`show failed: ${res.statusCode} ${res.body}`)
  return (res.json() as { server: Record<string, unknown> }).server
}

/** Creates an anti-affinity group through the API; returns its id. */
export async function createGroup(app: App, name = 'g'): Promise<string> {
  const res = await call(app, {
    method: 'POST',
    url: v1('/cloudservers/os-server-groups'),
    body: { server_group: { name, policies: ['anti-affinity'] } },
  })
  if (res.statusCode !== 200) throw new Error(`create group failed: ${res.statusCode} ${res.body}`)
  return (res.json() as { server_group: { id: string } }).server_group.id
}

/** Sends add_member / remove_member. */
export function groupAction(app: App, groupId: string, action: 'add_member' | 'remove_member', serverId: string) {
  return call(app, {
    method: 'POST',
    url: v1(`/cloudservers/os-server-groups/${groupId}/action`),
    body: { [action]: { instance_uuid: serverId } },
  })
}

/**
 * A full copy of every table, to prove a rejected request changed nothing. Job lease expiries
 * are left out: a runner renews them as a heartbeat while a host operation is in flight.
 */
export async function snapshot(database: Database): Promise<Record<string, unknown[]>> {
  const tables = [
    'projects', 'credentials', 'hosts', 'flavors', 'servers', 'server_groups', 'server_group_members', 'group_host_holds', 'moves', 'jobs', 'users',
    'nova_servers', 'server_interfaces', 'keypairs', 'unscheduled_servers', 'server_options', 'server_tags', 'virtual_ips', 'virtual_ip_bindings',
    'volumes', 'volume_attachments', 'launch_templates', 'launch_template_versions',
  ] as const
  const out: Record<string, unknown[]> = {}
  for (const t of tables) {
    const rows = (await database.db.selectFrom(t).selectAll().execute()) as Array<Record<string, unknown>>
    // Ordered by content, so that no table needs a key named here and the two engines compare alike.
    const comparable = rows.map((r) => (t === 'jobs' ? { ...r, lease_expires_at: undefined } : r)).map((r) => [JSON.stringify(r), r] as const)
    out[t] = comparable.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, r]) => r)
  }
  return out
}

import assert from 'node:assert/strict'
import type { TestContext } from 'node:test'
import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js'
import addFormats from 'ajv-formats'
import { sdkHeaders } from '../../../src/api/auth/signature.ts'
import type { App } from '../../../src/app.ts'
import { DEMO } from '../../../src/services/demo.ts'
import type { Database } from '../../../src/store/database.ts'
import {
  buildTestApp, createBody, createGroup, createServers, showServer, stopServers, v1, waitForJob,
} from '../../helper.ts'
import { boot, IMAGE, waitForServers } from '../openstack/nova.ts'

/**
 * The world the cases of `openapi-responses.test.ts` run in: the request and check machinery and
 * the fixtures (servers, groups, hosts, tokens) cases share.
 */

export type Method = 'GET' | 'POST' | 'PUT' | 'DELETE'

/** A signing credential (access key, secret, the project sent in X-Project-Id). */
export interface Credential {
  accessKey: string
  secretKey: string
  projectId: string
}

/** Who sends a request: a signed credential, an Identity token, or nobody. */
export type Caller = 'tenant' | 'admin' | 'user' | 'adminUser' | 'agent' | 'anonymous' | Credential

/** One request of a case. */
export interface Probe {
  method: Method
  url: string
  body?: unknown
  /** Default: the demo tenant's credential. */
  as?: Caller
  /** An OpenStack compute microversion, sent as `OpenStack-API-Version: compute X`. */
  version?: string
  /** Read only the first piece of an answer that streams until the client hangs up. */
  stream?: boolean
}

/** An answer as the checks read it. */
export interface Answer {
  status: number
  contentType: string
  body: string
  headers: Record<string, unknown>
}

/** A case: it sends (and so checks) at least one request of its operation; `send` refuses error answers. */
export type Case = (w: World, send: (probe: Probe) => Promise<Answer>) => Promise<void>

export interface ResponseObject {
  description: string
  content?: Record<string, { schema: unknown }>
}

export interface OpenApiDocument {
  paths: Record<string, Record<string, { responses: Record<string, ResponseObject> }>>
  components: { schemas: Record<string, unknown> }
}

export const P = DEMO.projectId
export const TENANT: Credential = { accessKey: DEMO.accessKey, secretKey: DEMO.secretKey, projectId: P }
export const ADMIN: Credential = { accessKey: DEMO.adminAccessKey, secretKey: DEMO.adminSecretKey, projectId: P }
export const HOUR_MS = 3_600_000

/** `yyyy-MM-ddTHH:mm:ssZ`, `offsetMs` from now. */
export function at(offsetMs: number): string {
  return `${new Date(Date.now() + offsetMs).toISOString().slice(0, 19)}Z`
}

/** The operations of a document, as `METHOD path`. */
export function operationsOf(doc: OpenApiDocument): string[] {
  return Object.entries(doc.paths).flatMap(([path, item]) => Object.keys(item).map((method) => `${method.toUpperCase()} ${path}`))
}

/** How many fixed segments a path template has: the router prefers the template with most. */
export function fixedSegments(template: string): number {
  return template.split('/').filter((s) => s !== '' && !s.startsWith('{')).length
}

export function templateMatches(template: string, path: string): boolean {
  const pattern = template.split('/').map((s) => (s.startsWith('{') ? '[^/]+' : s.replace(/[.*+?^$()|[\]\\]/g, '\\$&'))).join('/')
  return new RegExp(`^${pattern}$`).test(path)
}

/**
 * A test application with the fixtures cases need: servers, groups, a dedicated host, a host
 * with an agent, a scheduled event, tokens. Fixtures that cases only read are made once.
 */
export class World {
  private readonly validators = new Map<string, ValidateFunction>()
  private readonly ajv = new Ajv2020({ strict: false, allErrors: true })
  private readonly memo = new Map<string, Promise<unknown>>()
  private counter = 0

  private constructor(
    readonly app: App,
    readonly database: Database,
    readonly doc: OpenApiDocument,
  ) {
    addFormats.default(this.ajv)
  }

  /** A test application (quotas out of the way of the many servers the cases make) and its document. */
  static async start(t: TestContext): Promise<World> {
    const { app, database } = await buildTestApp(t, { quotas: { maxTotalInstances: 10_000, maxTotalCores: 100_000, maxTotalRAMSize: 100_000_000 } })
    const res = await app.inject({ method: 'GET', url: '/openapi.json' })
    assert.equal(res.statusCode, 200)
    return new World(app, database, res.json() as OpenApiDocument)
  }

  /** A name no other fixture uses. */
  unique(prefix: string): string {
    return `${prefix}-${++this.counter}`
  }

  /** Makes a fixture once; later calls get the same one. */
  once<T>(key: string, make: () => Promise<T>): Promise<T> {
    let made = this.memo.get(key) as Promise<T> | undefined
    if (!made) {
      made = make()
      this.memo.set(key, made)
    }
    return made
  }

  /** Sends a request without checking it against the document. */
  async request(p: Probe): Promise<Answer> {
    const payload = p.body === undefined ? undefined : JSON.stringify(p.body)
    const extra = p.version === undefined ? {} : { 'openstack-api-version': `compute ${p.version}` }
    let headers: Record<string, string>
    const as = p.as ?? 'tenant'
    if (as === 'anonymous') {
      headers = { ...extra, ...(payload === undefined ? {} : { 'content-type': 'application/json' }) }
    } else if (as === 'user' || as === 'adminUser') {
      headers = { ...extra, 'x-auth-token': await this.token(as === 'adminUser'), ...(payload === undefined ? {} : { 'content-type': 'application/json' }) }
    } else {
      const credential = as === 'tenant' ? TENANT : as === 'admin' ? ADMIN : as === 'agent' ? (await this.agent()).credential : as
      headers = sdkHeaders({ method: p.method, url: p.url, host: '127.0.0.1:8080', body: payload, credential, extra })
    }
    if (p.stream) {
      const res = await this.app.inject({ method: p.method, url: p.url, headers, payloadAsStream: true })
      let body = ''
      for await (const chunk of res.stream()) {
        body += String(chunk)
        break
      }
      return { status: res.statusCode, contentType: String(res.headers['content-type'] ?? ''), body, headers: res.headers }
    }
    const res = await this.app.inject({ method: p.method, url: p.url, headers, ...(payload === undefined ? {} : { payload }) })
    return { status: res.statusCode, contentType: String(res.headers['content-type'] ?? ''), body: res.body, headers: res.headers }
  }

  /** Sends a request that must succeed, and returns its JSON body. */
  async ok<T = Record<string, unknown>>(p: Probe): Promise<T> {
    const a = await this.request(p)
    assert.ok(a.status < 400, `${p.method} ${p.url}: ${a.status} ${a.body}`)
    return (a.body === '' ? undefined : JSON.parse(a.body)) as T
  }

  /**
   * Checks an answer of `operation` against the document: the probe reaches that operation, the
   * status is documented, and the body is what that status documents (nothing, JSON that
   * validates against the schema, or text of the documented media type).
   */
  check(operation: string, p: Probe, a: Answer): void {
    const [method, template] = operation.split(' ') as [string, string]
    assert.equal(p.method, method, `${operation}: the case sent ${p.method}`)
    const path = p.url.split('?')[0]!
    const reached = Object.keys(this.doc.paths).filter((t) => this.doc.paths[t]![method.toLowerCase()] !== undefined && templateMatches(t, path))
    const best = Math.max(...reached.map(fixedSegments))
    assert.deepEqual(reached.filter((t) => fixedSegments(t) === best), [template], `${operation}: ${p.url} is routed to ${reached.join(', ') || 'nothing'}`)
    const responses = this.doc.paths[template]![method.toLowerCase()]!.responses
    const status = String(a.status)
    const documented = responses[status] ?? responses[`${status[0]}XX`] ?? responses.default
    assert.ok(documented, `${operation}: status ${status} is not documented (only ${Object.keys(responses).join(', ')}): ${a.body.slice(0, 500)}`)
    if (documented.content === undefined) {
      assert.equal(a.body, '', `${operation} ${status} is documented without a body`)
      return
    }
    const mediaType = a.contentType.split(';')[0]!.trim()
    const media = documented.content[mediaType]
    assert.ok(media, `${operation} ${status}: content type ${a.contentType} is not documented (${Object.keys(documented.content).join(', ')})`)
    const key = `${operation} ${status} ${mediaType}`
    let validate = this.validators.get(key)
    if (!validate) {
      // Shared schemas are `#/components/schemas/…` references: the components travel with each schema.
      validate = this.ajv.compile({ ...(media.schema as object), components: this.doc.components })
      this.validators.set(key, validate)
    }
    const value: unknown = mediaType === 'application/json' ? JSON.parse(a.body) : a.body
    assert.ok(validate(value), `${operation} ${status}: the answer does not match the document: ${this.ajv.errorsText(validate.errors)}\n${a.body.slice(0, 2000)}`)
  }

  /** An Identity token of the demo user, or of the demo operator. */
  token(admin: boolean): Promise<string> {
    return this.once(`token:${admin}`, async () => {
      const res = await this.request({
        method: 'POST',
        url: '/v3/auth/tokens',
        as: 'anonymous',
        body: { auth: { identity: { methods: ['password'], password: { user: { name: admin ? DEMO.adminUserName : DEMO.userName, domain: { name: 'Default' }, password: admin ? DEMO.adminUserPassword : DEMO.userPassword } } } } },
      })
      assert.equal(res.status, 201, res.body)
      return String(res.headers['x-subject-token'])
    })
  }

  /** A new ACTIVE server of the demo project. */
  async server(fields: Record<string, unknown> = {}): Promise<string> {
    return (await createServers(this.app, { name: this.unique('oa'), availability_zone: 'az1', ...fields }))[0]!
  }

  /** A new SHUTOFF server. */
  async stoppedServer(fields: Record<string, unknown> = {}): Promise<string> {
    const id = await this.server(fields)
    await stopServers(this.app, [id])
    return id
  }

  /** A server cases only read. */
  sharedServer(): Promise<string> {
    return this.once('shared-server', () => this.server())
  }

  /** A new, empty group. */
  group(): Promise<string> {
    return createGroup(this.app, this.unique('group'))
  }

  /** A group cases only read: it has a member. */
  sharedGroup(): Promise<string> {
    return this.once('shared-group', async () => {
      const id = await createGroup(this.app, 'shared')
      await createServers(this.app, { name: 'member', 'os:scheduler_hints': { group: id } })
      return id
    })
  }

  /** A server in the recycle bin (the bin is switched on first). */
  async binServer(): Promise<string> {
    await this.ok({ method: 'PUT', url: v1('/recycle-bin'), body: { recycle_bin: { switch: 'on' } } })
    const id = await this.server()
    // The bin takes only servers older than its threshold (days).
    await this.database.db.updateTable('servers').set({ created_at: new Date(Date.now() - 30 * 24 * HOUR_MS).toISOString() }).where('id', '=', id).execute()
    const deleted = await this.ok<{ job_id: string }>({ method: 'POST', url: v1('/cloudservers/delete'), body: { servers: [{ id }] } })
    assert.equal((await waitForJob(this.app, deleted.job_id)).status, 'SUCCESS')
    return id
  }

  /** A dedicated host of the demo project in az2 (added by the operator); its id. */
  dedicatedHost(): Promise<string> {
    return this.once('dedicated-host', async () => {
      const added = await this.ok<{ host: { id: string } }>({
        method: 'POST', url: '/admin/hosts', as: 'admin',
        body: { host: { name: 'oa-dedicated', availability_zone: 'az2', vcpus: 32, ram_mb: 131072, dedicated_to: P } },
      })
      return added.host.id
    })
  }

  /** A new host with nothing on it, as the operator adds one; its name. */
  async emptyHost(): Promise<string> {
    const name = this.unique('oa-host')
    await this.ok({ method: 'POST', url: '/admin/hosts', as: 'admin', body: { host: { name, availability_zone: 'az9', vcpus: 8, ram_mb: 16384 } } })
    return name
  }

  /** A scheduled event of the demo project: maintenance planned on the host of a new server. */
  event(): Promise<string> {
    return this.once('event', async () => {
      const id = await this.server({ availability_zone: 'az2' })
      const host = String((await showServer(this.app, id))['OS-EXT-SRV-ATTR:host'])
      await this.ok({ method: 'POST', url: `/admin/hosts/${host}/action`, as: 'admin', body: { maintenance: { not_before: at(HOUR_MS), deadline: at(3 * HOUR_MS) } } })
      const list = await this.ok<{ events: Array<{ id: string }> }>({ method: 'GET', url: `/v3/${P}/instance-scheduled-events?instance_id=${id}` })
      assert.equal(list.events.length, 1)
      return list.events[0]!.id
    })
  }

  /**
   * A host with an agent: dedicated to a project of its own (so that no other case's server lands
   * where only an agent can build it), with that project's credential and the agent's.
   */
  agent(): Promise<{ name: string; credential: Credential; project: Credential }> {
    return this.once('agent', async () => {
      const project = (await this.ok<{ project: { id: string } }>({ method: 'POST', url: '/admin/projects', as: 'admin', body: { project: { name: 'oa-agent-tenant' } } })).project.id
      const issued = (await this.ok<{ credential: { access: string; secret: string } }>({
        method: 'POST', url: `/admin/projects/${project}/credentials`, as: 'admin', body: { credential: { description: 'agent tenant' } },
      })).credential
      const name = 'oa-agent'
      const added = await this.ok<{ credential: { access: string; secret: string } }>({
        method: 'POST', url: '/admin/hosts', as: 'admin', body: { host: { name, availability_zone: 'az-agent', vcpus: 16, ram_mb: 65536, dedicated_to: project } },
      })
      return {
        name,
        credential: { accessKey: added.credential.access, secretKey: added.credential.secret, projectId: '' },
        project: { accessKey: issued.access, secretKey: issued.secret, projectId: project },
      }
    })
  }

  /**
   * Has the agent host build a server: the create's steps become the agent's tasks, which
   * `poll` takes and `report` reports done until the job ends.
   */
  async agentBuild(poll: (p: Probe) => Promise<Answer>, report: (p: Probe) => Promise<Answer>): Promise<void> {
    const { name, project } = await this.agent()
    await this.ok({ method: 'POST', url: `/agent/v1/hosts/${name}/heartbeat`, as: 'agent', body: {} })
    const created = await this.ok<{ job_id: string }>({
      method: 'POST', url: v1('/cloudservers', project.projectId), as: project,
      body: createBody({ name: this.unique('on-agent'), availability_zone: 'az-agent', 'os:scheduler_hints': { tenancy: 'dedicated' } }),
    })
    const session = 'openapi-agent-session'
    for (let round = 0; ; round++) {
      assert.ok(round < 50, 'the agent job ended')
      const job = await this.ok<{ status: string }>({ method: 'GET', url: v1(`/jobs/${created.job_id}`, project.projectId), as: project })
      if (job.status === 'SUCCESS') return
      assert.ok(job.status === 'RUNNING' || job.status === 'INIT', `agent job ${job.status}`)
      const polled = JSON.parse((await poll({ method: 'GET', url: `/agent/v1/hosts/${name}/tasks?session=${session}&wait=1`, as: 'agent' })).body) as { tasks: Array<{ id: string }> }
      for (const task of polled.tasks) {
        await report({ method: 'POST', url: `/agent/v1/hosts/${name}/tasks/${encodeURIComponent(task.id)}`, as: 'agent', body: { state: 'done', result: {} } })
      }
    }
  }

  /** A new ACTIVE server booted through the OpenStack API. */
  async novaServer(): Promise<string> {
    const [id] = await boot(this.app, { name: this.unique('nova') })
    await waitForServers(this.app, [id!])
    return id!
  }

  /** A nova server cases only read; it has a port on the project's network. */
  sharedNovaServer(): Promise<string> {
    return this.once('nova-server', () => this.novaServer())
  }

  /** Two servers booted into an affinity group that no host can take together: ERROR, with their fault, on no host. */
  unplacedServers(): Promise<string> {
    return this.once('unplaced', async () => {
      const group = await this.ok<{ server_group: { id: string } }>({
        method: 'POST', url: `/v2.1/${P}/os-server-groups`, as: 'user', body: { server_group: { name: 'together', policies: ['affinity'] } },
      })
      const booted = await this.ok<{ reservation_id: string }>({
        method: 'POST', url: `/v2.1/${P}/servers`, as: 'user', version: '2.71',
        body: { server: { name: 'too-big', flavorRef: 'm6.4xlarge.8', imageRef: IMAGE, networks: 'none', min_count: 2, return_reservation_id: true }, 'os:scheduler_hints': { group: group.server_group.id } },
      })
      return booted.reservation_id
    })
  }
}
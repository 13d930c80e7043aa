/**
 * The operator dashboard: the page at /dashboard (static assets built by Vite from dashboard/
 * into dashboard/dist) and its JSON reads under /admin/fleet, which the admin plugin registers
 * behind its guard (signed, admin-only). The page itself carries no data and no secret, so it is
 * served to anyone.
 */
import { existsSync, readFileSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { FastifyReply } from 'fastify'
import { Type } from 'typebox'
import { huaweiErrors, Nullable, Open } from '../api/schemas/responses.ts'
import { apiNotFound } from '../domain/errors.ts'
import type { Services } from '../services/index.ts'
import { readFleet, readServers, type FleetGroup, type FleetHost, type FleetServer } from './fleet.ts'

/** Where `npm run build:dashboard` writes the page: dashboard/dist of the checkout this module belongs to. */
export const DEFAULT_ASSETS_DIR = path.join(checkoutRoot(), 'dashboard', 'dist')

/** The command that builds the page, named in the answer when it is missing. */
export const BUILD_COMMAND = 'npm run build:dashboard'

/** Most hosts one `GET /admin/fleet/servers` may name: a page of the fleet view, not the fleet. */
export const MAX_HOSTS_PER_READ = 500

/** Most servers one read answers. */
export const MAX_SERVERS_PER_READ = 5000

const DEFAULT_SERVERS_PER_READ = 1000

const NullableText = Nullable(Type.String())

const FleetHostSchema = Open({
  name: Type.String(),
  availability_zone: Type.String(),
  fault_domain: Nullable(Type.String(), { description: 'Null: a fault domain of its own' }),
  state: Type.String({ description: 'Power state: up, down or fencing' }),
  admin_state: Type.String({ description: 'enabled, disabled or maintenance' }),
  admin_reason: NullableText,
  dedicated_to: Nullable(Type.String(), { description: 'The project of a dedicated host; null: the shared pool' }),
  vcpus: Type.Integer({ description: 'Allocatable: size × allocation ratio' }),
  vcpus_used: Type.Integer(),
  ram_mb: Type.Integer({ description: 'Allocatable: size × allocation ratio' }),
  ram_mb_used: Type.Integer(),
  servers: Type.Integer({ description: 'Servers on it (not those moving off it)' }),
  moving_out: Type.Integer({ description: 'Servers moving off it, whose allocation it still holds' }),
})

const FleetGroupSchema = Open({
  id: Type.String(),
  name: Type.String(),
  project_id: Type.String(),
  policy: Type.String(),
  spread_fault_domains: Type.Boolean(),
  max_server_per_host: Nullable(Type.Integer()),
  members: Type.Array(Open({ server_id: Type.String(), name: Type.String(), status: Type.String(), host: Type.String() })),
})

/** `GET /admin/fleet`. */
export const FleetResponse = Open(
  { generated_at: Type.String(), hosts: Type.Array(FleetHostSchema), groups: Type.Array(FleetGroupSchema) },
  { description: 'Every host, by zone, fault domain and name, and every group of every project with its members\' hosts' },
)

const FleetServerSchema = Open({
  id: Type.String(),
  name: Type.String(),
  project_id: Type.String(),
  status: Type.String(),
  task_state: NullableText,
  host: Type.String(),
  availability_zone: Type.String(),
  flavor: Type.String(),
  vcpus: Type.Integer(),
  ram_mb: Type.Integer(),
  group_id: NullableText,
  moving_from: Nullable(Type.String(), { description: 'While it moves: the host it is leaving, which still holds its allocation' }),
  created_at: Type.String(),
  updated_at: Type.String(),
})

/** `GET /admin/fleet/servers`. */
export const FleetServersResponse = Open(
  { servers: Type.Array(FleetServerSchema), truncated: Type.Boolean({ description: 'More servers matched than `limit`' }) },
  { description: 'Servers by name' },
)

const FleetServersQuery = Type.Object(
  {
    host: Type.Optional(Type.Array(Type.String({ minLength: 1, maxLength: 255 }), { maxItems: MAX_HOSTS_PER_READ })),
    group_id: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
    server_id: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
    q: Type.Optional(Type.String({ minLength: 1, maxLength: 255 })),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: MAX_SERVERS_PER_READ })),
  },
  { additionalProperties: false },
)

function hostBody(h: FleetHost) {
  return {
    name: h.name, availability_zone: h.az, fault_domain: h.faultDomain, state: h.state, admin_state: h.adminState, admin_reason: h.adminReason,
    dedicated_to: h.dedicatedTo, vcpus: h.vcpus, vcpus_used: h.usedVcpus, ram_mb: h.ramMb, ram_mb_used: h.usedRamMb, servers: h.servers,
    moving_out: h.movingOut,
  }
}

function groupBody(g: FleetGroup) {
  return {
    id: g.id, name: g.name, project_id: g.projectId, policy: g.policy, spread_fault_domains: g.spreadFaultDomains,
    max_server_per_host: g.maxServerPerHost, members: g.members.map((m) => ({ server_id: m.serverId, name: m.name, status: m.status, host: m.host })),
  }
}

function serverBody(s: FleetServer) {
  return {
    id: s.id, name: s.name, project_id: s.projectId, status: s.status, task_state: s.taskState, host: s.host, availability_zone: s.az,
    flavor: s.flavorId, vcpus: s.vcpus, ram_mb: s.ramMb, group_id: s.groupId, moving_from: s.movingFrom, created_at: s.createdAt, updated_at: s.updatedAt,
  }
}

/**
 * `GET /dashboard` (the page; a 503 naming `BUILD_COMMAND` when it was not built) and
 * `GET /dashboard/assets/{file}`.
 */
export const dashboardPage: FastifyPluginAsyncTypebox<{ assetsDir?: string }> = async (app, { assetsDir = DEFAULT_ASSETS_DIR }) => {
  const page = async (_req: unknown, reply: FastifyReply) => {
    const file = path.join(assetsDir, 'index.html')
    if (!existsSync(file)) {
      return reply
        .code(503)
        .type('text/plain; charset=utf-8')
        .header('cache-control', 'no-store')
        .send(`The ecsd dashboard is not built: ${file} is missing.\nRun \`${BUILD_COMMAND}\` in the ecsd checkout (npm ci runs it too), then reload this page.\n`)
    }
    return pageHeaders(reply).type('text/html; charset=utf-8').header('cache-control', 'no-cache').send(await readFile(file))
  }
  app.get('/dashboard', { schema: { hide: true } }, page)
  app.get('/dashboard/', { schema: { hide: true } }, page)

  const assets = path.join(assetsDir, 'assets')
  app.get('/dashboard/assets/:file', { schema: { hide: true, params: Type.Object({ file: Type.String({ pattern: '^[A-Za-z0-9_.-]+$', maxLength: 100 }) }) } }, async (req, reply) => {
    const type = CONTENT_TYPES[path.extname(req.params.file)]
    const file = path.join(assets, req.params.file)
    if (type === undefined || req.params.file.startsWith('.') || !existsSync(file)) throw apiNotFound('GET', req.url)
    // Vite names every asset by its content hash, so a name never changes meaning.
    return pageHeaders(reply).type(type).header('cache-control', 'public, max-age=31536000, immutable').send(await readFile(file))
  })
}

/** The dashboard's reads, registered by the admin plugin under /admin, behind its guard. */
export const fleetRoutes: FastifyPluginAsyncTypebox<{ services: Services }> = async (admin, { services }) => {
  /** Every host (zone, fault domain, use, state, server count) and every group with its members' hosts. */
  admin.get('/fleet', { schema: { response: { 200: FleetResponse, ...huaweiErrors } } }, async (_req, reply) => {
    const fleet = await readFleet(services.database.db, services.hosts)
    return reply.header('cache-control', 'no-store').send({ generated_at: fleet.generatedAt, hosts: fleet.hosts.map(hostBody), groups: fleet.groups.map(groupBody) })
  })

  /** Servers on (or moving off) the named hosts, of a group, one server by id, or matching `q`; by name. */
  admin.get('/fleet/servers', { schema: { querystring: FleetServersQuery, response: { 200: FleetServersResponse, ...huaweiErrors } } }, async (req, reply) => {
    const q = req.query
    const { servers, truncated } = await readServers(services.database.db, {
      hosts: q.host, groupId: q.group_id, serverId: q.server_id, search: q.q, limit: q.limit ?? DEFAULT_SERVERS_PER_READ,
    })
    return reply.header('cache-control', 'no-store').send({ servers: servers.map(serverBody), truncated })
  })
}

const CONTENT_TYPES: Record<string, string> = {
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
}

/**
 * The page keeps an operator's secret key in the tab's session storage: it runs only its own
 * scripts, talks only to this origin, and cannot be framed.
 */
function pageHeaders(reply: FastifyReply): FastifyReply {
  return reply
    .header('content-security-policy', "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'")
    .header('x-content-type-options', 'nosniff')
    .header('referrer-policy', 'no-referrer')
}

/** The nearest folder above this module with a package.json: the checkout, from src/ or from a tsc build under dist/. */
function checkoutRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url))
  for (;;) {
    if (existsSync(path.join(dir, 'package.json'))) {
      try {
        if ((JSON.parse(readFileSync(path.join(dir, 'package.json'), 'utf8')) as { name?: string }).name === 'ecsd') return dir
      } catch {
        // An unreadable package.json is not the checkout's; keep looking above it.
      }
    }
    const up = path.dirname(dir)
    if (up === dir) return path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..')
    dir = up
  }
}

import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import fc from 'fast-check'
import { GateDriver } from '../drivers.ts'
import { DIALECTS, buildTestApp, call, createBody, createGroup, createServers, snapshot, stopServers, v1 } from '../helper.ts'
import { area as attributes } from './fuzz/attributes.ts'
import { area as catalogue } from './fuzz/catalogue.ts'
import { area as nics } from './fuzz/nics.ts'
import { area as os } from './fuzz/os.ts'
import type { Ids, Route, RouteArea } from './fuzz/routes.ts'
import { area as volumes } from './fuzz/volumes.ts'

/**
 * Property: whatever a signed client sends to any route — random or mutated bodies, query
 * strings and path ids full of SQL metacharacters, traversal, very long strings, unicode,
 * numbers where strings belong, nulls, deep nesting — the answer is never a 5xx, always carries
 * a request id, is a JSON body in one of the documented shapes, and a rejected request leaves
 * the database exactly as it was. Seeds are printed so a failure replays with ECSD_FUZZ_SEED.
 */
const RUNS = Number(process.env.ECSD_FUZZ_RUNS ?? 800)

const AREAS: RouteArea[] = [attributes, os, nics, volumes, catalogue]

const ROUTES: Route[] = [
  { method: 'POST', path: () => '/cloudservers/os-server-groups', body: () => ({ server_group: { name: 'g', policies: ['anti-affinity'] } }) },
  { method: 'GET', path: () => '/cloudservers/os-server-groups' },
  { method: 'GET', path: (i) => `/cloudservers/os-server-groups/${i.group}` },
  { method: 'DELETE', path: (i) => `/cloudservers/os-server-groups/${i.group}` },
  { method: 'POST', path: (i) => `/cloudservers/os-server-groups/${i.group}/action`, body: (i) => ({ add_member: { instance_uuid: i.server } }) },
  { method: 'POST', path: (i) => `/cloudservers/os-server-groups/${i.group}/action`, body: (i) => ({ remove_member: { instance_uuid: i.server } }) },
  { method: 'POST', path: () => '/cloudservers', body: (i) => createBody({ 'os:scheduler_hints': { group: i.group } }) },
  { method: 'GET', path: (i) => `/cloudservers/${i.server}` },
  { method: 'GET', path: () => '/cloudservers/detail' },
  { method: 'POST', path: () => '/cloudservers/action', body: (i) => ({ 'os-stop': { servers: [{ id: i.server }], type: 'SOFT' } }) },
  { method: 'POST', path: () => '/cloudservers/action', body: (i) => ({ 'os-start': { servers: [{ id: i.server }] } }) },
  { method: 'POST', path: () => '/cloudservers/delete', body: (i) => ({ servers: [{ id: i.server }] }) },
  { method: 'GET', path: (i) => `/jobs/${i.job}` },
  { method: 'GET', path: () => '/cloudservers/flavors' },
  { method: 'GET', path: () => '/cloudservers/limits' },
  { method: 'POST', path: () => '/cloudservers/action', body: (i) => ({ reboot: { type: 'HARD', servers: [{ id: i.server }] } }) },
  { method: 'POST', path: (i) => `/cloudservers/${i.server}/resize`, body: () => ({ resize: { flavorRef: 's6.xlarge.2' } }) },
  { method: 'POST', path: (i) => `/cloudservers/${i.server}/resize`, body: () => ({ resize: { flavorRef: 's6.xlarge.2', mode: 'withStopServer' }, dry_run: false }), version: 'v1.1' },
  { method: 'POST', path: () => '/cloudservers/batch-resize', body: (i) => ({ resize: { flavorRef: 's6.xlarge.2', servers: [{ id: i.server }] } }) },
  { method: 'POST', path: (i) => `/cloudservers/${i.server}/migrate`, body: () => ({ migrate: null }) },
  { method: 'POST', path: (i) => `/cloudservers/${i.server}/actions/redeploy` },
  { method: 'GET', path: () => '/cloudservers/resize_flavors' },
  { method: 'GET', path: (i) => `/cloudservers/flavors/${i.server}/resources` },
  { method: 'GET', path: () => '/recycle-bin' },
  { method: 'PUT', path: () => '/recycle-bin', body: () => ({ recycle_bin: { switch: 'on' } }) },
  { method: 'PUT', path: () => '/recycle-bin/policy', body: () => ({ policy: { retention_hour: 24, recycle_threshold_day: 1 } }) },
  { method: 'GET', path: () => '/recycle-bin/cloudservers' },
  { method: 'POST', path: (i) => `/recycle-bin/cloudservers/${i.server}/actions/revert` },
  { method: 'DELETE', path: (i) => `/recycle-bin/cloudservers/${i.server}` },
  ...AREAS.flatMap((a) => a.routes),
]

const QUERY_KEYS = [...new Set([
  'limit', 'marker', 'offset', 'status', 'name', 'flavor', 'availability_zone', 'instance_uuid', 'source_flavor_id', 'source_flavor_name', 'sort_key', 'sort_dir',
  ...AREAS.flatMap((a) => a.queryKeys ?? []),
])]

/** The url of a route's path: under its version and the demo project (`v1.0` has no project). */
function urlOf(route: Route, path: string): string {
  if (route.version === 'v1.0') return `/v1.0${path}`
  return v1(path).replace(/^\/v1\//, `/${route.version ?? 'v1'}/`)
}

const hostile = fc.oneof(
  fc.constantFrom("' OR '1'='1", '1; DROP TABLE servers; --', '" OR ""="', '../../etc/passwd', '..', '%00', '\u0000', '%', '%zz', '*', '\\', 'NULL', 'undefined', '-1', '1e309', '🚀', 'ü', 'Robert\'); DROP TABLE server_groups;--'),
  fc.string({ maxLength: 40 }),
  fc.string({ unit: 'grapheme', maxLength: 40 }),
  fc.string({ minLength: 300, maxLength: 3000 }),
  fc.uuid(),
  fc.integer().map(String),
)

const scalar = fc.oneof(hostile, fc.integer(), fc.double(), fc.boolean(), fc.constant(null))
const deep = fc.integer({ min: 10, max: 200 }).map((n) => JSON.parse('['.repeat(n) + ']'.repeat(n)) as unknown)

/** A copy of `value` with one random leaf replaced, one key dropped, or one key added. */
function mutate(value: unknown, pick: number, replacement: unknown, key: string): unknown {
  if (value === null || typeof value !== 'object') return replacement
  const copy: Record<string, unknown> | unknown[] = Array.isArray(value) ? [...value] : { ...(value as Record<string, unknown>) }
  const keys = Object.keys(copy)
  if (keys.length === 0 || pick % 7 === 0) {
    ;(copy as Record<string, unknown>)[key] = replacement
    return copy
  }
  const k = keys[pick % keys.length]!
  if (pick % 5 === 0) {
    delete (copy as Record<string, unknown>)[k]
    return copy
  }
  ;(copy as Record<string, unknown>)[k] = mutate((copy as Record<string, unknown>)[k], Math.floor(pick / 3), replacement, key)
  return copy
}

function isDocumentedShape(status: number, text: string): boolean {
  if (text === '') return status === 200 || status === 202 || status === 204
  let body: unknown
  try {
    body = JSON.parse(text)
  } catch {
    return false
  }
  if (body === null || typeof body !== 'object') return false
  if (status < 400) return true
  const b = body as { error?: { code?: unknown; message?: unknown }; error_code?: unknown; error_msg?: unknown; request_id?: unknown }
  const ecs = typeof b.error?.code === 'string' && typeof b.error.message === 'string' && b.error.message !== ''
  const gateway = typeof b.error_code === 'string' && typeof b.error_msg === 'string' && typeof b.request_id === 'string'
  return ecs || gateway
}

for (const dialect of DIALECTS) {
  describe(`hostile input on ${dialect}`, () => {
    test(`${RUNS} random requests per run: never 5xx, documented errors, rejected requests change nothing`, async (t) => {
      const driver = new GateDriver()
      driver.releaseAll()
      const { app, database } = await buildTestApp(t, { dialect, driver })
      const group = await createGroup(app)
      const [server, other] = await createServers(app, { count: 2 })
      await stopServers(app, [other!])
      const job = (await database.db.selectFrom('jobs').select('id').where('parent_id', 'is', null).limit(1).executeTakeFirstOrThrow()).id
      const fixtures: Ids = { server: server!, group, job, port: 'no-port', volume: 'no-volume', template: 'no-template', key: 'k' }
      for (const a of AREAS) Object.assign(fixtures, await a.setup?.({ app, database, server: server!, group }))
      // From here on host operations never finish, so nothing changes the database behind the
      // property's back between its before and after snapshots.
      driver.hold()

      const seed = Number(process.env.ECSD_FUZZ_SEED ?? Date.now() % 2 ** 31)
      t.diagnostic(`fuzz seed ${seed} (replay: ECSD_FUZZ_SEED=${seed})`)
      let state = await snapshot(database)
      let tried = 0
      const request = fc.record({
        route: fc.constantFrom(...ROUTES),
        ids: fc.record({
          server: fc.oneof(fc.constant(server!), fc.constant(other!), hostile),
          group: fc.oneof(fc.constant(group), hostile),
          job: fc.oneof(fc.constant(job), hostile),
          port: fc.oneof(fc.constant(fixtures.port), hostile),
          volume: fc.oneof(fc.constant(fixtures.volume), hostile),
          template: fc.oneof(fc.constant(fixtures.template), hostile),
          key: fc.oneof(fc.constant(fixtures.key), hostile),
        }),
        query: fc.option(fc.dictionary(fc.oneof(fc.constantFrom(...QUERY_KEYS), fc.string({ maxLength: 10 })), fc.oneof(hostile, fc.integer().map(String)), { maxKeys: 3 })),
        body: fc.oneof(
          fc.constant({ kind: 'valid' as const }),
          fc.record({ kind: fc.constant('mutated' as const), pick: fc.nat(), replacement: fc.oneof(scalar, fc.jsonValue({ maxDepth: 3 })), key: fc.string({ maxLength: 12 }) }),
          fc.record({ kind: fc.constant('json' as const), value: fc.oneof(fc.jsonValue({ maxDepth: 4 }), deep) }),
          fc.record({ kind: fc.constant('raw' as const), text: fc.string({ maxLength: 200 }) }),
        ),
      })
      await fc.assert(
        fc.asyncProperty(request, async ({ route, ids, query, body }) => {
          tried++
          const path = route.path(Object.fromEntries(Object.entries(ids).map(([k, v]) => [k, encodeURIComponent(v)])) as unknown as Ids)
          const qs = query ? new URLSearchParams(query).toString() : ''
          const valid = route.body?.(ids)
          const payload =
            body.kind === 'valid' ? valid
            : body.kind === 'mutated' ? mutate(valid ?? {}, body.pick, body.replacement, body.key)
            : body.kind === 'raw' ? body.text
            : body.value
          const base = urlOf(route, path)
          const res = await call(app, { method: route.method, url: base + (qs ? `?${qs}` : ''), ...(payload === undefined || route.method === 'GET' ? {} : { body: payload }) })
          assert.ok(res.statusCode < 500, `${route.method} ${path}?${qs} → ${res.statusCode} ${res.body}`)
          assert.match(String(res.headers['x-request-id']), /^[0-9a-f]{32}$/)
          assert.ok(isDocumentedShape(res.statusCode, res.body), `undocumented answer ${res.statusCode} ${res.body.slice(0, 300)}`)
          const after = await snapshot(database)
          if (res.statusCode >= 400) assert.deepEqual(after, state, `rejected ${route.method} ${path} changed the database: ${res.body}`)
          state = after
        }),
        { numRuns: RUNS, seed, endOnFailure: true, includeErrorInReport: true },
      )
      t.diagnostic(`requests tried: ${tried}`)
      assert.ok(tried >= RUNS)
    })
  })
}

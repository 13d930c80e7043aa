import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import fc from 'fast-check'
import { DEMO } from '../../src/services/demo.ts'
import { IMAGES } from '../../src/services/images.ts'
import { GateDriver } from '../drivers.ts'
import { DIALECTS, buildTestApp, call, snapshot, waitForIdle } from '../helper.ts'

/**
 * Property, for the OpenStack Compute surface: whatever a signed client sends to any /v2.1 route
 * — random or mutated bodies, hostile ids and query strings, any microversion header — the
 * answer is never a 5xx, carries a request id, is JSON (a Nova fault when it is an error), and a
 * rejected request leaves the database exactly as it was. Seeds are printed so a failure
 * replays with ECSD_FUZZ_SEED.
 */
const RUNS = Number(process.env.ECSD_FUZZ_RUNS ?? 300)

interface Ids {
  server: string
  group: string
  name: string
}
interface Route {
  method: 'GET' | 'POST' | 'DELETE'
  path: (ids: Ids) => string
  body?: (ids: Ids) => unknown
}

const ROUTES: Route[] = [
  { method: 'POST', path: () => '/os-server-groups', body: () => ({ server_group: { name: 'g', policy: 'anti-affinity', rules: { max_server_per_host: 2 } } }) },
  { method: 'POST', path: () => '/os-server-groups', body: () => ({ server_group: { name: 'g', policies: ['affinity'] } }) },
  { method: 'GET', path: () => '/os-server-groups' },
  { method: 'GET', path: (i) => `/os-server-groups/${i.group}` },
  { method: 'DELETE', path: (i) => `/os-server-groups/${i.group}` },
  { method: 'POST', path: () => '/servers', body: (i) => ({ server: { name: 'x', flavorRef: 's6.small.1', imageRef: IMAGES[0]!.id, networks: 'auto', min_count: 1, max_count: 2 }, 'os:scheduler_hints': { group: i.group } }) },
  { method: 'GET', path: () => '/servers' },
  { method: 'GET', path: () => '/servers/detail' },
  { method: 'GET', path: (i) => `/servers/${i.server}` },
  { method: 'DELETE', path: (i) => `/servers/${i.server}` },
  { method: 'POST', path: (i) => `/servers/${i.server}/action`, body: () => ({ 'os-stop': null }) },
  { method: 'POST', path: (i) => `/servers/${i.server}/action`, body: () => ({ resize: { flavorRef: 's6.medium.2' } }) },
  { method: 'POST', path: (i) => `/servers/${i.server}/action`, body: () => ({ addSecurityGroup: { name: 'web' } }) },
  { method: 'GET', path: (i) => `/servers/${i.server}/os-security-groups` },
  { method: 'POST', path: (i) => `/servers/${i.server}/os-interface`, body: () => ({ interfaceAttachment: { fixed_ips: [{ ip_address: '10.0.0.9' }] } }) },
  { method: 'GET', path: (i) => `/servers/${i.server}/os-interface/${i.name}` },
  { method: 'POST', path: () => '/os-keypairs', body: (i) => ({ keypair: { name: i.name, public_key: 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHh0ZXN0a2V5dGVzdGtleXRlc3RrZXl0ZXN0a2V5 me' } }) },
  { method: 'GET', path: (i) => `/os-keypairs/${i.name}` },
  { method: 'DELETE', path: (i) => `/os-keypairs/${i.name}` },
  { method: 'GET', path: (i) => `/flavors/${i.name}` },
  { method: 'GET', path: (i) => `/flavors/${i.name}/os-extra_specs` },
  { method: 'GET', path: () => '/os-availability-zone' },
  { method: 'GET', path: (i) => `/os-hypervisors/${i.name}` },
]

const hostile = fc.oneof(
  fc.constantFrom("' OR '1'='1", '1; DROP TABLE servers; --', '../../etc/passwd', '..', '%00', '\u0000', '%', '%zz', '*', '\\', 'NULL', '-1', '1e309', '🚀', 'ü'),
  fc.string({ maxLength: 40 }),
  fc.string({ minLength: 300, maxLength: 2000 }),
  fc.uuid(),
  fc.integer().map(String),
)
const scalar = fc.oneof(hostile, fc.integer(), fc.double(), fc.boolean(), fc.constant(null))

/** A copy of `value` with one random leaf replaced, one key dropped, or one key added. */
function mutate(value: unknown, pick: number, replacement: unknown, key: string): unknown {
  if (value === null || typeof value !== 'object') return replacement
  const copy: Record<string, unknown> = Array.isArray(value) ? { ...value } : { ...(value as Record<string, unknown>) }
  const keys = Object.keys(copy)
  if (keys.length === 0 || pick % 7 === 0) return { ...copy, [key]: replacement }
  const k = keys[pick % keys.length]!
  if (pick % 5 === 0) {
    delete copy[k]
    return copy
  }
  copy[k] = mutate(copy[k], Math.floor(pick / 3), replacement, key)
  return copy
}

for (const dialect of DIALECTS) {
  describe(`hostile input to the OpenStack Compute API on ${dialect}`, () => {
    test(`${RUNS} random requests: never 5xx, Nova faults, rejected requests change nothing`, async (t) => {
      const driver = new GateDriver()
      driver.releaseAll()
      const { app, database } = await buildTestApp(t, { dialect, driver })
      const url = (path: string) => `/v2.1/${DEMO.projectId}${path}`
      const g = await call(app, { method: 'POST', url: url('/os-server-groups'), headers: { 'OpenStack-API-Version': 'compute 2.64' }, body: { server_group: { name: 'g', policy: 'anti-affinity' } } })
      const group = (g.json() as { server_group: { id: string } }).server_group.id
      const s = await call(app, { method: 'POST', url: url('/servers'), body: { server: { name: 's', flavorRef: 's6.small.1', imageRef: IMAGES[0]!.id } } })
      const server = (s.json() as { server: { id: string } }).server.id
      await waitForIdle(database)
      // Host operations never finish from here on, so nothing changes the database behind the property's back.
      driver.hold()
      const seed = Number(process.env.ECSD_FUZZ_SEED ?? Date.now() % 2 ** 31)
      t.diagnostic(`fuzz seed ${seed} (replay: ECSD_FUZZ_SEED=${seed})`)
      let state = await snapshot(database)
      const request = fc.record({
        route: fc.constantFrom(...ROUTES),
        ids: fc.record({ server: fc.oneof(fc.constant(server), hostile), group: fc.oneof(fc.constant(group), hostile), name: fc.oneof(fc.constant('k1'), fc.constant('s6.small.1'), hostile) }),
        version: fc.option(fc.oneof(fc.constantFrom('2.1', '2.15', '2.37', '2.64', '2.71', 'latest', '2.72', '3.0', '2', 'x'), hostile)),
        query: fc.option(fc.dictionary(fc.oneof(fc.constantFrom('limit', 'offset', 'marker', 'all_projects', 'reservation_id', 'status', 'name', 'host'), fc.string({ maxLength: 8 })), hostile, { maxKeys: 3 })),
        body: fc.oneof(
          fc.constant({ kind: 'valid' as const }),
          fc.record({ kind: fc.constant('mutated' as const), pick: fc.nat(), replacement: fc.oneof(scalar, fc.jsonValue({ maxDepth: 3 })), key: fc.string({ maxLength: 12 }) }),
          fc.record({ kind: fc.constant('json' as const), value: fc.jsonValue({ maxDepth: 4 }) }),
          fc.record({ kind: fc.constant('raw' as const), text: fc.string({ maxLength: 200 }) }),
        ),
      })
      await fc.assert(
        fc.asyncProperty(request, async ({ route, ids, version, query, body }) => {
          const path = route.path({ server: encodeURIComponent(ids.server), group: encodeURIComponent(ids.group), name: encodeURIComponent(ids.name) })
          const qs = query ? new URLSearchParams(query).toString() : ''
          const valid = route.body?.(ids)
          const payload = body.kind === 'valid' ? valid : body.kind === 'mutated' ? mutate(valid ?? {}, body.pick, body.replacement, body.key) : body.kind === 'raw' ? body.text : body.value
          const res = await call(app, {
            method: route.method,
            url: url(path) + (qs ? `?${qs}` : ''),
            headers: version === null ? {} : { 'X-OpenStack-Nova-API-Version': version.replace(/[^\x20-\x7e]/g, '') },
            ...(payload === undefined || route.method !== 'POST' ? {} : { body: payload }),
          })
          const where = `${route.method} ${path}?${qs} (${String(version)})`
          assert.ok(res.statusCode < 500, `${where} → ${res.statusCode} ${res.body}`)
          assert.match(String(res.headers['x-request-id']), /^[0-9a-f]{32}$/)
          if (res.statusCode >= 400) {
            const fault = Object.values(res.json() as Record<string, { code: number; message: string }>)[0]
            assert.equal(fault?.code, res.statusCode, `${where}: not a Nova fault: ${res.body}`)
            assert.ok(typeof fault.message === 'string' && fault.message !== '')
          } else if (res.body !== '') {
            JSON.parse(res.body)
          }
          const after = await snapshot(database)
          if (res.statusCode >= 400) assert.deepEqual(after, state, `rejected ${where} changed the database: ${res.body}`)
          state = after
        }),
        { numRuns: RUNS, seed, endOnFailure: true, includeErrorInReport: true },
      )
    })
  })
}

/**
 * The dashboard's server side: the page and its assets (or a 503 that names the build command),
 * and its reads under /admin/fleet — admin-only, on SQLite and PostgreSQL.
 */
import assert from 'node:assert/strict'
import { mkdirSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { describe, test, type TestContext } from 'node:test'
import Fastify from 'fastify'
import { handleError } from '../../src/api/errors.ts'
import { BUILD_COMMAND, dashboardPage } from '../../src/dashboard/routes.ts'
import { DEMO } from '../../src/services/demo.ts'
import { buildTestApp, call, createGroup, createServers, DIALECTS, groupAction, stopServers, tempDir, waitForIdle, type TestApp } from '../helper.ts'

const ADMIN = { accessKey: DEMO.adminAccessKey, secretKey: DEMO.adminSecretKey }

interface FleetWire {
  generated_at: string
  hosts: Array<{ name: string; availability_zone: string; fault_domain: string | null; state: string; vcpus: number; vcpus_used: number; ram_mb_used: number; servers: number }>
  groups: Array<{ id: string; name: string; project_id: string; policy: string; members: Array<{ server_id: string; name: string; status: string; host: string }> }>
}

interface ServersWire {
  servers: Array<{ id: string; name: string; host: string; status: string; group_id: string | null; moving_from: string | null; project_id: string }>
  truncated: boolean
}

async function fleet(app: TestApp['app']): Promise<FleetWire> {
  const res = await call(app, { method: 'GET', url: '/admin/fleet', ...ADMIN })
  assert.equal(res.statusCode, 200, res.body)
  return res.json() as FleetWire
}

async function servers(app: TestApp['app'], query: string): Promise<ServersWire> {
  const res = await call(app, { method: 'GET', url: `/admin/fleet/servers?${query}`, ...ADMIN })
  assert.equal(res.statusCode, 200, res.body)
  return res.json() as ServersWire
}

/** The page alone over `assetsDir`, with ecsd's error handler. */
async function pageApp(t: TestContext, assetsDir: string) {
  const app = Fastify()
  app.setErrorHandler((err, req, reply) => handleError(err, req, reply))
  await app.register(dashboardPage, { assetsDir })
  await app.ready()
  t.after(() => app.close())
  return app
}

describe('the dashboard page', () => {
  test('is served with its assets, under a policy that lets it run only its own scripts', async (t) => {
    const dir = tempDir(t)
    mkdirSync(path.join(dir, 'assets'))
    writeFileSync(path.join(dir, 'index.html'), '<!doctype html><title>ecsd</title><script type="module" src="/dashboard/assets/index-abc.js"></script>')
    writeFileSync(path.join(dir, 'assets', 'index-abc.js'), 'console.log(1)')
    writeFileSync(path.join(dir, 'assets', 'index-abc.css'), 'body{}')
    const app = await pageApp(t, dir)
    for (const url of ['/dashboard', '/dashboard/']) {
      const res = await app.inject({ method: 'GET', url })
      assert.equal(res.statusCode, 200, url)
      assert.match(String(res.headers['content-type']), /^text\/html/)
      assert.match(res.body, /index-abc\.js/)
      assert.match(String(res.headers['content-security-policy']), /script-src 'self'/)
      assert.match(String(res.headers['content-security-policy']), /frame-ancestors 'none'/)
    }
    const js = await app.inject({ method: 'GET', url: '/dashboard/assets/index-abc.js' })
    assert.equal(js.statusCode, 200)
    assert.match(String(js.headers['content-type']), /^text\/javascript/)
    assert.match(String(js.headers['cache-control']), /immutable/)
    assert.match(String((await app.inject({ method: 'GET', url: '/dashboard/assets/index-abc.css' })).headers['content-type']), /^text\/css/)
    for (const url of ['/dashboard/assets/missing.js', '/dashboard/assets/index.html', '/dashboard/assets/..%2Findex.html', '/dashboard/assets/.hidden.js']) {
      const res = await app.inject({ method: 'GET', url })
      assert.ok(res.statusCode === 404 || res.statusCode === 400, `${url}: ${res.statusCode}`)
      assert.doesNotMatch(res.body, /<title>ecsd/)
    }
  })

  test('not built: 503 with the command that builds it, not a crash', async (t) => {
    const app = await pageApp(t, path.join(tempDir(t), 'nothing-here'))
    const res = await app.inject({ method: 'GET', url: '/dashboard' })
    assert.equal(res.statusCode, 503)
    assert.match(String(res.headers['content-type']), /^text\/plain/)
    assert.ok(res.body.includes(BUILD_COMMAND), res.body)
  })

  test('stays out of the OpenAPI document; the fleet reads are in it with their answers', async (t) => {
    const { app } = await buildTestApp(t)
    const doc = (await app.inject({ method: 'GET', url: '/openapi.json' })).json() as { paths: Record<string, Record<string, { responses?: Record<string, unknown> }>> }
    assert.ok(!Object.keys(doc.paths).some((p) => p.startsWith('/dashboard')), 'no /dashboard path')
    assert.ok(doc.paths['/admin/fleet']?.get?.responses?.['200'], 'GET /admin/fleet and its answer')
    assert.ok(doc.paths['/admin/fleet/servers']?.get?.responses?.['200'], 'GET /admin/fleet/servers and its answer')
  })
})

describe('GET /admin/fleet', () => {
  test('needs an operator: unsigned 401, a tenant 403, an admin key or an admin user\'s token 200', async (t) => {
    const { app } = await buildTestApp(t)
    assert.equal((await app.inject({ method: 'GET', url: '/admin/fleet' })).statusCode, 401)
    assert.equal((await call(app, { method: 'GET', url: '/admin/fleet' })).statusCode, 403)
    assert.equal((await call(app, { method: 'GET', url: '/admin/fleet/servers' })).statusCode, 403)
    const signIn = await app.inject({
      method: 'POST',
      url: '/v3/auth/tokens',
      payload: { auth: { identity: { methods: ['password'], password: { user: { name: DEMO.adminUserName, domain: { name: 'Default' }, password: DEMO.adminUserPassword } } } } },
    })
    assert.equal(signIn.statusCode, 201, signIn.body)
    const token = String(signIn.headers['x-subject-token'])
    const res = await app.inject({ method: 'GET', url: '/admin/fleet', headers: { 'x-auth-token': token } })
    assert.equal(res.statusCode, 200, res.body)
    assert.equal((res.json() as FleetWire).hosts.length, 16)
  })

  for (const dialect of DIALECTS) {
    test(`${dialect}: every host with its use, by zone and name, and every group with its members' hosts`, async (t) => {
      const { app, database } = await buildTestApp(t, { dialect })
      const groupId = await createGroup(app, 'web')
      const members = await createServers(app, { name: 'web', count: 3, availability_zone: 'az1', 'os:scheduler_hints': { group: groupId } })
      await createGroup(app, 'empty')
      const f = await fleet(app)
      assert.equal(f.hosts.length, 16)
      assert.deepEqual(f.hosts.map((h) => h.name), [...f.hosts.map((h) => h.name)].sort())
      assert.ok(f.hosts.every((h) => h.state === 'up' && h.vcpus === 32 && h.fault_domain === null))
      assert.equal(f.hosts.reduce((n, h) => n + h.servers, 0), 3)
      assert.equal(f.hosts.reduce((n, h) => n + h.vcpus_used, 0), 6, 's6.large.2 takes 2 vCPU')
      assert.deepEqual(f.groups.map((g) => g.name), ['empty', 'web'])
      const web = f.groups.find((g) => g.id === groupId)!
      assert.equal(web.policy, 'anti-affinity')
      assert.equal(web.project_id, DEMO.projectId)
      assert.deepEqual(web.members.map((m) => m.server_id).sort(), [...members].sort())
      assert.equal(new Set(web.members.map((m) => m.host)).size, 3, 'members on distinct hosts')
      for (const m of web.members) {
        assert.equal(m.status, 'ACTIVE')
        assert.ok(f.hosts.find((h) => h.name === m.host)!.servers >= 1)
      }

      const all = await servers(app, `group_id=${groupId}`)
      assert.deepEqual(all.servers.map((s) => s.host).sort(), web.members.map((m) => m.host).sort())
      await waitForIdle(database)
    })

    test(`${dialect}: servers of some hosts, of a group, by id, and by search; limited`, async (t) => {
      const { app } = await buildTestApp(t, { dialect })
      const groupId = await createGroup(app, 'web')
      const [a, b] = await createServers(app, { name: 'Web_a', count: 2, availability_zone: 'az1', 'os:scheduler_hints': { group: groupId } })
      const [other] = await createServers(app, { name: 'db%1', availability_zone: 'az2' })
      const one = (await servers(app, `server_id=${a}`)).servers
      assert.equal(one.length, 1)
      assert.equal(one[0]!.group_id, groupId)
      assert.equal(one[0]!.project_id, DEMO.projectId)
      assert.equal(one[0]!.moving_from, null)

      const hostA = one[0]!.host
      const hostOther = (await servers(app, `server_id=${other}`)).servers[0]!.host
      const onHosts = await servers(app, `host=${hostA}&host=${hostOther}`)
      assert.deepEqual(onHosts.servers.map((s) => s.id).sort(), [a!, other!].sort())
      assert.deepEqual((await servers(app, `host=${hostA}`)).servers.map((s) => s.id), [a])

      assert.deepEqual((await servers(app, `group_id=${groupId}`)).servers.map((s) => s.id).sort(), [a!, b!].sort())
      assert.equal((await servers(app, 'q=web_A')).servers.length, 2, 'a name, whatever its case')
      assert.deepEqual((await servers(app, `q=${a!.slice(0, -2)}`)).servers.map((s) => s.id), [a], 'an id prefix')
      assert.deepEqual((await servers(app, `q=${encodeURIComponent('%1')}`)).servers.map((s) => s.id), [other], "LIKE's wildcards are literal")
      assert.deepEqual((await servers(app, 'q=_a')).servers.length, 2)
      assert.equal((await servers(app, 'q=nothing-like-this')).servers.length, 0)

      const limited = await servers(app, 'limit=2')
      assert.equal(limited.servers.length, 2)
      assert.equal(limited.truncated, true)
      assert.equal((await servers(app, 'limit=3')).truncated, false)
    })
  }

  test('hosts come by zone, then fault domain in numeric order (none last), then name', async (t) => {
    const { app } = await buildTestApp(t)
    for (const [host, rack] of [['az1-host-05', 'rack-10'], ['az1-host-07', 'rack-2'], ['az1-host-03', 'rack-10']] as const) {
      const res = await call(app, { method: 'PUT', url: `/admin/hosts/${host}`, body: { host: { fault_domain: rack } }, ...ADMIN })
      assert.equal(res.statusCode, 200, res.body)
    }
    const names = (await fleet(app)).hosts.map((h) => `${h.name}:${h.fault_domain ?? '-'}`)
    assert.deepEqual(names.slice(0, 4), ['az1-host-07:rack-2', 'az1-host-03:rack-10', 'az1-host-05:rack-10', 'az1-host-01:-'])
    assert.equal(names[8], 'az2-host-01:-')
  })

  test('a server that add_member re-placed is on its new host, apart from the other member', async (t) => {
    const { app, database } = await buildTestApp(t)
    const groupId = await createGroup(app, 'g')
    const [member] = await createServers(app, { name: 'member', availability_zone: 'az1', 'os:scheduler_hints': { group: groupId } })
    const memberHost = (await servers(app, `server_id=${member}`)).servers[0]!.host
    const [loner] = await createServers(app, { name: 'loner', availability_zone: 'az1' })
    await stopServers(app, [loner!])
    // Put the loner on the member's host (an operator's migration), so add_member must move it.
    const migrate = await call(app, { method: 'POST', url: `/admin/servers/${loner}/migrate`, body: { migrate: { host: memberHost } }, ...ADMIN })
    assert.equal(migrate.statusCode, 200, migrate.body)
    await waitForIdle(database)
    assert.equal((await servers(app, `server_id=${loner}`)).servers[0]!.host, memberHost)
    assert.equal((await groupAction(app, groupId, 'add_member', loner!)).statusCode, 200)
    await waitForIdle(database)
    const moved = (await servers(app, `server_id=${loner}`)).servers[0]!
    assert.notEqual(moved.host, memberHost)
    assert.equal(moved.group_id, groupId)
    const f = await fleet(app)
    const hosts = f.groups.find((g) => g.id === groupId)!.members.map((m) => m.host)
    assert.equal(new Set(hosts).size, 2)
  })

  test('a server moving live is listed on its target and, as moving from it, on its source', async (t) => {
    const { app, database } = await buildTestApp(t, { driverLatencyMs: 400 })
    const [id] = await createServers(app, { name: 'live', availability_zone: 'az1' })
    const source = (await servers(app, `server_id=${id}`)).servers[0]!.host
    const migrate = await call(app, { method: 'POST', url: `/admin/servers/${id}/migrate`, body: { migrate: { live: true } }, ...ADMIN })
    assert.equal(migrate.statusCode, 200, migrate.body)
    let seen: ServersWire['servers'][number] | undefined
    for (let i = 0; i < 200 && seen === undefined; i++) {
      seen = (await servers(app, `host=${source}`)).servers.find((s) => s.id === id && s.moving_from === source)
      if (seen === undefined) await new Promise((r) => setTimeout(r, 10))
    }
    assert.ok(seen, 'listed on its source while it moves')
    assert.notEqual(seen.host, source, 'on its target')
    assert.equal((await fleet(app)).hosts.find((h) => h.name === source)!.servers, 0)
    await waitForIdle(database)
    assert.equal((await servers(app, `host=${source}`)).servers.length, 0, 'gone from the source once moved')
  })

  test('refuses an unknown filter and too many hosts', async (t) => {
    const { app } = await buildTestApp(t)
    assert.equal((await call(app, { method: 'GET', url: '/admin/fleet/servers?hostname=x', ...ADMIN })).statusCode, 400)
    const many = Array.from({ length: 501 }, (_, i) => `host=h${i}`).join('&')
    assert.equal((await call(app, { method: 'GET', url: `/admin/fleet/servers?${many}`, ...ADMIN })).statusCode, 400)
    assert.equal((await call(app, { method: 'GET', url: '/admin/fleet/servers?limit=0', ...ADMIN })).statusCode, 400)
  })
})

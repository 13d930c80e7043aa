/**
 * The OpenStack Compute surface through `app.inject`, on both databases: discovery, microversion
 * negotiation, Nova faults, and os-server-groups in the shape of every microversion range.
 */
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { DEMO } from '../../../src/services/demo.ts'
import { buildTestApp, call, createGroup, DIALECTS, snapshot, v1 } from '../../helper.ts'
import { BOUNDARIES, createNovaGroup, fault, nova } from './nova.ts'

/** The numeric form of a boundary (`latest` is the maximum served). */
function numeric(v: string): [number, number] {
  const [major, minor] = (v === 'latest' ? '2.71' : v).split('.').map(Number)
  return [major!, minor!]
}
function atLeast(v: string, minor: number): boolean {
  return numeric(v)[1] >= minor
}

for (const dialect of DIALECTS) {
  describe(`OpenStack Compute on ${dialect}`, () => {
    describe('discovery', () => {
      test('GET / lists v2.1: 300 for OpenStack clients, 200 for the Huawei SDK (which treats anything else as a failure)', async (t) => {
        const { app } = await buildTestApp(t, { dialect })
        const plain = await app.inject({ method: 'GET', url: '/' })
        assert.equal(plain.statusCode, 300)
        const versions = (plain.json() as { versions: Array<Record<string, unknown>> }).versions
        assert.deepEqual(versions.map((v) => [v.id, v.status, v.min_version, v.version]), [['v2.1', 'CURRENT', '2.1', '2.71']])
        const signed = await call(app, { method: 'GET', url: '/' })
        assert.equal(signed.statusCode, 200)
        assert.deepEqual((signed.json() as { versions: Array<{ id: string }> }).versions.map((v) => v.id), ['v2.1'])
      })

      test('GET /v2.1 and /v2.1/ answer the version document without authentication', async (t) => {
        const { app } = await buildTestApp(t, { dialect })
        for (const url of ['/v2.1', '/v2.1/']) {
          const res = await app.inject({ method: 'GET', url, headers: { host: 'ecsd.example:8774' } })
          assert.equal(res.statusCode, 200, url)
          const v = (res.json() as { version: Record<string, unknown> }).version
          assert.equal(v.id, 'v2.1')
          assert.equal(v.min_version, '2.1')
          assert.equal(v.version, '2.71')
          assert.deepEqual((v.links as Array<{ rel: string; href: string }>)[0], { rel: 'self', href: 'http://ecsd.example:8774/v2.1/' })
          assert.deepEqual(v['media-types'], [{ base: 'application/json', type: 'application/vnd.openstack.compute+json;version=2.1' }])
        }
      })
    })

    describe('microversions', () => {
      test('no header means 2.1; latest means 2.71; both headers are echoed with Vary', async (t) => {
        const { app } = await buildTestApp(t, { dialect })
        const cases: Array<{ headers: Record<string, string>; echoed: string }> = [
          { headers: {}, echoed: '2.1' },
          { headers: { 'OpenStack-API-Version': 'compute latest' }, echoed: '2.71' },
          { headers: { 'OpenStack-API-Version': 'compute 2.64' }, echoed: '2.64' },
          { headers: { 'X-OpenStack-Nova-API-Version': '2.13' }, echoed: '2.13' },
          // The new header wins over the legacy one, as in Nova.
          { headers: { 'OpenStack-API-Version': 'compute 2.15', 'X-OpenStack-Nova-API-Version': '2.13' }, echoed: '2.15' },
          // Other services named in the header are not compute's business.
          { headers: { 'OpenStack-API-Version': 'volume 3.10, compute 2.37' }, echoed: '2.37' },
        ]
        for (const c of cases) {
          const res = await nova(app, 'GET', '/os-server-groups', { headers: c.headers })
          assert.equal(res.statusCode, 200, JSON.stringify(c.headers))
          assert.equal(res.headers['openstack-api-version'], `compute ${c.echoed}`, JSON.stringify(c.headers))
          assert.equal(res.headers['x-openstack-nova-api-version'], c.echoed)
          assert.equal(res.headers.vary, 'OpenStack-API-Version, X-OpenStack-Nova-API-Version')
        }
      })

      test('a malformed version is 400, one out of range 406, both Nova faults with Vary; nothing changes', async (t) => {
        const { app, database } = await buildTestApp(t, { dialect })
        const before = await snapshot(database)
        for (const bad of ['2', 'compute', '2.x', '2.01', '', 'two.one']) {
          const res = await nova(app, 'POST', '/os-server-groups', { headers: { 'X-OpenStack-Nova-API-Version': bad }, body: { server_group: { name: 'g', policies: ['affinity'] } } })
          assert.equal(res.statusCode, 400, `"${bad}" → ${res.body}`)
          assert.equal(fault(res).name, 'badRequest')
          assert.match(fault(res).message, /is of invalid format/)
          assert.equal(res.headers.vary, 'OpenStack-API-Version, X-OpenStack-Nova-API-Version')
        }
        for (const out of ['2.0', '2.72', '3.0', '1.1']) {
          const res = await nova(app, 'POST', '/os-server-groups', { version: out, body: { server_group: { name: 'g', policies: ['affinity'] } } })
          assert.equal(res.statusCode, 406, `${out} → ${res.body}`)
          assert.equal(fault(res).code, 406)
          assert.equal(fault(res).message, `Version ${out} is not supported by the API. Minimum is 2.1 and maximum is 2.71.`)
        }
        assert.deepEqual(await snapshot(database), before)
      })

      test('faults carry the version headers too; unknown paths and missing credentials are Nova faults', async (t) => {
        const { app } = await buildTestApp(t, { dialect })
        const missing = await nova(app, 'GET', `/os-server-groups/${crypto.randomUUID()}`, { version: '2.64' })
        assert.equal(missing.statusCode, 404)
        assert.equal(missing.headers['openstack-api-version'], 'compute 2.64')
        assert.equal(fault(missing).name, 'itemNotFound')
        const nowhere = await nova(app, 'GET', '/os-nothing', { version: '2.64' })
        assert.equal(nowhere.statusCode, 404)
        assert.equal(fault(nowhere).name, 'itemNotFound')
        assert.equal(nowhere.headers['x-openstack-nova-api-version'], '2.64')
        const anonymous = await app.inject({ method: 'GET', url: '/v2.1/os-server-groups' })
        assert.equal(anonymous.statusCode, 401)
        assert.equal(fault(anonymous).name, 'unauthorized')
        const otherProject = await app.inject({ method: 'GET', url: '/v2.1/ffffffffffffffffffffffffffffffff/os-server-groups' })
        assert.equal(otherProject.statusCode, 401)
        // The Huawei API keeps its own error bodies.
        const huawei = await call(app, { method: 'GET', url: v1(`/cloudservers/os-server-groups/${crypto.randomUUID()}`) })
        assert.equal((huawei.json() as { error: { code: string } }).error.code, 'Ecs.0313')
      })
    })

    describe('os-server-groups', () => {
      for (const version of BOUNDARIES) {
        test(`create, show, list and delete in the shape of ${version}`, async (t) => {
          const { app } = await buildTestApp(t, { dialect })
          const v264 = atLeast(version, 64)
          const body = v264
            ? { server_group: { name: 'web', policy: 'anti-affinity', rules: { max_server_per_host: 2 } } }
            : { server_group: { name: 'web', policies: [atLeast(version, 15) ? 'soft-anti-affinity' : 'affinity'] } }
          const created = await nova(app, 'POST', '/os-server-groups', { version, body })
          assert.equal(created.statusCode, 200, created.body)
          const g = (created.json() as { server_group: Record<string, unknown> }).server_group
          const expected: Record<string, unknown> = { id: g.id, name: 'web' }
          if (v264) Object.assign(expected, { policy: 'anti-affinity', rules: { max_server_per_host: 2 }, members: [] })
          else Object.assign(expected, { policies: body.server_group.policies, members: [], metadata: {} })
          if (atLeast(version, 13)) Object.assign(expected, { project_id: DEMO.projectId, user_id: DEMO.projectId })
          assert.deepEqual(g, expected)
          assert.deepEqual(Object.keys(g), Object.keys(expected), 'fields in Nova\'s order')

          const shown = await nova(app, 'GET', `/os-server-groups/${String(g.id)}`, { version })
          assert.deepEqual((shown.json() as { server_group: unknown }).server_group, expected)
          // The project may be in the path, as Huawei documents the native API.
          const withProject = await nova(app, 'GET', `/v2.1/${DEMO.projectId}/os-server-groups`, { version })
          assert.deepEqual((withProject.json() as { server_groups: unknown[] }).server_groups, [expected])
          const withoutProject = await nova(app, 'GET', '/v2.1/os-server-groups', { version })
          assert.deepEqual((withoutProject.json() as { server_groups: unknown[] }).server_groups, [expected])

          const deleted = await nova(app, 'DELETE', `/os-server-groups/${String(g.id)}`, { version })
          assert.equal(deleted.statusCode, 204)
          assert.equal(deleted.body, '')
          assert.equal((await nova(app, 'GET', `/os-server-groups/${String(g.id)}`, { version })).statusCode, 404)
        })
      }

      test('each range accepts its own body and refuses the others with 400, changing nothing', async (t) => {
        const { app, database } = await buildTestApp(t, { dialect })
        const before = await snapshot(database)
        const refused: Array<[string, unknown, RegExp]> = [
          ['2.1', { server_group: { name: 'g', policies: ['soft-affinity'] } }, /must be one of/],
          ['2.14', { server_group: { name: 'g', policies: ['soft-anti-affinity'] } }, /must be one of/],
          ['2.1', { server_group: { name: 'g', policies: ['affinity', 'affinity'] } }, /policies/],
          ['2.1', { server_group: { name: 'g', policies: ['anti-affinity', 'affinity'] } }, /policies/],
          ['2.1', { server_group: { name: 'g', policies: ['wrong-policy'] } }, /must be one of/],
          ['2.1', { server_group: { name: 'g', policy: 'affinity' } }, /unknown field "policy"/],
          ['2.63', { server_group: { name: 'g', policies: ['affinity'], rules: {} } }, /unknown field "rules"/],
          ['2.64', { server_group: { name: 'g', policies: ['affinity'] } }, /unknown field "policies"/],
          ['2.64', { server_group: { name: 'g' } }, /missing required field "policy"/],
          ['2.64', { server_group: { name: 'g', policy: 'anti-affinity', rules: { max_server_per_host: 0 } } }, /max_server_per_host/],
          ['2.64', { server_group: { name: 'g', policy: 'anti-affinity', rules: { max_server_per_host: 'two' } } }, /max_server_per_host/],
          ['2.64', { server_group: { name: 'g', policy: 'anti-affinity', rules: { other: 1 } } }, /unknown field "other"/],
          ['2.64', { server_group: { name: 'g', policy: 'affinity', rules: { max_server_per_host: 2 } } }, /^Only anti-affinity policy supports rules\.$/],
          ['2.64', { server_group: { name: ' g', policy: 'affinity' } }, /name/],
          ['2.64', { server_group: { name: 'x'.repeat(256), policy: 'affinity' } }, /name/],
          ['2.64', { server_group: { name: 'g', policy: 'affinity' }, extra: 1 }, /unknown field "extra"/],
          ['2.64', undefined, /cannot be left blank/],
          ['2.64', '{"server_group": ', /not valid JSON/],
        ]
        for (const [version, body, message] of refused) {
          const res = await nova(app, 'POST', '/os-server-groups', { version, body })
          assert.equal(res.statusCode, 400, `${version} ${JSON.stringify(body)} → ${res.body}`)
          assert.equal(fault(res).name, 'badRequest')
          assert.match(fault(res).message, message, `${version} ${JSON.stringify(body)}`)
        }
        assert.deepEqual(await snapshot(database), before)
        // A digit string is coerced, as Nova does for OpenStackClient's --rule max_server_per_host=2.
        const res = await nova(app, 'POST', '/os-server-groups', { version: '2.64', body: { server_group: { name: 'g', policy: 'anti-affinity', rules: { max_server_per_host: '3' } } } })
        assert.equal(res.statusCode, 200)
        assert.deepEqual((res.json() as { server_group: { rules: unknown } }).server_group.rules, { max_server_per_host: 3 })
        // Without rules, 2.64 shows an empty object; duplicate names are allowed (Tempest relies on it).
        const plain = await nova(app, 'POST', '/os-server-groups', { version: '2.64', body: { server_group: { name: 'g', policy: 'anti-affinity' } } })
        assert.deepEqual((plain.json() as { server_group: { rules: unknown } }).server_group.rules, {})
      })

      test('every policy can be created at 2.64 and reads back in the policies form before it', async (t) => {
        const { app } = await buildTestApp(t, { dialect })
        for (const policy of ['anti-affinity', 'affinity', 'soft-anti-affinity', 'soft-affinity']) {
          const id = await createNovaGroup(app, policy)
          const old = await nova(app, 'GET', `/os-server-groups/${id}`, { version: '2.15' })
          assert.deepEqual((old.json() as { server_group: { policies: string[] } }).server_group.policies, [policy])
        }
      })

      test('404 for unknown and non-UUID ids on show and delete (OpenStackClient then looks the name up)', async (t) => {
        const { app } = await buildTestApp(t, { dialect })
        for (const id of [crypto.randomUUID(), 'web', 'x'.repeat(64)]) {
          for (const method of ['GET', 'DELETE'] as const) {
            const res = await nova(app, method, `/os-server-groups/${id}`, { version: '2.64' })
            assert.equal(res.statusCode, 404, `${method} ${id}`)
            assert.deepEqual(res.json(), { itemNotFound: { code: 404, message: `Instance group ${id} could not be found.` } })
          }
        }
      })

      test('the group quota is a 403 worded as Nova words it', async (t) => {
        const { app } = await buildTestApp(t, { dialect, quotas: { maxServerGroups: 1 } })
        await createNovaGroup(app, 'affinity')
        const res = await nova(app, 'POST', '/os-server-groups', { version: '2.64', body: { server_group: { name: 'b', policy: 'affinity' } } })
        assert.equal(res.statusCode, 403)
        assert.deepEqual(res.json(), { forbidden: { code: 403, message: 'Quota exceeded, too many server groups.' } })
      })

      test('limit and offset page the list; all_projects counts for admins only', async (t) => {
        const { app, services } = await buildTestApp(t, { dialect })
        const ids: string[] = []
        for (const name of ['a', 'b', 'c', 'd']) ids.push(await createNovaGroup(app, 'affinity', undefined, name))
        const other = await services.identity.createProject('other')
        const foreign = await services.groups.create(other.id, 'theirs', 'affinity')
        const list = async (query: string, admin = false) => {
          const res = await nova(app, 'GET', `/os-server-groups${query}`, { version: '2.64', admin })
          assert.equal(res.statusCode, 200, res.body)
          return (res.json() as { server_groups: Array<{ id: string; project_id: string }> }).server_groups.map((g) => g.id)
        }
        const all = await list('')
        assert.deepEqual(new Set(all), new Set(ids))
        assert.deepEqual(await list('?limit=2'), all.slice(0, 2))
        assert.deepEqual(await list('?limit=2&offset=2'), all.slice(2, 4))
        assert.deepEqual(await list('?offset=3'), all.slice(3))
        assert.deepEqual(await list('?limit=0'), [])
        // Only presence matters; a non-admin gets their own groups, not an error.
        assert.deepEqual(new Set(await list('?all_projects=False')), new Set(ids))
        assert.deepEqual(new Set(await list('?all_projects', true)), new Set([...ids, foreign.id]))
        assert.deepEqual(new Set(await list('', true)), new Set(ids))
        // An admin may show another project's group; a tenant may not see it exists.
        assert.equal((await nova(app, 'GET', `/os-server-groups/${foreign.id}`, { admin: true })).statusCode, 200)
        assert.equal((await nova(app, 'GET', `/os-server-groups/${foreign.id}`)).statusCode, 404)
        for (const bad of ['?limit=-1', '?offset=x', '?limit=1e309']) {
          const res = await nova(app, 'GET', `/os-server-groups${bad}`)
          assert.equal(res.statusCode, 400, bad)
          assert.equal(fault(res).name, 'badRequest')
        }
      })

      test('one store: groups made on either API are seen on the other', async (t) => {
        const { app } = await buildTestApp(t, { dialect })
        const fromV1 = await createGroup(app, 'from-v1')
        const shown = await nova(app, 'GET', `/os-server-groups/${fromV1}`, { version: '2.64' })
        assert.deepEqual((shown.json() as { server_group: unknown }).server_group, {
          id: fromV1, name: 'from-v1', policy: 'anti-affinity', rules: {}, members: [], project_id: DEMO.projectId, user_id: '',
        })
        const fromNova = await createNovaGroup(app, 'anti-affinity', undefined, 'from-nova')
        const v1Show = await call(app, { method: 'GET', url: v1(`/cloudservers/os-server-groups/${fromNova}`) })
        assert.equal(v1Show.statusCode, 200)
        assert.deepEqual((v1Show.json() as { server_group: unknown }).server_group, { id: fromNova, name: 'from-nova', policies: ['anti-affinity'], members: [], metadata: {} })
        // Deleting on one surface deletes on the other.
        assert.equal((await nova(app, 'DELETE', `/os-server-groups/${fromV1}`)).statusCode, 204)
        assert.equal((await call(app, { method: 'GET', url: v1(`/cloudservers/os-server-groups/${fromV1}`) })).statusCode, 404)
      })

      test('a token from Identity v3 works on /v2.1; the group records the user', async (t) => {
        const { app, services } = await buildTestApp(t, { dialect })
        const token = await app.inject({
          method: 'POST', url: '/v3/auth/tokens',
          payload: { auth: { identity: { methods: ['password'], password: { user: { name: DEMO.userName, domain: { name: 'Default' }, password: DEMO.userPassword } } }, scope: { project: { name: DEMO.projectName, domain: { name: 'Default' } } } } },
        })
        assert.equal(token.statusCode, 201, token.body)
        const catalog = (token.json() as { token: { catalog: Array<{ type: string; endpoints: Array<{ url: string; interface: string }> }> } }).token.catalog
        const url = (type: string) => catalog.find((c) => c.type === type)?.endpoints.find((e) => e.interface === 'public')?.url
        assert.equal(url('compute'), `http://localhost:80/v2.1/${DEMO.projectId}`)
        assert.equal(url('image'), 'http://localhost:80/image')
        const res = await app.inject({
          method: 'POST', url: `/v2.1/${DEMO.projectId}/os-server-groups`,
          headers: { 'x-auth-token': String(token.headers['x-subject-token']), 'openstack-api-version': 'compute 2.64', 'content-type': 'application/json' },
          payload: { server_group: { name: 'mine', policy: 'soft-affinity' } },
        })
        assert.equal(res.statusCode, 200, res.body)
        const user = await services.database.db.selectFrom('users').select('id').where('name', '=', DEMO.userName).executeTakeFirstOrThrow()
        assert.equal((res.json() as { server_group: { user_id: string } }).server_group.user_id, user.id)
        // A scope naming another project is refused.
        const wrong = await app.inject({
          method: 'POST', url: '/v3/auth/tokens',
          payload: { auth: { identity: { methods: ['password'], password: { user: { name: DEMO.userName, password: DEMO.userPassword } } }, scope: { project: { name: 'someone-else' } } } },
        })
        assert.equal(wrong.statusCode, 401)
      })
    })
  })
}

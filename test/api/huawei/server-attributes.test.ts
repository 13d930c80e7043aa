import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import type { App } from '../../../src/app.ts'
import { DEMO } from '../../../src/services/demo.ts'
import { AutoTerminator } from '../../../src/services/server-attributes.ts'
import type { Database } from '../../../src/store/database.ts'
import { buildTestApp, call, createBody, createServers, showServer, v1, waitForIdle, waitForJob, DIALECTS } from '../../helper.ts'

const HOUR_MS = 3_600_000
const ADMIN = { accessKey: DEMO.adminAccessKey, secretKey: DEMO.adminSecretKey }

/** `yyyy-MM-ddTHH:mm:ssZ`, `offsetMs` from now. */
function at(offsetMs: number): string {
  return `${new Date(Date.now() + offsetMs).toISOString().slice(0, 19)}Z`
}

/** A JSON answer, read as each assertion needs it. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Body = Record<string, any>

/** Sends a request that must answer `status`; returns its JSON body ({} when empty). */
async function expect(app: App, req: Parameters<typeof call>[1], status: number): Promise<Body> {
  const res = await call(app, req)
  assert.equal(res.statusCode, status, `${req.method} ${req.url} → ${res.statusCode} ${res.body}`)
  return res.body === '' ? {} : (res.json() as Body)
}

/** Sends a request that must be refused with `status` and the Huawei error `code`. */
async function refused(app: App, req: Parameters<typeof call>[1], status: number, code: string): Promise<void> {
  const body = await expect(app, req, status)
  assert.equal(body.error.code, code, `${req.method} ${req.url} → ${JSON.stringify(body)}`)
}

/** Every row a change of this area could touch, to prove that a refusal changed nothing. */
async function attributeState(database: Database) {
  return {
    servers: await database.db.selectFrom('servers').select(['id', 'name', 'metadata', 'updated_at']).orderBy('id').execute(),
    options: await database.db.selectFrom('server_options').selectAll().orderBy('server_id').execute(),
    tags: await database.db.selectFrom('server_tags').selectAll().orderBy('server_id').orderBy('key').execute(),
  }
}

const tagsAction = (id: string, action: string, tags: unknown) => ({ method: 'POST' as const, url: v1(`/cloudservers/${id}/tags/action`), body: { action, tags } })
const byTag = (body: Record<string, unknown>) => ({ method: 'POST' as const, url: v1('/cloudservers/resource_instances/action'), body })

for (const dialect of DIALECTS) {
  describe(`server attributes on ${dialect}`, () => {
    test('tags, names, metadata and settings round-trip: create, change, show, query', async (t) => {
      const { app } = await buildTestApp(t, { dialect })
      const [web] = await createServers(app, {
        name: 'web', description: 'front end', key_name: 'kp', server_tags: [{ key: 'env', value: 'prod' }, { key: 'team' }], tags: ['tier=web', 'owner.alice'],
        metadata_options: { http_tokens: 'required' }, auto_terminate_time: at(2 * HOUR_MS),
      })
      const [db1, db2] = await createServers(app, { name: 'db', count: 2, server_tags: [{ key: 'env', value: 'test' }] })
      const shown = await showServer(app, web!)
      assert.deepEqual(shown.tags, ['env=prod', 'owner=alice', 'team', 'tier=web'])
      assert.equal(shown.description, 'front end')
      assert.equal(shown.key_name, 'kp')
      assert.match(String(shown.auto_terminate_time), /^\d{4}-\d\d-\d\dT\d\d:\d\d:00Z$/)
      assert.deepEqual(await expect(app, { method: 'GET', url: v1(`/cloudservers/${web}/metadata-options`) }, 200), { http_endpoint: 'enabled', http_tokens: 'required' })

      // Tags: create overwrites a key's value and is idempotent; delete by key, or by key and value.
      await expect(app, tagsAction(web!, 'create', [{ key: 'env', value: 'staging' }, { key: 'app', value: 'shop' }]), 204)
      await expect(app, tagsAction(web!, 'create', [{ key: 'app', value: 'shop' }]), 204)
      await expect(app, tagsAction(web!, 'delete', [{ key: 'tier', value: 'not-its-value' }, { key: 'owner' }, { key: 'never-set' }]), 204)
      const tags = [{ key: 'app', value: 'shop' }, { key: 'env', value: 'staging' }, { key: 'team', value: '' }, { key: 'tier', value: 'web' }]
      assert.deepEqual((await expect(app, { method: 'GET', url: v1(`/cloudservers/${web}/tags`) }, 200)).tags, tags)
      assert.deepEqual((await expect(app, { method: 'GET', url: v1('/cloudservers/tags') }, 200)).tags, [
        { key: 'app', values: ['shop'] }, { key: 'env', values: ['staging', 'test'] }, { key: 'team', values: [''] }, { key: 'tier', values: ['web'] },
      ])

      // Servers by tag: every key of `tags` (any of its values), none with all of `not_tags`, name matches.
      const ids = (body: Body) => (body.resources as Array<{ resource_id: string }>).map((r) => r.resource_id).sort()
      assert.deepEqual(ids(await expect(app, byTag({ action: 'filter', tags: [{ key: 'env', values: ['staging', 'test'] }] }), 200)), [web, db1, db2].sort())
      assert.deepEqual(ids(await expect(app, byTag({ action: 'filter', tags: [{ key: 'env', values: [] }], not_tags: [{ key: 'app', values: ['shop'] }] }), 200)), [db1, db2].sort())
      assert.deepEqual(ids(await expect(app, byTag({ action: 'filter', tags: [{ key: 'env', values: ['test'] }], matches: [{ key: 'resource_name', value: 'DB-0002' }] }), 200)), [db2])
      const page = await expect(app, byTag({ action: 'filter', tags: [{ key: 'env', values: [] }], limit: '2', offset: '1' }), 200)
      assert.equal(page.total_count, 3)
      assert.equal(page.resources.length, 2)
      assert.deepEqual(await expect(app, byTag({ action: 'count', tags: [{ key: 'env', values: ['test'] }] }), 200), { total_count: 2 })
      const found = await expect(app, byTag({ action: 'filter', tags: [{ key: 'app', values: ['shop'] }] }), 200)
      assert.deepEqual(found.resources, [{ resource_id: web, resource_detail: '', resource_name: 'web', tags }])

      // updateServer answers the UpdateServerResult; placement is untouched.
      const updated = (await expect(app, {
        method: 'PUT', url: v1(`/cloudservers/${web}`),
        body: { server: { name: 'web.v2', description: 'new', hostname: 'web-2.internal', user_data: 'IyEvYmluL3No', security_options: { secure_boot_enabled: false, tpm_enabled: false } } },
      }, 200)).server
      assert.equal(updated.name, 'web.v2')
      assert.equal(updated.image, shown.image && (shown.image as { id: string }).id)
      assert.deepEqual(updated.flavor, { id: (shown.flavor as { id: string }).id, links: [] })
      assert.equal(updated['OS-EXT-SRV-ATTR:hostname'], 'web-2.internal')
      const after = await showServer(app, web!)
      assert.deepEqual(
        [after.name, after.description, after['OS-EXT-SRV-ATTR:hostname'], after['OS-EXT-SRV-ATTR:user_data'], after['OS-EXT-SRV-ATTR:host']],
        ['web.v2', 'new', 'web-2.internal', 'IyEvYmluL3No', shown['OS-EXT-SRV-ATTR:host']],
      )

      // Batch rename: a dry run only checks; then every server gets the same name.
      await expect(app, { method: 'PUT', url: v1('/cloudservers/server-name'), body: { name: 'renamed', servers: [{ id: db1 }, { id: db2 }], dry_run: true } }, 202)
      assert.equal((await showServer(app, db1!)).name, 'db-0001')
      assert.deepEqual(await expect(app, { method: 'PUT', url: v1('/cloudservers/server-name'), body: { name: 'renamed', servers: [{ id: db1 }, { id: db2 }, { id: db1 }] } }, 200), { response: [{ id: db1 }, { id: db2 }] })
      assert.deepEqual([(await showServer(app, db1!)).name, (await showServer(app, db2!)).name], ['renamed', 'renamed'])

      // Metadata merges; a delete removes one key; the platform's keys stay in the view.
      assert.deepEqual(await expect(app, { method: 'POST', url: v1(`/cloudservers/${web}/metadata`), body: { metadata: { a: '1', b: '2' } } }, 200), { metadata: { a: '1', b: '2' } })
      assert.deepEqual(await expect(app, { method: 'POST', url: v1(`/cloudservers/${web}/metadata`), body: { metadata: { b: '3', c: '' } } }, 200), { metadata: { a: '1', b: '3', c: '' } })
      await expect(app, { method: 'DELETE', url: v1(`/cloudservers/${web}/metadata/a`) }, 204)
      const metadata = (await showServer(app, web!)).metadata as Record<string, string>
      assert.deepEqual([metadata.a, metadata.b, metadata.c, metadata.vpc_id], [undefined, '3', '', 'vpc-1'])

      // Metadata options change one field at a time; the auto-terminate time is set and cancelled.
      await expect(app, { method: 'PUT', url: v1(`/cloudservers/${db1}/metadata-options`), body: { http_endpoint: 'disabled' } }, 200)
      assert.deepEqual(await expect(app, { method: 'GET', url: v1(`/cloudservers/${db1}/metadata-options`) }, 200), { http_endpoint: 'disabled', http_tokens: 'optional' })
      const when = at(5 * HOUR_MS)
      await expect(app, { method: 'POST', url: v1(`/cloudservers/${db1}/actions/update-auto-terminate-time`), body: { auto_terminate_time: when } }, 200)
      assert.equal((await showServer(app, db1!)).auto_terminate_time, `${when.slice(0, 16)}:00Z`)
      await expect(app, { method: 'POST', url: v1(`/cloudservers/${web}/actions/update-auto-terminate-time`), body: { auto_terminate_time: '' } }, 200)
      assert.equal((await showServer(app, web!)).auto_terminate_time, '')
    })
  })
}

describe('server attributes: refusals and the auto-terminate time', () => {
  test('GET /cloudservers/tags answers the project\'s tags, not "server not found"', async (t) => {
    const { app } = await buildTestApp(t)
    assert.deepEqual(await expect(app, { method: 'GET', url: v1('/cloudservers/tags') }, 200), { tags: [] })
  })

  test('refusals answer their codes and change nothing; another project\'s server is unknown', async (t) => {
    const { app, database } = await buildTestApp(t)
    const [id] = await createServers(app, { server_tags: Array.from({ length: 9 }, (_, i) => ({ key: `k${i}`, value: 'v' })) })
    const project = await expect(app, { method: 'POST', url: '/admin/projects', body: { project: { name: 'other' } }, ...ADMIN }, 201)
    const otherProject = project.project.id as string
    const issued = (await expect(app, { method: 'POST', url: `/admin/projects/${otherProject}/credentials`, body: { credential: { description: 'other' } }, ...ADMIN }, 201)).credential
    const other = { accessKey: issued.access as string, secretKey: issued.secret as string, projectId: otherProject }
    const before = await attributeState(database)

    await refused(app, tagsAction(id!, 'create', [{ key: 'x1' }, { key: 'x2' }]), 400, 'Ecs.0905')
    await refused(app, tagsAction(id!, 'create', [{ key: 'bad key', value: 'v' }]), 400, 'Ecs.0906')
    await refused(app, tagsAction(id!, 'create', [{ key: 'k', value: 'a'.repeat(44) }]), 400, 'Ecs.0907')
    await refused(app, tagsAction(id!, 'create', [{ key: 'k', value: '1' }, { key: 'k', value: '2' }]), 400, 'Ecs.0908')
    await refused(app, tagsAction(id!, 'rename', [{ key: 'k' }]), 400, 'Ecs.0005')
    await refused(app, { method: 'POST', url: v1('/cloudservers'), body: createBody({ server_tags: [{ key: 'a' }], tags: ['a=1'] }) }, 400, 'Ecs.0908')
    await refused(app, { method: 'POST', url: v1('/cloudservers'), body: createBody({ tags: Array.from({ length: 11 }, (_, i) => `t${i}`) }) }, 400, 'Ecs.0905')
    await refused(app, { method: 'POST', url: v1('/cloudservers'), body: createBody({ auto_terminate_time: at(HOUR_MS / 4) }) }, 400, 'Ecs.0005')
    for (const server of [{ name: 'a b' }, { description: '<script>' }, { hostname: 'bad-.host' }, { hostname: 'a..b' }, { user_data: 'not base64!' }]) {
      await refused(app, { method: 'PUT', url: v1(`/cloudservers/${id}`), body: { server } }, 400, 'Ecs.0005')
    }
    await refused(app, { method: 'PUT', url: v1('/cloudservers/server-name'), body: { name: 'n', servers: [{ id }, { id: 'missing' }] } }, 404, 'Ecs.0114')
    await refused(app, { method: 'POST', url: v1(`/cloudservers/${id}/metadata`), body: { metadata: { ok: '1', vpc_id: 'mine' } } }, 400, 'Ecs.0005')
    await refused(app, { method: 'POST', url: v1(`/cloudservers/${id}/metadata`), body: { metadata: { 'metering.image_id': 'x' } } }, 400, 'Ecs.0005')
    await refused(app, { method: 'DELETE', url: v1(`/cloudservers/${id}/metadata/never-set`) }, 404, 'Ecs.0005')
    await refused(app, { method: 'PUT', url: v1(`/cloudservers/${id}/metadata-options`), body: { http_tokens: 'sometimes' } }, 400, 'Ecs.0005')
    for (const when of [at(HOUR_MS / 4), at(4 * 366 * 24 * HOUR_MS), '2030-02-30T10:00:00Z', '2030-01-01 10:00:00', 'tomorrow']) {
      await refused(app, { method: 'POST', url: v1(`/cloudservers/${id}/actions/update-auto-terminate-time`), body: { auto_terminate_time: when } }, 400, 'Ecs.0005')
    }
    await refused(app, byTag({ action: 'filter', limit: '1001' }), 400, 'Ecs.0005')
    await refused(app, byTag({ action: 'filter', offset: '-1' }), 400, 'Ecs.0005')

    // Another project's server answers exactly as an unknown one, on every route.
    const asOther = (req: Parameters<typeof call>[1]) => ({ ...req, url: req.url.replace(DEMO.projectId, otherProject), ...other })
    for (const req of [
      { method: 'PUT' as const, url: v1(`/cloudservers/${id}`), body: { server: { name: 'mine' } } },
      { method: 'PUT' as const, url: v1('/cloudservers/server-name'), body: { name: 'mine', servers: [{ id }] } },
      tagsAction(id!, 'delete', [{ key: 'k0' }]),
      { method: 'GET' as const, url: v1(`/cloudservers/${id}/tags`) },
      { method: 'POST' as const, url: v1(`/cloudservers/${id}/metadata`), body: { metadata: { a: '1' } } },
      { method: 'DELETE' as const, url: v1(`/cloudservers/${id}/metadata/a`) },
      { method: 'GET' as const, url: v1(`/cloudservers/${id}/metadata-options`) },
      { method: 'PUT' as const, url: v1(`/cloudservers/${id}/metadata-options`), body: { http_endpoint: 'disabled' } },
      { method: 'POST' as const, url: v1(`/cloudservers/${id}/actions/update-auto-terminate-time`), body: { auto_terminate_time: '' } },
    ]) {
      await refused(app, asOther(req), 404, 'Ecs.0114')
    }
    assert.deepEqual((await expect(app, asOther(byTag({ action: 'count', tags: [{ key: 'k0', values: [] }] })), 200)), { total_count: 0 })
    assert.deepEqual((await expect(app, asOther({ method: 'GET', url: v1('/cloudservers/tags') }), 200)), { tags: [] })

    // Metadata needs the server running or stopped.
    await database.db.updateTable('servers').set({ status: 'ERROR' }).where('id', '=', id!).execute()
    await refused(app, { method: 'POST', url: v1(`/cloudservers/${id}/metadata`), body: { metadata: { a: '1' } } }, 400, 'Ecs.0100')
    await database.db.updateTable('servers').set({ status: 'ACTIVE' }).where('id', '=', id!).execute()

    assert.deepEqual(await attributeState(database), before)
    assert.equal((await database.db.selectFrom('servers').select('id').execute()).length, 1, 'no refused create made a server')
  })

  test('a server is deleted when its auto-terminate time comes, past the recycle bin', async (t) => {
    const { app, services, database } = await buildTestApp(t)
    await expect(app, { method: 'PUT', url: v1('/recycle-bin'), body: { recycle_bin: { switch: 'on' } } }, 200)
    const [due, later] = await createServers(app, { count: 2 })
    // Old enough for the bin: were it not for its auto-terminate time, a delete would bin it.
    await database.db.updateTable('servers').set({ created_at: new Date(Date.now() - 30 * 24 * HOUR_MS).toISOString() }).execute()
    for (const id of [due, later]) {
      await expect(app, { method: 'POST', url: v1(`/cloudservers/${id}/actions/update-auto-terminate-time`), body: { auto_terminate_time: at(HOUR_MS) } }, 200)
    }
    const terminator = new AutoTerminator(database, services.servers)
    assert.equal(await terminator.deleteDue(), 0, 'nothing is due yet')
    // The time has come for one of them (set in the past behind the API's back).
    await database.db.updateTable('server_options').set({ auto_terminate_time: '2020-01-01T00:00:00Z' }).where('server_id', '=', due!).execute()
    assert.equal(await terminator.deleteDue(), 1)
    const job = await database.db.selectFrom('jobs').select('id').where('parent_id', 'is', null).where('type', '=', 'deleteServer').executeTakeFirstOrThrow()
    assert.equal((await waitForJob(app, job.id)).status, 'SUCCESS')
    await waitForIdle(database)
    await refused(app, { method: 'GET', url: v1(`/cloudservers/${due}`) }, 404, 'Ecs.0114')
    assert.deepEqual((await expect(app, { method: 'GET', url: v1('/recycle-bin/cloudservers') }, 200)).servers, [])
    assert.equal((await showServer(app, later!)).status, 'ACTIVE')
    assert.equal(await terminator.deleteDue(), 0, 'a deleted server is not deleted twice')
  })
})

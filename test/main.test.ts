import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import path from 'node:path'
import { test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { tempDir } from './helper.ts'
import { demoPath, httpCall, startEcsd } from './process.ts'

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')

async function ecsd(args: string[], env: Record<string, string> = {}) {
  try {
    const r = await promisify(execFile)(process.execPath, ['--import', 'tsx', 'src/main.ts', ...args], { cwd: ROOT, env: { ...process.env, ...env } })
    return { code: 0, stdout: r.stdout, stderr: r.stderr }
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string }
    return { code: e.code, stdout: e.stdout, stderr: e.stderr }
  }
}

test('the start-up banner prints the endpoint and the demo credentials', async (t) => {
  const server = await startEcsd(tempDir(t))
  t.after(() => server.stop())
  const out = server.stdout()
  assert.match(out, /ecsd listening on http:\/\/127\.0\.0\.1:\d+/)
  assert.match(out, /project id {2}0123456789abcdef0123456789abcdef/)
  assert.match(out, /AK {10}ECSDDEMOAK0000000001/)
  assert.match(out, /SK {10}ecsdDemoSecretKey000000000000000000000001/)
})

test('--no-demo starts an empty control plane: no credentials, nothing to sign with', async (t) => {
  const server = await startEcsd(tempDir(t), ['--no-demo'])
  t.after(() => server.stop())
  assert.doesNotMatch(server.stdout(), /ECSDDEMOAK/)
  const res = await httpCall(server.url, 'GET', demoPath('/cloudservers/flavors'))
  assert.equal(res.status, 401)
})

test('bad flags and settings stop the process with a clear message', async () => {
  const badPort = await ecsd(['serve', '--port', '99999'])
  assert.notEqual(badPort.code, 0)
  assert.match(badPort.stderr, /--port.*not a port/)
  const badEnv = await ecsd(['serve', '--data-dir', '/tmp/never-used-by-ecsd'], { ECSD_DRIVER_LATENCY_MS: 'soon' })
  assert.equal(badEnv.code, 2)
  assert.match(badEnv.stderr, /ECSD_DRIVER_LATENCY_MS must be an integer/)
})

test('migrate creates the schema and exits', async (t) => {
  const dir = tempDir(t)
  const r = await ecsd(['migrate', '--data-dir', dir], { ECSD_LOG_LEVEL: 'silent' })
  assert.equal(r.code, 0, r.stderr)
  const again = await ecsd(['migrate', '--data-dir', dir], { ECSD_LOG_LEVEL: 'silent' })
  assert.equal(again.code, 0, 'idempotent')
})

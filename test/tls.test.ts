import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { availableParallelism, tmpdir, totalmem } from 'node:os'
import path from 'node:path'
import { after, before, describe, test, type TestContext } from 'node:test'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { EcsdClient, EndpointError } from '../src/api/client.ts'
import type { HostBody } from '../src/cli/hosts.ts'
import { DEMO } from '../src/services/demo.ts'
import { generateCertificates, type TestCertificates } from './certificates.ts'
import { tempDir } from './helper.ts'
import { spawnAgent, startAgent } from './agent/agent-process.ts'
import { demoPath, startEcsd, type EcsdProcess } from './process.ts'

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')

/** What a finished `ecsd …` process did. */
interface Run {
  code: number
  stdout: string
  stderr: string
}

/** Runs `ecsd ARGS` to the end with only `env`'s ECSD_* settings (not the developer's). */
async function ecsd(args: string[], env: Record<string, string> = {}): Promise<Run> {
  const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('ECSD_')))
  try {
    const r = await promisify(execFile)(process.execPath, ['--import', 'tsx', 'src/main.ts', ...args], { cwd: ROOT, env: { ...clean, ...env } })
    return { code: 0, stdout: r.stdout, stderr: r.stderr }
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string }
    return { code: e.code, stdout: e.stdout, stderr: e.stderr }
  }
}

/** A failure: nothing on stdout, exactly one line `ecsd: …` on stderr, the exit code. */
function assertOneLineError(run: Run, code: number, message: RegExp): void {
  assert.equal(run.code, code, `exit ${run.code}; stdout:\n${run.stdout}\nstderr:\n${run.stderr}`)
  assert.equal(run.stdout, '')
  const lines = run.stderr.split('\n').filter((l) => l !== '')
  assert.equal(lines.length, 1, `one line, got:\n${run.stderr}`)
  assert.match(lines[0]!, /^ecsd: /)
  assert.match(lines[0]!, message)
}

/** The operator credential of the demo, as `ecsd hosts --endpoint` flags. */
const ADMIN_FLAGS = ['--access-key', DEMO.adminAccessKey, '--secret-key', DEMO.adminSecretKey]

describe('ecsd serve --tls-cert/--tls-key: HTTPS, verified by the clients with --ca', () => {
  let certs: TestCertificates
  let server: EcsdProcess
  const dir = mkdtempSync(path.join(tmpdir(), 'ecsd-tls-'))

  // One CA and one HTTPS server for the suite: starting ecsd is the slow part.
  before(async () => {
    certs = await generateCertificates(dir)
    server = await startEcsd(path.join(dir, 'data'), ['--driver-latency-ms', '0', '--tls-cert', certs.certFile, '--tls-key', certs.keyFile], {}, 120_000)
  })
  after(async () => {
    await server?.stop()
    rmSync(dir, { recursive: true, force: true })
  })

  test('serves HTTPS with the certificate it is given; the banner says https://', () => {
    assert.match(server.url, /^https:\/\/127\.0\.0\.1:\d+$/)
    assert.match(server.stdout(), /^ecsd listening on https:\/\/127\.0\.0\.1:\d+$/m)
    assert.match(server.stdout(), /^ {2}endpoint {4}https:\/\/127\.0\.0\.1:\d+$/m)
  })

  test('the client helper signs over HTTPS with the CA: a tenant gets its answers, an error answer is an EndpointError', async () => {
    const client = new EcsdClient({ endpoint: server.url, credential: DEMO, caFile: certs.caFile })
    try {
      const flavors = await client.request<{ flavors: unknown[] }>('GET', demoPath('/cloudservers/flavors'))
      assert.equal(flavors.status, 200)
      assert.ok((flavors.body?.flavors.length ?? 0) > 0)
      assert.match(flavors.requestId ?? '', /^[0-9a-f]{32}$/)
      // A tenant is no operator: the answer is there, and `call` turns it into an error with the server's words.
      await assert.rejects(client.call('GET', '/admin/hosts'), (err: unknown) => err instanceof EndpointError && err.status === 403 && /admin/i.test(err.message))
    } finally {
      await client.close()
    }
    // The certificate is for localhost too.
    const byName = new EcsdClient({ endpoint: server.url.replace('127.0.0.1', 'localhost'), credential: DEMO, caFile: certs.caFile })
    try {
      assert.equal((await byName.request('GET', demoPath('/cloudservers/flavors'))).status, 200)
    } finally {
      await byName.close()
    }
  })

  test('ecsd hosts list --endpoint https://… --ca ca.pem works, and with ECSD_CA_FILE', async () => {
    const [byFlag, byEnv] = await Promise.all([
      ecsd(['hosts', 'list', '--json', '--endpoint', server.url, '--ca', certs.caFile, ...ADMIN_FLAGS]),
      ecsd(['hosts', 'list'], { ECSD_ENDPOINT: server.url, ECSD_CA_FILE: certs.caFile, ECSD_ACCESS_KEY: DEMO.adminAccessKey, ECSD_SECRET_KEY: DEMO.adminSecretKey }),
    ])
    assert.equal(byFlag.code, 0, byFlag.stderr)
    const { hosts } = JSON.parse(byFlag.stdout) as { hosts: HostBody[] }
    assert.equal(hosts.length, 16, 'the demo fleet')
    assert.equal(byEnv.code, 0, byEnv.stderr)
    assert.match(byEnv.stdout, /^NAME\s+AZ\s+FAULT DOMAIN/)
    assert.match(byEnv.stdout, /^az1-host-01\s/m)
  })

  test('without --ca, or with another CA, the certificate is not trusted: one line, exit 1', async () => {
    const [noCa, wrongCa] = await Promise.all([
      ecsd(['hosts', 'list', '--endpoint', server.url, ...ADMIN_FLAGS]),
      ecsd(['hosts', 'list', '--endpoint', server.url, '--ca', certs.otherCaFile, ...ADMIN_FLAGS]),
    ])
    assertOneLineError(noCa, 1, /^ecsd: cannot reach https:\/\/127\.0\.0\.1:\d+ securely: its certificate is not trusted \(.+\); give the CA that signed it with --ca FILE/)
    assertOneLineError(wrongCa, 1, /its certificate is not trusted \(.+\); it is not signed by a CA in .*other-ca\.pem$/)
  })

  test('plain http:// to the HTTPS server fails with one line that points to https://, exit 1', async () => {
    const plain = await ecsd(['hosts', 'list', '--endpoint', server.url.replace('https:', 'http:'), ...ADMIN_FLAGS])
    assertOneLineError(plain, 1, /^ecsd: cannot reach http:\/\/127\.0\.0\.1:\d+: the connection closed without an answer .*use an https:\/\/ endpoint$/)
  })

  test('https:// to a plain HTTP server fails with one line: it does not speak TLS, exit 1', async (t) => {
    const plainServer = createServer((_req, res) => res.end('{}'))
    await new Promise<void>((resolve) => plainServer.listen(0, '127.0.0.1', resolve))
    t.after(() => plainServer.close())
    const { port } = plainServer.address() as AddressInfo
    const run = await ecsd(['hosts', 'list', '--endpoint', `https://127.0.0.1:${port}`, '--ca', certs.caFile, ...ADMIN_FLAGS])
    assertOneLineError(run, 1, /^ecsd: cannot reach https:\/\/127\.0\.0\.1:\d+: it does not speak TLS; is it an http:\/\/ endpoint\?$/)
  })

  test('a --ca that cannot be used, or given for http://, is a configuration error: one line, exit 2', async (t) => {
    const dir = tempDir(t)
    const [missing, notPem, forHttp, noEndpoint] = await Promise.all([
      ecsd(['hosts', 'list', '--endpoint', server.url, '--ca', path.join(dir, 'absent.pem'), ...ADMIN_FLAGS]),
      ecsd(['hosts', 'list', '--endpoint', server.url, '--ca', certs.keyFile, ...ADMIN_FLAGS]),
      ecsd(['hosts', 'list', '--endpoint', 'http://127.0.0.1:9', '--ca', certs.caFile, ...ADMIN_FLAGS]),
      ecsd(['hosts', 'list', '--data-dir', dir, '--ca', certs.caFile]),
    ])
    assertOneLineError(missing, 2, /^ecsd: --ca \/ ECSD_CA_FILE: cannot read .*absent\.pem \(ENOENT/)
    assertOneLineError(notPem, 2, /^ecsd: --ca \/ ECSD_CA_FILE: .*server\.key is not a PEM certificate/)
    assertOneLineError(forHttp, 2, /^ecsd: --ca \/ ECSD_CA_FILE verifies an https:\/\/ endpoint, but http:\/\/127\.0\.0\.1:9 is plain http:\/\/$/)
    assertOneLineError(noEndpoint, 2, /--ca are for requests to a server: give --endpoint too$/)
  })

  test('an agent works over HTTPS with --ca: it registers (with this machine\'s capacity), heartbeats and carries out a task; without --ca its log says the certificate is not trusted', async () => {
    const added = await ecsd(['hosts', 'add', 'tls-agent', '--az', 'az1', '--vcpus', '8', '--ram-mb', '16384', '--json', '--endpoint', server.url, '--ca', certs.caFile, ...ADMIN_FLAGS])
    assert.equal(added.code, 0, added.stderr)
    const { access_key, secret_key } = JSON.parse(added.stdout) as { access_key: string; secret_key: string }
    const credential = { access_key, secret_key }
    const stateDir = path.join(dir, 'agent')
    const untrusting = spawnAgent({ endpoint: server.url, host: 'tls-agent', credential, stateDir: path.join(dir, 'untrusting') })
    const agent = await startAgent({ endpoint: server.url, host: 'tls-agent', credential, stateDir, extra: ['--ca', certs.caFile, '--machine-capacity'] }, 120_000)
    try {
      const operator = new EcsdClient({ endpoint: server.url, caFile: certs.caFile, credential: { accessKey: DEMO.adminAccessKey, secretKey: DEMO.adminSecretKey } })
      try {
        const { host } = await operator.call<{ host: { agent: string; state: string; vcpus: number; ram_mb: number } }>('GET', '/admin/hosts/tls-agent')
        assert.equal(host.agent, 'agent')
        assert.equal(host.state, 'up')
        assert.deepEqual([host.vcpus, host.ram_mb], [availableParallelism(), Math.floor(totalmem() / (1024 * 1024))], '--machine-capacity: this machine\'s CPUs and memory')
        // A server moved onto the agent's host is rebuilt there: tasks go over HTTPS both ways.
        const tenant = new EcsdClient({ endpoint: server.url, caFile: certs.caFile, credential: { accessKey: DEMO.accessKey, secretKey: DEMO.secretKey, projectId: DEMO.projectId } })
        try {
          const created = await tenant.call<{ job_id: string; serverIds: string[] }>('POST', demoPath('/cloudservers'), {
            server: { name: 'tls', flavorRef: 's6.small.1', imageRef: 'img', vpcid: 'v', nics: [{ subnet_id: 's' }], root_volume: { volumetype: 'SSD' }, availability_zone: 'az1' },
          })
          await jobSucceeds(tenant, created.job_id)
          const id = created.serverIds[0]!
          const { job_id } = await operator.call<{ job_id: string }>('POST', `/admin/servers/${id}/migrate`, { migrate: { live: false, host: 'tls-agent' } })
          await jobSucceeds(tenant, job_id)
          const { console } = await operator.call<{ console: { host: string; data: string } }>('GET', `/admin/servers/${id}/console`)
          assert.equal(console.host, 'tls-agent')
          assert.match(console.data, new RegExp(`ECSD-BOOT server=${id}`))
        } finally {
          await tenant.close()
        }
      } finally {
        await operator.close()
      }
      await waitUntilLogged(untrusting.stderr, /certificate is not trusted/)
      assert.equal(untrusting.child.exitCode, null, 'it keeps trying: an operator may still fix the trust')
    } finally {
      untrusting.child.kill('SIGKILL')
      assert.equal(await agent.stop('SIGTERM'), 0, agent.stderr())
    }
  })

  test('stops cleanly on SIGTERM', async () => {
    assert.equal(await server.stop(), 0, server.stderr())
  })
})

/** Polls the job until it ends; it must end SUCCESS. */
async function jobSucceeds(client: EcsdClient, jobId: string): Promise<void> {
  for (let i = 0; i < 1200; i++) {
    const job = await client.call<{ status: string }>('GET', demoPath(`/jobs/${jobId}`))
    if (job.status === 'SUCCESS') return
    assert.ok(job.status === 'RUNNING' || job.status === 'INIT', `job ${jobId}: ${JSON.stringify(job)}`)
    await new Promise((r) => setTimeout(r, 100))
  }
  assert.fail(`job ${jobId} still running after 1200 polls`)
}

/** Waits (bounded) until a process's log matches. */
async function waitUntilLogged(log: () => string, pattern: RegExp): Promise<void> {
  for (let i = 0; i < 1200 && !pattern.test(log()); i++) await new Promise((r) => setTimeout(r, 100))
  assert.match(log(), pattern)
}

describe('ecsd serve with unusable TLS settings: one line naming the setting, exit 2, nothing served', () => {
  test('only one of the certificate and the key, unreadable files, a wrong key', async (t: TestContext) => {
    const certs = await generateCertificates(tempDir(t, 'ecsd-tls-'))
    const dir = tempDir(t)
    const serve = (args: string[], env: Record<string, string> = {}) => ecsd(['serve', '--port', '0', '--data-dir', dir, '--log-level', 'warn', ...args], env)
    const [certOnly, keyOnlyEnv, absent, directory, notCert, wrongKey] = await Promise.all([
      serve(['--tls-cert', certs.certFile]),
      serve([], { ECSD_TLS_KEY: certs.keyFile }),
      serve(['--tls-cert', path.join(dir, 'absent.pem'), '--tls-key', certs.keyFile]),
      serve(['--tls-cert', certs.certFile, '--tls-key', dir]),
      serve(['--tls-cert', certs.keyFile, '--tls-key', certs.keyFile]),
      // The CA's certificate with the server's key: a pair that does not belong together.
      serve(['--tls-cert', certs.caFile, '--tls-key', certs.keyFile]),
    ])
    assertOneLineError(certOnly, 2, /^ecsd: --tls-cert \/ ECSD_TLS_CERT is set but --tls-key \/ ECSD_TLS_KEY is not/)
    assertOneLineError(keyOnlyEnv, 2, /^ecsd: --tls-key \/ ECSD_TLS_KEY is set but --tls-cert \/ ECSD_TLS_CERT is not/)
    assertOneLineError(absent, 2, /^ecsd: --tls-cert \/ ECSD_TLS_CERT: cannot read .*absent\.pem \(ENOENT/)
    assertOneLineError(directory, 2, /^ecsd: --tls-key \/ ECSD_TLS_KEY: cannot read .* \(EISDIR/)
    assertOneLineError(notCert, 2, /^ecsd: --tls-cert \/ ECSD_TLS_CERT: .*server\.key is not a PEM certificate/)
    assertOneLineError(wrongKey, 2, /^ecsd: --tls-key \/ ECSD_TLS_KEY: .*server\.key is not the private key of the certificate in .*ca\.pem$/)
  })
})

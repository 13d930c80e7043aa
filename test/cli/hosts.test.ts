import assert from 'node:assert/strict'
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { describe, test, type TestContext } from 'node:test'
import type { HostBody, HostDetailBody, PlannedMaintenance } from '../../src/cli/hosts.ts'
import { apiTime } from '../../src/domain/scheduled-event.ts'
import { DEMO } from '../../src/services/demo.ts'
import { createBody, TEST_MASTER_KEY, tempDir } from '../helper.ts'
import { createTestDatabase } from '../postgres.ts'
import { demoPath, httpCall, httpWaitForJob, startEcsd, type EcsdProcess } from '../process.ts'
import { assertOk, assertOneLineError, cliEnv, json, ROOT, type Run } from './cli.ts'

/** A running `ecsd …` CLI process. */
interface Cli {
  child: ChildProcess
  stderr(): string
  exited: Promise<Run>
  /** Resolves once stderr matches `pattern`; rejects if the process exits first. */
  waitForStderr(pattern: RegExp): Promise<void>
}

/** Starts `ecsd ARGS` as `npm run ecsd` does; killed when the test ends if still running. */
function startCli(t: TestContext, args: string[], env: Record<string, string> = {}): Cli {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts', ...args], { cwd: ROOT, env: cliEnv(env), stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  let err = ''
  const watchers: Array<() => void> = []
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()))
  child.stderr!.on('data', (d: Buffer) => {
    err += d.toString()
    for (const w of watchers) w()
  })
  const exited = new Promise<Run>((resolve) => child.once('close', (code, signal) => resolve({ code, signal, stdout: out, stderr: err })))
  t.after(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
  })
  return {
    child,
    stderr: () => err,
    exited,
    waitForStderr(pattern) {
      return new Promise((resolve, reject) => {
        const check = () => {
          if (pattern.test(err)) resolve()
        }
        watchers.push(check)
        check()
        void exited.then((r) => reject(new Error(`ecsd exited (${r.code ?? r.signal}) before its stderr matched ${pattern}:\n${r.stderr}`)))
      })
    },
  }
}

/** Runs `ecsd hosts ARGS` to the end. */
function hosts(t: TestContext, args: string[], env: Record<string, string> = {}): Promise<Run> {
  return startCli(t, ['hosts', ...args], env).exited
}

/** Creates `count` servers of 2 vCPU / 4 GiB in `az` through the API, as the demo tenant; answers their ids. */
async function createServers(server: EcsdProcess, az: string, count: number): Promise<string[]> {
  const res = await httpCall(server.url, 'POST', demoPath('/cloudservers'), createBody({ name: 'cli', availability_zone: az, count }))
  assert.equal(res.status, 200, JSON.stringify(res.body))
  const { job_id, serverIds } = res.body as { job_id: string; serverIds: string[] }
  assert.equal(await httpWaitForJob(server.url, job_id, 300_000), 'SUCCESS')
  return serverIds
}

const byName = (list: HostBody[], name: string) => list.find((h) => h.name === name)

/** Starts a server; waits as long as the machine needs (the suites start several processes at once). */
function startServer(dataDir: string, args: string[], env: Record<string, string> = {}): Promise<EcsdProcess> {
  return startEcsd(dataDir, ['--driver-latency-ms', '0', ...args], env, 300_000)
}

/** Where a suite's commands act, and how its server is set up. */
interface Target {
  /** CLI flags choosing the target. */
  args: string[]
  /** CLI environment. */
  env: Record<string, string>
  /** The database mode stops its server before draining: the CLI alone must move the servers. */
  serverStopsBeforeDrain: boolean
}

/**
 * Every command on one target, in the order an operator would use them: add two hosts, see them,
 * disable and enable, plan maintenance, declare one failed and remove it, be refused, then drain
 * a host that cannot be drained until capacity is added — killing the drain meanwhile — and
 * remove it once empty.
 */
async function everyCommand(t: TestContext, server: EcsdProcess, target: Target): Promise<void> {
  const run = (args: string[], env: Record<string, string> = {}) => hosts(t, [...args, ...target.args], { ...target.env, ...env })
  let serverIds: string[] = []

  await t.test('add prints the host and its agent credential, once; --json gives both', async () => {
    const added = await run(['add', 'cli-a', '--az', 'az9', '--vcpus', '8', '--ram-mb', '16384', '--fault-domain', 'rack-1'])
    assertOk(added)
    assert.match(added.stdout, /^name\s+cli-a$/m)
    assert.match(added.stdout, /^availability zone\s+az9$/m)
    assert.match(added.stdout, /^fault domain\s+rack-1$/m)
    assert.match(added.stdout, /^vCPU\s+0 used \/ 8 capacity \(8 × allocation ratio 1\), 8 free$/m)
    assert.match(added.stdout, /^admin state\s+enabled since \S+$/m)
    assert.match(added.stdout, /shown only now/)
    assert.match(added.stdout, /^ {2}AK {2}\S+$/m)
    assert.match(added.stdout, /^ {2}SK {2}\S+$/m)

    const dedicated = json<{ host: HostDetailBody; access_key: string; secret_key: string }>(
      await run(['add', 'cli-x', '--az', 'az9', '--vcpus', '4', '--ram-mb', '8192', '--dedicated-to', DEMO.projectId, '--json']),
    )
    assert.equal(dedicated.host.name, 'cli-x')
    assert.equal(dedicated.host.dedicated_to, DEMO.projectId)
    assert.equal(dedicated.host.fault_domain, null)
    assert.deepEqual(dedicated.host.capacity, { vcpus: 4, ram_mb: 8192 })
    assert.equal(dedicated.host.state, 'up')
    assert.equal(dedicated.host.admin_state, 'enabled')
    assert.match(dedicated.access_key, /^\S+$/)
    assert.ok(dedicated.secret_key.length >= 20)
  })

  // cli-x is dedicated, so the shared servers of az9 can only go to cli-a.
  serverIds = (await createServers(server, 'az9', 2)).sort()

  await t.test('list shows every host with zone, fault domain, states, used of capacity and servers', async () => {
    const { hosts: list } = json<{ hosts: HostBody[] }>(await run(['list', '--json']))
    assert.ok(byName(list, 'az1-host-01'), 'the demo fleet is listed')
    const a = byName(list, 'cli-a')!
    assert.equal(a.availability_zone, 'az9')
    assert.equal(a.fault_domain, 'rack-1')
    assert.equal(a.state, 'up')
    assert.equal(a.admin_state, 'enabled')
    assert.deepEqual(a.used, { vcpus: 4, ram_mb: 8192 })
    assert.deepEqual(a.capacity, { vcpus: 8, ram_mb: 16384 })
    assert.equal(a.cpu_allocation_ratio, 1)
    assert.equal(a.servers, 2)

    const text = await run(['list'])
    assertOk(text)
    const [header] = text.stdout.split('\n')
    assert.match(header!, /^NAME\s+AZ\s+FAULT DOMAIN\s+STATE\s+ADMIN STATE\s+VCPU USED\/CAP\s+RAM MIB USED\/CAP\s+SERVERS$/)
    assert.match(text.stdout, /^cli-a\s+az9\s+rack-1\s+up\s+enabled\s+4\/8\s+8192\/16384\s+2$/m)
    assert.match(text.stdout, /^cli-x\s+az9\s+-\s+up\s+enabled\s+0\/4\s+0\/8192\s+0$/m)
    // Aligned: every row starts its AZ column where the header does.
    const azColumn = header!.indexOf('AZ')
    for (const row of text.stdout.trimEnd().split('\n').slice(1)) assert.equal(row.slice(azColumn - 2, azColumn), '  ', row)
  })

  await t.test('show gives the fields and the servers', async () => {
    const { host } = json<{ host: HostDetailBody }>(await run(['show', 'cli-a', '--json']))
    assert.deepEqual(host.server_list.map((s) => s.id).sort(), serverIds)
    assert.ok(host.server_list.every((s) => s.status === 'ACTIVE' && s.project_id === DEMO.projectId && s.moving === null))
    assert.equal(host.free_vcpus, 4)

    const text = await run(['show', 'cli-a'])
    assertOk(text)
    assert.match(text.stdout, /^power state\s+up since \S+, last heartbeat \S+$/m)
    assert.match(text.stdout, /^RAM\s+8192 MiB used \/ 16384 MiB capacity \(16384 MiB × allocation ratio 1\), 8192 MiB free$/m)
    assert.match(text.stdout, /^servers\s+2 on it, 0 moving out$/m)
    assert.match(text.stdout, /^SERVER ID\s+NAME\s+PROJECT\s+STATUS\s+TASK\s+VCPU\s+RAM MIB\s+MOVING$/m)
    for (const id of serverIds) assert.match(text.stdout, new RegExp(`^${id}\\s+\\S+\\s+${DEMO.projectId}\\s+ACTIVE\\s+-\\s+2\\s+4096\\s+-$`, 'm'))
  })

  await t.test('disable with a reason, then enable', async () => {
    const disabled = await run(['disable', 'cli-a', '--reason', 'fan replacement'])
    assertOk(disabled)
    assert.equal(disabled.stdout, 'host cli-a: disabled (fan replacement), power up, 2 servers\n')
    const enabled = json<{ host: HostDetailBody }>(await run(['enable', 'cli-a', '--json']))
    assert.equal(enabled.host.admin_state, 'enabled')
    assert.equal(enabled.host.admin_reason, null)
    assert.equal(enabled.host.schedulable, true)
  })

  await t.test('maintenance plans a window; fail declares a host dead; remove takes an empty host away', async () => {
    // Whole hours ahead: the window is stored to the second, and must not start in the past.
    const hour = 3600_000
    const notBefore = new Date(Math.ceil(Date.now() / hour) * hour + hour)
    const deadline = new Date(notBefore.getTime() + 2 * hour)
    const planned = json<PlannedMaintenance>(await run(['maintenance', 'cli-x', '--not-before', notBefore.toISOString(), '--deadline', deadline.toISOString(), '--json']))
    assert.equal(planned.maintenance.not_before, apiTime(notBefore))
    assert.equal(planned.maintenance.deadline, apiTime(deadline))
    assert.equal(planned.maintenance.events, 0)
    assert.equal(planned.host.admin_state, 'maintenance')
    assert.ok(planned.host.admin_reason?.startsWith(`maintenance window ${apiTime(notBefore)} to ${apiTime(deadline)}`), planned.host.admin_reason ?? 'no reason')
    assert.equal(planned.host.schedulable, false)
    // The same window again changes nothing. A server's monitor may meanwhile have closed the
    // window, which has no servers to move ("… ended: 0 completed, …").
    const again = await run(['maintenance', 'cli-x', '--not-before', notBefore.toISOString(), '--deadline', deadline.toISOString()])
    assertOk(again)
    const [state, window] = again.stdout.split('\n')
    assert.ok(state!.startsWith(`host cli-x: maintenance (${planned.host.admin_reason}`), state)
    assert.match(state!, /\), power up, 0 servers$/)
    assert.equal(window, `maintenance window ${apiTime(notBefore)} to ${apiTime(deadline)}: 0 scheduled events (0 new)`)

    const failed = await run(['fail', 'cli-x'])
    assertOk(failed)
    assert.match(failed.stdout, /^host cli-x: maintenance \(maintenance window .*\), power down, 0 servers\n$/)
    const removed = await run(['remove', 'cli-x'])
    assertOk(removed)
    assert.equal(removed.stdout, 'host cli-x removed\n')
  })

  await t.test('refusals: one line, exit 1', async () => {
    const [unknown, notEmpty, exists] = await Promise.all([
      run(['show', 'cli-x']),
      run(['remove', 'cli-a']),
      run(['add', 'cli-a', '--az', 'az9', '--vcpus', '1', '--ram-mb', '1']),
    ])
    assertOneLineError(unknown, 1, /^ecsd: Host cli-x does not exist/)
    assertOneLineError(notEmpty, 1, /^ecsd: Host cli-a is not empty: servers are on it/)
    assertOneLineError(exists, 1, /^ecsd: Host cli-a already exists/)
  })

  if (target.serverStopsBeforeDrain) await server.stop()

  await t.test('a drain that cannot finish is killed; its state stays in the database', async () => {
    const drain = startCli(t, ['hosts', 'drain', 'cli-a', ...target.args], target.env)
    // Nothing in az9 can take cli-a's servers. On the database the CLI tries the moves itself
    // and says why they wait; against a server it shows the progress the server makes.
    await drain.waitForStderr(target.serverStopsBeforeDrain ? /waiting: server \S+ cannot move off cli-a yet: .*\n/ : /drain cli-a: 0\/2 servers moved off, 0 moving, 2 to go\n/)
    drain.child.kill('SIGKILL')
    const killed = await drain.exited
    assert.equal(killed.signal, 'SIGKILL')
    assert.match(killed.stderr, /^drain cli-a: 0\/2 servers moved off, 0 moving, 2 to go/)
    const { host } = json<{ host: HostDetailBody }>(await run(['show', 'cli-a', '--json']))
    assert.equal(host.admin_state, 'maintenance')
    assert.equal(host.admin_reason, 'drain')
    assert.equal(host.servers, 2)
  })

  await t.test('with capacity added, drain again: it resumes, shows progress, ends drained', async () => {
    assertOk(await run(['add', 'cli-b', '--az', 'az9', '--vcpus', '8', '--ram-mb', '16384', '--fault-domain', 'rack-2']))
    const drained = await run(['drain', 'cli-a'])
    assertOk(drained)
    assert.equal(drained.stdout, 'host cli-a: maintenance (drained), power up, 0 servers\n')
    const progress = drained.stderr.trimEnd().split('\n')
    assert.match(progress.at(-1)!, /^drain cli-a: done, (\d)\/\1 servers moved off$/)
    if (target.serverStopsBeforeDrain) {
      // Nothing else moves them: the command did, from the first line to the last.
      assert.equal(progress[0], 'drain cli-a: 0/2 servers moved off, 0 moving, 2 to go')
      assert.equal(progress.at(-1), 'drain cli-a: done, 2/2 servers moved off')
    }
    const { host } = json<{ host: HostDetailBody }>(await run(['show', 'cli-b', '--json']))
    assert.deepEqual(host.server_list.map((s) => s.id).sort(), serverIds)
    assert.ok(host.server_list.every((s) => s.status === 'ACTIVE'), JSON.stringify(host.server_list))
  })

  await t.test('remove takes the drained host away', async () => {
    assert.deepEqual(json(await run(['remove', 'cli-a', '--json'])), { removed: 'cli-a' })
  })
}

// The suites are independent (each its own database and server): run some at once.
describe('ecsd hosts', { concurrency: 3 }, () => {
  test('every command on the SQLite database directly, the last ones with no server running', async (t) => {
    const dir = tempDir(t)
    const server = await startServer(dir, [])
    t.after(() => server.stop())
    await everyCommand(t, server, { args: ['--data-dir', dir], env: {}, serverStopsBeforeDrain: true })
  })

  test('every command against a running server, signed with an admin credential', async (t) => {
    const server = await startServer(tempDir(t), [], { ECSD_JOB_SWEEP_MS: '100' })
    t.after(() => server.stop())
    const env = { ECSD_ENDPOINT: server.url, ECSD_ACCESS_KEY: DEMO.adminAccessKey, ECSD_SECRET_KEY: DEMO.adminSecretKey }
    await everyCommand(t, server, { args: [], env, serverStopsBeforeDrain: false })

    await t.test('flags instead of the environment; a tenant\'s credential, a wrong secret, no server: one line, exit 1', async () => {
      const [flags, tenant, wrongSecret, unreachable] = await Promise.all([
        hosts(t, ['list', '--json', '--endpoint', server.url, '--access-key', DEMO.adminAccessKey, '--secret-key', DEMO.adminSecretKey]),
        hosts(t, ['list'], { ...env, ECSD_ACCESS_KEY: DEMO.accessKey, ECSD_SECRET_KEY: DEMO.secretKey }),
        hosts(t, ['list'], { ...env, ECSD_SECRET_KEY: 'not-the-secret' }),
        hosts(t, ['list', '--endpoint', 'http://127.0.0.1:9'], env),
      ])
      assert.equal(byName(json<{ hosts: HostBody[] }>(flags).hosts, 'cli-b')?.servers, 2)
      assertOneLineError(tenant, 1, /admin/)
      assertOneLineError(wrongSecret, 1, /signature/i)
      assertOneLineError(unreachable, 1, /^ecsd: cannot reach http:\/\/127\.0\.0\.1:9: /)
    })
  })

  test('bad usage and configuration: one line naming the flag, exit 2', async (t) => {
    const dir = tempDir(t)
    const [badVcpus, badName, badTime, unknownOption, missing, noCredential, both, notUrl] = await Promise.all([
      hosts(t, ['add', 'h', '--az', 'az9', '--vcpus', 'many', '--ram-mb', '1024', '--data-dir', dir]),
      hosts(t, ['add', 'a/b', '--az', 'az9', '--vcpus', '1', '--ram-mb', '1024', '--data-dir', dir]),
      hosts(t, ['maintenance', 'h', '--not-before', 'tomorrow', '--data-dir', dir]),
      hosts(t, ['list', '--colour', '--data-dir', dir]),
      hosts(t, ['add', 'h', '--vcpus', '1', '--ram-mb', '1024', '--data-dir', dir]),
      hosts(t, ['list', '--endpoint', 'http://127.0.0.1:9']),
      hosts(t, ['list', '--endpoint', 'http://127.0.0.1:9', '--data-dir', dir], { ECSD_ACCESS_KEY: 'AK', ECSD_SECRET_KEY: 'SK' }),
      hosts(t, ['list'], { ECSD_ENDPOINT: 'ftp://example.com', ECSD_ACCESS_KEY: 'AK', ECSD_SECRET_KEY: 'SK' }),
    ])
    assertOneLineError(badVcpus, 2, /--vcpus.*'many' is invalid.*not an integer from 1 to 100000 \(see ecsd hosts add --help\)$/)
    assertOneLineError(badName, 2, /'a\/b' is invalid.*a host name is/)
    assertOneLineError(badTime, 2, /--not-before.*not an ISO 8601 time with a zone/)
    assertOneLineError(unknownOption, 2, /unknown option '--colour'/)
    assertOneLineError(missing, 2, /required option '--az <az>' not specified/)
    assertOneLineError(noCredential, 2, /^ecsd: --endpoint needs an admin credential/)
    assertOneLineError(both, 2, /not both/)
    assertOneLineError(notUrl, 2, /must be an http:\/\/ or https:\/\/ URL, got "ftp:\/\/example\.com"/)
  })

  test('on PostgreSQL directly: add, drain with no server running, show, remove', async (t) => {
    const url = await createTestDatabase(t)
    const env = { ECSD_MASTER_KEY: TEST_MASTER_KEY.toString('hex') }
    const server = await startServer(tempDir(t), ['--database', url], env)
    t.after(() => server.stop())
    const run = (args: string[]) => hosts(t, [...args, '--database', url], env)

    assertOk(await run(['add', 'pg-a', '--az', 'az7', '--vcpus', '4', '--ram-mb', '8192']))
    const serverIds = await createServers(server, 'az7', 1)
    const added = json<{ host: HostDetailBody }>(await run(['add', 'pg-b', '--az', 'az7', '--vcpus', '4', '--ram-mb', '8192', '--fault-domain', 'rack-9', '--json']))
    assert.equal(added.host.fault_domain, 'rack-9')
    await server.stop()

    const drained = json<{ host: HostDetailBody }>(await run(['drain', 'pg-a', '--json']))
    assert.equal(drained.host.admin_reason, 'drained')
    assert.equal(drained.host.servers, 0)
    const { host } = json<{ host: HostDetailBody }>(await run(['show', 'pg-b', '--json']))
    assert.deepEqual(host.server_list.map((s) => s.id), serverIds)
    assert.deepEqual(json(await run(['remove', 'pg-a', '--json'])), { removed: 'pg-a' })
  })

  // script(1) gives the CLI a pseudo-terminal; it is in bsdutils, which every Debian system has.
  test('on a terminal, drain draws a progress bar in place; --no-wait returns at once', async (t) => {
    const dir = tempDir(t)
    assertOk(await hosts(t, ['add', 'tty-a', '--az', 'az1', '--vcpus', '2', '--ram-mb', '2048', '--data-dir', dir]))
    const started = await hosts(t, ['drain', 'tty-a', '--no-wait', '--data-dir', dir])
    assertOk(started)
    assert.equal(started.stdout, 'host tty-a: maintenance (drain), power up, 0 servers\n')
    assert.equal(started.stderr, '')

    const command = [process.execPath, '--import', 'tsx', 'src/main.ts', 'hosts', 'drain', 'tty-a', '--data-dir', dir].map((a) => `'${a}'`).join(' ')
    const tty = spawnSync('script', ['-qec', command, '/dev/null'], { cwd: ROOT, env: cliEnv({}), encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })
    assert.equal(tty.status, 0, tty.stdout + tty.stderr)
    assert.match(tty.stdout, /\r\[#{30}\] 100% drain tty-a: done, 0\/0 servers moved off\x1b\[K/)
    assert.match(tty.stdout, /host tty-a: maintenance \(drained\), power up, 0 servers/)
  })
})

/**
 * Host agents for real: a real `ecsd serve` and two real `ecsd agent` processes on the fake
 * hypervisor (its VMs are files in each agent's state dir, its serial logs print a boot marker),
 * driven through the tenant and operator APIs. The demo's simulated hosts are disabled first, so
 * every server lands on an agent's host. In order: the hosts and their credentials; a group
 * booting one VM per agent; stop, start, reboot; a cold move whose disk crosses between the
 * agents' disk servers under its token; a live move; the serial console; a task not run twice when its agent is
 * killed mid-task (interrupted: run again) or after it finished but before the control plane,
 * itself killed, heard of it (answered from the record); reconciliation after a restart; delete;
 * fencing of a failed host whose servers were evacuated; the audit.
 *
 * Nothing waits for a time: steps that must happen "in the middle" are held by the fake
 * hypervisor (a file `holds/<step>` in the agent's state dir) until the test releases them, and
 * every wait is on a condition, bounded.
 */
import assert from 'node:assert/strict'
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { after, before, describe, test } from 'node:test'
import { bootMarker, FakeHypervisor } from '../../src/agent/fake-hypervisor.ts'
import type { TaskRecord } from '../../src/agent/task-records.ts'
import { EcsdClient } from '../../src/api/client.ts'
import { DEMO } from '../../src/services/demo.ts'
import { Database } from '../../src/store/database.ts'
import { demoPath, httpCall, httpWaitForJob, startEcsd, type EcsdProcess } from '../process.ts'
import { ecsdCli, spawnAgent, startAgent, type AgentProcess, type HostCredential } from './agent-process.ts'

/** The zone of the agents' hosts. */
const ZONE = 'az1'
const HOSTS = ['agent-a', 'agent-b'] as const
type HostName = (typeof HOSTS)[number]
/** What each VM really gets: less than the flavor's 1024 MiB, which the control plane accounts. */
const VM_RAM_CAP_MB = 128
/** Every wait of this test ends within this, or fails. */
const WAIT_MS = 30_000

/**
 * The control plane's settings for these tests: no simulated latency; jobs of a killed process
 * taken over quickly; hosts declared down only by operators (`fail`), never because a heartbeat
 * was late on a slow machine.
 */
const ECSD_ARGS = ['--driver-latency-ms', '0']
const ECSD_ENV = { ECSD_JOB_LEASE_MS: '2000', ECSD_JOB_SWEEP_MS: '100', ECSD_HOST_DOWN_AFTER_S: '3600' }

interface ServerWire {
  id: string
  status: string
  'OS-EXT-SRV-ATTR:host': string
}

interface HostWire {
  name: string
  state: string
  agent: string
  schedulable: boolean
  used: { vcpus: number; ram_mb: number }
}

/** Waits until `probe` answers something other than undefined/false; fails after `WAIT_MS` saying `what`. */
async function waitFor<T>(what: string, probe: () => Promise<T | undefined | false> | T | undefined | false, timeoutMs = WAIT_MS): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const value = await probe()
    if (value !== undefined && value !== false) return value
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for: ${what}`)
    await new Promise((r) => setTimeout(r, 50))
  }
}

describe('host agents on the fake hypervisor, as real processes', () => {
  const root = mkdtempSync(path.join(tmpdir(), 'ecsd-agents-'))
  const dataDir = path.join(root, 'data')
  let ecsd: EcsdProcess
  let port = 0
  let operator: EcsdClient
  const credentials = new Map<HostName, HostCredential>()
  const agents = new Map<HostName, AgentProcess>()
  const stateDirs = new Map<HostName, string>(HOSTS.map((h) => [h, path.join(root, h)]))

  const stateDir = (host: HostName) => stateDirs.get(host)!
  const fake = (host: HostName) => new FakeHypervisor({ dir: stateDir(host) })
  const other = (host: string): HostName => (host === 'agent-a' ? 'agent-b' : 'agent-a')
  const asHost = (name: string): HostName => {
    assert.ok((HOSTS as readonly string[]).includes(name), `${name} is an agent's host`)
    return name as HostName
  }

  // ---- the fake hypervisor's files ------------------------------------------------------------
  const vm = (host: HostName, id: string) => fake(host).record(id)
  const boots = (host: HostName, id: string) => {
    const file = fake(host).consoleFile(id)
    return existsSync(file) ? readFileSync(file, 'utf8').split('\n').filter((l) => l === bootMarker(id)).length : 0
  }
  const consoleOf = (host: HostName, id: string) => readFileSync(fake(host).consoleFile(id), 'utf8')
  const disk = (host: HostName, id: string) => readFileSync(fake(host).diskFile(id), 'utf8')
  const journal = (host: HostName, step: string, id: string) => {
    const file = path.join(stateDir(host), 'journal.log')
    return existsSync(file) ? readFileSync(file, 'utf8').split('\n').filter((l) => l.endsWith(` ${step} ${id}`)).length : 0
  }
  const hold = (host: HostName, step: string) => writeFileSync(path.join(stateDir(host), 'holds', step), '')
  const release = (host: HostName, step: string) => {
    rmSync(path.join(stateDir(host), 'holds', step), { force: true })
    rmSync(path.join(stateDir(host), 'holds', `${step}.waiting`), { force: true })
  }
  const held = (host: HostName, step: string) => existsSync(path.join(stateDir(host), 'holds', `${step}.waiting`))
  const taskRecords = (host: HostName): TaskRecord[] => {
    const dir = path.join(stateDir(host), 'tasks')
    return readdirSync(dir).filter((n) => n.endsWith('.json')).map((n) => JSON.parse(readFileSync(path.join(dir, n), 'utf8')) as TaskRecord)
  }

  // ---- the control plane ----------------------------------------------------------------------
  const admin = async <T>(method: string, pathAndQuery: string, body?: unknown): Promise<T> => operator.call<T>(method, pathAndQuery, body)
  const hostView = async (name: string) => (await admin<{ host: HostWire }>('GET', `/admin/hosts/${name}`)).host
  const show = async (id: string): Promise<ServerWire> => {
    const res = await httpCall(ecsd.url, 'GET', demoPath(`/cloudservers/${id}`))
    assert.equal(res.status, 200, JSON.stringify(res.body))
    return (res.body as { server: ServerWire }).server
  }
  const hostOf = async (id: string) => asHost((await show(id))['OS-EXT-SRV-ATTR:host'])
  const jobDone = async (jobId: string, what: string) => {
    assert.equal(await httpWaitForJob(ecsd.url, jobId, WAIT_MS), 'SUCCESS', what)
  }
  const action = async (body: unknown): Promise<string> => {
    const res = await httpCall(ecsd.url, 'POST', demoPath('/cloudservers/action'), body)
    assert.equal(res.status, 200, JSON.stringify(res.body))
    return (res.body as { job_id: string }).job_id
  }
  const createServers = async (count: number, group?: string): Promise<string[]> => {
    const res = await httpCall(ecsd.url, 'POST', demoPath('/cloudservers'), {
      server: {
        name: 'vm', flavorRef: 's6.small.1', imageRef: 'demo-busybox', vpcid: 'v', nics: [{ subnet_id: 's' }], root_volume: { volumetype: 'SSD' },
        count, availability_zone: ZONE, ...(group === undefined ? {} : { 'os:scheduler_hints': { group } }),
      },
    })
    assert.equal(res.status, 200, JSON.stringify(res.body))
    const { job_id, serverIds } = res.body as { job_id: string; serverIds: string[] }
    await jobDone(job_id, `create ${count}`)
    return serverIds
  }
  const migrate = async (id: string, live: boolean): Promise<string> =>
    (await admin<{ job_id: string }>('POST', `/admin/servers/${id}/migrate`, { migrate: { live } })).job_id
  const startEcsdHere = () => startEcsd(dataDir, [...ECSD_ARGS, ...(port === 0 ? [] : ['--port', String(port)])], ECSD_ENV)
  const startAgentOf = async (host: HostName) => {
    const agent = await startAgent({ endpoint: ecsd.url, host, credential: credentials.get(host)!, stateDir: stateDir(host), extra: ['--max-vm-ram-mb', String(VM_RAM_CAP_MB)] })
    agents.set(host, agent)
    return agent
  }
  const kill9 = async (host: HostName) => {
    assert.equal(await agents.get(host)!.stop('SIGKILL'), 'SIGKILL')
  }

  before(async () => {
    ecsd = await startEcsdHere()
    port = Number(new URL(ecsd.url).port)
    operator = new EcsdClient({ endpoint: ecsd.url, credential: { accessKey: DEMO.adminAccessKey, secretKey: DEMO.adminSecretKey, projectId: DEMO.projectId } })
  })

  after(async () => {
    for (const agent of agents.values()) await agent.stop('SIGKILL')
    await ecsd?.stop('SIGKILL')
    await operator?.close()
    rmSync(root, { recursive: true, force: true })
  })

  /** The steps share state and run in order: once one fails, the rest are skipped, not failed in confusing ways. */
  let failed: string | undefined
  const step = (name: string, fn: () => Promise<void>) =>
    test(name, async (t) => {
      if (failed !== undefined) {
        t.skip(`skipped: earlier step "${failed}" failed`)
        return
      }
      try {
        await fn()
      } catch (err) {
        failed = name
        if (err instanceof Error) {
          for (const [host, agent] of agents) err.message += `\n--- ${host} log (tail) ---\n${agent.stderr().split('\n').slice(-25).join('\n')}`
          err.message += `\n--- ecsd stderr ---\n${ecsd.stderr().slice(-4000)}`
        }
        throw err
      }
    })

  // The servers the steps share.
  let members: string[] = []
  let mover = ''

  step('hosts are added with `ecsd hosts add --json` (access_key, secret_key), the simulated ones disabled, and two agents start', async () => {
    for (const host of HOSTS) {
      const added = await ecsdCli(['hosts', 'add', host, '--az', ZONE, '--vcpus', '8', '--ram-mb', '16384', '--json', '--endpoint', ecsd.url], {
        ECSD_ACCESS_KEY: DEMO.adminAccessKey, ECSD_SECRET_KEY: DEMO.adminSecretKey,
      })
      assert.equal(added.code, 0, added.stderr)
      const body = JSON.parse(added.stdout) as { host: { name: string }; access_key: string; secret_key: string }
      assert.equal(body.host.name, host)
      assert.match(body.access_key, /^\S+$/)
      assert.ok(body.secret_key.length >= 20)
      credentials.set(host, { access_key: body.access_key, secret_key: body.secret_key })
    }
    const { hosts } = await admin<{ hosts: HostWire[] }>('GET', '/admin/hosts')
    for (const h of hosts.filter((h) => !(HOSTS as readonly string[]).includes(h.name))) {
      await admin('POST', `/admin/hosts/${h.name}/action`, { disable: { reason: 'the agent tests use only agents\' hosts' } })
    }
    await Promise.all(HOSTS.map((h) => startAgentOf(h)))
    for (const h of HOSTS) {
      const view = await hostView(h)
      assert.equal(view.agent, 'agent', `${h} is an agent's host now`)
      assert.equal(view.state, 'up')
      assert.equal(view.schedulable, true)
    }
  })

  step('a host credential is its own host\'s agent and nothing else: not another host\'s (403), not an operator, not a tenant', async () => {
    const { access_key: accessKey, secret_key: secretKey } = credentials.get('agent-a')!
    const asAgentA = new EcsdClient({ endpoint: ecsd.url, credential: { accessKey, secretKey } })
    try {
      assert.equal((await asAgentA.request('POST', '/agent/v1/hosts/agent-a/heartbeat', {})).status, 200)
      assert.equal((await asAgentA.request('POST', '/agent/v1/hosts/agent-b/heartbeat', {})).status, 403)
      assert.equal((await asAgentA.request('GET', '/agent/v1/hosts/agent-b/tasks?session=intruder-session&wait=0')).status, 403)
      assert.equal((await asAgentA.request('GET', '/agent/v1/hosts/agent-b/servers')).status, 403)
      assert.equal((await asAgentA.request('GET', '/admin/hosts')).status, 403)
      assert.equal((await asAgentA.request('POST', '/admin/hosts/agent-b/action', { fail: {} })).status, 403)
    } finally {
      await asAgentA.close()
    }
    const asTenant = new EcsdClient({ endpoint: ecsd.url, credential: { accessKey, secretKey, projectId: DEMO.projectId } })
    try {
      const tenant = await asTenant.request('GET', demoPath('/cloudservers/detail'))
      assert.ok(tenant.status === 401 || tenant.status === 403, `a host credential is no tenant's: ${tenant.status}`)
    } finally {
      await asTenant.close()
    }
    // An agent started for another host with this credential is refused at registration, and says so.
    const intruder = spawnAgent({ endpoint: ecsd.url, host: 'agent-b', credential: credentials.get('agent-a')!, stateDir: path.join(root, 'intruder') })
    assert.equal(await intruder.exited, 1, intruder.stderr())
    assert.match(intruder.stderr(), /^ecsd: the control plane refused to register host agent-b: .*403/m)
    assert.equal((await hostView('agent-b')).state, 'up', 'nothing happened to agent-b')
  })

  step('a group of two boots one VM on each agent: in its state dir, booted, with the capped memory', async () => {
    const group = await httpCall(ecsd.url, 'POST', demoPath('/cloudservers/os-server-groups'), { server_group: { name: 'web', policies: ['anti-affinity'] } })
    const groupId = (group.body as { server_group: { id: string } }).server_group.id
    members = await createServers(2, groupId)
    const placed = await Promise.all(members.map(hostOf))
    assert.deepEqual([...placed].sort(), [...HOSTS], 'one member on each agent\'s host')
    for (const [i, id] of members.entries()) {
      const host = placed[i]!
      assert.equal((await show(id)).status, 'ACTIVE')
      const record = await vm(host, id)
      assert.ok(record, `the VM of ${id} is in ${host}'s state dir`)
      assert.equal(record.running, true)
      assert.equal(record.vcpus, 1)
      assert.equal(record.ramMb, VM_RAM_CAP_MB, '--max-vm-ram-mb caps what the VM gets')
      assert.equal(boots(host, id), 1, 'its serial log shows one boot')
      assert.equal(await vm(other(host), id), undefined, 'and nothing of it on the other host')
      assert.equal((await hostView(host)).used.ram_mb, 1024, 'the control plane accounts the flavor\'s memory')
    }
  })

  step('stop, start and reboot drive the hypervisor', async () => {
    const id = members[0]!
    const host = await hostOf(id)
    await jobDone(await action({ 'os-stop': { servers: [{ id }] } }), 'stop')
    assert.equal((await show(id)).status, 'SHUTOFF')
    assert.equal((await vm(host, id))?.running, false)
    assert.match(consoleOf(host, id), new RegExp(`ECSD-STOP server=${id}`))
    await jobDone(await action({ 'os-start': { servers: [{ id }] } }), 'start')
    assert.equal((await vm(host, id))?.running, true)
    assert.equal(boots(host, id), 2)
    await jobDone(await action({ reboot: { type: 'SOFT', servers: [{ id }] } }), 'reboot')
    assert.equal(boots(host, id), 3)
    assert.equal((await show(id)).status, 'ACTIVE')
  })

  step('a cold move sends the disk from agent to agent, only to the holder of the send-disk token', async () => {
    mover = (await createServers(1))[0]!
    const source = await hostOf(mover)
    const target = other(source)
    const before = disk(source, mover)
    // Held after the download, before the target adopts the disk: the source's grant is still there.
    hold(target, 'adopt')
    const job = await migrate(mover, false)
    await waitFor('the target to hold the adoption of the disk', () => held(target, 'adopt'))
    const grant = JSON.parse(readFileSync(path.join(stateDir(source), 'grants', `${mover}.json`), 'utf8')) as { token: string }
    const url = `http://${agents.get(source)!.address}/disks/${mover}`
    assert.equal((await fetch(url)).status, 403, 'no token')
    assert.equal((await fetch(url, { headers: { 'x-ecsd-disk-token': 'not-the-token' } })).status, 403, 'a wrong token')
    assert.equal((await fetch(`http://${agents.get(source)!.address}/disks/${members[0]}`, { headers: { 'x-ecsd-disk-token': grant.token } })).status, 403, 'the token of another server\'s disk')
    const byHeader = await fetch(url, { headers: { 'x-ecsd-disk-token': grant.token } })
    assert.equal(byHeader.status, 200)
    assert.equal(await byHeader.text(), before)
    const byQuery = await fetch(`${url}?token=${grant.token}`)
    assert.equal(byQuery.status, 200)
    assert.equal(await byQuery.text(), before)
    assert.equal((await vm(source, mover))?.running, false, 'the source stopped the VM before sending its disk')
    // The source agent restarts in the middle of the move: its reconciliation leaves the server
    // alone (it is the move's), and the grant outlives the process.
    await kill9(source)
    await startAgentOf(source)
    assert.ok(await vm(source, mover), 'the source\'s copy survived the reconciliation')
    const again = await fetch(`http://${agents.get(source)!.address}/disks/${mover}`, { headers: { 'x-ecsd-disk-token': grant.token } })
    assert.equal(again.status, 200, 'the restarted agent serves the disk under the same token')
    assert.equal(await again.text(), before)
    release(target, 'adopt')
    await jobDone(job, 'cold migration')

    assert.equal(await hostOf(mover), target)
    assert.equal((await show(mover)).status, 'ACTIVE', 'it ran before, so it runs after')
    assert.equal(disk(target, mover), before, 'the very disk travelled (its nonce with it)')
    assert.equal((await vm(target, mover))?.running, true)
    assert.equal(boots(target, mover), 1, 'booted on the target')
    assert.equal(await vm(source, mover), undefined, 'the source let go of its copy')
    assert.equal(existsSync(path.join(stateDir(source), 'grants', `${mover}.json`)), false, 'and of its grant')
    assert.equal((await fetch(`http://${agents.get(source)!.address}/disks/${mover}`, { headers: { 'x-ecsd-disk-token': grant.token } })).status, 403, 'the token is worth nothing now')
  })

  step('a live move migrates the running VM: the guest keeps running, its disk and serial log go with it', async () => {
    const source = await hostOf(mover)
    const target = other(source)
    const diskBefore = disk(source, mover)
    const consoleBefore = consoleOf(source, mover)
    await jobDone(await migrate(mover, true), 'live migration')
    assert.equal(await hostOf(mover), target)
    assert.equal((await show(mover)).status, 'ACTIVE')
    assert.equal((await vm(target, mover))?.running, true)
    assert.equal(disk(target, mover), diskBefore)
    assert.ok(consoleOf(target, mover).startsWith(consoleBefore), 'the serial log goes on where it was')
    assert.match(consoleOf(target, mover), new RegExp(`ECSD-MIGRATED server=${mover}`))
    assert.equal(boots(target, mover), 1, 'no reboot: still the one boot of the cold move')
    assert.equal(await vm(source, mover), undefined, 'the source released it')
  })

  step('the serial console is read through the agent: the admin endpoint and `ecsd hosts console`, whole or from an offset; no task is left behind', async () => {
    const host = await hostOf(mover)
    const expected = consoleOf(host, mover)
    const read = async (offset: number) =>
      (await admin<{ console: { server_id: string; host: string; offset: number; next_offset: number; data: string; simulated: boolean } }>('GET', `/admin/servers/${mover}/console?offset=${offset}`)).console
    const whole = await read(0)
    assert.deepEqual(whole, { server_id: mover, host, offset: 0, next_offset: Buffer.byteLength(expected), data: expected, simulated: false })
    const tail = await read(whole.next_offset - 10)
    assert.deepEqual([tail.offset, tail.next_offset, tail.data], [whole.next_offset - 10, whole.next_offset, expected.slice(-10)])
    const cli = await ecsdCli(['hosts', 'console', mover, '--endpoint', ecsd.url], { ECSD_ACCESS_KEY: DEMO.adminAccessKey, ECSD_SECRET_KEY: DEMO.adminSecretKey })
    assert.equal(cli.code, 0, cli.stderr)
    assert.equal(cli.stdout, expected)
    const database = Database.sqlite({ file: path.join(dataDir, 'ecsd.sqlite') })
    try {
      const left = await database.db.selectFrom('agent_tasks').select('id').where('kind', '=', 'console').execute()
      assert.deepEqual(left, [], 'console reads are forgotten once answered')
    } finally {
      await database.close()
    }
  })

  step('an agent killed in the middle of a task runs the interrupted task again after its restart, once', async () => {
    const host = await hostOf(mover)
    const bootsBefore = boots(host, mover)
    hold(host, 'reboot')
    const job = await action({ reboot: { type: 'HARD', servers: [{ id: mover }] } })
    await waitFor('the reboot to be held', () => held(host, 'reboot'))
    const running = taskRecords(host).filter((r) => r.kind === 'reboot' && r.serverId === mover && r.state === 'running')
    assert.equal(running.length, 1, 'the run was recorded before it started')
    await kill9(host)
    release(host, 'reboot')
    assert.equal(boots(host, mover), bootsBefore, 'the killed run did not reboot')
    await startAgentOf(host)
    await jobDone(job, 'reboot after the agent restarted')
    assert.equal(boots(host, mover), bootsBefore + 1, 'rebooted exactly once')
    const record = taskRecords(host).find((r) => r.id === running[0]!.id)!
    assert.equal(record.state, 'done')
    assert.equal(record.attempts, 2, 'the interrupted run, then the one that finished')
    assert.ok(agents.get(host)!.logs().some((l) => l.msg === 'task was interrupted: running it again' && l.taskId === record.id))
  })

  step('a task finished but never reported (the control plane was killed meanwhile) is answered from its record, not run twice', async () => {
    const host = await hostOf(mover)
    const bootsBefore = boots(host, mover)
    const rebootsBefore = journal(host, 'reboot', mover)
    const known = new Set(taskRecords(host).map((r) => r.id))
    hold(host, 'reboot')
    const job = await action({ reboot: { type: 'SOFT', servers: [{ id: mover }] } })
    await waitFor('the reboot to be held', () => held(host, 'reboot'))
    // The control plane dies with the job in flight; the agent finishes the reboot and cannot report it.
    assert.equal(await ecsd.stop('SIGKILL'), 'SIGKILL')
    release(host, 'reboot')
    const record = await waitFor('the outcome to be recorded', () => taskRecords(host).find((r) => !known.has(r.id) && r.kind === 'reboot' && r.state === 'done'))
    assert.equal(record.reportedAt, undefined, 'nobody heard of it')
    assert.equal(boots(host, mover), bootsBefore + 1)
    // The agent dies too, before any report; then both come back.
    await kill9(host)
    ecsd = await startEcsdHere()
    await startAgentOf(host)
    await jobDone(job, 'reboot after both restarted')
    assert.equal(boots(host, mover), bootsBefore + 1, 'not rebooted a second time')
    assert.equal(journal(host, 'reboot', mover), rebootsBefore + 1)
    const answered = taskRecords(host).find((r) => r.id === record.id)!
    assert.equal(answered.attempts, 1)
    assert.ok(answered.reportedAt, 'reported from the record')
    assert.ok(agents.get(host)!.logs().some((l) => l.msg === 'task delivered again: answered from its record, not run again' && l.taskId === record.id))
    // The other agent lived through the control plane's restart and still works.
    const survivor = other(host)
    const memberThere = (await Promise.all(members.map(async (id) => ({ id, host: await hostOf(id) })))).find((m) => m.host === survivor)!.id
    const survivorBoots = boots(survivor, memberThere)
    await jobDone(await action({ reboot: { type: 'SOFT', servers: [{ id: memberThere }] } }), 'reboot on the agent that lived through the restart')
    assert.equal(boots(survivor, memberThere), survivorBoots + 1)
  })

  step('a restarted agent reconciles: starts what should run, stops what should not, destroys what is not its own', async () => {
    const host = await hostOf(mover)
    const member = (await Promise.all(members.map(async (id) => ({ id, host: await hostOf(id) })))).find((m) => m.host === host)!.id
    await jobDone(await action({ 'os-stop': { servers: [{ id: member }] } }), 'stop the member')
    await kill9(host)
    // What a machine that rebooted, and someone's hands, could leave behind while the agent was away.
    const hv = fake(host)
    await hv.stop(mover, true)
    await hv.start({ serverId: member, vcpus: 1, ramMb: VM_RAM_CAP_MB, image: 'demo-busybox' })
    const stray = 'f0000000-0000-4000-8000-00000000dead'
    await hv.start({ serverId: stray, vcpus: 1, ramMb: VM_RAM_CAP_MB, image: 'demo-busybox' })
    const moverBoots = boots(host, mover)

    await startAgentOf(host)
    assert.equal((await vm(host, mover))?.running, true, 'should run: started')
    assert.equal(boots(host, mover), moverBoots + 1)
    assert.equal((await vm(host, member))?.running, false, 'should be stopped: stopped')
    assert.equal(await vm(host, stray), undefined, 'not on this host for the control plane: destroyed')
    assert.equal((await show(mover)).status, 'ACTIVE')
    assert.equal((await show(member)).status, 'SHUTOFF')
  })

  step('delete destroys the VMs', async () => {
    const placed = await Promise.all(members.map(async (id) => ({ id, host: await hostOf(id) })))
    const res = await httpCall(ecsd.url, 'POST', demoPath('/cloudservers/delete'), { servers: members.map((id) => ({ id })) })
    assert.equal(res.status, 200, JSON.stringify(res.body))
    await jobDone((res.body as { job_id: string }).job_id, 'delete')
    for (const { id, host } of placed) {
      assert.equal(await vm(host, id), undefined, `${id} is gone from ${host}`)
      assert.equal(journal(host, 'destroy', id), 1)
    }
  })

  step('a failed host\'s servers are rebuilt elsewhere; its agent, back, destroys its stale copies (fencing) before the host is used again', async () => {
    const failedHost = await hostOf(mover)
    const survivor = other(failedHost)
    const staleDisk = disk(failedHost, mover)
    await kill9(failedHost)
    await admin('POST', `/admin/hosts/${failedHost}/action`, { fail: {} })
    await waitFor('the server to be evacuated', async () => (await hostOf(mover)) === survivor && (await show(mover)).status === 'ACTIVE')
    await waitFor('its rebuilt VM to run', async () => (await vm(survivor, mover))?.running === true)
    assert.equal(boots(survivor, mover), 1, 'booted anew from its image')
    assert.notEqual(disk(survivor, mover), staleDisk, 'a new disk: the failed host\'s is out of reach')
    assert.equal((await vm(failedHost, mover))?.running, true, 'the stale copy still "runs" on the dead host')
    assert.equal((await hostView(failedHost)).state, 'down')

    await startAgentOf(failedHost)
    assert.equal(await vm(failedHost, mover), undefined, 'the evacuated copy is destroyed')
    assert.ok(agents.get(failedHost)!.logs().some((l) => l.msg === 'fenced: destroyed the VMs evacuated from this host while it was down'))
    const back = await hostView(failedHost)
    assert.equal(back.state, 'up', 'fenced, then up')
    assert.equal(back.schedulable, true)
    assert.equal((await vm(survivor, mover))?.running, true, 'the evacuee runs on')
  })

  step('the audit is clean; the control plane stops at once on SIGTERM while agents long-poll it, and the agents stop cleanly', async () => {
    const audit = await ecsdCli(['audit', '--data-dir', dataDir])
    assert.equal(audit.code, 0, audit.stdout + audit.stderr)
    assert.match(audit.stdout, /audit: 0 violations/)
    // Its fallback exits 1 when a close hangs (a long poll would hold it for its whole wait).
    assert.equal(await ecsd.stop('SIGTERM'), 0, ecsd.stderr())
    for (const host of HOSTS) assert.equal(await agents.get(host)!.stop('SIGTERM'), 0, agents.get(host)!.stderr())
  })
})

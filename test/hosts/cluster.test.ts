/**
 * Real VMs on three hosts, driven through the official Huawei Cloud SDK: a real `ecsd serve`
 * and three real `ecsd agent` processes with the QEMU driver on this machine (TCG without
 * /dev/kvm), each with its own state and image directories, as three machines would have. The
 * demo's simulated hosts are disabled, so every server is a VM.
 *
 * In order: a group of three boots as three VMs on three hosts, each printing a marker with its
 * server id on its serial console (read through the operator's console endpoint); `add_member`
 * of a stopped server sharing a member's host copies its disk to the free host, where it boots
 * with the data it had; a drain live-migrates a running member while the counter inside the
 * guest keeps counting; `kill -9` of an agent and its VMs makes the control plane declare the
 * host down and rebuild its member elsewhere, where it boots; the agent, restarted, destroys its
 * stale copy before the host is up again. `ecsd audit` is clean after every step.
 *
 * Every VM has at most 128 MiB; every wait is on a condition, with a bound far above what the
 * step takes on a busy 2-core machine. The timings are reported as diagnostics, not asserted.
 */
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { after, before, describe } from 'node:test'
import { promisify } from 'node:util'
import { buildDemoImage, DEMO_IMAGE_ID } from '../../src/agent/demo-image.ts'
import { DEMO } from '../../src/services/demo.ts'
import { ecsdCli, startAgent, type AgentProcess, type HostCredential } from '../agent/agent-process.ts'
import { jobEnd, sdkStory, storyServer, type Ecs, type Req, type Sdk, type StoryApi } from '../e2e/story.ts'
import { counts, killQemuUnder, qemuPidsUnder, waitUntil } from './vms.ts'

const run = promisify(execFile)

const ZONE = 'az1'
const HOSTS = ['vm-host-a', 'vm-host-b', 'vm-host-c'] as const
type HostName = (typeof HOSTS)[number]
/** What each VM really gets (the flavor's 1 GiB is what the control plane accounts). */
const VM_RAM_MB = 128
const FLAVOR = 's6.small.1'
/** Declared down after this long without a heartbeat: well above the agents' 3 s interval on a loaded machine. */
const HOST_DOWN_AFTER_S = 15
/** Bounds of the waits: a boot under TCG takes seconds; these allow for a machine that is busy. */
const BOOT_MS = 180_000
const MOVE_MS = 300_000
const EVACUATION_MS = 300_000
const AGENT_START_MS = 60_000

const bootMarker = (id: string) => `ECSD-BOOT server=${id}`

interface ConsoleWire {
  console: { server_id: string; host: string; offset: number; next_offset: number; data: string; simulated: boolean }
}
interface HostWire {
  name: string
  state: string
  agent: string
  servers: number
  moving_out: number
}
interface ServerWire {
  id: string
  status: string
  'OS-EXT-SRV-ATTR:host': string
}

/** The SDK operations this story uses beyond the shared ones. */
interface ClusterApi extends StoryApi {
  addServerGroupMember(r: Req<'AddServerGroupMemberRequest'>): Promise<Sdk>
}

describe('real VMs on three hosts with agents, through the official SDK', { timeout: 1_500_000 }, () => {
  const root = mkdtempSync(path.join(tmpdir(), 'ecsd-vms-'))
  const agents = new Map<HostName, AgentProcess>()
  const cleanUp = () => {
    for (const agent of agents.values()) agent.child.kill('SIGKILL')
    killQemuUnder(root)
  }
  // Registered before the story's hooks, so that it runs whatever they do; and at exit, should
  // the test process end without its hooks. QEMU daemonizes: nothing else would stop the VMs.
  process.once('exit', cleanUp)
  after(() => {
    cleanUp()
    rmSync(root, { recursive: true, force: true })
  })

  const story = sdkStory<ClusterApi>({
    dirPrefix: 'ecsd-vms',
    // The demo project and flavors without its simulated hosts: every server is a VM.
    ecsdArgs: ['--driver-latency-ms', '0', '--no-demo-fleet'],
    ecsdEnv: { ECSD_HOST_DOWN_AFTER_S: String(HOST_DOWN_AFTER_S) },
  })
  const { step, admin } = story
  const stateDir = (host: HostName) => path.join(root, host)
  const imageDir = (host: HostName) => path.join(root, `images-${host}`)
  const credentials = new Map<HostName, HostCredential>()
  let ecs: Ecs
  let client: ClusterApi
  let url = ''
  let dataDir = ''

  before(async () => {
    ;({ ecs, client } = story.started())
    url = story.started().ecsd.url
    dataDir = story.started().dataDir
    // One image directory per host, as on separate machines: a moved disk must find its base there.
    for (const host of HOSTS) await buildDemoImage(imageDir(host))
  })

  // ---- helpers ---------------------------------------------------------------------------------

  const operatorEnv = { ECSD_ACCESS_KEY: DEMO.adminAccessKey, ECSD_SECRET_KEY: DEMO.adminSecretKey }

  const startAgentOf = async (host: HostName): Promise<AgentProcess> => {
    const agent = await startAgent(
      {
        endpoint: url, host, credential: credentials.get(host)!, stateDir: stateDir(host), driver: 'qemu',
        extra: ['--image-dir', imageDir(host), '--max-vm-ram-mb', String(VM_RAM_MB)],
      },
      AGENT_START_MS,
    )
    agents.set(host, agent)
    return agent
  }

  const show = async (id: string): Promise<ServerWire> =>
    (await client.showServer(new ecs.ShowServerRequest(id))).server as unknown as ServerWire
  const hostOf = async (id: string): Promise<HostName> => {
    const host = (await show(id))['OS-EXT-SRV-ATTR:host']
    assert.ok((HOSTS as readonly string[]).includes(host), `${id} is on an agent's host, not ${host}`)
    return host as HostName
  }
  const hostView = async (name: string) => ((await admin('GET', `/admin/hosts/${name}`)) as { host: HostWire }).host
  const succeeds = async (jobId: string | undefined, what: string) => {
    const job = await jobEnd(client, ecs, jobId, what)
    assert.equal(job.status, 'SUCCESS', `${what}: ${JSON.stringify(job)}`)
  }
  const consoleOf = async (id: string, offset = 0) => ((await admin('GET', `/admin/servers/${id}/console?offset=${offset}`)) as ConsoleWire).console
  /** Waits until the server's console (on the host it is on now) satisfies `done`; answers it. */
  const waitConsole = (id: string, what: string, done: (text: string) => boolean, bound = BOOT_MS) =>
    waitUntil(`${id}: ${what}`, async () => {
      const c = await consoleOf(id)
      return done(c.data) ? c : undefined
    }, bound)
  /** The QEMU processes of a server on a host: by its state dir and `-name <server id>`. */
  const qemuOf = (host: HostName, id: string) =>
    qemuPidsUnder(stateDir(host)).filter((pid) => readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').includes(id))
  const vmDir = (host: HostName, id: string) => path.join(stateDir(host), 'vms', id)
  const audit = async (after: string) => {
    const res = await ecsdCli(['audit', '--data-dir', dataDir, '--json'])
    assert.equal(res.code, 0, `ecsd audit after ${after}: ${res.stdout}${res.stderr}`)
  }
  const createServers = async (count: number, name: string, group?: string): Promise<string[]> => {
    const server = storyServer(ecs, name, count, ZONE, group, { imageRef: DEMO_IMAGE_ID, flavorRef: FLAVOR })
    const res = await client.createPostPaidServers(new ecs.CreatePostPaidServersRequest().withBody(new ecs.CreatePostPaidServersRequestBody().withServer(server)))
    await succeeds(res.job_id, `create ${count} × ${name}`)
    assert.equal(res.serverIds.length, count)
    return res.serverIds
  }
  const serverIds = (ids: string[]) => ids.map((id) => new ecs.ServerId().withId(id))
  const stop = async (ids: string[]) => {
    const body = new ecs.BatchStopServersRequestBody().withOsStop(new ecs.BatchStopServersOption().withServers(serverIds(ids)).withType('SOFT'))
    await succeeds((await client.batchStopServers(new ecs.BatchStopServersRequest().withBody(body))).job_id, `stop ${ids.join(',')}`)
  }
  const start = async (ids: string[]) => {
    const body = new ecs.BatchStartServersRequestBody().withOsStart(new ecs.BatchStartServersOption().withServers(serverIds(ids)))
    await succeeds((await client.batchStartServers(new ecs.BatchStartServersRequest().withBody(body))).job_id, `start ${ids.join(',')}`)
  }
  const remove = async (ids: string[]) => {
    const body = new ecs.DeleteServersRequestBody().withServers(ids.map((id) => new ecs.ServerId().withId(id))).withDeletePublicip(false).withDeleteVolume(true)
    await succeeds((await client.deleteServers(new ecs.DeleteServersRequest().withBody(body))).job_id, `delete ${ids.join(',')}`)
  }

  // The story's servers.
  let groupId = ''
  let members: string[] = []
  let moved = ''

  // ---- the story --------------------------------------------------------------------------------

  step('three hosts are added with `ecsd hosts add --json` to a control plane with no others, and three QEMU agents start', async () => {
    for (const host of HOSTS) {
      const added = await ecsdCli(['hosts', 'add', host, '--az', ZONE, '--vcpus', '8', '--ram-mb', '16384', '--json', '--endpoint', url], operatorEnv)
      assert.equal(added.code, 0, added.stderr)
      const body = JSON.parse(added.stdout) as { access_key: string; secret_key: string }
      credentials.set(host, { access_key: body.access_key, secret_key: body.secret_key })
    }
    const { hosts } = (await admin('GET', '/admin/hosts')) as { hosts: HostWire[] }
    assert.deepEqual(hosts.map((h) => h.name).sort(), [...HOSTS], 'only the agents\' hosts')
    await Promise.all(HOSTS.map((h) => startAgentOf(h)))
    for (const h of HOSTS) assert.equal((await hostView(h)).agent, 'agent', `${h} has its agent`)
    await audit('the agents started')
  })

  step('a group of three boots as three real VMs on three hosts, each printing its server id on its serial console', async (t) => {
    const group = await client.createServerGroup(new ecs.CreateServerGroupRequest().withBody(
      new ecs.CreateServerGroupRequestBody().withServerGroup(new ecs.CreateServerGroupOption().withName('vms').withPolicies(['anti-affinity'])),
    ))
    groupId = group.server_group.id
    const started = Date.now()
    members = await createServers(3, 'member', groupId)
    const active = Date.now() - started
    const hosts = await Promise.all(members.map(hostOf))
    assert.deepEqual([...hosts].sort(), [...HOSTS], 'one member on each host')
    for (const [i, id] of members.entries()) {
      const host = hosts[i]!
      assert.equal(qemuOf(host, id).length, 1, `${id} runs as one QEMU on ${host}`)
      for (const other of HOSTS.filter((h) => h !== host)) assert.equal(qemuOf(other, id).length, 0, `${id} does not run on ${other}`)
      const c = await waitConsole(id, 'its boot marker', (text) => text.includes(bootMarker(id)))
      assert.equal(c.host, host)
      assert.equal(c.simulated, false)
    }
    t.diagnostic(`3 VMs: create to ACTIVE ${active} ms; to the last boot marker ${Date.now() - started} ms`)
    await audit('the group booted')
  })

  step('add_member of a stopped server that shares a member\'s host copies its disk to the free host, where it boots with its data', async (t) => {
    // Free one host of the group, then put a new server on a member's host with a cold migration.
    const freed = members.pop()!
    const freedHost = await hostOf(freed)
    await remove([freed])
    assert.equal(qemuOf(freedHost, freed).length, 0, 'the deleted server\'s VM is gone')
    assert.equal(existsSync(vmDir(freedHost, freed)), false, 'and its files')

    moved = (await createServers(1, 'joiner'))[0]!
    const shared = await hostOf(members[0]!)
    if ((await hostOf(moved!)) !== shared) {
      const { job_id } = (await admin('POST', `/admin/servers/${moved}/migrate`, { migrate: { live: false, host: shared } })) as { job_id: string }
      await succeeds(job_id, 'cold migration onto a member\'s host')
    }
    assert.equal(await hostOf(moved!), shared)
    await waitConsole(moved!, 'its boot marker', (text) => text.includes(bootMarker(moved!)))
    await stop([moved!])
    assert.equal(qemuOf(shared, moved!).length, 0, 'stopped: no QEMU runs it')
    // Data on its disk, as a guest would have written it.
    await run('qemu-io', ['-f', 'qcow2', '-c', 'write -P 0x5a 1M 64k', path.join(vmDir(shared, moved!), 'disk.qcow2')])

    const started = Date.now()
    await client.addServerGroupMember(new ecs.AddServerGroupMemberRequest().withServerGroupId(groupId).withBody(
      new ecs.AddServerGroupMemberRequestBody().withAddMember(new ecs.ServerGroupMember().withInstanceUuid(moved!)),
    ))
    const target = await hostOf(moved!)
    assert.equal(target, freedHost, 'placed on the one host no member uses')
    await start([moved!])
    const coldMs = Date.now() - started
    await waitConsole(moved!, 'its boot marker on the new host', (text) => text.includes(bootMarker(moved!)))
    const c = await consoleOf(moved!)
    assert.equal(c.host, target)
    assert.equal(qemuOf(target, moved!).length, 1, 'it runs on the new host')
    assert.equal(qemuOf(shared, moved!).length, 0, 'and not on the old one')
    assert.equal(existsSync(vmDir(shared, moved!)), false, 'the old host let go of its copy')
    await run('qemu-io', ['-U', '-r', '-f', 'qcow2', '-c', 'read -P 0x5a 1M 64k', path.join(vmDir(target, moved!), 'disk.qcow2')])
    members.push(moved!)
    const hosts = await Promise.all(members.map(hostOf))
    assert.equal(new Set(hosts).size, 3, 'the group is still on three distinct hosts')
    t.diagnostic(`cold move: add_member to the moved VM started ${coldMs} ms`)
    await audit('add_member moved a disk')
  })

  step('a drain live-migrates a running member while the counter inside the guest keeps counting', async (t) => {
    // A host for the member to go to: delete the member that is neither the one drained nor the moved one.
    const drained = members[0]!
    const drainedHost = await hostOf(drained)
    const leaving = members.find((id) => id !== drained && id !== moved)!
    await remove([leaving])
    members = members.filter((id) => id !== leaving)
    const before = await waitConsole(drained, 'a few counts', (text) => counts(text).length >= 3)
    const lastBefore = counts(before.data).at(-1)!.n

    const started = Date.now()
    await admin('POST', `/admin/hosts/${drainedHost}/action`, { drain: {} })
    const target = await waitUntil(`${drained} live-migrated off ${drainedHost}`, async () => {
      const s = await show(drained)
      return s.status === 'ACTIVE' && s['OS-EXT-SRV-ATTR:host'] !== drainedHost ? (s['OS-EXT-SRV-ATTR:host'] as HostName) : undefined
    }, MOVE_MS)
    const liveMs = Date.now() - started
    const after = await waitConsole(drained, 'counts on the new host', (text) => counts(text).length >= 2, MOVE_MS)
    assert.equal(after.host, target)
    assert.ok(!after.data.includes(bootMarker(drained)), `the guest did not boot again on ${target}:\n${after.data}`)
    const ns = counts(after.data).map((c) => c.n)
    assert.ok(ns[0]! > lastBefore, `the counter went on from ${lastBefore} (it restarts at 1 on a boot): ${ns.join(' ')}`)
    assert.deepEqual(ns, ns.map((_, i) => ns[0]! + i), 'and counts on, one by one')
    assert.equal(qemuOf(target, drained).length, 1)
    assert.equal(qemuOf(drainedHost, drained).length, 0, 'the source VM is gone')
    await waitUntil(`${drainedHost} drained`, async () => {
      const h = await hostView(drainedHost)
      return h.servers === 0 && h.moving_out === 0
    }, MOVE_MS)
    await admin('POST', `/admin/hosts/${drainedHost}/action`, { enable: {} })
    t.diagnostic(`live move: drain to ACTIVE on ${target} ${liveMs} ms`)
    await audit('the drain')
  })

  let failedHost: HostName = HOSTS[0]
  let evacuee = ''

  step('kill -9 of an agent and its VMs: the host is declared down and its member boots elsewhere from its image', async (t) => {
    evacuee = members[0]!
    failedHost = await hostOf(evacuee)
    const started = Date.now()
    assert.equal(await agents.get(failedHost)!.stop('SIGKILL'), 'SIGKILL')
    killQemuUnder(stateDir(failedHost))
    assert.equal(qemuOf(failedHost, evacuee).length, 0)
    const target = await waitUntil(`${evacuee} evacuated from ${failedHost}`, async () => {
      const s = await show(evacuee)
      return s.status === 'ACTIVE' && s['OS-EXT-SRV-ATTR:host'] !== failedHost ? (s['OS-EXT-SRV-ATTR:host'] as HostName) : undefined
    }, EVACUATION_MS)
    const evacuatedMs = Date.now() - started
    assert.equal((await hostView(failedHost)).state, 'down')
    const c = await waitConsole(evacuee, 'its boot marker on the new host', (text) => text.includes(bootMarker(evacuee)))
    assert.equal(c.host, target)
    assert.equal(counts(c.data)[0]?.n ?? 1, 1, 'a new boot: the counter starts again')
    assert.equal(qemuOf(target, evacuee).length, 1)
    const hosts = await Promise.all(members.map(hostOf))
    assert.equal(new Set(hosts).size, members.length, 'members on distinct hosts')
    assert.ok(!hosts.includes(failedHost))
    assert.ok(existsSync(vmDir(failedHost, evacuee)), 'the dead host still holds its stale copy')
    t.diagnostic(`evacuation: kill -9 to ACTIVE on ${target} ${evacuatedMs} ms (the host is declared down ${HOST_DOWN_AFTER_S} s after its last heartbeat)`)
    await audit('the evacuation')
  })

  step('the agent, restarted, destroys its stale copy before its host is up again', async () => {
    const agent = await startAgentOf(failedHost)
    const messages = agent.logs().map((l) => String(l.msg))
    const fenced = messages.findIndex((m) => m.startsWith('fenced'))
    assert.ok(fenced >= 0, `the agent fenced its host:\n${messages.join('\n')}`)
    assert.ok(fenced < messages.indexOf('reconciled'), 'before it reconciled and took tasks')
    assert.equal(existsSync(vmDir(failedHost, evacuee)), false, 'the stale copy is destroyed')
    assert.equal((await hostView(failedHost)).state, 'up')
    assert.equal(qemuOf(failedHost, evacuee).length, 0)
    // Used again: a new server may land there, and boots.
    const [fresh] = await createServers(1, 'after-fencing')
    await waitConsole(fresh!, 'its boot marker', (text) => text.includes(bootMarker(fresh!)))
    await audit('the fencing')
  })
})

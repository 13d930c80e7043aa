/**
 * `npm run bench:vms`: what real VMs cost under ecsd — boot to ACTIVE and to the guest's boot
 * marker, a live move, a cold move and an evacuation — against the same operations done by the
 * QEMU driver alone, in this process, with no control plane (the baseline).
 *
 *   npm run bench:vms [-- --rounds 3 --down-after-s 10]
 *
 * Needs the Debian packages of `npm run test:hosts` (qemu-system-x86, qemu-utils,
 * busybox-static, linux-image-amd64). Every VM has 128 MiB, as in the tests. Per round:
 *
 * - baseline: the driver boots a VM on host A (start → boot marker on its serial console),
 *   live-migrates it to B (incoming VM on B, QMP migrate from A), stops it, copies its disk back
 *   to A as a cold move does, adopts it there and boots it (→ marker);
 * - ecsd: a control plane and two `ecsd agent` processes (QEMU driver) on this machine; a
 *   server is created (→ job SUCCESS: ACTIVE; → boot marker read through the console endpoint),
 *   live-migrated by an operator (→ job SUCCESS), stopped, cold-migrated and started (→ marker).
 *
 * Then once: the agent of the host holding a server is killed with its VMs (`kill -9`), and the
 * time until the server is ACTIVE on the other host and until its guest printed its marker there
 * is measured; the baseline for it is the detection bound (`--down-after-s`) plus a boot.
 * Prints the table and writes bench/results/vms.json. Every wait is bounded.
 */
import { copyFile, mkdir } from 'node:fs/promises'
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { parseArgs } from 'node:util'
import { buildDemoImage, DEMO_IMAGE_ID } from '../src/agent/demo-image.ts'
import type { Hypervisor } from '../src/agent/hypervisor.ts'
import { createQemuHypervisor } from '../src/agent/qemu.ts'
import { EcsdClient } from '../src/api/client.ts'
import { DEMO } from '../src/services/demo.ts'
import { ecsdCli, startAgent, type AgentProcess } from '../test/agent/agent-process.ts'
import { killQemuUnder } from '../test/hosts/vms.ts'
import { demoPath, httpCall, httpWaitForJob, startEcsd, type EcsdProcess } from '../test/process.ts'
import { fixed, machine, percentile, table, writeJson } from './lib/report.ts'
import { ROOT } from './lib/processes.ts'

const { values: args } = parseArgs({
  options: { rounds: { type: 'string', default: '3' }, 'down-after-s': { type: 'string', default: '10' } },
})
const ROUNDS = Number(args.rounds)
const DOWN_AFTER_S = Number(args['down-after-s'])
if (!Number.isInteger(ROUNDS) || ROUNDS < 1 || !Number.isInteger(DOWN_AFTER_S) || DOWN_AFTER_S < 1) {
  process.stderr.write('bench:vms: --rounds and --down-after-s take whole numbers ≥ 1\n')
  process.exit(2)
}

const VM_RAM_MB = 128
/** Every wait of this benchmark ends within this, or the run fails. */
const WAIT_MS = 300_000
const marker = (id: string) => `ECSD-BOOT server=${id}`

const root = mkdtempSync(path.join(tmpdir(), 'ecsd-bench-vms-'))
process.once('exit', () => killQemuUnder(root))

/** Polls `probe` until it answers true; fails after WAIT_MS saying `what`. */
async function until(what: string, probe: () => Promise<boolean> | boolean, pollMs = 100): Promise<void> {
  const deadline = Date.now() + WAIT_MS
  while (!(await probe())) {
    if (Date.now() > deadline) throw new Error(`bench:vms: timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, pollMs))
  }
}

/** Milliseconds `work` takes. */
async function timed(work: () => Promise<unknown>): Promise<number> {
  const started = performance.now()
  await work()
  return performance.now() - started
}

// ---- the baseline: the driver alone ----------------------------------------------------------

async function baselineRound(a: Hypervisor, b: Hypervisor, round: number): Promise<Record<string, number>> {
  const id = `baseline-${round}`
  const spec = { serverId: id, vcpus: 1, ramMb: 1024, image: DEMO_IMAGE_ID }
  const sawMarker = (hv: Hypervisor) => async () => (await hv.console(id, 0)).data.includes(marker(id))
  const boot = await timed(async () => {
    await a.start(spec)
    await until(`${id} to boot`, sawMarker(a))
  })
  const live = await timed(async () => {
    const { port } = await b.prepareIncoming(spec)
    await a.migrateOut(id, '127.0.0.1', port)
  })
  await a.destroy(id)
  await b.stop(id, true)
  const cold = await timed(async () => {
    const copy = path.join(root, `${id}.qcow2`)
    await copyFile(b.diskFile(id), copy)
    await a.adoptDisk(spec, copy)
    await b.destroy(id)
    await a.start(spec)
    await until(`${id} to boot after its cold move`, sawMarker(a))
  })
  await a.destroy(id)
  return { boot, live, cold }
}

// ---- ecsd: a control plane and two agents ------------------------------------------------------

const HOSTS = ['bench-a', 'bench-b'] as const

async function ecsdRounds(): Promise<{ rounds: Array<Record<string, number>>; evacuation: Record<string, number> }> {
  const dataDir = path.join(root, 'data')
  const ecsd: EcsdProcess = await startEcsd(dataDir, ['--driver-latency-ms', '0', '--no-demo-fleet'], { ECSD_HOST_DOWN_AFTER_S: String(DOWN_AFTER_S) })
  const agents = new Map<string, AgentProcess>()
  const operatorEnv = { ECSD_ACCESS_KEY: DEMO.adminAccessKey, ECSD_SECRET_KEY: DEMO.adminSecretKey }
  const admin = new EcsdClient({ endpoint: ecsd.url, credential: { accessKey: DEMO.adminAccessKey, secretKey: DEMO.adminSecretKey, projectId: DEMO.projectId } })
  const operator = (method: string, p: string, body?: unknown) => admin.call<Record<string, unknown>>(method, p, body)
  const ok = async (jobId: string, what: string) => {
    const status = await httpWaitForJob(ecsd.url, jobId, WAIT_MS)
    if (status !== 'SUCCESS') throw new Error(`bench:vms: ${what} ended ${status}`)
  }
  const tenant = async (method: string, p: string, body: unknown) => {
    const res = await httpCall(ecsd.url, method, demoPath(p), body)
    if (res.status !== 200) throw new Error(`${method} ${p}: ${res.status} ${JSON.stringify(res.body)}`)
    return res.body as { job_id: string; serverIds?: string[] }
  }
  const hostOf = async (id: string) => {
    const res = await httpCall(ecsd.url, 'GET', demoPath(`/cloudservers/${id}`))
    return (res.body as { server: { 'OS-EXT-SRV-ATTR:host': string; status: string } }).server
  }
  const consoleHas = (id: string) => async () => {
    const c = (await operator('GET', `/admin/servers/${id}/console`)) as { console: { data: string } }
    return c.console.data.includes(marker(id))
  }
  try {
    for (const host of HOSTS) {
      const added = await ecsdCli(['hosts', 'add', host, '--az', 'az1', '--vcpus', '8', '--ram-mb', '16384', '--json', '--endpoint', ecsd.url], operatorEnv)
      if (added.code !== 0) throw new Error(added.stderr)
      const { access_key, secret_key } = JSON.parse(added.stdout) as { access_key: string; secret_key: string }
      const images = path.join(root, `images-${host}`)
      await buildDemoImage(images)
      agents.set(host, await startAgent({
        endpoint: ecsd.url, host, credential: { access_key, secret_key }, stateDir: path.join(root, host), driver: 'qemu',
        extra: ['--image-dir', images, '--max-vm-ram-mb', String(VM_RAM_MB)],
      }, 60_000))
    }
    const rounds: Array<Record<string, number>> = []
    let last = ''
    for (let round = 0; round < ROUNDS; round++) {
      let id = ''
      let jobMs = 0
      const boot = await timed(async () => {
        const created = await tenant('POST', '/cloudservers', {
          server: {
            name: `bench-${round}`, flavorRef: 's6.small.1', imageRef: DEMO_IMAGE_ID, vpcid: 'v', nics: [{ subnet_id: 's' }],
            root_volume: { volumetype: 'SSD' }, count: 1, availability_zone: 'az1',
          },
        })
        id = created.serverIds![0]!
        await ok(created.job_id, 'create')
        jobMs = await timed(() => until(`${id} to boot`, consoleHas(id)))
      })
      const active = boot - jobMs
      const live = await timed(async () => ok(String((await operator('POST', `/admin/servers/${id}/migrate`, { migrate: { live: true } })).job_id), 'live migration'))
      await ok((await tenant('POST', '/cloudservers/action', { 'os-stop': { type: 'SOFT', servers: [{ id }] } })).job_id, 'stop')
      const cold = await timed(async () => {
        await ok(String((await operator('POST', `/admin/servers/${id}/migrate`, { migrate: { live: false } })).job_id), 'cold migration')
        const before = (await operator('GET', `/admin/servers/${id}/console`)) as { console: { next_offset: number } }
        await ok((await tenant('POST', '/cloudservers/action', { 'os-start': { servers: [{ id }] } })).job_id, 'start')
        await until(`${id} to boot after its cold move`, async () => {
          const c = (await operator('GET', `/admin/servers/${id}/console?offset=${before.console.next_offset}`)) as { console: { data: string } }
          return c.console.data.includes(marker(id))
        })
      })
      rounds.push({ boot, active, live, cold })
      if (round < ROUNDS - 1) await ok((await tenant('POST', '/cloudservers/delete', { servers: [{ id }] })).job_id, 'delete')
      else last = id
    }
    // The evacuation: the host of the last server dies with its VMs.
    const failed = (await hostOf(last))['OS-EXT-SRV-ATTR:host']
    const killedAt = performance.now()
    await agents.get(failed)!.stop('SIGKILL')
    killQemuUnder(path.join(root, failed))
    await until(`${last} to be evacuated`, async () => {
      const s = await hostOf(last)
      return s.status === 'ACTIVE' && s['OS-EXT-SRV-ATTR:host'] !== failed
    }, 250)
    const active = performance.now() - killedAt
    await until(`${last} to boot after its evacuation`, consoleHas(last))
    const booted = performance.now() - killedAt
    const audit = await ecsdCli(['audit', '--data-dir', dataDir])
    if (audit.code !== 0) throw new Error(`audit: ${audit.stdout}`)
    return { rounds, evacuation: { active, booted } }
  } finally {
    for (const agent of agents.values()) await agent.stop('SIGKILL')
    await admin.close()
    await ecsd.stop('SIGTERM')
  }
}

// ---- the run ---------------------------------------------------------------------------------

const median = (xs: number[]) => percentile([...xs].sort((x, y) => x - y), 50) ?? Number.NaN

try {
  const images = path.join(root, 'images')
  await mkdir(images, { recursive: true })
  await buildDemoImage(images)
  const common = { imageDir: images, maxVmRamMb: VM_RAM_MB, powerdownTimeoutMs: 2000 }
  const a = createQemuHypervisor({ stateDir: path.join(root, 'base-a'), ...common })
  const b = createQemuHypervisor({ stateDir: path.join(root, 'base-b'), ...common })
  const baseline: Array<Record<string, number>> = []
  for (let round = 0; round < ROUNDS; round++) baseline.push(await baselineRound(a, b, round))
  const { rounds, evacuation } = await ecsdRounds()

  const of = (rows: Array<Record<string, number>>, key: string) => median(rows.map((r) => r[key]!))
  const rows = [
    ['boot → ACTIVE (job SUCCESS)', '–', fixed(of(rounds, 'active') / 1000, 2), '–'],
    ['boot → guest marker', fixed(of(baseline, 'boot') / 1000, 2), fixed(of(rounds, 'boot') / 1000, 2), fixed(of(rounds, 'boot') / of(baseline, 'boot'), 2)],
    ['live move', fixed(of(baseline, 'live') / 1000, 2), fixed(of(rounds, 'live') / 1000, 2), fixed(of(rounds, 'live') / of(baseline, 'live'), 2)],
    ['cold move → guest marker', fixed(of(baseline, 'cold') / 1000, 2), fixed(of(rounds, 'cold') / 1000, 2), fixed(of(rounds, 'cold') / of(baseline, 'cold'), 2)],
    ['evacuation → ACTIVE elsewhere', '–', fixed(evacuation.active! / 1000, 2), '–'],
    ['evacuation → guest marker', fixed((DOWN_AFTER_S * 1000 + of(baseline, 'boot')) / 1000, 2), fixed(evacuation.booted! / 1000, 2), fixed(evacuation.booted! / (DOWN_AFTER_S * 1000 + of(baseline, 'boot')), 2)],
  ]
  process.stdout.write(`real VMs, 128 MiB, median of ${ROUNDS} rounds (seconds); baseline: the QEMU driver alone${'\n'}`)
  process.stdout.write(`${table(['operation', 'baseline s', 'ecsd s', 'ratio'], rows)}\n`)
  writeJson(path.join(ROOT, 'bench', 'results', 'vms.json'), {
    machine: machine(), accel: existsSync('/dev/kvm') ? 'kvm' : 'tcg', rounds: ROUNDS, downAfterS: DOWN_AFTER_S,
    baseline, ecsd: rounds, evacuation,
  })
} finally {
  killQemuUnder(root)
  rmSync(root, { recursive: true, force: true })
}

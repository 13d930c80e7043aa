/**
 * The QEMU hypervisor with real VMs: two hypervisors with their own state and image
 * directories on this machine stand for two hosts. Every VM has ≤ 128 MiB, every wait a bound,
 * and every QEMU started here is killed at the end whatever happened.
 */
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { copyFile, readFile } from 'node:fs/promises'
import net from 'node:net'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { after, before, describe, it } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import { promisify } from 'node:util'
import { buildDemoImage, DEMO_IMAGE_ID } from '../../src/agent/demo-image.ts'
import type { Hypervisor } from '../../src/agent/hypervisor.ts'
import { createQemuHypervisor } from '../../src/agent/qemu.ts'
import type { VmSpec } from '../../src/domain/agent-task.ts'
import { consoleEnd, counts, killQemuUnder, qemuPidsUnder, waitForConsole } from './vms.ts'

const run = promisify(execFile)

const RAM_MB = 128
/** A test stops guests cleanly with a short wait: the busybox guest never powers off by itself. */
const POWERDOWN_TIMEOUT_MS = 2_000

function spec(serverId: string): VmSpec {
  // Flavors ask for more than the test allows: `maxVmRamMb` caps it.
  return { serverId, vcpus: 1, ramMb: 1024, image: DEMO_IMAGE_ID }
}

const bootMarker = (id: string): string => `ECSD-BOOT server=${id}`

/** Writes a pattern into a disk that no running VM uses, as data the guest would have written. */
async function writePattern(disk: string, pattern: number, offset: number): Promise<void> {
  await run('qemu-io', ['-f', 'qcow2', '-c', `write -P ${pattern} ${offset} 64k`, disk])
}

/** Whether the disk holds the pattern (read without locking: its VM may be running, idle). */
async function hasPattern(disk: string, pattern: number, offset: number): Promise<boolean> {
  try {
    await run('qemu-io', ['-U', '-r', '-f', 'qcow2', '-c', `read -P ${pattern} ${offset} 64k`, disk])
    return true
  } catch {
    return false
  }
}

function pidOf(stateDir: string, serverId: string): number {
  return Number(readFileSync(path.join(stateDir, 'vms', serverId, 'pid'), 'utf8').trim())
}

describe('QEMU hypervisor', { timeout: 900_000 }, () => {
  const root = mkdtempSync(path.join(tmpdir(), 'ecsd-qemu-'))
  const dirA = path.join(root, 'a')
  const dirB = path.join(root, 'b')
  let a: Hypervisor
  let b: Hypervisor

  before(async () => {
    // Separate image directories, as on two machines: a moved overlay must be re-pointed at
    // the base disk of the host it lands on.
    await buildDemoImage(path.join(root, 'images-a'))
    await buildDemoImage(path.join(root, 'images-b'))
    const common = { maxVmRamMb: RAM_MB, powerdownTimeoutMs: POWERDOWN_TIMEOUT_MS }
    a = createQemuHypervisor({ stateDir: dirA, imageDir: path.join(root, 'images-a'), ...common })
    b = createQemuHypervisor({ stateDir: dirB, imageDir: path.join(root, 'images-b'), ...common })
  })

  after(() => {
    killQemuUnder(root)
    rmSync(root, { recursive: true, force: true })
  })

  it('boots a VM that prints its marker and counts on its serial console', async (t) => {
    const started = Date.now()
    await a.start(spec('vm-1'))
    const { text } = await waitForConsole(a, 'vm-1', (t) => t.includes(bootMarker('vm-1')), { what: 'boot marker' })
    t.diagnostic(`boot to marker ${Date.now() - started} ms`)
    assert.ok(!text.includes('ECSD-BOOT server=vm-2'))
    const { text: more } = await waitForConsole(a, 'vm-1', (t) => counts(t).some((c) => c.n >= 2), { what: 'counter' })
    assert.deepEqual(counts(more).slice(0, 2), [{ serverId: 'vm-1', n: 1 }, { serverId: 'vm-1', n: 2 }])

    const dir = path.join(dirA, 'vms', 'vm-1')
    for (const name of ['disk.qcow2', 'serial.log', 'qmp.sock', 'pid', 'spec.json']) {
      assert.ok(existsSync(path.join(dir, name)), name)
    }
    const pid = pidOf(dirA, 'vm-1')
    const args = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')
    assert.equal(args[args.indexOf('-name') + 1], 'vm-1', 'ps shows the server id')
    assert.equal(args[args.indexOf('-m') + 1], String(RAM_MB), 'memory is capped')
    const info = JSON.parse((await run('qemu-img', ['info', '-U', '--output=json', path.join(dir, 'disk.qcow2')])).stdout)
    assert.equal(info['backing-filename'], path.join(root, 'images-a', DEMO_IMAGE_ID, 'base.qcow2'))

    // Idempotent: the same VM, not a second one.
    await a.start(spec('vm-1'))
    await a.create(spec('vm-1'))
    assert.equal(pidOf(dirA, 'vm-1'), pid)
    assert.deepEqual(await a.list(), [{ serverId: 'vm-1', running: true }])
  })

  it('reads the console from an offset', async () => {
    const whole = await a.console('vm-1', 0)
    assert.equal(whole.offset, Buffer.byteLength(whole.data))
    const tail = await a.console('vm-1', 10)
    // The guest goes on writing between the two reads.
    assert.ok(tail.data.startsWith(whole.data.slice(10)))
    assert.ok(tail.offset >= whole.offset)
    const past = await a.console('vm-1', 1 << 30)
    assert.ok(past.data.startsWith(whole.data.slice(0, 100)), 'an offset past the end reads the log from its start')
    assert.deepEqual(await a.console('nobody', 0), { data: '', offset: 0 })
  })

  it('keeps VMs running across an agent restart, and notices a VM killed under it', async () => {
    const pid = pidOf(dirA, 'vm-1')
    const parent = Number(readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ')[1])
    assert.notEqual(parent, process.pid, 'QEMU is daemonized, not a child of the agent')
    // A new hypervisor on the same state dir is what a restarted agent has.
    a = createQemuHypervisor({ stateDir: dirA, imageDir: path.join(root, 'images-a'), maxVmRamMb: RAM_MB, powerdownTimeoutMs: POWERDOWN_TIMEOUT_MS })
    assert.deepEqual(await a.list(), [{ serverId: 'vm-1', running: true }])
    const offset = await consoleEnd(a, 'vm-1')
    await waitForConsole(a, 'vm-1', (t) => counts(t).length >= 1, { offset, what: 'counter after the agent restart' })

    process.kill(pid, 'SIGKILL')
    const deadline = Date.now() + 10_000
    while (qemuPidsUnder(root).includes(pid) && Date.now() < deadline) await sleep(100)
    assert.deepEqual(await a.list(), [{ serverId: 'vm-1', running: false }], 'its stale pid file is not believed')
    const restarted = await consoleEnd(a, 'vm-1')
    await a.start(spec('vm-1'))
    await waitForConsole(a, 'vm-1', (t) => t.includes(bootMarker('vm-1')), { offset: restarted, what: 'boot marker after a kill' })
    assert.notEqual(pidOf(dirA, 'vm-1'), pid)
  })

  it('stops, starts again with a fresh counter, and reboots', async () => {
    await a.stop('vm-1', false)
    assert.deepEqual(await a.list(), [{ serverId: 'vm-1', running: false }])
    assert.ok(!existsSync(path.join(dirA, 'vms', 'vm-1', 'pid')))
    await a.stop('vm-1', false)
    await a.stop('vm-1', true)

    let offset = await consoleEnd(a, 'vm-1')
    await a.start(spec('vm-1'))
    let seen = await waitForConsole(a, 'vm-1', (t) => counts(t).length >= 2, { offset, what: 'counter after start' })
    assert.ok(seen.text.includes(bootMarker('vm-1')))
    assert.equal(counts(seen.text)[0]?.n, 1, 'the counter restarts')
    assert.deepEqual(await a.list(), [{ serverId: 'vm-1', running: true }])

    for (const hard of [true, false]) {
      const pid = pidOf(dirA, 'vm-1')
      offset = seen.offset
      await a.reboot('vm-1', hard)
      seen = await waitForConsole(a, 'vm-1', (t) => t.includes(bootMarker('vm-1')) && counts(t.slice(t.lastIndexOf('ECSD-BOOT'))).length >= 1, {
        offset,
        what: `boot marker after a ${hard ? 'hard' : 'soft'} reboot`,
      })
      const afterBoot = seen.text.slice(seen.text.lastIndexOf('ECSD-BOOT'))
      assert.equal(counts(afterBoot)[0]?.n, 1, 'the counter restarts after a reboot')
      // A hard reboot resets the same QEMU; a soft one shuts the guest down and boots anew.
      if (hard) assert.equal(pidOf(dirA, 'vm-1'), pid)
      else assert.notEqual(pidOf(dirA, 'vm-1'), pid)
    }
  })

  it('runs two VMs at once, each with its own console, and destroys one entirely', async () => {
    await a.start(spec('vm-2'))
    await waitForConsole(a, 'vm-2', (t) => counts(t).length >= 2, { what: 'counter of vm-2' })
    const offset1 = await consoleEnd(a, 'vm-1')
    await waitForConsole(a, 'vm-1', (t) => counts(t).length >= 2, { offset: offset1, what: 'counter of vm-1' })
    assert.deepEqual(await a.list(), [
      { serverId: 'vm-1', running: true },
      { serverId: 'vm-2', running: true },
    ])
    const text2 = (await a.console('vm-2', 0)).data
    assert.ok(counts(text2).every((c) => c.serverId === 'vm-2'))
    assert.ok(!text2.includes(bootMarker('vm-1')))

    const pid2 = pidOf(dirA, 'vm-2')
    await a.destroy('vm-2')
    assert.ok(!existsSync(path.join(dirA, 'vms', 'vm-2')))
    assert.ok(!qemuPidsUnder(root).includes(pid2))
    assert.deepEqual(await a.list(), [{ serverId: 'vm-1', running: true }])
    await a.destroy('vm-2')
  })

  it('live-migrates a running VM with its disk while its counter keeps counting', async (t) => {
    const id = 'vm-live'
    await a.create(spec(id))
    await writePattern(a.diskFile(id), 0x5a, 0)
    await a.start(spec(id))
    await waitForConsole(a, id, (t) => counts(t).some((c) => c.n >= 3), { what: 'counter before the migration' })

    const { port } = await b.prepareIncoming(spec(id))
    assert.deepEqual(await b.prepareIncoming(spec(id)), { port }, 'a repeated prepare answers the same port')
    const started = Date.now()
    await a.migrateOut(id, '127.0.0.1', port)
    t.diagnostic(`live migration ${Date.now() - started} ms`)
    await a.migrateOut(id, '127.0.0.1', port)

    assert.deepEqual(await a.list(), [
      { serverId: 'vm-1', running: true },
      { serverId: id, running: false },
    ])
    assert.deepEqual(await b.list(), [{ serverId: id, running: true }])
    const before = counts((await a.console(id, 0)).data)
    const last = before.at(-1)?.n ?? 0
    const { text } = await waitForConsole(b, id, (t) => counts(t).length >= 3, { what: 'counter after the migration' })
    assert.ok(!text.includes('ECSD-BOOT'), 'no new boot on the target')
    const continued = counts(text).map((c) => c.n)
    assert.ok((continued[0] ?? 0) > last, `the target goes on from ${last}: ${continued.join(',')}`)
    assert.ok(continued.every((n, i) => i === 0 || n === (continued[i - 1] ?? 0) + 1), 'and keeps counting')

    // And back: a VM that arrived by migration leaves by migration too. The returning VM gets
    // a fresh overlay here, so the disk's data can only have come the whole way round.
    const offsetBack = await consoleEnd(a, id)
    const back = await a.prepareIncoming(spec(id))
    const returning = Date.now()
    await b.migrateOut(id, '127.0.0.1', back.port)
    t.diagnostic(`live migration back ${Date.now() - returning} ms`)
    assert.deepEqual(await b.list(), [{ serverId: id, running: false }])
    const lastOnB = counts((await b.console(id, 0)).data).at(-1)?.n ?? 0
    const home = await waitForConsole(a, id, (t) => counts(t).length >= 2, { offset: offsetBack, what: 'counter back home' })
    assert.ok(!home.text.includes('ECSD-BOOT'), 'no new boot after the way back')
    assert.ok((counts(home.text)[0]?.n ?? 0) > lastOnB, `it goes on from ${lastOnB}`)

    // QEMU keeps qcow2 metadata in memory until it exits, so the disk is read once it stopped.
    await a.stop(id, true)
    assert.ok(await hasPattern(a.diskFile(id), 0x5a, 0), "the disk's data came along")
    await a.destroy(id)
    await b.destroy(id)
    assert.deepEqual(await b.list(), [])
  })

  it('fails a live migration to nowhere with its reason and keeps the source running', async () => {
    const pid = pidOf(dirA, 'vm-1')
    // A port nothing listens on: bind one, note it, let it go.
    const closed = await new Promise<number>((resolve) => {
      const server = net.createServer().listen(0, '127.0.0.1', () => {
        const address = server.address()
        server.close(() => resolve(typeof address === 'object' && address ? address.port : 1))
      })
    })
    await assert.rejects(a.migrateOut('vm-1', '127.0.0.1', closed), /migration of vm-1 .* failed/)
    assert.equal(pidOf(dirA, 'vm-1'), pid)
    assert.deepEqual(await a.list(), [{ serverId: 'vm-1', running: true }])
  })

  it('moves a stopped VM cold: its disk file, copied, adopted on another host, boots there', async (t) => {
    const id = 'vm-1'
    await a.stop(id, true)
    await writePattern(a.diskFile(id), 0x3c, 1 << 20)

    const started = Date.now()
    const received = path.join(dirB, 'incoming-disk')
    await copyFile(a.diskFile(id), received)
    await b.adoptDisk(spec(id), received)
    const moved = Date.now() - started
    assert.ok(!existsSync(received), 'moved into place, not copied')
    await b.adoptDisk(spec(id), received)
    const info = JSON.parse((await run('qemu-img', ['info', '--output=json', b.diskFile(id)])).stdout)
    assert.equal(info['backing-filename'], path.join(root, 'images-b', DEMO_IMAGE_ID, 'base.qcow2'))
    assert.deepEqual(JSON.parse(await readFile(path.join(dirB, 'vms', id, 'spec.json'), 'utf8')), spec(id))

    const booting = Date.now()
    await b.start(spec(id))
    await waitForConsole(b, id, (t) => t.includes(bootMarker(id)), { what: 'boot marker on the new host' })
    t.diagnostic(`cold move of the demo disk ${moved} ms, then boot to marker ${Date.now() - booting} ms`)
    await b.stop(id, true)
    assert.ok(await hasPattern(b.diskFile(id), 0x3c, 1 << 20), "the disk's data came along")

    await a.destroy(id)
    assert.deepEqual(await a.list(), [])
    await b.destroy(id)
    assert.deepEqual(qemuPidsUnder(root), [])
  })
})

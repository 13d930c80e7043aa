/**
 * A hypervisor without virtual machines, for tests and demos where QEMU is not installed
 * (`ecsd agent --driver fake`). Each VM is a directory of files under `dir/vms/<server id>/`: its
 * record (`vm.json`: size, image, running or not), its disk (`disk.img`, created from the image
 * with a random nonce line, so a disk that travelled can be told from one made anew) and its
 * serial log (`console.log`), on which every boot prints `ECSD-BOOT server=<id>`. A live
 * migration is real in its way: the target listens on a TCP port and the source streams the
 * disk and the console to it; the guest "keeps running" (no new boot line). Everything it does is
 * appended to `dir/journal.log`, one `<time> <step> <server id>` line per change, so tests can
 * count what really happened.
 *
 * Steps can be held, deterministically: while a file `dir/holds/<step>` exists, that step waits
 * before it changes anything, and says so in `dir/holds/<step>.waiting` (the server id). Steps:
 * create, start, stop, reboot, destroy, adopt, incoming, migrate-out.
 */
import { randomUUID } from 'node:crypto'
import { existsSync } from 'node:fs'
import { appendFile, mkdir, open, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises'
import { createConnection, createServer, type Server } from 'node:net'
import path from 'node:path'
import type { Logger } from 'pino'
import type { VmSpec } from '../domain/agent-task.ts'
import type { Hypervisor, LocalVm } from './hypervisor.ts'
import { isSafeServerId, readJson, writeFileAtomic } from './state-files.ts'

/** The record of one fake VM. */
export interface FakeVmRecord {
  serverId: string
  vcpus: number
  ramMb: number
  image: string
  running: boolean
  /** Waiting for an incoming live migration on this port. */
  incomingPort?: number
  /** Migrated away live: stopped here, its files kept until it is destroyed. */
  migratedOut?: boolean
}

/** A step of the fake that can be held (see the module comment). */
export type FakeStep = 'create' | 'start' | 'stop' | 'reboot' | 'destroy' | 'adopt' | 'incoming' | 'migrate-out'

/** Settings of the fake hypervisor. */
export interface FakeHypervisorOptions {
  /** Where its VMs, journal and holds live (the agent gives it a directory of its state dir). */
  dir: string
  /** The address incoming live migrations listen on; default all interfaces. */
  incomingHost?: string | undefined
  logger?: Logger | undefined
}

/** The line each boot prints on the serial log, as the demo image's init does. */
export function bootMarker(serverId: string): string {
  return `ECSD-BOOT server=${serverId}`
}

/** How often a held step looks whether its hold is gone. */
const HOLD_POLL_MS = 20

/** The fake hypervisor; `createFakeHypervisor` opens one. */
export class FakeHypervisor implements Hypervisor {
  private readonly vmsDir: string
  private readonly holdsDir: string
  private readonly incoming = new Map<string, Server>()

  constructor(private readonly options: FakeHypervisorOptions) {
    this.vmsDir = path.join(options.dir, 'vms')
    this.holdsDir = path.join(options.dir, 'holds')
  }

  /** Creates its directories and listens again for the incoming migrations an earlier run was waiting for. */
  async open(): Promise<void> {
    await mkdir(this.vmsDir, { recursive: true })
    await mkdir(this.holdsDir, { recursive: true })
    for (const vm of await this.records()) {
      if (vm.incomingPort !== undefined) await this.listenIncoming(vm.serverId, vm.incomingPort).catch((err: unknown) => this.options.logger?.warn({ err, serverId: vm.serverId }, 'cannot listen again for an incoming migration'))
    }
  }

  /** Stops listening for incoming migrations. */
  async close(): Promise<void> {
    await Promise.all([...this.incoming.values()].map((s) => new Promise((r) => s.close(r))))
    this.incoming.clear()
  }

  async list(): Promise<LocalVm[]> {
    return (await this.records()).map((vm) => ({ serverId: vm.serverId, running: vm.running }))
  }

  async create(spec: VmSpec): Promise<void> {
    if (existsSync(this.disk(spec.serverId))) return
    await this.hold('create', spec.serverId)
    await mkdir(this.vmDir(spec.serverId), { recursive: true })
    const disk = this.disk(spec.serverId)
    await writeFile(`${disk}.tmp`, `fake disk of server ${spec.serverId}, image ${spec.image}\ndisk-nonce=${randomUUID()}\n`)
    await rename(`${disk}.tmp`, disk)
    await this.save({ ...sizeOf(spec), running: false })
    await this.journal('create', spec.serverId)
  }

  async start(spec: VmSpec): Promise<void> {
    const current = await this.record(spec.serverId)
    if (current?.running) return
    await this.hold('start', spec.serverId)
    await this.create(spec)
    await this.boot(spec.serverId)
    await this.save({ ...sizeOf(spec), running: true })
    await this.journal('start', spec.serverId)
  }

  async stop(serverId: string, hard: boolean): Promise<void> {
    const current = await this.record(serverId)
    if (!current?.running) return
    await this.hold('stop', serverId)
    await appendFile(this.consoleFile(serverId), `ECSD-STOP server=${serverId}${hard ? ' hard' : ''}\n`)
    await this.save({ ...current, running: false })
    await this.journal('stop', serverId)
  }

  async reboot(serverId: string, hard: boolean): Promise<void> {
    const current = await this.record(serverId)
    if (!current) throw new Error(`no VM ${serverId} on this host`)
    await this.hold('reboot', serverId)
    await this.boot(serverId, hard ? 'hard reboot' : 'reboot')
    await this.save({ ...current, running: true })
    await this.journal('reboot', serverId)
  }

  async destroy(serverId: string): Promise<void> {
    if (!existsSync(this.vmDir(serverId))) return
    await this.hold('destroy', serverId)
    await this.stopListening(serverId)
    await rm(this.vmDir(serverId), { recursive: true, force: true })
    await this.journal('destroy', serverId)
  }

  diskFile(serverId: string): string {
    return this.disk(serverId)
  }

  async adoptDisk(spec: VmSpec, file: string): Promise<void> {
    await this.hold('adopt', spec.serverId)
    await mkdir(this.vmDir(spec.serverId), { recursive: true })
    await rename(file, this.disk(spec.serverId))
    const current = await this.record(spec.serverId)
    await this.save({ ...sizeOf(spec), running: current?.running ?? false })
    await this.journal('adopt', spec.serverId)
  }

  async prepareIncoming(spec: VmSpec): Promise<{ port: number }> {
    const current = await this.record(spec.serverId)
    if (current?.incomingPort !== undefined) {
      // Asked again (a repeated task): the same port, listening again if this process is new.
      if (!this.incoming.has(spec.serverId)) await this.listenIncoming(spec.serverId, current.incomingPort)
      return { port: current.incomingPort }
    }
    if (current?.running) throw new Error(`VM ${spec.serverId} already runs here; it cannot also wait for an incoming migration`)
    await this.hold('incoming', spec.serverId)
    await mkdir(this.vmDir(spec.serverId), { recursive: true })
    const port = await this.listenIncoming(spec.serverId, 0)
    await this.save({ ...sizeOf(spec), running: false, incomingPort: port })
    await this.journal('incoming', spec.serverId)
    return { port }
  }

  async migrateOut(serverId: string, host: string, port: number): Promise<void> {
    const current = await this.record(serverId)
    if (current?.migratedOut) return
    if (!current?.running) throw new Error(`VM ${serverId} does not run here; only a running VM migrates live`)
    await this.hold('migrate-out', serverId)
    const payload = {
      serverId,
      disk: (await readFile(this.disk(serverId))).toString('base64'),
      console: (await readFile(this.consoleFile(serverId)).catch(() => Buffer.alloc(0))).toString('base64'),
    }
    const answer = await new Promise<string>((resolve, reject) => {
      const socket = createConnection({ host, port })
      let text = ''
      socket.setEncoding('utf8')
      socket.on('connect', () => socket.write(`${JSON.stringify(payload)}\n`))
      socket.on('data', (chunk: string) => (text += chunk))
      socket.on('end', () => resolve(text.trim()))
      socket.on('error', reject)
    })
    if (answer !== 'OK') throw new Error(`the migration target ${host}:${port} answered: ${answer || 'nothing'}`)
    await this.save({ ...current, running: false, migratedOut: true })
    await this.journal('migrate-out', serverId)
  }

  async console(serverId: string, offset: number): Promise<{ data: string; offset: number }> {
    const file = this.consoleFile(serverId)
    const size = await stat(file).then((s) => s.size, () => 0)
    const from = Math.min(Math.max(0, offset), size)
    if (from === size) return { data: '', offset: size }
    const handle = await open(file, 'r')
    try {
      const buffer = Buffer.alloc(size - from)
      await handle.read(buffer, 0, buffer.length, from)
      return { data: buffer.toString('utf8'), offset: size }
    } finally {
      await handle.close()
    }
  }

  /** The record of a VM, if this host has it. */
  record(serverId: string): Promise<FakeVmRecord | undefined> {
    return readJson<FakeVmRecord>(path.join(this.vmDir(serverId), 'vm.json'))
  }

  /** The file of a VM's serial log. */
  consoleFile(serverId: string): string {
    return path.join(this.vmDir(serverId), 'console.log')
  }

  private async records(): Promise<FakeVmRecord[]> {
    const ids = await readdir(this.vmsDir).catch(() => [] as string[])
    const records = await Promise.all(ids.filter(isSafeServerId).map((id) => this.record(id)))
    return records.filter((r): r is FakeVmRecord => r !== undefined)
  }

  /** A TCP listener that takes one migration of the server; answers its port. */
  private async listenIncoming(serverId: string, port: number): Promise<number> {
    const server = createServer((socket) => {
      let text = ''
      socket.setEncoding('utf8')
      socket.on('data', (chunk: string) => {
        text += chunk
        if (!text.includes('\n')) return
        socket.pause()
        this.receive(serverId, text.slice(0, text.indexOf('\n'))).then(
          () => {
            socket.end('OK\n')
            // Not awaited: closing waits for this very connection to end.
            void this.stopListening(serverId)
          },
          (err: unknown) => socket.end(`ERR ${(err as Error).message}\n`),
        )
      })
      socket.on('error', () => undefined)
    })
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(port, this.options.incomingHost ?? '0.0.0.0', () => resolve())
    })
    // A VM waiting for its migration must not keep a stopping agent alive.
    server.unref()
    this.incoming.set(serverId, server)
    return (server.address() as { port: number }).port
  }

  private async receive(serverId: string, line: string): Promise<void> {
    const payload = JSON.parse(line) as { serverId: string; disk: string; console: string }
    if (payload.serverId !== serverId) throw new Error(`this port waits for ${serverId}, not ${payload.serverId}`)
    const current = await this.record(serverId)
    if (current?.incomingPort === undefined) throw new Error(`VM ${serverId} does not wait for a migration`)
    await writeFile(`${this.disk(serverId)}.tmp`, Buffer.from(payload.disk, 'base64'))
    await rename(`${this.disk(serverId)}.tmp`, this.disk(serverId))
    await writeFile(this.consoleFile(serverId), Buffer.concat([Buffer.from(payload.console, 'base64'), Buffer.from(`ECSD-MIGRATED server=${serverId}\n`)]))
    const { incomingPort: _port, ...rest } = current
    await this.save({ ...rest, running: true })
    await this.journal('migrate-in', serverId)
  }

  private async stopListening(serverId: string): Promise<void> {
    const server = this.incoming.get(serverId)
    if (!server) return
    this.incoming.delete(serverId)
    await new Promise((r) => server.close(r))
  }

  private async boot(serverId: string, why = 'boot'): Promise<void> {
    await appendFile(this.consoleFile(serverId), `[fake] ${why}\n${bootMarker(serverId)}\n`)
  }

  /** Waits while the step is held. */
  private async hold(step: FakeStep, serverId: string): Promise<void> {
    const hold = path.join(this.holdsDir, step)
    if (!existsSync(hold)) return
    const waiting = `${hold}.waiting`
    await writeFile(waiting, `${serverId}\n`)
    this.options.logger?.info({ step, serverId }, 'fake hypervisor: step held')
    while (existsSync(hold)) await new Promise((r) => setTimeout(r, HOLD_POLL_MS))
    await rm(waiting, { force: true })
  }

  private async save(record: FakeVmRecord): Promise<void> {
    await mkdir(this.vmDir(record.serverId), { recursive: true })
    await writeFileAtomic(path.join(this.vmDir(record.serverId), 'vm.json'), `${JSON.stringify(record, null, 2)}\n`)
  }

  private async journal(step: string, serverId: string): Promise<void> {
    await appendFile(path.join(this.options.dir, 'journal.log'), `${new Date().toISOString()} ${step} ${serverId}\n`)
  }

  private vmDir(serverId: string): string {
    if (!isSafeServerId(serverId)) throw new Error(`not a server id: ${JSON.stringify(serverId)}`)
    return path.join(this.vmsDir, serverId)
  }

  private disk(serverId: string): string {
    return path.join(this.vmDir(serverId), 'disk.img')
  }
}

/** Opens a fake hypervisor on its directory. */
export async function createFakeHypervisor(options: FakeHypervisorOptions): Promise<FakeHypervisor> {
  const hypervisor = new FakeHypervisor(options)
  await hypervisor.open()
  return hypervisor
}

function sizeOf(spec: VmSpec): Pick<FakeVmRecord, 'serverId' | 'vcpus' | 'ramMb' | 'image'> {
  return { serverId: spec.serverId, vcpus: spec.vcpus, ramMb: spec.ramMb, image: spec.image }
}

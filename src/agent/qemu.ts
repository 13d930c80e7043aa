import { execFile } from 'node:child_process'
import { constants, accessSync, existsSync, readFileSync } from 'node:fs'
import { copyFile, mkdir, open, readFile, readdir, rename, rm, stat, unlink, writeFile } from 'node:fs/promises'
import net from 'node:net'
import path from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { promisify } from 'node:util'
import type { Logger } from 'pino'
import type { VmSpec } from '../domain/agent-task.ts'
import type { ImageManifest } from './demo-image.ts'
import type { Hypervisor, LocalVm } from './hypervisor.ts'

const run = promisify(execFile)

/** Options of `createQemuHypervisor`. */
export interface QemuHypervisorOptions {
  /** The agent's own directory; VMs live under `<stateDir>/vms/<serverId>/`. */
  stateDir: string
  /** Images, one directory per image id holding an `image.json`. */
  imageDir: string
  /** Caps every VM's memory, whatever its flavor says (test machines run several VMs). */
  maxVmRamMb?: number
  logger?: Logger
  /** How long a clean stop waits for the guest to power off before it quits the VM. */
  powerdownTimeoutMs?: number
  /** How long a live migration may take before it is cancelled (the source keeps running). */
  migrationTimeoutMs?: number
}

const DEFAULT_POWERDOWN_TIMEOUT_MS = 10_000
const DEFAULT_MIGRATION_TIMEOUT_MS = 600_000
/** How long one QMP command may take; they all answer at once unless QEMU is wedged. */
const QMP_TIMEOUT_MS = 10_000
/** How long QEMU may take to exit once told to quit, before it is killed. */
const QUIT_TIMEOUT_MS = 10_000
/** The most one `console` call returns, so a long log is read in pieces. */
const CONSOLE_CHUNK_BYTES = 1 << 20
/** Server ids and image ids become paths, QEMU option values and kernel arguments. */
const SAFE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/
/** Longest path of a unix socket (`sun_path` less its NUL). */
const MAX_SOCKET_PATH = 107

/** Files of one VM under its directory. */
const DISK = 'disk.qcow2'
const SERIAL = 'serial.log'
const QMP_SOCKET = 'qmp.sock'
const PID = 'pid'
const SPEC = 'spec.json'
/** The port an incoming VM listens on, so a repeated `prepareIncoming` answers the same. */
const INCOMING = 'incoming.json'
/** Where a VM is being migrated to, so a `migrateOut` repeated after a crash follows that migration. */
const MIGRATING = 'migrating.json'
/** Where a VM went, written once its migration completed, so a repeated `migrateOut` resolves. */
const MIGRATED = 'migrated.json'

type QmpValue = Record<string, unknown>

/**
 * A minimal QMP client: QEMU's JSON-lines control protocol on a unix socket. After the greeting
 * and `qmp_capabilities`, each command is answered by a `return` or an `error` carrying its id;
 * asynchronous `event` lines in between are ignored. QEMU serves one client at a time, so every
 * use opens a connection and closes it again.
 */
class Qmp {
  private buffer = ''
  private nextId = 1
  private readonly waiting = new Map<string, { resolve: (v: unknown) => void; reject: (e: Error) => void }>()
  private greeted: (() => void) | undefined
  private closedError: Error | undefined

  private constructor(private readonly socket: net.Socket) {
    socket.setEncoding('utf8')
    socket.on('data', (chunk: string) => this.receive(chunk))
    socket.on('error', (error) => this.fail(error))
    socket.on('close', () => this.fail(new Error('QMP connection closed')))
  }

  /** Connects to the monitor at `socketPath` and negotiates capabilities. */
  static async connect(socketPath: string): Promise<Qmp> {
    const socket = net.createConnection(socketPath)
    const qmp = new Qmp(socket)
    try {
      await withTimeout(
        new Promise<void>((resolve, reject) => {
          qmp.greeted = resolve
          socket.once('error', reject)
          socket.once('close', () => reject(new Error(`QMP connection to ${socketPath} closed`)))
        }),
        QMP_TIMEOUT_MS,
        `no QMP greeting on ${socketPath}`,
      )
      await qmp.execute('qmp_capabilities')
      return qmp
    } catch (error) {
      socket.destroy()
      throw error
    }
  }

  /** Runs one command; resolves with its `return` value, rejects with its error's description. */
  execute(command: string, args?: QmpValue): Promise<unknown> {
    if (this.closedError) return Promise.reject(this.closedError)
    const id = `ecsd-${this.nextId++}`
    const answer = new Promise<unknown>((resolve, reject) => this.waiting.set(id, { resolve, reject }))
    this.socket.write(`${JSON.stringify({ execute: command, ...(args ? { arguments: args } : {}), id })}\n`)
    return withTimeout(answer, QMP_TIMEOUT_MS, `QMP ${command} did not answer`)
  }

  close(): void {
    this.socket.destroy()
  }

  private receive(chunk: string): void {
    this.buffer += chunk
    let newline: number
    while ((newline = this.buffer.indexOf('\n')) >= 0) {
      const line = this.buffer.slice(0, newline).trim()
      this.buffer = this.buffer.slice(newline + 1)
      if (line === '') continue
      let message: QmpValue
      try {
        message = JSON.parse(line) as QmpValue
      } catch {
        continue
      }
      if ('QMP' in message) {
        this.greeted?.()
        continue
      }
      const id = typeof message.id === 'string' ? message.id : undefined
      const waiter = id === undefined ? undefined : this.waiting.get(id)
      if (!waiter || id === undefined) continue
      this.waiting.delete(id)
      if ('error' in message) {
        const error = message.error as { desc?: string; class?: string }
        waiter.reject(new Error(error.desc ?? error.class ?? 'QMP error'))
      } else {
        waiter.resolve(message.return)
      }
    }
  }

  private fail(error: Error): void {
    this.closedError ??= error
    for (const waiter of this.waiting.values()) waiter.reject(error)
    this.waiting.clear()
  }
}

/** `promise`, or a rejection with `message` after `ms`. */
async function withTimeout<T>(promise: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(message)), ms)
      }),
    ])
  } finally {
    clearTimeout(timer)
  }
}

/** Opens a QMP connection, runs `work` with it and closes it. */
async function withQmp<T>(socketPath: string, work: (qmp: Qmp) => Promise<T>): Promise<T> {
  const qmp = await Qmp.connect(socketPath)
  try {
    return await work(qmp)
  } finally {
    qmp.close()
  }
}

function checkName(kind: string, name: string): void {
  if (!SAFE_NAME.test(name)) throw new Error(`invalid ${kind} ${JSON.stringify(name)}`)
}

/** Whether `file` is missing (as opposed to unreadable). */
function isMissing(error: unknown): boolean {
  return (error as NodeJS.ErrnoException).code === 'ENOENT'
}

/** A path as the value of a QEMU `key=value,…` option, where a comma is written twice. */
function optionValue(value: string): string {
  return value.replaceAll(',', ',,')
}

/** Hardware acceleration when this machine offers it, else QEMU's emulator (TCG). */
function accelerator(): 'kvm' | 'tcg' {
  try {
    accessSync('/dev/kvm', constants.R_OK | constants.W_OK)
    return 'kvm'
  } catch {
    return 'tcg'
  }
}

/** `bytes` without a trailing UTF-8 sequence cut in half (its rest is not written or read yet). */
function completeUtf8(bytes: Buffer): Buffer {
  let end = bytes.length
  // Walk back over continuation bytes to the lead byte of the last character.
  let lead = end - 1
  while (lead >= 0 && lead > end - 4 && ((bytes[lead] ?? 0) & 0xc0) === 0x80) lead--
  if (lead < 0) return bytes
  const first = bytes[lead] ?? 0
  const length = first >= 0xf0 ? 4 : first >= 0xe0 ? 3 : first >= 0xc0 ? 2 : 1
  if (lead + length > end) end = lead
  return bytes.subarray(0, end)
}

/**
 * The QEMU driver of a host agent. Each VM is a `qemu-system-x86_64` process of its own, named
 * by its server id (`-name`), daemonized with a pid file, and controlled over its QMP socket; all
 * of its files are under `<stateDir>/vms/<serverId>/` (`disk.qcow2`, an overlay of the image's
 * base disk; `serial.log`; `qmp.sock`; `pid`; `spec.json`). VMs outlive the agent: a restarted
 * agent finds them again by their pid files and sockets. QEMU is driven directly rather than
 * through libvirt because several agents on one machine would each need an isolated libvirtd.
 */
export function createQemuHypervisor(options: QemuHypervisorOptions): Hypervisor {
  const stateDir = path.resolve(options.stateDir)
  const imageDir = path.resolve(options.imageDir)
  const vmsDir = path.join(stateDir, 'vms')
  const logger = options.logger
  const powerdownTimeoutMs = options.powerdownTimeoutMs ?? DEFAULT_POWERDOWN_TIMEOUT_MS
  const migrationTimeoutMs = options.migrationTimeoutMs ?? DEFAULT_MIGRATION_TIMEOUT_MS

  // Calls on one VM run one after another: the agent may carry out tasks concurrently, and
  // e.g. a stop racing a start would leave either outcome.
  const queues = new Map<string, Promise<unknown>>()
  function serialized<T>(serverId: string, work: () => Promise<T>): Promise<T> {
    checkName('server id', serverId)
    const previous = queues.get(serverId) ?? Promise.resolve()
    const next = previous.then(work, work)
    const settled = next.then(
      () => undefined,
      () => undefined,
    )
    queues.set(serverId, settled)
    void settled.then(() => {
      if (queues.get(serverId) === settled) queues.delete(serverId)
    })
    return next
  }

  const vmDir = (serverId: string): string => path.join(vmsDir, serverId)
  const file = (serverId: string, name: string): string => path.join(vmDir(serverId), name)

  /** The VM's directory, private: its QMP socket gives whoever reaches it the whole VM. */
  async function makeVmDir(serverId: string): Promise<void> {
    await mkdir(vmDir(serverId), { recursive: true, mode: 0o700 })
  }

  /** The image's files, checked to exist. */
  async function image(id: string): Promise<{ kernel: string; initrd: string; disk: string }> {
    checkName('image id', id)
    const dir = path.join(imageDir, id)
    let manifest: ImageManifest
    try {
      manifest = JSON.parse(await readFile(path.join(dir, 'image.json'), 'utf8')) as ImageManifest
    } catch (error) {
      if (isMissing(error)) {
        throw new Error(`image ${id} not found in ${imageDir} (npm run image:demo builds demo-busybox)`)
      }
      throw error
    }
    const files = {
      kernel: path.resolve(dir, manifest.kernel),
      initrd: path.resolve(dir, manifest.initrd),
      disk: path.resolve(dir, manifest.disk),
    }
    for (const f of Object.values(files)) {
      if (!existsSync(f)) throw new Error(`image ${id} is incomplete: ${f} is missing`)
    }
    return files
  }

  /**
   * The pid of the VM's QEMU if it runs. A pid file outlives a QEMU killed by a signal, and the
   * pid may since belong to another process, so the process must be alive (not a zombie) and
   * carry this VM's pid file on its command line.
   */
  function livePid(serverId: string): number | undefined {
    let pid: number
    try {
      pid = Number.parseInt(readFileSync(file(serverId, PID), 'utf8').trim(), 10)
    } catch {
      return undefined
    }
    if (!Number.isInteger(pid) || pid <= 0) return undefined
    return isOurs(pid, serverId) ? pid : undefined
  }

  function isOurs(pid: number, serverId: string): boolean {
    try {
      const status = readFileSync(`/proc/${pid}/stat`, 'utf8')
      const state = status.slice(status.lastIndexOf(')') + 2, status.lastIndexOf(')') + 3)
      if (state === 'Z' || state === 'X') return false
      const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')
      return cmdline.includes(file(serverId, PID))
    } catch {
      return false
    }
  }

  async function waitGone(pid: number, serverId: string, ms: number): Promise<boolean> {
    const deadline = Date.now() + ms
    while (Date.now() < deadline) {
      if (!isOurs(pid, serverId)) return true
      await sleep(100)
    }
    return !isOurs(pid, serverId)
  }

  /** Removes what a QEMU that is gone may have left: its pid file and socket. */
  async function clearRuntime(serverId: string): Promise<void> {
    await rm(file(serverId, PID), { force: true })
    await rm(file(serverId, QMP_SOCKET), { force: true })
  }

  /** Ends the VM's QEMU at once: `quit` over QMP, and SIGKILL if that does not do it. */
  async function quit(serverId: string, pid: number): Promise<void> {
    try {
      await withQmp(file(serverId, QMP_SOCKET), async (qmp) => {
        // QEMU may close the socket before it answers `quit`: either way it is on its way out.
        await qmp.execute('quit').catch(() => undefined)
      })
    } catch (error) {
      logger?.warn({ serverId, err: error }, 'QMP unreachable; killing the VM')
    }
    if (!(await waitGone(pid, serverId, QUIT_TIMEOUT_MS))) {
      try {
        process.kill(pid, 'SIGKILL')
      } catch {
        // It exited after all.
      }
      if (!(await waitGone(pid, serverId, QUIT_TIMEOUT_MS))) {
        throw new Error(`VM ${serverId} (pid ${pid}) does not die`)
      }
    }
    await clearRuntime(serverId)
  }

  async function writeSpec(spec: VmSpec): Promise<void> {
    const target = file(spec.serverId, SPEC)
    await writeFile(`${target}.tmp`, `${JSON.stringify(spec)}\n`)
    await rename(`${target}.tmp`, target)
  }

  async function readSpec(serverId: string): Promise<VmSpec | undefined> {
    try {
      return JSON.parse(await readFile(file(serverId, SPEC), 'utf8')) as VmSpec
    } catch (error) {
      if (isMissing(error)) return undefined
      throw error
    }
  }

  /** A fresh overlay of the image's base disk, put in place whole. */
  async function createOverlay(spec: VmSpec): Promise<void> {
    const { disk: base } = await image(spec.image)
    const disk = file(spec.serverId, DISK)
    const temporary = `${disk}.tmp`
    await rm(temporary, { force: true })
    await qemuImg(['create', '-q', '-f', 'qcow2', '-b', base, '-F', 'qcow2', temporary])
    await rename(temporary, disk)
  }

  async function qemuImg(args: string[]): Promise<void> {
    try {
      await run('qemu-img', args, { timeout: 60_000 })
    } catch (error) {
      if (isMissing(error)) throw new Error('qemu-img not found: install the Debian package qemu-utils')
      const stderr = (error as { stderr?: string }).stderr?.trim()
      throw new Error(`qemu-img ${args[0] ?? ''} failed: ${stderr || (error as Error).message}`)
    }
  }

  async function createInner(spec: VmSpec): Promise<void> {
    await makeVmDir(spec.serverId)
    await writeSpec(spec)
    if (!existsSync(file(spec.serverId, DISK))) await createOverlay(spec)
  }

  /** Starts the VM's QEMU (daemonized: it returns once the VM is set up), listening for `incomingPort` if given. */
  async function launch(spec: VmSpec, incomingPort?: number): Promise<void> {
    const { serverId } = spec
    const { kernel, initrd } = await image(spec.image)
    const qmpSocket = file(serverId, QMP_SOCKET)
    if (Buffer.byteLength(qmpSocket) > MAX_SOCKET_PATH) {
      throw new Error(`state dir ${stateDir} is too long a path for the VM's QMP socket ${qmpSocket}`)
    }
    await clearRuntime(serverId)
    // Booted here anew: no migration away from here is under way or done any more.
    await rm(file(serverId, MIGRATING), { force: true })
    await rm(file(serverId, MIGRATED), { force: true })
    const ramMb = Math.min(spec.ramMb, options.maxVmRamMb ?? spec.ramMb)
    const args = [
      '-name', serverId,
      '-nodefaults', '-no-user-config',
      '-accel', accelerator(),
      '-m', String(ramMb),
      '-smp', String(spec.vcpus),
      '-display', 'none',
      '-kernel', kernel,
      '-initrd', initrd,
      '-append', `console=ttyS0 ecsd.server=${serverId}`,
      '-drive', `file=${optionValue(file(serverId, DISK))},format=qcow2,if=none,id=disk0`,
      '-device', 'virtio-blk-pci,drive=disk0',
      // Appended to, not truncated, so console offsets stay valid across stops and starts.
      '-chardev', `file,id=serial0,path=${optionValue(file(serverId, SERIAL))},append=on`,
      '-serial', 'chardev:serial0',
      '-qmp', `unix:${optionValue(qmpSocket)},server=on,wait=off`,
      '-daemonize',
      '-pidfile', file(serverId, PID),
      ...(incomingPort === undefined ? [] : ['-incoming', `tcp:0.0.0.0:${incomingPort}`]),
    ]
    try {
      await run('qemu-system-x86_64', args, { timeout: 60_000 })
    } catch (error) {
      if (isMissing(error)) {
        throw new Error('qemu-system-x86_64 not found: install the Debian package qemu-system-x86')
      }
      const stderr = (error as { stderr?: string }).stderr?.trim()
      throw new Error(`VM ${serverId} did not start: ${stderr || (error as Error).message}`)
    }
    if (livePid(serverId) === undefined) throw new Error(`VM ${serverId} started but is not running`)
    logger?.info({ serverId, ramMb, vcpus: spec.vcpus, incomingPort }, 'VM started')
  }

  async function startInner(spec: VmSpec): Promise<void> {
    await createInner(spec)
    if (livePid(spec.serverId) !== undefined) {
      const status = await withQmp(file(spec.serverId, QMP_SOCKET), async (qmp) => {
        const { status } = (await qmp.execute('query-status')) as { status: string }
        if (status === 'paused' || status === 'prelaunch') await qmp.execute('cont')
        return status
      })
      if (status === 'postmigrate' || status === 'finish-migrate') {
        throw new Error(`VM ${spec.serverId} has migrated away from this host`)
      }
      return
    }
    await rm(file(spec.serverId, INCOMING), { force: true })
    await launch(spec)
  }

  async function stopInner(serverId: string, hard: boolean): Promise<void> {
    const pid = livePid(serverId)
    if (pid === undefined) {
      if (existsSync(vmDir(serverId))) await clearRuntime(serverId)
      return
    }
    if (!hard) {
      try {
        await withQmp(file(serverId, QMP_SOCKET), (qmp) => qmp.execute('system_powerdown'))
      } catch (error) {
        logger?.warn({ serverId, err: error }, 'system_powerdown failed')
      }
      // QEMU exits when the guest powers off; a guest that ignores the request is quit.
      if (await waitGone(pid, serverId, powerdownTimeoutMs)) {
        await clearRuntime(serverId)
        logger?.info({ serverId }, 'VM powered off')
        return
      }
    }
    await quit(serverId, pid)
    logger?.info({ serverId, hard }, 'VM stopped')
  }

  /** A port free now on every address, for an incoming migration. */
  function freePort(): Promise<number> {
    return new Promise((resolve, reject) => {
      const server = net.createServer()
      server.once('error', reject)
      server.listen(0, '0.0.0.0', () => {
        const address = server.address()
        server.close(() => {
          if (address && typeof address === 'object') resolve(address.port)
          else reject(new Error('no free port'))
        })
      })
    })
  }

  async function pollMigration(serverId: string, uri: string): Promise<void> {
    const socket = file(serverId, QMP_SOCKET)
    const deadline = Date.now() + migrationTimeoutMs
    for (;;) {
      const info = (await withQmp(socket, (qmp) => qmp.execute('query-migrate'))) as {
        status?: string
        'error-desc'?: string
      }
      if (info.status === 'completed') return
      if (info.status === 'failed' || info.status === 'cancelled') {
        throw new Error(`migration of ${serverId} to ${uri} ${info.status}: ${info['error-desc'] ?? 'no reason given'}`)
      }
      if (Date.now() > deadline) {
        await withQmp(socket, (qmp) => qmp.execute('migrate_cancel')).catch(() => undefined)
        throw new Error(`migration of ${serverId} to ${uri} took longer than ${migrationTimeoutMs} ms; cancelled`)
      }
      await sleep(200)
    }
  }

  return {
    async list(): Promise<LocalVm[]> {
      let names: string[]
      try {
        names = await readdir(vmsDir)
      } catch (error) {
        if (isMissing(error)) return []
        throw error
      }
      const vms: LocalVm[] = []
      for (const serverId of names.sort()) {
        if (!SAFE_NAME.test(serverId)) continue
        // A VM destroyed while the directory was listed is gone, not an error.
        const isDirectory = await stat(vmDir(serverId)).then((s) => s.isDirectory(), () => false)
        if (isDirectory) vms.push({ serverId, running: livePid(serverId) !== undefined })
      }
      return vms
    },

    create(spec) {
      return serialized(spec.serverId, () => createInner(spec))
    },

    start(spec) {
      return serialized(spec.serverId, () => startInner(spec))
    },

    stop(serverId, hard) {
      return serialized(serverId, () => stopInner(serverId, hard))
    },

    reboot(serverId, hard) {
      return serialized(serverId, async () => {
        const spec = await readSpec(serverId)
        if (spec === undefined) throw new Error(`no VM ${serverId} on this host`)
        if (hard && livePid(serverId) !== undefined) {
          await withQmp(file(serverId, QMP_SOCKET), (qmp) => qmp.execute('system_reset'))
          logger?.info({ serverId }, 'VM reset')
          return
        }
        // A clean reboot is a clean shutdown and a new boot, as for a guest that reboots itself.
        await stopInner(serverId, false)
        await startInner(spec)
      })
    },

    destroy(serverId) {
      return serialized(serverId, async () => {
        await stopInner(serverId, true)
        await rm(vmDir(serverId), { recursive: true, force: true })
        logger?.info({ serverId }, 'VM destroyed')
      })
    },

    diskFile(serverId) {
      checkName('server id', serverId)
      return file(serverId, DISK)
    },

    adoptDisk(spec, received) {
      return serialized(spec.serverId, async () => {
        const disk = file(spec.serverId, DISK)
        const { disk: base } = await image(spec.image)
        if (!existsSync(received)) {
          // Adopted by an earlier call: nothing left to move.
          if (existsSync(disk)) {
            await writeSpec(spec)
            return
          }
          throw new Error(`no disk ${received} to adopt for ${spec.serverId}`)
        }
        if (path.resolve(received) === disk) {
          await writeSpec(spec)
          return
        }
        if (livePid(spec.serverId) !== undefined) {
          throw new Error(`VM ${spec.serverId} runs on this host; it cannot take another disk`)
        }
        await makeVmDir(spec.serverId)
        // The overlay names its backing file by the source host's path; the base disk is the
        // same image here, so only the name is rewritten (`-u`), the data stays as it is.
        await qemuImg(['rebase', '-u', '-f', 'qcow2', '-b', base, '-F', 'qcow2', received])
        try {
          await rename(received, disk)
        } catch (error) {
          if ((error as NodeJS.ErrnoException).code !== 'EXDEV') throw error
          await copyFile(received, `${disk}.tmp`)
          await rename(`${disk}.tmp`, disk)
          await unlink(received)
        }
        await writeSpec(spec)
        logger?.info({ serverId: spec.serverId }, 'disk adopted')
      })
    },

    prepareIncoming(spec) {
      return serialized(spec.serverId, async () => {
        const { serverId } = spec
        if (livePid(serverId) !== undefined) {
          try {
            const { port } = JSON.parse(await readFile(file(serverId, INCOMING), 'utf8')) as { port: number }
            return { port }
          } catch (error) {
            if (isMissing(error)) throw new Error(`VM ${serverId} already runs on this host`)
            throw error
          }
        }
        // Block migration fills the overlay with the source's blocks; what an earlier attempt
        // left in it would otherwise survive under them.
        await makeVmDir(serverId)
        await rm(file(serverId, DISK), { force: true })
        await createInner(spec)
        for (let attempt = 1; ; attempt++) {
          const port = await freePort()
          await writeFile(file(serverId, INCOMING), `${JSON.stringify({ port })}\n`)
          try {
            await launch(spec, port)
            return { port }
          } catch (error) {
            await rm(file(serverId, INCOMING), { force: true })
            // Another process may take the port between the probe and QEMU's bind.
            if (attempt >= 5 || !/address already in use/i.test((error as Error).message)) throw error
          }
        }
      })
    },

    migrateOut(serverId, host, port) {
      return serialized(serverId, async () => {
        const uri = `tcp:${host.includes(':') ? `[${host}]` : host}:${port}`
        const pid = livePid(serverId)
        if (pid === undefined) {
          try {
            const done = JSON.parse(await readFile(file(serverId, MIGRATED), 'utf8')) as { uri: string }
            if (done.uri === uri) return
          } catch (error) {
            if (!isMissing(error)) throw error
          }
          throw new Error(`VM ${serverId} does not run on this host`)
        }
        const socket = file(serverId, QMP_SOCKET)
        const started = Date.now()
        // A migration to `uri` this VM already runs (begun before the agent restarted) is
        // followed, not begun again. The file says it is ours: a VM that arrived by migration
        // reports that incoming one as `completed` too.
        const { status } = (await withQmp(socket, (qmp) => qmp.execute('query-migrate'))) as { status?: string }
        const pending = await readFile(file(serverId, MIGRATING), 'utf8').then(
          (text) => (JSON.parse(text) as { uri: string }).uri,
          () => undefined,
        )
        const over = status === undefined || status === 'none' || status === 'failed' || status === 'cancelled'
        if (pending !== uri || over) {
          await writeFile(file(serverId, MIGRATING), `${JSON.stringify({ uri })}\n`)
          // `blk` copies the disk along (no shared storage); `inc` only the overlay, as the
          // target's overlay has the same base disk.
          await withQmp(socket, (qmp) => qmp.execute('migrate', { uri, blk: true, inc: true }))
        }
        await pollMigration(serverId, uri)
        await writeFile(file(serverId, MIGRATED), `${JSON.stringify({ uri })}\n`)
        await quit(serverId, pid)
        logger?.info({ serverId, uri, ms: Date.now() - started }, 'VM migrated out')
      })
    },

    async console(serverId, offset) {
      checkName('server id', serverId)
      let handle
      try {
        handle = await open(file(serverId, SERIAL), 'r')
      } catch (error) {
        if (isMissing(error)) return { data: '', offset: 0 }
        throw error
      }
      try {
        const { size } = await handle.stat()
        // An offset past the end belongs to another log (the VM came from another host):
        // answer this one from its start.
        const from = offset >= 0 && offset <= size ? offset : 0
        const length = Math.min(size - from, CONSOLE_CHUNK_BYTES)
        const buffer = Buffer.alloc(length)
        const { bytesRead } = await handle.read(buffer, 0, length, from)
        const complete = completeUtf8(buffer.subarray(0, bytesRead))
        return { data: complete.toString('utf8'), offset: from + complete.length }
      } finally {
        await handle.close()
      }
    },
  }
}

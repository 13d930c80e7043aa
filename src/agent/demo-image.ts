import { execFile } from 'node:child_process'
import { existsSync } from 'node:fs'
import { copyFile, mkdir, readFile, readdir, rename, rm, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { promisify } from 'node:util'
import { gzipSync } from 'node:zlib'

const run = promisify(execFile)

/** The id of the demo image, the `imageRef` that names it on create. */
export const DEMO_IMAGE_ID = 'demo-busybox'

/** What an image directory holds, as its `image.json` says: file names relative to it. */
export interface ImageManifest {
  id: string
  kernel: string
  initrd: string
  /** The base disk every VM's qcow2 overlay is backed by. */
  disk: string
}

/** Where the demo image's ingredients come from; the defaults are the Debian packages' paths. */
export interface DemoImageSources {
  /** A directory holding `vmlinuz-*` (linux-image-amd64). */
  bootDir?: string
  /** A statically linked busybox (busybox-static). */
  busybox?: string
}

/** The size of the demo's empty base disk: small, as nothing in the guest uses it. */
const BASE_DISK_SIZE = '64M'

/**
 * The guest's `/init`: it needs nothing but busybox, says which server it is (the id comes from
 * the kernel command line the hypervisor writes) and then counts, so that a test can tell a
 * guest that kept running (a live migration) from one that booted again (the counter restarts).
 */
const INIT_SCRIPT = `#!/bin/sh
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
id=unknown
for arg in $(cat /proc/cmdline); do
  case "$arg" in ecsd.server=*) id="\${arg#ecsd.server=}" ;; esac
done
echo "ECSD-BOOT server=$id"
n=0
while true; do
  n=$((n + 1))
  echo "ECSD-COUNT $id $n"
  sleep 1
done
`

/** One member of a cpio archive. */
interface CpioEntry {
  name: string
  /** File type and permission bits, as `st_mode`. */
  mode: number
  data?: Buffer
  /** Device number of a character device. */
  rdev?: { major: number; minor: number }
}

const S_IFDIR = 0o040000
const S_IFREG = 0o100000
const S_IFLNK = 0o120000
const S_IFCHR = 0o020000

/**
 * An archive in the `newc` cpio format the kernel unpacks as its initramfs: per member a
 * 110-byte ASCII header (magic and thirteen 8-digit hex fields), the name with its NUL, padding
 * to 4 bytes, the data, padding to 4 bytes; a `TRAILER!!!` member ends it. Written here rather
 * than with cpio(1) so that device nodes need no root and the archive is the same on every run.
 */
export function cpioNewc(entries: readonly CpioEntry[]): Buffer {
  const parts: Buffer[] = []
  let size = 0
  const push = (b: Buffer): void => {
    parts.push(b)
    size += b.length
  }
  const pad = (): void => {
    if (size % 4 !== 0) push(Buffer.alloc(4 - (size % 4)))
  }
  const member = (entry: CpioEntry, ino: number): void => {
    const data = entry.data ?? Buffer.alloc(0)
    const name = Buffer.from(`${entry.name}\0`)
    const isDir = (entry.mode & 0o170000) === S_IFDIR
    const fields = [
      ino,
      entry.mode,
      0, // uid
      0, // gid
      isDir ? 2 : 1, // nlink
      0, // mtime: fixed, so the archive is reproducible
      data.length,
      0, // devmajor
      0, // devminor
      entry.rdev?.major ?? 0,
      entry.rdev?.minor ?? 0,
      name.length,
      0, // check: unused by newc
    ]
    push(Buffer.from(`070701${fields.map((f) => f.toString(16).padStart(8, '0')).join('')}`, 'ascii'))
    push(name)
    pad()
    push(data)
    pad()
  }
  entries.forEach((entry, i) => member(entry, i + 1))
  member({ name: 'TRAILER!!!', mode: 0 }, 0)
  return Buffer.concat(parts, size)
}

/**
 * Whether an ELF executable needs a dynamic loader (it has a PT_INTERP program header): such a
 * busybox cannot run alone in an initramfs.
 */
function isDynamicElf(elf: Buffer): boolean {
  if (elf.length < 64 || elf.readUInt32BE(0) !== 0x7f454c46 || elf[4] !== 2) {
    throw new Error('not a 64-bit ELF executable')
  }
  const phoff = Number(elf.readBigUInt64LE(0x20))
  const phentsize = elf.readUInt16LE(0x36)
  const phnum = elf.readUInt16LE(0x38)
  for (let i = 0; i < phnum; i++) {
    const at = phoff + i * phentsize
    if (at + 4 <= elf.length && elf.readUInt32LE(at) === 3) return true
  }
  return false
}

/** The newest `vmlinuz-*` of `bootDir`, by version order of its name. */
async function findKernel(bootDir: string): Promise<string> {
  const names = existsSync(bootDir) ? await readdir(bootDir) : []
  const kernels = names
    .filter((n) => n.startsWith('vmlinuz-'))
    .sort((a, b) => a.localeCompare(b, 'en', { numeric: true }))
  const newest = kernels.at(-1)
  if (newest === undefined) {
    throw new Error(`no kernel ${bootDir}/vmlinuz-*: install the Debian package linux-image-amd64`)
  }
  return path.join(bootDir, newest)
}

/** The initramfs of the demo guest: busybox, `/init`, and the few nodes the kernel wants. */
async function demoInitrd(busyboxPath: string): Promise<Buffer> {
  if (!existsSync(busyboxPath)) {
    throw new Error(`no busybox at ${busyboxPath}: install the Debian package busybox-static`)
  }
  const busybox = await readFile(busyboxPath)
  if (isDynamicElf(busybox)) {
    throw new Error(`${busyboxPath} is dynamically linked: install the Debian package busybox-static`)
  }
  const archive = cpioNewc([
    { name: 'bin', mode: S_IFDIR | 0o755 },
    { name: 'bin/busybox', mode: S_IFREG | 0o755, data: busybox },
    { name: 'bin/sh', mode: S_IFLNK | 0o777, data: Buffer.from('busybox') },
    { name: 'dev', mode: S_IFDIR | 0o755 },
    // The kernel opens /dev/console for init's stdio before init runs, and an initramfs gets no
    // devtmpfs: without this node the guest's output would go nowhere.
    { name: 'dev/console', mode: S_IFCHR | 0o600, rdev: { major: 5, minor: 1 } },
    { name: 'dev/null', mode: S_IFCHR | 0o666, rdev: { major: 1, minor: 3 } },
    { name: 'proc', mode: S_IFDIR | 0o755 },
    { name: 'sys', mode: S_IFDIR | 0o755 },
    { name: 'init', mode: S_IFREG | 0o755, data: Buffer.from(INIT_SCRIPT) },
  ])
  return gzipSync(archive, { level: 9 })
}

/** Writes `data` to `file` through a temporary name, so a reader never sees half of it. */
async function writeAtomically(file: string, data: Buffer | string): Promise<void> {
  const temporary = `${file}.tmp-${process.pid}`
  await writeFile(temporary, data)
  await rename(temporary, file)
}

/**
 * Builds the demo image into `<imageDir>/demo-busybox/`: Debian's kernel, a busybox initramfs
 * whose guest prints its server id and a counter on the serial console, an empty qcow2 base
 * disk, and `image.json`. Running it again refreshes the kernel and initramfs but keeps an
 * existing base disk, because the overlays of existing VMs are backed by it.
 */
export async function buildDemoImage(imageDir: string, sources: DemoImageSources = {}): Promise<string> {
  const kernel = await findKernel(sources.bootDir ?? '/boot')
  const initrd = await demoInitrd(sources.busybox ?? '/bin/busybox')
  const dir = path.resolve(imageDir, DEMO_IMAGE_ID)
  await mkdir(dir, { recursive: true })
  const manifest: ImageManifest = { id: DEMO_IMAGE_ID, kernel: 'vmlinuz', initrd: 'initrd.img', disk: 'base.qcow2' }
  const kernelTemporary = path.join(dir, `${manifest.kernel}.tmp-${process.pid}`)
  await copyFile(kernel, kernelTemporary)
  await rename(kernelTemporary, path.join(dir, manifest.kernel))
  await writeAtomically(path.join(dir, manifest.initrd), initrd)
  const disk = path.join(dir, manifest.disk)
  if (!existsSync(disk)) {
    const temporary = `${disk}.tmp-${process.pid}`
    try {
      await run('qemu-img', ['create', '-q', '-f', 'qcow2', temporary, BASE_DISK_SIZE])
    } catch (error) {
      await rm(temporary, { force: true })
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
        throw new Error('qemu-img not found: install the Debian package qemu-utils')
      }
      throw error
    }
    await rename(temporary, disk)
  }
  await writeAtomically(path.join(dir, 'image.json'), `${JSON.stringify(manifest, null, 2)}\n`)
  return dir
}

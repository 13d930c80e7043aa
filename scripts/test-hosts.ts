/**
 * The suite of real hosts, as `npm run test:hosts` runs it: type-check, then run every test
 * file of `test/hosts/` (or those named: `npm run test:hosts -- test/hosts/x.test.ts`) one at a
 * time, because each boots real VMs (QEMU, TCG without /dev/kvm) and they would slow each other
 * past their bounds on a small machine. Needs the Debian packages qemu-system-x86, qemu-utils,
 * busybox-static and linux-image-amd64: when one of their files is missing, it installs them
 * with apt-get (after `apt-get update`), as root. Kept apart from `npm test`, which needs none
 * of them.
 */
import { spawn, spawnSync } from 'node:child_process'
import { readdirSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const hostsDir = path.join(root, 'test', 'hosts')

/** The Debian packages whose files the suite runs (QEMU, qemu-img/qemu-io, a static busybox, a kernel). */
const PACKAGES = ['qemu-system-x86', 'qemu-utils', 'busybox-static', 'linux-image-amd64']

function installed(pkg: string): boolean {
  const query = spawnSync('dpkg-query', ['-W', '-f=${Status}', pkg], { encoding: 'utf8' })
  return query.status === 0 && query.stdout.trim() === 'install ok installed'
}

const missing = PACKAGES.filter((p) => !installed(p))
if (missing.length > 0) {
  process.stderr.write(`test:hosts: installing ${missing.join(' ')} with apt-get\n`)
  if (process.getuid?.() !== 0) {
    process.stderr.write(`test:hosts: not root: run \`apt-get update && apt-get install -y ${missing.join(' ')}\` as root, then again\n`)
    process.exit(1)
  }
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' }
  for (const args of [['update'], ['install', '-y', '--no-install-recommends', ...missing]]) {
    const apt = spawnSync('apt-get', args, { stdio: 'inherit', env })
    if (apt.status !== 0) process.exit(apt.status ?? 1)
  }
}

const typecheck = spawnSync('npx', ['tsc', '--noEmit', '-p', '.'], { cwd: root, stdio: 'inherit' })
if (typecheck.status !== 0) process.exit(typecheck.status ?? 1)

// Arguments naming test files select them; any other argument goes to the test runner. Files
// are listed explicitly: Node 20's runner silently runs nothing when given a directory.
const args = process.argv.slice(2)
const chosen = args.filter((a) => a.endsWith('.test.ts'))
const runnerFlags = args.filter((a) => !a.endsWith('.test.ts'))
const files =
  chosen.length > 0
    ? chosen
    : readdirSync(hostsDir)
        .filter((name) => name.endsWith('.test.ts'))
        .sort()
        .map((name) => path.relative(root, path.join(hostsDir, name)))
if (files.length === 0) {
  process.stderr.write('no test files found under test/hosts/\n')
  process.exit(1)
}

const runner = spawn(
  process.execPath,
  ['--import', 'tsx', '--test', '--test-concurrency=1', '--test-timeout=1800000', ...runnerFlags, ...files],
  { cwd: root, stdio: 'inherit' },
)
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => runner.kill(signal))
const code = await new Promise<number>((resolve) => runner.once('exit', (c, s) => resolve(c ?? (s ? 1 : 0))))
process.exit(code)

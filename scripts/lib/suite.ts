/**
 * What the suites kept apart from `npm test` share (`npm run test:hosts`, `npm run
 * test:openstack`): the Debian packages they need, installed with apt-get when missing, and a
 * run of one test directory's files, one file at a time.
 */
import { spawn, spawnSync } from 'node:child_process'
import { readdirSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

/** The repository's root. */
export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..')

function installed(pkg: string): boolean {
  const query = spawnSync('dpkg-query', ['-W', '-f=${Status}', pkg], { encoding: 'utf8' })
  return query.status === 0 && query.stdout.trim() === 'install ok installed'
}

/**
 * Installs those of `packages` that dpkg does not have, with `apt-get update` then `apt-get
 * install -y --no-install-recommends` (as root); exits the process with a line saying what to do
 * when that cannot be done.
 */
export function ensureDebianPackages(suite: string, packages: readonly string[]): void {
  const missing = packages.filter((p) => !installed(p))
  if (missing.length === 0) return
  process.stderr.write(`${suite}: installing ${missing.join(' ')} with apt-get\n`)
  if (process.getuid?.() !== 0) {
    process.stderr.write(`${suite}: not root: run \`apt-get update && apt-get install -y ${missing.join(' ')}\` as root, then again\n`)
    process.exit(1)
  }
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' }
  for (const args of [['update'], ['install', '-y', '--no-install-recommends', ...missing]]) {
    const apt = spawnSync('apt-get', args, { stdio: 'inherit', env })
    if (apt.status !== 0) {
      process.stderr.write(`${suite}: apt-get ${args[0]} failed (${String(apt.status ?? apt.error?.message)}); install ${missing.join(' ')} as root and run again\n`)
      process.exit(1)
    }
  }
}

/**
 * Type-checks, then runs the test files of `dir` (relative to the root; or those the command
 * line names, `… -- test/x/y.test.ts`; other arguments go to the runner) one at a time, and
 * exits with the runner's code. Files are listed explicitly: Node 20's runner silently runs
 * nothing when given a directory.
 */
export async function runSuite(dir: string): Promise<never> {
  const typecheck = spawnSync('npx', ['tsc', '--noEmit', '-p', '.'], { cwd: ROOT, stdio: 'inherit' })
  if (typecheck.status !== 0) process.exit(typecheck.status ?? 1)
  const args = process.argv.slice(2)
  const chosen = args.filter((a) => a.endsWith('.test.ts'))
  const runnerFlags = args.filter((a) => !a.endsWith('.test.ts'))
  const files =
    chosen.length > 0
      ? chosen
      : readdirSync(path.join(ROOT, dir))
          .filter((name) => name.endsWith('.test.ts'))
          .sort()
          .map((name) => path.join(dir, name))
  if (files.length === 0) {
    process.stderr.write(`no test files found under ${dir}/\n`)
    process.exit(1)
  }
  const runner = spawn(
    process.execPath,
    ['--import', 'tsx', '--test', '--test-concurrency=1', '--test-timeout=1800000', ...runnerFlags, ...files],
    { cwd: ROOT, stdio: 'inherit' },
  )
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => runner.kill(signal))
  const code = await new Promise<number>((resolve) => runner.once('exit', (c, s) => resolve(c ?? (s ? 1 : 0))))
  process.exit(code)
}

/**
 * The whole suite, as `npm test` runs it: type-check, start one real PostgreSQL for every test
 * file, run every test file (or those named: `npm test -- test/x.test.ts`) (listed explicitly: Node 20's runner silently runs nothing when given
 * a directory or a quoted glob of .ts files), stop PostgreSQL, exit with the runner's code.
 */
import { spawn, spawnSync } from 'node:child_process'
import { readdirSync, statSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { POSTGRES_URL_VARIABLE, startPostgres } from '../test/postgres.ts'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')

// test/hosts/ boots real VMs and needs QEMU: `npm run test:hosts` runs it.
const hostsDir = path.join(root, 'test', 'hosts')
// test/openstack/ drives Debian's openstack CLI: `npm run test:openstack` runs it.
const openstackDir = path.join(root, 'test', 'openstack')
// test/browser/ drives Debian's Chromium: `npm run test:browser` runs it.
const browserDir = path.join(root, 'test', 'browser')

function testFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const full = path.join(dir, name)
    if (full === hostsDir || full === openstackDir || full === browserDir) return []
    if (statSync(full).isDirectory()) return testFiles(full)
    return name.endsWith('.test.ts') ? [path.relative(root, full)] : []
  })
}

const typecheck = spawnSync('npx', ['tsc', '--noEmit', '-p', '.'], { cwd: root, stdio: 'inherit' })
if (typecheck.status !== 0) process.exit(typecheck.status ?? 1)

// Arguments naming test files select them; any other argument goes to the test runner.
const args = process.argv.slice(2)
const chosen = args.filter((a) => a.endsWith('.test.ts'))
const runnerFlags = args.filter((a) => !a.endsWith('.test.ts'))
// The runner starts files in the order given, two at a time: the long ones (real processes under
// load, CLI processes, end-to-end stories) go first, so that the short ones fill in around them
// instead of one long file running alone at the end.
const LONG_FIRST = ['test/stress/crash', 'test/cli/hosts', 'test/stress/', 'test/cli/', 'test/e2e/', 'test/hosts/']
const rank = (file: string) => {
  const at = LONG_FIRST.findIndex((prefix) => file.split(path.sep).join('/').startsWith(prefix))
  return at === -1 ? LONG_FIRST.length : at
}
const files = chosen.length > 0 ? chosen : testFiles(path.join(root, 'test')).sort().sort((a, b) => rank(a) - rank(b))
if (files.length === 0) {
  process.stderr.write('no test files found under test/\n')
  process.exit(1)
}

const postgres = await startPostgres()
const runner = spawn(
  process.execPath,
  ['--import', 'tsx', '--test', '--test-concurrency=2', '--test-timeout=600000', ...runnerFlags, ...files],
  { cwd: root, stdio: 'inherit', env: { ...process.env, [POSTGRES_URL_VARIABLE]: postgres.url } },
)
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => runner.kill(signal))
const code = await new Promise<number>((resolve) => runner.once('exit', (c, s) => resolve(c ?? (s ? 1 : 0))))
await postgres.stop()
process.exit(code)

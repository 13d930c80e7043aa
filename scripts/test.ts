/**
 * The whole suite, as `npm test` runs it: start one real PostgreSQL for every test file, run every
 * test file (or those named: `npm test -- test/x.test.ts`; `--test-name-pattern=…` narrows them),
 * two at a time with the long ones first, type-check beside them, stop PostgreSQL, and exit 1 if a
 * test or the type-check failed. Files are listed explicitly: Node 20's runner silently runs
 * nothing when given a directory or a quoted glob of .ts files.
 */
import { spawn } from 'node:child_process'
import { readdirSync, statSync } from 'node:fs'
import path from 'node:path'
import { pipeline } from 'node:stream/promises'
import { run } from 'node:test'
import { tap } from 'node:test/reporters'
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

// The type-check runs beside the tests (the runner leaves a core idle often enough); the suite
// fails if it fails.
const typecheck = new Promise<number>((resolve) => {
  const tsc = spawn('npx', ['tsc', '--noEmit', '-p', '.'], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] })
  let output = ''
  tsc.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()))
  tsc.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()))
  tsc.once('exit', (code) => {
    if (code !== 0) process.stderr.write(`type-check failed:\n${output}`)
    resolve(code ?? 1)
  })
})

// Arguments naming test files select them; `--test-name-pattern=…` selects tests in them.
const args = process.argv.slice(2)
const chosen = args.filter((a) => a.endsWith('.test.ts'))
const patterns = args.filter((a) => a.startsWith('--test-name-pattern=')).map((a) => a.slice('--test-name-pattern='.length))
const unknown = args.filter((a) => !a.endsWith('.test.ts') && !a.startsWith('--test-name-pattern='))
if (unknown.length > 0) {
  process.stderr.write(`npm test takes test files and --test-name-pattern=…, not: ${unknown.join(' ')}\n`)
  process.exit(2)
}
// The runner starts files in the order given, two at a time: the long ones (real processes under
// load, CLI processes, end-to-end stories) go first, so that the short ones fill in around them
// instead of one long file running alone at the end. (`node --test FILES` would sort them by name.)
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
// Every test file's process finds the suite's PostgreSQL here.
process.env[POSTGRES_URL_VARIABLE] = postgres.url
const stop = new AbortController()
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => stop.abort())
let failed = false
const stream = run({
  files: files.map((f) => path.resolve(root, f)),
  concurrency: 2,
  timeout: 600_000,
  signal: stop.signal,
  ...(patterns.length > 0 ? { testNamePatterns: patterns } : {}),
})
stream.on('test:fail', () => {
  failed = true
})
await pipeline(stream.compose(tap), process.stdout)
await postgres.stop()
process.exit((await typecheck) !== 0 || failed || stop.signal.aborted ? 1 : 0)

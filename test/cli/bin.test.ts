import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { readFileSync } from 'node:fs'
import path from 'node:path'
import { test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { tempDir } from '../helper.ts'

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..')
const run = promisify(execFile)
const VERSION = (JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string }).version
/** The environment of a user's shell: nothing of the test runner's ECSD_* settings. */
const ENV = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('ECSD_')))

test('npx ecsd runs the package\'s own command in the checkout: --version, a migration and an audit', async (t) => {
  const { stdout } = await run('npx', ['ecsd', '--version'], { cwd: ROOT, env: ENV })
  assert.equal(stdout.trim(), VERSION)

  const dataDir = tempDir(t)
  await run('npx', ['ecsd', 'migrate', '--data-dir', dataDir], { cwd: ROOT, env: ENV })
  const audit = await run('npx', ['ecsd', 'audit', '--data-dir', dataDir], { cwd: ROOT, env: ENV })
  assert.equal(audit.stdout.trim(), 'audit: 0 violations')
})

test('after npm install -g, ecsd runs from any directory', async (t) => {
  const prefix = tempDir(t)
  await run('npm', ['install', '-g', '--prefix', prefix, '--offline', '--ignore-scripts', '--no-audit', '--no-fund', ROOT], { cwd: ROOT, env: ENV })
  const { stdout } = await run(path.join(prefix, 'bin', 'ecsd'), ['--version'], { cwd: tempDir(t), env: ENV })
  assert.equal(stdout.trim(), VERSION)
  const help = await run(path.join(prefix, 'bin', 'ecsd'), ['audit', '--help'], { cwd: tempDir(t), env: ENV })
  assert.match(help.stdout, /Usage: ecsd audit/)
})

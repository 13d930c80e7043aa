import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { readFileSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { test } from 'node:test'
import { promisify } from 'node:util'
import { tempDir } from '../helper.ts'
import { assertOk, cliEnv, npxEcsd, ROOT } from './cli.ts'

const run = promisify(execFile)
const VERSION = (JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string }).version

test('npx ecsd runs the package\'s own command in the checkout: --version, a migration and an audit', async (t) => {
  const version = await npxEcsd(['--version'])
  assertOk(version)
  assert.equal(version.stdout.trim(), VERSION)

  const dataDir = tempDir(t)
  assertOk(await npxEcsd(['migrate', '--data-dir', dataDir]))
  const audit = await npxEcsd(['audit', '--data-dir', dataDir])
  assertOk(audit)
  assert.equal(audit.stdout.trim(), 'audit: 0 violations')
})

test('after npm install -g, ecsd runs from any directory', async (t) => {
  const prefix = tempDir(t)
  await run('npm', ['install', '-g', '--prefix', prefix, '--offline', '--ignore-scripts', '--no-audit', '--no-fund', ROOT], { cwd: ROOT, env: cliEnv() })
  const { stdout } = await run(path.join(prefix, 'bin', 'ecsd'), ['--version'], { cwd: tempDir(t), env: cliEnv() })
  assert.equal(stdout.trim(), VERSION)
  const help = await run(path.join(prefix, 'bin', 'ecsd'), ['audit', '--help'], { cwd: tempDir(t), env: cliEnv() })
  assert.match(help.stdout, /Usage: ecsd audit/)

  // The working directory's ecsd.config.json is read: its data directory is the one looked for.
  const cwd = tempDir(t)
  writeFileSync(path.join(cwd, 'ecsd.config.json'), JSON.stringify({ ECSD_DATA_DIR: 'from-file' }))
  const failed = await run(path.join(prefix, 'bin', 'ecsd'), ['audit'], { cwd, env: cliEnv() }).then(() => assert.fail('audit of a missing database succeeded'), (err: { code: number; stderr: string }) => err)
  assert.equal(failed.code, 1)
  assert.equal(failed.stderr, `ecsd: there is no database in ${path.join(cwd, 'from-file')} (${path.join(cwd, 'from-file', 'ecsd.sqlite')} does not exist): give --data-dir or --database, or run ecsd migrate first\n`)
})

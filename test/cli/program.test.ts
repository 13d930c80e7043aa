import assert from 'node:assert/strict'
import { writeFileSync } from 'node:fs'
import path from 'node:path'
import { test } from 'node:test'
import { CommanderError, type Command } from 'commander'
import { commandPath, createProgram, forEachCommand } from '../../src/cli/program.ts'
import { tempDir } from '../helper.ts'
import { assertOneLineError, ecsdCommand } from './cli.ts'

/** The names that lead from the program to `cmd`: `['hosts', 'add']`. */
function namesOf(cmd: Command): string[] {
  return commandPath(cmd).split(' ').slice(1)
}

test('every command and subcommand has a description, and --help prints its usage and exits 0', async () => {
  const paths: string[][] = []
  forEachCommand(createProgram(), (cmd) => paths.push(namesOf(cmd)))
  assert.ok(paths.length > 20, `${paths.length} commands`)
  for (const names of paths) {
    // A fresh tree for each: commander keeps what one parse set.
    const program = createProgram()
    let out = ''
    forEachCommand(program, (cmd) => {
      cmd.configureOutput({ writeOut: (text) => (out += text), writeErr: (text) => (out += `[stderr] ${text}`) })
    })
    const target = names.reduce<Command>((cmd, name) => cmd.commands.find((c) => c.name() === name)!, program)
    assert.notEqual(target.description(), '', `ecsd ${names.join(' ')} has a description`)
    await assert.rejects(program.parseAsync([...names, '--help'], { from: 'user' }), (err: unknown) => err instanceof CommanderError && err.exitCode === 0)
    assert.match(out, new RegExp(`^Usage: ${['ecsd', ...names].join(' ')} `), `ecsd ${names.join(' ')} --help`)
    // Help wraps long lines.
    const words = (text: string) => text.replace(/\s+/g, ' ')
    assert.ok(words(out).includes(words(target.description())), `the help of ecsd ${names.join(' ')} says what it does`)
    assert.doesNotMatch(out, /\[stderr\]/)
  }
})

test('ecsd: help lists the commands; an unknown or missing command, a bad flag, a bad value, a bad config file: one line, exit 2', async (t) => {
  const dir = tempDir(t)
  const typo = path.join(dir, 'typo.json')
  writeFileSync(typo, JSON.stringify({ ECSD_DATA_DIR: dir, ECSD_PROT: 9000 }))
  const [help, unknownCommand, unknownSubcommand, noSubcommand, badFlag, badValue, badConfig] = await Promise.all([
    ecsdCommand(['--help']),
    ecsdCommand(['nosuchcmd']),
    ecsdCommand(['hosts', 'nosuch']),
    ecsdCommand(['fleet']),
    ecsdCommand(['audit', '--colour', '--data-dir', dir]),
    ecsdCommand(['events', '--since', 'yesterday', '--data-dir', dir]),
    ecsdCommand(['audit', '--config', typo]),
  ])
  assert.equal(help.code, 0)
  for (const command of ['serve', 'migrate', 'audit', 'fleet', 'events', 'projects', 'credentials', 'users', 'hosts', 'agent']) {
    assert.match(help.stdout, new RegExp(`^ {2}${command} `, 'm'), command)
  }
  assert.match(help.stdout, /--config <file>/)
  assert.match(help.stdout, /Exit codes: 0 done, 1 failed .*, 2 usage or configuration/)
  assertOneLineError(unknownCommand, 2, /^ecsd: unknown command 'nosuchcmd' \(see ecsd --help\)$/)
  assertOneLineError(unknownSubcommand, 2, /^ecsd: unknown command 'nosuch' \(see ecsd hosts --help\)$/)
  assertOneLineError(noSubcommand, 2, /^ecsd: `ecsd fleet` needs a command: generate \(see ecsd fleet --help\)$/)
  assertOneLineError(badFlag, 2, /^ecsd: unknown option '--colour' \(see ecsd audit --help\)$/)
  assertOneLineError(badValue, 2, /^ecsd: option '--since <time>' argument 'yesterday' is invalid\. not a time: .* \(see ecsd events --help\)$/)
  assertOneLineError(badConfig, 2, /^ecsd: config file .*typo\.json: unknown setting "ECSD_PROT" \(did you mean ECSD_PORT\?\)/)
})

test('ecsd: settings from --config or ECSD_CONFIG, under the environment, under flags', async (t) => {
  const dir = tempDir(t)
  const file = path.join(dir, 'ecsd.json')
  writeFileSync(file, JSON.stringify({ ECSD_DATA_DIR: path.join(dir, 'from-file'), ECSD_LOG_LEVEL: 'warn' }))
  // Each names the data directory it would read: the one its settings chose.
  const [fromFlagFile, fromEnvFile, envOverFile, flagOverEnv] = await Promise.all([
    ecsdCommand(['events', '--config', file]),
    ecsdCommand(['events'], { env: { ECSD_CONFIG: file } }),
    ecsdCommand(['events', '--config', file], { env: { ECSD_DATA_DIR: path.join(dir, 'from-env') } }),
    ecsdCommand(['events', '--config', file, '--data-dir', path.join(dir, 'from-flag')], { env: { ECSD_DATA_DIR: path.join(dir, 'from-env') } }),
  ])
  for (const [run, chosen] of [[fromFlagFile, 'from-file'], [fromEnvFile, 'from-file'], [envOverFile, 'from-env'], [flagOverEnv, 'from-flag']] as const) {
    assertOneLineError(run, 1, new RegExp(`^ecsd: there is no database in ${path.join(dir, chosen)} `))
  }
})

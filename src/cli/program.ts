/**
 * The `ecsd` command line: every command, and the conventions all of them keep — a description
 * and `--help` on each, the global `--config FILE`, bare `ecsd` serving, and every error as one
 * line `ecsd: …` on stderr with the exit codes of src/cli/errors.ts.
 *
 * Each command loads what it needs when it runs (the server, the store, the services): a
 * command's start-up, `--help` included, pays only for its own modules.
 */
import { Command } from 'commander'
import { CONFIG_FILE } from '../config.ts'
import { VERSION } from '../version.ts'
import { registerAgentCommand } from './agent.ts'
import { nonNegativeInt } from './arguments.ts'
import { databaseOptions, registerDatabaseCommands } from './database.ts'
import { EXIT, exitWithFailure } from './errors.ts'
import { registerEventsCommand } from './events.ts'
import type { FleetGenerateFlags } from './fleet.ts'
import { FLEET_DEFAULTS } from './fleet-defaults.ts'
import { registerHostCommands } from './hosts.ts'
import { registerIdentityCommands } from './identity.ts'
import { registerServeCommand } from './serve.ts'

/** Builds the command tree of `ecsd`, ready to parse. */
export function createProgram(): Command {
  const program = new Command('ecsd')
    .description('A compute control plane serving the Huawei Cloud ECS group (anti-affinity server group) API')
    .version(VERSION, '-V, --version', 'print the version of ecsd')
    .option('--config <file>', `read settings from this JSON file (env ECSD_CONFIG; default ./${CONFIG_FILE} if there is one)`)
    .configureHelp({ showGlobalOptions: true })
    .addHelpText('after', `
Settings come from flags, then ECSD_* environment variables, then the config file, then
defaults. Exit codes: 0 done, 1 failed (or audit found violations), 2 usage or configuration
error. ECSD_DEBUG=1 adds the stack trace to an internal error.`)

  program.hook('preSubcommand', (root, sub) => {
    // `serve` is the default command, so that bare `ecsd` serves; a word that names no command
    // is a mistake, not serve's argument.
    const [first] = root.args
    if (sub.name() === 'serve' && first !== undefined && !first.startsWith('-') && first !== 'serve' && first !== 'help') {
      root.error(`unknown command '${first}'`, { code: 'commander.unknownCommand', exitCode: EXIT.usage })
    }
    const config = root.opts<{ config?: string }>().config
    // Through the environment, where every reader of settings looks (src/config.ts, readSettings).
    if (config !== undefined) process.env.ECSD_CONFIG = config
  })

  registerServeCommand(program)
  registerDatabaseCommands(program)
  databaseOptions(
    program
      .command('fleet')
      .description('synthetic fleets for benchmarks and capacity tests')
      .command('generate')
      .description('fill an empty database with hosts across zones, servers in mixed states and anti-affinity groups, in the demo project')
      .requiredOption('--hosts <n>', 'hosts to create', nonNegativeInt)
      .option('--servers-per-host <n>', 'servers on each host', nonNegativeInt, 10)
      .option('--groups <n>', 'anti-affinity groups in the demo project', nonNegativeInt, FLEET_DEFAULTS.groups)
      .option('--group-members <n>', 'members of each group, on distinct hosts', nonNegativeInt, FLEET_DEFAULTS.groupMembers)
      .option('--zones <n>', 'availability zones az1…azN', nonNegativeInt, FLEET_DEFAULTS.zones)
      .option('--fault-domains <n>', 'fault domains rack-1…rack-N in each zone, hosts dealt round-robin (0: none)', nonNegativeInt, FLEET_DEFAULTS.faultDomains)
      .option('--seed <n>', 'seed: the same options and seed give the same fleet', nonNegativeInt, FLEET_DEFAULTS.seed)
      .option('--batch-servers <n>', 'servers written per transaction', nonNegativeInt, FLEET_DEFAULTS.batchServers)
      .option('--json', 'print the summary as JSON instead of a table'),
  ).action(async (flags: FleetGenerateFlags) => {
    const { fleetGenerate } = await import('./fleet.ts')
    await fleetGenerate(flags)
  })
  registerEventsCommand(program)
  registerIdentityCommands(program)
  registerHostCommands(program)
  registerAgentCommand(program)
  forEachCommand(program, oneLineErrors)
  return program
}

/** Every command of the tree under `root`, `root` first. */
export function forEachCommand(root: Command, fn: (cmd: Command) => void): void {
  fn(root)
  for (const sub of root.commands) forEachCommand(sub, fn)
}

/** `ecsd hosts add`: the command line that runs `cmd`. */
export function commandPath(cmd: Command): string {
  const names: string[] = []
  for (let c: Command | null = cmd; c !== null; c = c.parent) names.unshift(c.name())
  return names.join(' ')
}

/**
 * Commander's usage errors as one line `ecsd: …` that says where help is, exit 2 (help and the
 * version exit 0): commander throws them instead of exiting, for `runCli` to end the process.
 * A group of commands (`ecsd hosts`) given none, or one it does not have, says so in one line
 * too, where commander would print the group's help as the error.
 */
function oneLineErrors(cmd: Command): void {
  const help = `${commandPath(cmd)} --help`
  cmd
    .showHelpAfterError(false)
    .configureOutput({ outputError: (message, write) => write(`ecsd: ${message.replace(/^error: /, '').replace(/\s*\n\s*/g, ' ').trim()} (see ${help})\n`) })
    .exitOverride()
  if (cmd.parent === null || cmd.commands.length === 0) return
  // An action would take away the implicit `help` subcommand: it stays.
  cmd.helpCommand(true).allowExcessArguments().action((_flags: unknown, self: Command) => {
    const [first] = self.args
    const message = first === undefined ? `\`${commandPath(cmd)}\` needs a command: ${cmd.commands.map((c) => c.name()).join(', ')}` : `unknown command '${first}'`
    self.error(message, { code: 'commander.unknownCommand', exitCode: EXIT.usage })
  })
}

/** Runs the command line `argv` (shaped as `process.argv`); a failure ends the process with one line and its exit code. */
export async function runCli(argv: readonly string[]): Promise<void> {
  try {
    await createProgram().parseAsync([...argv])
  } catch (err) {
    exitWithFailure(err)
  }
}

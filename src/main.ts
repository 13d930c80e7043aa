import { Command, InvalidArgumentError, Option } from 'commander'
import { registerAgentCommand } from './cli/agent.ts'
import { nonNegativeInt } from './cli/arguments.ts'
import type { FleetGenerateFlags } from './cli/fleet.ts'
import { FLEET_DEFAULTS } from './cli/fleet-defaults.ts'
import { registerHostCommands } from './cli/hosts.ts'
import { registerIdentityCommands } from './cli/identity.ts'
import { ConfigError, loadConfig, sqliteFile, type Config, type ConfigFlags } from './config.ts'
import { createLogger, subsystem } from './logger.ts'
import type { Database } from './store/database.ts'
import { VERSION } from './version.ts'

// Each command loads what it needs when it runs (the server, the store, the services): a
// command's start-up, `--help` included, pays only for its own modules.

async function openDatabase(config: Config): Promise<Database> {
  const { Database } = await import('./store/database.ts')
  const logger = createLogger(config.logLevel)
  return Database.open({ url: config.databaseUrl, sqliteFile: sqliteFile(config), poolSize: 2, logger: subsystem(logger, 'db') })
}

function port(value: string): number {
  const n = Number(value)
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new InvalidArgumentError('not a port (0–65535)')
  return n
}

const program = new Command('ecsd')
  .description('A compute control plane serving the Huawei Cloud ECS group (anti-affinity server group) API')
  .version(VERSION, '-V, --version', 'print the version of ecsd')
  .showHelpAfterError()

program
  .command('serve', { isDefault: true })
  .description('serve the API (embedded SQLite under the data directory)')
  .option('--host <address>', 'bind address (env ECSD_HOST, default 127.0.0.1)')
  .option('-p, --port <port>', 'port, 0 for any free port (env ECSD_PORT, default 8080)', port)
  .option('--data-dir <dir>', 'data directory (env ECSD_DATA_DIR, default ./data)')
  .option('--database <url>', 'postgres://… to use PostgreSQL instead of SQLite (env ECSD_DATABASE_URL)')
  .option('--no-demo', 'do not create the demo project, fleet and flavors on first start (env ECSD_DEMO=false)')
  .option('--no-demo-fleet', 'create the demo without its simulated hosts: servers go only to hosts with agents (env ECSD_DEMO_FLEET=false)')
  .addOption(new Option('--driver-latency-ms <ms>', 'simulated driver time per operation (env ECSD_DRIVER_LATENCY_MS, default 200)').argParser(nonNegativeInt))
  .option('--log-level <level>', 'pino log level (env ECSD_LOG_LEVEL, default info)')
  .option('--tls-cert <file>', 'serve HTTPS with this PEM certificate (chain); needs --tls-key (env ECSD_TLS_CERT, default: plain HTTP)')
  .option('--tls-key <file>', 'the certificate\'s PEM private key (env ECSD_TLS_KEY)')
  .action(async (opts: ConfigFlags & { demo: boolean; demoFleet: boolean }, cmd: Command) => {
    // commander always sets `demo` (true unless --no-demo); only an explicit flag may override the env.
    const demoFromCli = cmd.getOptionValueSource('demo') === 'cli' ? opts.demo : undefined
    const demoFleetFromCli = cmd.getOptionValueSource('demoFleet') === 'cli' ? opts.demoFleet : undefined
    const config = loadConfig({ ...opts, demo: demoFromCli, demoFleet: demoFleetFromCli })
    const logger = createLogger(config.logLevel)
    const { banner, startServer } = await import('./server.ts')
    const server = await startServer(config, logger)
    process.stdout.write(`${await banner(server)}\n`)
    let closing = false
    const shutdown = (signal: string) => {
      if (closing) return
      closing = true
      logger.info({ signal }, 'shutting down')
      const fallback = setTimeout(() => process.exit(1), 10_000)
      fallback.unref()
      server.close().then(
        () => logger.info('stopped'),
        (err: unknown) => {
          logger.error({ err }, 'shutdown failed')
          process.exitCode = 1
        },
      )
    }
    process.once('SIGINT', shutdown)
    process.once('SIGTERM', shutdown)
  })

program
  .command('migrate')
  .description('bring the database schema to the latest version and exit')
  .option('--data-dir <dir>', 'data directory (env ECSD_DATA_DIR, default ./data)')
  .option('--database <url>', 'postgres://… (env ECSD_DATABASE_URL)')
  .action(async (opts: ConfigFlags) => {
    const config = loadConfig(opts)
    const database = await openDatabase(config)
    await database.migrate()
    await database.close()
  })

program
  .command('audit')
  .description('check every invariant against the database; prints each violation, exits 1 if there is any')
  .option('--data-dir <dir>', 'data directory (env ECSD_DATA_DIR, default ./data)')
  .option('--database <url>', 'postgres://… (env ECSD_DATABASE_URL)')
  .option('--json', 'print the violations as JSON')
  .action(async (opts: ConfigFlags & { json?: boolean }) => {
    const config = loadConfig({ ...opts, logLevel: 'warn' })
    const database = await openDatabase(config)
    try {
      const { audit } = await import('./services/audit.ts')
      const violations = await audit(database.db)
      if (opts.json) process.stdout.write(`${JSON.stringify({ violations }, null, 2)}\n`)
      else if (violations.length === 0) process.stdout.write('audit: 0 violations\n')
      else {
        for (const v of violations) process.stdout.write(`${v.invariant}: ${v.message}\n`)
        process.stdout.write(`audit: ${violations.length} violation${violations.length === 1 ? '' : 's'}\n`)
      }
      process.exitCode = violations.length === 0 ? 0 : 1
    } finally {
      await database.close()
    }
  })

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
  .option('--data-dir <dir>', 'data directory (env ECSD_DATA_DIR, default ./data)')
  .option('--database <url>', 'postgres://… (env ECSD_DATABASE_URL)')
  .action(async (opts: FleetGenerateFlags) => {
    const { fleetGenerate } = await import('./cli/fleet.ts')
    process.exitCode = await fleetGenerate(opts)
  })

registerIdentityCommands(program)
registerHostCommands(program)
registerAgentCommand(program)

program.parseAsync().catch((err: unknown) => {
  // By name: the identity modules are loaded only by the commands that use them.
  if (err instanceof ConfigError || (err instanceof Error && (err.name === 'IdentityError' || err.name === 'MasterKeyError'))) {
    process.stderr.write(`ecsd: ${err.message}\n`)
    process.exit(2)
  }
  process.stderr.write(`ecsd: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`)
  process.exit(1)
})

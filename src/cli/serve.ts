/** `ecsd serve`: the API server, until SIGTERM or SIGINT. */
import { InvalidArgumentError, Option, type Command } from 'commander'
import { loadConfig, type ConfigFlags } from '../config.ts'
import { createLogger } from '../logger.ts'
import { nonNegativeInt } from './arguments.ts'

function port(value: string): number {
  const n = Number(value)
  if (!/^\d+$/.test(value) || n > 65535) throw new InvalidArgumentError('not a port (0–65535)')
  return n
}

/** Registers `ecsd serve`, which bare `ecsd` runs too. */
export function registerServeCommand(program: Command): void {
  program
    .command('serve', { isDefault: true })
    .description('serve the API (embedded SQLite under the data directory); bare `ecsd` does this too')
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
      const { banner, startServer } = await import('../server.ts')
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
}

/**
 * The commands on the database itself (`--data-dir`, `--database`), and how every command that
 * works on the database opens it: `migrate`, `audit`.
 */
import { existsSync } from 'node:fs'
import type { Command } from 'commander'
import type { Logger } from 'pino'
import { loadConfig, sqliteFile, type Config, type ConfigFlags } from '../config.ts'
import { createLogger, subsystem } from '../logger.ts'
import type { Database } from '../store/database.ts'
import { CommandError, EXIT, reason } from './errors.ts'
import { print, printJson, table } from './output.ts'

/** Adds `--data-dir` and `--database`, which choose the database a command works on. */
export function databaseOptions(cmd: Command): Command {
  return cmd
    .option('--data-dir <dir>', 'data directory of the SQLite database (env ECSD_DATA_DIR, default ./data)')
    .option('--database <url>', 'a PostgreSQL database instead, postgres://… (env ECSD_DATABASE_URL)')
}

/** Where the database of `config` is, for messages: the SQLite file, or the PostgreSQL URL without its credentials. */
function databaseName(config: Config): string {
  if (config.databaseUrl === undefined) return sqliteFile(config)
  const url = new URL(config.databaseUrl)
  return `${url.protocol}//${url.host}${url.pathname}`
}

/**
 * Opens the database of `config` for a command, and makes sure it can be used: migrated to the
 * latest schema (`migrate: true`, as a server does on start), or as it is — then it must exist
 * already, so that a mistyped `--data-dir` is said rather than made into an empty database. A
 * database that cannot be opened or reached is a CommandError naming it.
 */
export async function openDatabase(config: Config, options: { migrate: boolean; poolSize?: number; logger?: Logger }): Promise<Database> {
  if (!options.migrate && config.databaseUrl === undefined && !existsSync(sqliteFile(config))) {
    throw new CommandError(`there is no database in ${config.dataDir} (${sqliteFile(config)} does not exist): give --data-dir or --database, or run ecsd migrate first`)
  }
  // Loaded when a command runs, not when the command line is parsed.
  const [{ Database }, { sql }] = await Promise.all([import('../store/database.ts'), import('kysely')])
  let database: Database | undefined
  try {
    database = Database.open({ url: config.databaseUrl, sqliteFile: sqliteFile(config), poolSize: options.poolSize ?? 2, logger: options.logger })
    if (options.migrate) await database.migrate()
    else await sql`select 1`.execute(database.db)
    return database
  } catch (err) {
    await database?.close().catch(() => undefined)
    throw new CommandError(`cannot ${options.migrate ? 'migrate' : 'open'} the database ${databaseName(config)}: ${reason(err)}`, EXIT.failure, { cause: err })
  }
}

/** Registers `ecsd migrate` and `ecsd audit`. */
export function registerDatabaseCommands(program: Command): void {
  databaseOptions(program.command('migrate').description('bring the database schema to the latest version and exit'))
    .action(async (flags: ConfigFlags) => {
      const config = loadConfig(flags)
      // Each migration applied is logged (level ECSD_LOG_LEVEL), as a server logs them on start.
      const database = await openDatabase(config, { migrate: true, logger: subsystem(createLogger(config.logLevel), 'db') })
      await database.close()
    })

  databaseOptions(
    program
      .command('audit')
      .description('check every invariant against the database; prints each violation, exits 1 if there is any')
      .option('--json', 'print {"violations": [{invariant, message}]} instead of a table'),
  ).action(async (flags: ConfigFlags & { json?: boolean }) => {
    const database = await openDatabase(loadConfig({ ...flags, logLevel: 'warn' }), { migrate: false })
    try {
      const { audit } = await import('../services/audit.ts')
      const violations = await audit(database.db)
      if (flags.json) printJson({ violations })
      else {
        if (violations.length > 0) print(table(['invariant', 'message'], violations.map((v) => [v.invariant, v.message])))
        print(`audit: ${violations.length} violation${violations.length === 1 ? '' : 's'}`)
      }
      process.exitCode = violations.length === 0 ? EXIT.ok : EXIT.failure
    } finally {
      await database.close()
    }
  })
}

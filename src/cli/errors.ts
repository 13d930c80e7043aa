/**
 * How every `ecsd` command fails: one line `ecsd: <what went wrong>` on stderr and an exit code —
 * 1 for a failure (a refused operation, an unreachable server or database, audit violations),
 * 2 for a usage or configuration error (a bad flag, an unknown command, a bad setting). An
 * internal error (a bug) is one line too; `ECSD_DEBUG=1` adds its stack trace.
 */
import { CommanderError } from 'commander'
import { ConfigError } from '../config.ts'

/** The exit codes of every command. */
export const EXIT = { ok: 0, failure: 1, usage: 2 } as const

/** A failure a command expects and explains: reported as its message alone, with `exitCode`. */
export class CommandError extends Error {
  override name = 'CommandError'
  constructor(
    message: string,
    readonly exitCode: number = EXIT.failure,
    options?: { cause?: unknown },
  ) {
    super(message, options)
  }
}

// By name: the modules that throw them are loaded only by the commands that use them.
const USAGE_ERRORS = new Set(['ConfigError', 'MasterKeyError', 'FleetError'])
const FAILURES = new Set(['EcsError', 'IdentityError', 'HostsCommandError', 'EndpointError'])

/** A failure as it is reported: the line after `ecsd: `, the exit code, and whether it is a bug. */
export interface Failure {
  message: string
  exitCode: number
  internal: boolean
}

/** What `err` means to the operator. */
export function describeFailure(err: unknown): Failure {
  if (err instanceof CommandError) return { message: oneLine(err.message), exitCode: err.exitCode, internal: false }
  if (err instanceof ConfigError || (err instanceof Error && USAGE_ERRORS.has(err.name))) return { message: oneLine(err.message), exitCode: EXIT.usage, internal: false }
  if (err instanceof Error && FAILURES.has(err.name)) return { message: oneLine(err.message), exitCode: EXIT.failure, internal: false }
  const database = databaseFailure(err)
  if (database !== undefined) return { message: database, exitCode: EXIT.failure, internal: false }
  if (isSystemError(err)) return { message: reason(err), exitCode: EXIT.failure, internal: false }
  return { message: `internal error: ${reason(err)}`, exitCode: EXIT.failure, internal: true }
}

/**
 * The reason a database refused a command, for the errors that come from the database being
 * unreachable, not migrated or broken rather than from a bug; undefined for anything else.
 */
function databaseFailure(err: unknown): string | undefined {
  if (!(err instanceof Error)) return undefined
  const code = (err as { code?: unknown }).code
  // SQLite "no such table: x"; PostgreSQL 42P01 `relation "x" does not exist`.
  if ((err.name === 'SqliteError' && /^no such table/.test(err.message)) || code === '42P01') {
    return `the database has no ${err.message.replace(/^no such table: /, 'table ').replace(/^relation (".*") does not exist$/, 'table $1')}: it is not migrated to this version of ecsd (run ecsd migrate)`
  }
  if (err.name === 'SqliteError') return `SQLite: ${oneLine(err.message)}`
  // PostgreSQL's errors carry a SQLSTATE and a severity.
  if (typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code) && 'severity' in err) return `PostgreSQL: ${oneLine(err.message)} (${code})`
  return undefined
}

/**
 * An error of the system rather than of ecsd: a refused connection, a port in use, a file that
 * cannot be read or written (`ECONNREFUSED`, `EADDRINUSE`, `ENOENT`, `EACCES` …).
 */
function isSystemError(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code
  return err instanceof Error && typeof code === 'string' && /^E[A-Z0-9]+$/.test(code) && ('syscall' in err || err instanceof AggregateError)
}

/** An error's message, on one line; an AggregateError (a connection tried on every address) gives its parts. */
export function reason(err: unknown): string {
  if (err instanceof AggregateError && err.message === '') return err.errors.map(reason).join('; ')
  if (err instanceof Error) return oneLine(err.message === '' ? err.name : err.message)
  return oneLine(String(err))
}

function oneLine(text: string): string {
  return text.replace(/\s*\n\s*/g, ' ').trim()
}

/**
 * Reports the failure that ended a command on stderr and exits. Commander's own errors (usage)
 * were printed already, as the program's output configuration says; help and the version exit 0.
 */
export function exitWithFailure(err: unknown, env: NodeJS.ProcessEnv = process.env): never {
  if (err instanceof CommanderError) process.exit(err.exitCode === 0 ? EXIT.ok : EXIT.usage)
  const failure = describeFailure(err)
  process.stderr.write(`ecsd: ${failure.message}${failure.internal && env.ECSD_DEBUG !== '1' ? ' (ECSD_DEBUG=1 shows where)' : ''}\n`)
  if (env.ECSD_DEBUG === '1') {
    const stack = err instanceof Error ? (err.cause instanceof Error ? `${err.stack}\ncaused by ${err.cause.stack}` : err.stack) : undefined
    if (stack !== undefined) process.stderr.write(`${stack}\n`)
  }
  process.exit(failure.exitCode)
}

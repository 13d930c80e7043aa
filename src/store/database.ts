import { mkdirSync } from 'node:fs'
import path from 'node:path'
import SQLite from 'better-sqlite3'
import { Kysely, Migrator, SqliteDialect, sql } from 'kysely'
import type { Logger } from 'pino'
import { migrationsFor } from './migrations/index.ts'
import type { Schema } from './schema.ts'

/** Which SQL engine a database runs on; dialect-specific SQL must branch on this, nowhere else. */
export type Dialect = 'sqlite' | 'postgres'

/** A handle usable inside one write transaction. */
export interface Tx {
  readonly db: Kysely<Schema>
  readonly dialect: Dialect
  /** Runs `fn` after the transaction commits (never on rollback); where side effects belong. */
  onCommit(fn: () => void): void
}

/** Options for opening the embedded SQLite store. */
export interface SqliteOptions {
  /** Database file path, or ':memory:'. */
  file: string
  /** How long a writer waits for another process's write lock before SQLITE_BUSY. */
  busyTimeoutMs?: number
  logger?: Logger
}

const MAX_ATTEMPTS = 8

/**
 * The one data-access path of ecsd: a Kysely instance, the dialect next to it, and the only way
 * to write — `transaction()`, which takes the write lock up front, retries transient conflicts
 * with jittered backoff, and runs `onCommit` hooks only after a successful commit.
 */
export class Database {
  private constructor(
    readonly db: Kysely<Schema>,
    readonly dialect: Dialect,
    private readonly logger: Logger | undefined,
  ) {}

  /**
   * Opens (creating if needed) a SQLite database in WAL mode. `synchronous = FULL` so that an
   * acknowledged write survives a crash of the process or the machine.
   */
  static sqlite(options: SqliteOptions): Database {
    if (options.file !== ':memory:') mkdirSync(path.dirname(options.file), { recursive: true })
    const sqlite = new SQLite(options.file, { timeout: options.busyTimeoutMs ?? 5000 })
    sqlite.pragma('journal_mode = WAL')
    sqlite.pragma('synchronous = FULL')
    sqlite.pragma('foreign_keys = ON')
    const db = new Kysely<Schema>({ dialect: new SqliteDialect({ database: sqlite }) })
    return new Database(db, 'sqlite', options.logger)
  }

  /** Brings the schema to the latest migration; safe to call on every start. */
  async migrate(): Promise<void> {
    const migrator = new Migrator({
      db: this.db,
      provider: { getMigrations: async () => migrationsFor(this.dialect) },
    })
    const { error, results } = await migrator.migrateToLatest()
    for (const r of results ?? []) {
      if (r.status === 'Success') this.logger?.info({ migration: r.migrationName }, 'migration applied')
    }
    if (error) throw error instanceof Error ? error : new Error(String(error))
  }

  /**
   * Runs `fn` in one write transaction. On SQLite the write lock is taken at BEGIN
   * (`BEGIN IMMEDIATE`), so the reads that decide a placement and the writes that record it can
   * never interleave with another writer, in this process or another one on the same file.
   * `fn` may run more than once: it must not have side effects outside `tx`, except through
   * `tx.onCommit`.
   */
  async transaction<T>(fn: (tx: Tx) => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      const hooks: Array<() => void> = []
      try {
        const result = await this.db.connection().execute(async (conn) => {
          await sql`begin immediate`.execute(conn)
          try {
            const value = await fn({ db: conn, dialect: this.dialect, onCommit: (h) => hooks.push(h) })
            await sql`commit`.execute(conn)
            return value
          } catch (err) {
            await sql`rollback`.execute(conn).catch(() => undefined)
            throw err
          }
        })
        for (const hook of hooks) {
          try {
            hook()
          } catch (err) {
            this.logger?.error({ err }, 'onCommit hook failed')
          }
        }
        return result
      } catch (err) {
        if (attempt >= MAX_ATTEMPTS || !isTransientConflict(err)) throw err
        this.logger?.debug({ attempt, code: (err as { code?: string }).code }, 'transaction conflict, retrying')
        await sleep(backoffMs(attempt))
      }
    }
  }

  async close(): Promise<void> {
    await this.db.destroy()
  }
}

/** Errors that mean "another writer got there first; the same transaction may succeed now". */
function isTransientConflict(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code
  return code === 'SQLITE_BUSY' || code === 'SQLITE_BUSY_SNAPSHOT' || code === 'SQLITE_LOCKED'
}

function backoffMs(attempt: number): number {
  const base = Math.min(200, 5 * 2 ** attempt)
  return base / 2 + Math.random() * base
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}

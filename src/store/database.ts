import { mkdirSync } from 'node:fs'
import path from 'node:path'
import SQLite from 'better-sqlite3'
import { Kysely, Migrator, PostgresDialect, SqliteDialect, sql, type SelectQueryBuilder } from 'kysely'
import pg from 'pg'
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

/** Options for connecting to PostgreSQL. */
export interface PostgresOptions {
  /** `postgres://user:password@host:port/database` */
  url: string
  /** Connections per process. */
  poolSize?: number
  logger?: Logger
}

const MAX_ATTEMPTS = 10

/**
 * Raised inside a transaction when it lost a race that a retry can win (e.g. the host it
 * placed on filled up between the candidate query and the claim, on a database with
 * concurrent writers). The transaction is rolled back and run again.
 */
export class TransientConflictError extends Error {
  override name = 'TransientConflictError'
  readonly code = 'ECSD_TRANSIENT_CONFLICT'
}

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

  /**
   * Connects to PostgreSQL. Write transactions run at READ COMMITTED with explicit row locks
   * (`lockForUpdate`) on the rows a decision depends on; constraints stand behind the locks.
   */
  static postgres(options: PostgresOptions): Database {
    const pool = new pg.Pool({ connectionString: options.url, max: options.poolSize ?? 10 })
    pool.on('error', (err) => options.logger?.warn({ err }, 'idle PostgreSQL connection failed'))
    const db = new Kysely<Schema>({ dialect: new PostgresDialect({ pool }) })
    return new Database(db, 'postgres', options.logger)
  }

  /**
   * Opens the database a URL names: `postgres://…`/`postgresql://…` for PostgreSQL, anything
   * else is a SQLite file path.
   */
  static open(target: { url?: string | undefined; sqliteFile: string; poolSize?: number | undefined; logger?: Logger | undefined }): Database {
    const { url, logger } = target
    if (url !== undefined && /^postgres(ql)?:\/\//.test(url)) {
      return Database.postgres({ url, ...(target.poolSize === undefined ? {} : { poolSize: target.poolSize }), ...(logger ? { logger } : {}) })
    }
    return Database.sqlite({ file: target.sqliteFile, ...(logger ? { logger } : {}) })
  }

  /**
   * Brings the schema to the latest migration; safe to call on every start, by several
   * processes at once. PostgreSQL: Kysely takes an advisory lock and runs the migrations in a
   * transaction. SQLite: Kysely does neither, so the whole run happens inside one
   * `BEGIN IMMEDIATE` on the single connection — other processes wait for it, and a crash
   * half-way leaves no half-built schema.
   */
  async migrate(): Promise<void> {
    const migrator = new Migrator({
      db: this.db,
      provider: { getMigrations: async () => migrationsFor(this.dialect) },
    })
    if (this.dialect === 'sqlite') await sql`begin immediate`.execute(this.db)
    const { error, results } = await migrator.migrateToLatest()
    if (this.dialect === 'sqlite') await sql.raw(error ? 'rollback' : 'commit').execute(this.db)
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
      const run = (db: Kysely<Schema>) => fn({ db, dialect: this.dialect, onCommit: (h) => hooks.push(h) })
      try {
        const result = this.dialect === 'sqlite' ? await this.sqliteTransaction(run) : await this.db.transaction().setIsolationLevel('read committed').execute(run)
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

  /** `BEGIN IMMEDIATE` on the single connection: the write lock is held from the first read. */
  private async sqliteTransaction<T>(run: (db: Kysely<Schema>) => Promise<T>): Promise<T> {
    return this.db.connection().execute(async (conn) => {
      await sql`begin immediate`.execute(conn)
      try {
        const value = await run(conn)
        await sql`commit`.execute(conn)
        return value
      } catch (err) {
        await sql`rollback`.execute(conn).catch(() => undefined)
        throw err
      }
    })
  }

  async close(): Promise<void> {
    await this.db.destroy()
  }
}

/**
 * Errors that mean "another writer got there first; the same transaction may succeed now":
 * SQLite busy/locked, PostgreSQL serialization failure (40001), deadlock (40P01) and unique
 * violation (23505, which under row locks only a race between two inserts can cause).
 */
const TRANSIENT_CODES = new Set(['SQLITE_BUSY', 'SQLITE_BUSY_SNAPSHOT', 'SQLITE_LOCKED', '40001', '40P01', '23505', 'ECSD_TRANSIENT_CONFLICT'])

function isTransientConflict(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code
  return typeof code === 'string' && TRANSIENT_CODES.has(code)
}

/**
 * Adds `FOR UPDATE` on PostgreSQL, where concurrent transactions must lock the rows their
 * decision depends on. SQLite rejects the clause and needs none: its write transaction holds
 * the database lock from BEGIN.
 */
export function lockForUpdate<DB, TB extends keyof DB, O>(qb: SelectQueryBuilder<DB, TB, O>, dialect: Dialect): SelectQueryBuilder<DB, TB, O> {
  return dialect === 'postgres' ? qb.forUpdate() : qb
}

function backoffMs(attempt: number): number {
  const base = Math.min(200, 5 * 2 ** attempt)
  return base / 2 + Math.random() * base
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}

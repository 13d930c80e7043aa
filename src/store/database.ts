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

/** At most this many write transactions share one SQLite commit (see `transaction`). */
const MAX_GROUP_COMMIT = 128

/** SQLite page cache per connection, KiB. */
const SQLITE_CACHE_KIB = 64 * 1024

/** Prepared statements kept per SQLite connection; past this the cache starts over. */
const STATEMENT_CACHE_SIZE = 1000

/** A write transaction waiting for its turn in a SQLite group commit. */
interface PendingTransaction {
  fn: (tx: Tx) => Promise<unknown>
  resolve(outcome: { value: unknown; hooks: Array<() => void> }): void
  reject(err: unknown): void
}

/**
 * Raised inside a transaction when it lost a race that a retry can win (e.g. the host it
 * placed on filled up between the candidate query and the claim, on a database with
 * concurrent writers). The transaction is rolled back and run again.
 */
export class TransientConflictError extends Error {
  override name = 'TransientConflictError'
  readonly code = 'ECSD_TRANSIENT_CONFLICT'

  /**
   * @param whenExhausted what the caller is told if every retry lost the same race (e.g. a
   *   documented "no capacity" error rather than an internal fault); default: this error.
   */
  constructor(message: string, readonly whenExhausted?: Error) {
    super(message)
  }
}

/**
 * The one data-access path of ecsd: a Kysely instance, the dialect next to it, and the only way
 * to write — `transaction()`, which takes the write lock up front, retries transient conflicts
 * with jittered backoff, and runs `onCommit` hooks only after a successful commit.
 */
export class Database {
  /** Told of every retried transaction (the metrics count them). */
  onRetry: ((code: string) => void) | undefined

  /** SQLite: write transactions waiting for the next group commit. */
  private readonly pending: PendingTransaction[] = []
  private committing = false

  private constructor(
    readonly db: Kysely<Schema>,
    readonly dialect: Dialect,
    private readonly logger: Logger | undefined,
    /** The SQLite connection itself, to see whether a failed statement ended its transaction. */
    private readonly sqliteHandle?: SQLite.Database,
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
    // SQLite's default page cache is 2 MiB: a fleet's hot index pages would be read from the
    // operating system (a system call each) on almost every query. 64 MiB keeps them here.
    sqlite.pragma(`cache_size = -${SQLITE_CACHE_KIB}`)
    const db = new Kysely<Schema>({ dialect: new SqliteDialect({ database: cachingStatements(sqlite) }) })
    return new Database(db, 'sqlite', options.logger, sqlite)
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
   *
   * SQLite group commit: transactions that arrive while another commit is in progress share the
   * next `BEGIN IMMEDIATE … COMMIT`, each inside its own SAVEPOINT and run one after another on
   * the single connection. A transaction that throws is rolled back to its savepoint alone and
   * its caller gets the error; the others commit together, with one WAL sync, and only then do
   * their callers get their results and their `onCommit` hooks run (a 2xx still means
   * committed and durable). Serial execution under one write lock keeps every transaction as
   * isolated as before; only the fsync is shared.
   */
  async transaction<T>(fn: (tx: Tx) => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        let result: T
        let hooks: Array<() => void>
        if (this.dialect === 'sqlite') {
          const outcome = await this.groupCommit(fn)
          result = outcome.value as T
          hooks = outcome.hooks
        } else {
          hooks = []
          const h = hooks
          result = await this.db.transaction().setIsolationLevel('read committed').execute((db) => fn({ db, dialect: this.dialect, onCommit: (x) => h.push(x) }))
        }
        for (const hook of hooks) {
          try {
            hook()
          } catch (err) {
            this.logger?.error({ err }, 'onCommit hook failed')
          }
        }
        return result
      } catch (err) {
        if (!isTransientConflict(err)) throw err
        if (attempt >= MAX_ATTEMPTS) throw err instanceof TransientConflictError && err.whenExhausted ? err.whenExhausted : err
        this.onRetry?.(String((err as { code?: unknown }).code))
        this.logger?.debug({ attempt, code: (err as { code?: string }).code }, 'transaction conflict, retrying')
        await sleep(backoffMs(attempt))
      }
    }
  }

  /** Queues `fn` for the next SQLite commit; settles once that commit is done (or `fn` failed). */
  private groupCommit(fn: (tx: Tx) => Promise<unknown>): Promise<{ value: unknown; hooks: Array<() => void> }> {
    return new Promise((resolve, reject) => {
      this.pending.push({ fn, resolve, reject })
      if (!this.committing) {
        this.committing = true
        setImmediate(() => void this.commitPending())
      }
    })
  }

  /**
   * Commits one batch of queued transactions. better-sqlite3 is synchronous, so while a batch
   * runs no new request is read; the next batch starts from `setImmediate`, after the event
   * loop has taken in the requests that arrived meanwhile, so that they share its commit.
   */
  private async commitPending(): Promise<void> {
    const batch = this.pending.splice(0, MAX_GROUP_COMMIT)
    try {
      await this.db.connection().execute((conn) => this.commitBatch(conn, batch))
    } catch (err) {
      // The connection could not be had, BEGIN or COMMIT failed: nothing of the batch is
      // committed, every caller may retry.
      for (const p of batch) p.reject(err)
    }
    if (this.pending.length > 0) setImmediate(() => void this.commitPending())
    else this.committing = false
  }

  private async commitBatch(conn: Kysely<Schema>, batch: PendingTransaction[]): Promise<void> {
    await sql`begin immediate`.execute(conn)
    const done: Array<{ p: PendingTransaction; value: unknown; hooks: Array<() => void> }> = []
    try {
      for (const p of batch) {
        const hooks: Array<() => void> = []
        await sql`savepoint ecsd_tx`.execute(conn)
        try {
          const value = await p.fn({ db: conn, dialect: this.dialect, onCommit: (h) => hooks.push(h) })
          await sql`release ecsd_tx`.execute(conn)
          done.push({ p, value, hooks })
        } catch (err) {
          // Some errors (I/O, disk full) end the whole SQLite transaction; then the batch is lost.
          if (this.sqliteHandle?.inTransaction === false) throw err
          await sql`rollback to ecsd_tx`.execute(conn)
          await sql`release ecsd_tx`.execute(conn)
          p.reject(err)
        }
      }
      await sql`commit`.execute(conn)
    } catch (err) {
      if (this.sqliteHandle?.inTransaction !== false) await sql`rollback`.execute(conn).catch(() => undefined)
      for (const d of done) d.p.reject(err)
      throw err
    }
    for (const d of done) d.p.resolve({ value: d.value, hooks: d.hooks })
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

/**
 * better-sqlite3 compiles a statement on every `prepare`, and Kysely prepares every query it
 * runs; the same few dozen statements serve every request, so they are compiled once and
 * reused. Safe on the single connection: Kysely runs one query at a time on it.
 */
function cachingStatements(sqlite: SQLite.Database) {
  const statements = new Map<string, SQLite.Statement>()
  return {
    prepare(text: string): SQLite.Statement {
      let statement = statements.get(text)
      if (statement === undefined) {
        statement = sqlite.prepare(text)
        if (statements.size >= STATEMENT_CACHE_SIZE) statements.clear()
        statements.set(text, statement)
      }
      return statement
    },
    close(): void {
      sqlite.close()
    },
  }
}

function backoffMs(attempt: number): number {
  const base = Math.min(200, 5 * 2 ** attempt)
  return base / 2 + Math.random() * base
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}

/**
 * The single better-sqlite3 connection of a SQLite database (undefined on PostgreSQL), for the
 * few synchronous reads that must not queue behind Kysely's connection: `PRAGMA data_version`,
 * which tells whether another connection committed since it was last read. Never run writes or
 * transactions on it: they would interleave with the group commit.
 */
export function sqliteConnection(database: Database): SQLite.Database | undefined {
  return database['sqliteHandle']
}

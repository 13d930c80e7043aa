import type { Socket } from 'node:net'
import type SQLite from 'better-sqlite3'
import { sql } from 'kysely'
import pg from 'pg'
import type { Logger } from 'pino'
import { sqliteConnection, type Database, type Tx } from '../../store/database.ts'

/** The PostgreSQL channel on which every bump of the authority generation is announced. */
export const AUTH_CHANNEL = 'ecsd_auth'

/**
 * PostgreSQL: how long a confirmed authority generation is trusted before a request reads it
 * again. A lost notification (or none, without a listener) delays a revocation by at most this.
 */
export const FRESHNESS_BOUND_MS = 1000

/** Entries per kind (credentials, tokens) one process keeps; past it the oldest entry goes. */
export const AUTH_CACHE_MAX_ENTRIES = 10_000

/** The listener reconnects after this, doubling up to `LISTEN_RETRY_MAX_MS`. */
const LISTEN_RETRY_MIN_MS = 100
const LISTEN_RETRY_MAX_MS = 5000

/** An active access key as authentication needs it, opened secret included. */
export interface CachedCredential {
  secretKey: string
  projectId: string
  admin: boolean
  recentFailures: number
  hostId?: string
}

/** A valid token's principal and when it stops being valid. */
export interface CachedToken {
  accessKey: string
  projectId: string
  admin: boolean
  userId: string
  /** Epoch milliseconds; the token is served from the cache strictly before this only. */
  expiresAt: number
}

/** Which cached entries a local change makes wrong. */
export type Forget = { accessKey: string } | { hostId: string }

/**
 * What authentication read from the database, kept in memory (never written anywhere) so that
 * a request needs no read: active credentials and valid tokens, never refusals. Each entry
 * reflects the database as of the authority generation the cache last learned; learning
 * another one drops everything.
 */
export class AuthCache {
  private readonly credentials = new Map<string, { opener: object; value: CachedCredential }>()
  private readonly tokens = new Map<string, CachedToken>()
  private generation: number | undefined
  private dropped = 0

  /**
   * Changes whenever entries are dropped. A lookup takes it before its database read and stores
   * what it read only if it has not changed: a read that overlapped a revocation must not put
   * the revoked credential back.
   */
  get epoch(): number {
    return this.dropped
  }

  /** The cached credential, if it was opened by `opener` (the SecretBox of the caller). */
  credential(accessKey: string, opener: object): CachedCredential | undefined {
    const entry = this.credentials.get(accessKey)
    return entry?.opener === opener ? { ...entry.value } : undefined
  }

  /** The cached token, unless it has expired by `nowMs` (then it is dropped). */
  token(hash: string, nowMs: number): CachedToken | undefined {
    const entry = this.tokens.get(hash)
    if (entry === undefined) return undefined
    if (entry.expiresAt <= nowMs) {
      this.tokens.delete(hash)
      return undefined
    }
    return { ...entry }
  }

  /** Keeps what a lookup read, unless entries were dropped since it took `epoch`. */
  storeCredential(accessKey: string, opener: object, value: CachedCredential, epoch: number): void {
    if (epoch !== this.dropped) return
    this.credentials.delete(accessKey)
    evictOldest(this.credentials)
    this.credentials.set(accessKey, { opener, value: { ...value } })
  }

  /** Keeps a valid token as a lookup read it, unless entries were dropped since it took `epoch`. */
  storeToken(hash: string, value: CachedToken, epoch: number): void {
    if (epoch !== this.dropped) return
    this.tokens.delete(hash)
    evictOldest(this.tokens)
    this.tokens.set(hash, { ...value })
  }

  /**
   * The authority generation as just read or announced. Any other value than the one known
   * means authority changed somewhere (or the counter was reset with the database): drop all.
   */
  learn(generation: number): void {
    if (generation === this.generation) return
    this.clear()
    this.generation = generation
  }

  /**
   * A change of this process committed. Its entries go at once; when the change also bumped the
   * generation to `generation` right after the one known, nothing else changed meanwhile and
   * the other entries stay.
   */
  committed(forget: Forget, generation?: number): void {
    this.dropped++
    if ('accessKey' in forget) {
      this.credentials.delete(forget.accessKey)
    } else {
      for (const [key, entry] of this.credentials) if (entry.value.hostId === forget.hostId) this.credentials.delete(key)
    }
    if (generation !== undefined && this.generation !== undefined && generation === this.generation + 1) this.generation = generation
  }

  /** Drops every entry. */
  clear(): void {
    this.dropped++
    this.credentials.clear()
    this.tokens.clear()
  }
}

function evictOldest(map: Map<string, unknown>): void {
  if (map.size < AUTH_CACHE_MAX_ENTRIES) return
  const oldest = map.keys().next()
  if (!oldest.done) map.delete(oldest.value)
}

/** Decides, per request, whether the cache may be trusted or the generation must be read first. */
interface Freshness {
  /** Undefined when the cache may be used at once; otherwise resolves once it may. */
  check(): Promise<void> | undefined
  listenOn(url: string): void
  close(): Promise<void>
}

/**
 * SQLite replicas share one file. `PRAGMA data_version` changes when another connection has
 * committed anything; it costs no page read. Only then is the generation read, so a revocation
 * committed elsewhere is seen by the next request. This process's own commits do not change it:
 * they update the cache through `AuthCache.committed`.
 */
class SqliteFreshness implements Freshness {
  private confirmed: number | undefined
  private inflight: { version: number; promise: Promise<void> } | undefined
  /** Prepared once: `pragma()` would compile the statement on every request. */
  private readonly dataVersion: SQLite.Statement<[], number>

  constructor(
    handle: SQLite.Database,
    private readonly readGeneration: () => Promise<number>,
    private readonly cache: AuthCache,
  ) {
    this.dataVersion = handle.prepare<[], number>('pragma data_version').pluck()
  }

  check(): Promise<void> | undefined {
    const version = this.dataVersion.get()!
    if (version === this.confirmed) return undefined
    if (this.inflight?.version === version) return this.inflight.promise
    const promise = this.readGeneration().then(
      (generation) => {
        this.cache.learn(generation)
        // Only the latest read confirms: an older one finishing last must not hide a newer change.
        if (this.inflight?.promise === promise) {
          this.confirmed = version
          this.inflight = undefined
        }
      },
      (err: unknown) => {
        if (this.inflight?.promise === promise) this.inflight = undefined
        throw err
      },
    )
    this.inflight = { version, promise }
    return promise
  }

  listenOn(): void {}

  async close(): Promise<void> {}
}

/**
 * PostgreSQL replicas learn of a bump from a notification on `AUTH_CHANNEL` (sent by the bumping
 * transaction, delivered at its commit) on a connection of their own that LISTENs. As a
 * safety net for a lost notification, a generation confirmed more than `FRESHNESS_BOUND_MS` ago
 * is read again before the cache is trusted; while the listener is down or reconnecting, every
 * request reads it. Without a listener URL, only the periodic read applies.
 */
class PostgresFreshness implements Freshness {
  private url: string | undefined
  private confirmedAt = Number.NEGATIVE_INFINITY
  private inflight: Promise<void> | undefined
  private client: pg.Client | undefined
  private listening = false
  private started = false
  private closed = false
  private retryMs = LISTEN_RETRY_MIN_MS
  private retryTimer: NodeJS.Timeout | undefined

  constructor(
    private readonly readGeneration: () => Promise<number>,
    private readonly cache: AuthCache,
    private readonly logger: Logger | undefined,
  ) {}

  listenOn(url: string): void {
    this.url ??= url
  }

  check(): Promise<void> | undefined {
    // Started by the first request, so that commands that never authenticate open no connection.
    if (!this.started && this.url !== undefined && !this.closed) {
      this.started = true
      this.connect(this.url)
    }
    const polling = this.url === undefined || this.closed
    if ((polling || this.listening) && Date.now() - this.confirmedAt <= FRESHNESS_BOUND_MS) return undefined
    return this.refresh()
  }

  private refresh(): Promise<void> {
    if (this.inflight) return this.inflight
    const startedAt = Date.now()
    const promise = this.readGeneration()
      .then((generation) => {
        this.cache.learn(generation)
        this.confirmedAt = Math.max(this.confirmedAt, startedAt)
      })
      .finally(() => {
        if (this.inflight === promise) this.inflight = undefined
      })
    this.inflight = promise
    return promise
  }

  private connect(url: string): void {
    const client = new pg.Client({ connectionString: url, keepAlive: true })
    this.client = client
    // A connection that only waits for notifications must not keep the process alive (again
    // once connected: with TLS the stream is then another one).
    const unref = () => (client.connection.stream as Partial<Socket>).unref?.()
    unref()
    client.on('error', (err) => this.lost(client, err))
    client.on('end', () => this.lost(client, undefined))
    client.on('notification', (msg) => {
      if (msg.channel !== AUTH_CHANNEL || this.client !== client) return
      const generation = Number(msg.payload)
      if (Number.isSafeInteger(generation)) this.cache.learn(generation)
      else this.confirmedAt = Number.NEGATIVE_INFINITY
    })
    const startedAt = Date.now()
    client
      .connect()
      .then(() => {
        unref()
        return client.query(`listen ${AUTH_CHANNEL}`)
      })
      // Read after LISTEN: a bump committed in between is either in this read or announced.
      .then(() => client.query<{ generation: string | number }>('select generation from auth_generation where id = 1'))
      .then((result) => {
        if (this.client !== client) return
        const row = result.rows[0]
        if (row === undefined) throw new Error('auth_generation has no row: the database is not migrated')
        this.cache.learn(Number(row.generation))
        this.confirmedAt = Math.max(this.confirmedAt, startedAt)
        this.listening = true
        this.retryMs = LISTEN_RETRY_MIN_MS
      })
      .catch((err: unknown) => this.lost(client, err))
  }

  private lost(client: pg.Client, err: unknown): void {
    if (this.client !== client) return
    this.client = undefined
    this.listening = false
    client.end().catch(() => undefined)
    if (this.closed || this.url === undefined) return
    this.logger?.warn({ err, retryInMs: this.retryMs }, 'the connection listening for credential revocations was lost; requests read the authority generation until it is back')
    const url = this.url
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined
      if (!this.closed) this.connect(url)
    }, this.retryMs)
    this.retryTimer.unref()
    this.retryMs = Math.min(this.retryMs * 2, LISTEN_RETRY_MAX_MS)
  }

  async close(): Promise<void> {
    this.closed = true
    if (this.retryTimer !== undefined) clearTimeout(this.retryTimer)
    const client = this.client
    const wasListening = this.listening
    this.client = undefined
    this.listening = false
    if (client === undefined) return
    // Not awaited: closing must not wait on the server. A listening connection says goodbye
    // (Terminate) and goes; one still being set up is cut.
    if (wasListening) client.end().catch(() => undefined)
    else client.connection.stream.destroy()
  }
}

/**
 * One process's authentication cache over one database, with what keeps it fresh; shared by
 * every IdentityService over the same `Database`, so that a change made through one is seen by
 * the others (they share a connection, whose own commits `PRAGMA data_version` does not show).
 */
export class AuthState {
  readonly cache = new AuthCache()
  private readonly freshness: Freshness

  private constructor(database: Database, logger: Logger | undefined) {
    const readGeneration = async () => {
      const row = await database.db.selectFrom('auth_generation').select('generation').where('id', '=', 1).executeTakeFirstOrThrow()
      return Number(row.generation)
    }
    const handle = sqliteConnection(database)
    this.freshness = handle !== undefined
      ? new SqliteFreshness(handle, readGeneration, this.cache)
      : new PostgresFreshness(readGeneration, this.cache, logger)
  }

  private static readonly byDatabase = new WeakMap<Database, AuthState>()

  /** The state of `database`, created on first use; `listenUrl` (PostgreSQL) is kept from the first caller that gives one. */
  static of(database: Database, options: { listenUrl?: string | undefined; logger?: Logger | undefined }): AuthState {
    let state = AuthState.byDatabase.get(database)
    if (state === undefined) {
      state = new AuthState(database, options.logger)
      AuthState.byDatabase.set(database, state)
    }
    if (options.listenUrl !== undefined && database.dialect === 'postgres') state.freshness.listenOn(options.listenUrl)
    return state
  }

  /** Undefined when the cache may be used now; otherwise resolves once it may. */
  fresh(): Promise<void> | undefined {
    return this.freshness.check()
  }

  /**
   * Inside `tx`: bumps the authority generation (announcing it on PostgreSQL, delivered at
   * commit), and after the commit drops this process's entries `forget` names.
   */
  async withdraw(tx: Tx, forget: Forget): Promise<void> {
    const row = await tx.db
      .updateTable('auth_generation')
      .set({ generation: sql`generation + 1` })
      .where('id', '=', 1)
      .returning('generation')
      .executeTakeFirstOrThrow()
    const generation = Number(row.generation)
    if (tx.dialect === 'postgres') await sql`select pg_notify(${AUTH_CHANNEL}, ${String(generation)})`.execute(tx.db)
    tx.onCommit(() => this.cache.committed(forget, generation))
  }

  /** After `tx` commits, drops this process's entries `forget` names; other processes keep theirs. */
  forgetOnCommit(tx: Tx, forget: Forget): void {
    tx.onCommit(() => this.cache.committed(forget))
  }

  /** Stops listening (PostgreSQL); the cache then falls back to reading the generation once per `FRESHNESS_BOUND_MS`. */
  close(): Promise<void> {
    return this.freshness.close()
  }
}

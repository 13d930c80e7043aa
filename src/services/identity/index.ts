import { createHash, randomBytes, randomInt, randomUUID } from 'node:crypto'
import type { Logger } from 'pino'
import type { Database, Tx } from '../../store/database.ts'
import { nowIso } from '../time.ts'
import { AuthState } from './auth-cache.ts'
import { DUMMY_HASH, hashPassword, verifyPassword } from './passwords.ts'
import { MasterKeyError, SecretBox } from './secrets.ts'

/** Consecutive failed signatures after which an access key is locked (as the real gateway does). */
export const LOCKOUT_THRESHOLD = 5
/** How long a lock-out lasts. */
export const LOCKOUT_MS = 5 * 60 * 1000

/** What a request may act as, once authenticated. */
export interface Principal {
  /** The access key, or `token:<user name>` for token-authenticated requests. */
  accessKey: string
  projectId: string
  /** An operator credential or user, allowed on /admin routes. */
  admin: boolean
  /**
   * Set for a host agent's credential: the host it may report for, and nothing else (its
   * `projectId` is empty, so no project's path accepts it, and it is not an operator).
   */
  hostId?: string
  /** The signed-in user, for token-authenticated requests (the OpenStack APIs record it). */
  userId?: string
}

/** A credential as listed: never its secret. */
export interface CredentialInfo {
  accessKey: string
  projectId: string
  admin: boolean
  description: string
  createdAt: string
  revokedAt: string | null
}

/** A credential at creation, the only time its secret is shown. */
export interface IssuedCredential extends CredentialInfo {
  secretKey: string
}

/** The state of an access key as the authenticator needs it. */
export type CredentialLookup =
  | { kind: 'unknown' }
  | { kind: 'revoked' }
  | { kind: 'locked'; until: string }
  | { kind: 'active'; secretKey: string; projectId: string; admin: boolean; recentFailures: number; hostId?: string }

/** How an IdentityService learns of authority changes made by other processes. */
export interface IdentityOptions {
  /**
   * PostgreSQL: the database's URL, for the one connection that LISTENs for revocations and
   * lock-outs of other replicas (they are then seen by the next request). Without it, other
   * replicas' changes are seen within `FRESHNESS_BOUND_MS` (1 s). Ignored on SQLite.
   */
  listenUrl?: string | undefined
  logger?: Logger | undefined
}

/** Thrown for identity requests that cannot be carried out; the message is for the caller. */
export class IdentityError extends Error {
  override name = 'IdentityError'
  constructor(
    readonly reason: 'not-found' | 'conflict' | 'invalid',
    message: string,
  ) {
    super(message)
  }
}

const AK_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789'
const SK_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789'

function randomString(alphabet: string, length: number): string {
  return Array.from({ length }, () => alphabet[randomInt(alphabet.length)]).join('')
}

function tokenHash(token: string): string {
  return createHash('sha256').update(token).digest('hex')
}

/**
 * Projects, credentials, users and tokens. Secrets are sealed with the master key before they
 * touch the database and are returned only once, at creation.
 *
 * Authentication reads no database row per request: active credentials (opened secret
 * included, in memory only) and valid tokens are cached in the process (`AuthCache`).
 * Refusals are not cached. Every change that withdraws authority — a revocation, a lock-out,
 * the first failure of a run, a removed host — bumps the authority generation in its own
 * transaction; this process drops the affected entries when it commits, and other processes
 * drop their whole cache when they see the generation move: on SQLite at their next request
 * (`PRAGMA data_version`), on PostgreSQL at their next request after the notification arrives
 * and at most `FRESHNESS_BOUND_MS` (1 s) later if it is lost. Call `close()` on shutdown.
 */
export class IdentityService {
  private readonly auth: AuthState

  constructor(
    private readonly database: Database,
    private readonly box: SecretBox,
    private readonly tokenTtlMs: number,
    options: IdentityOptions = {},
  ) {
    this.auth = AuthState.of(database, options)
  }

  /**
   * Stops listening for other processes' changes (PostgreSQL; the cache then reads the
   * generation once a second). Returns at once: the listening connection never keeps the
   * process alive or holds up its shutdown.
   */
  async close(): Promise<void> {
    await this.auth.close()
  }

  async createProject(name: string, id: string = randomUUID().replaceAll('-', '')): Promise<{ id: string; name: string; createdAt: string }> {
    const createdAt = nowIso()
    await this.database.transaction(async ({ db }) => {
      const existing = await db.selectFrom('projects').select('id').where('id', '=', id).executeTakeFirst()
      if (existing) throw new IdentityError('conflict', `project ${id} already exists`)
      await db.insertInto('projects').values({ id, name, created_at: createdAt }).execute()
    })
    return { id, name, createdAt }
  }

  async listProjects(): Promise<Array<{ id: string; name: string; createdAt: string }>> {
    const rows = await this.database.db.selectFrom('projects').selectAll().orderBy('created_at').orderBy('id').execute()
    return rows.map((r) => ({ id: r.id, name: r.name, createdAt: r.created_at }))
  }

  /** Issues an AK/SK pair for a project. The returned secret is never retrievable again. */
  async createCredential(
    projectId: string,
    options: { admin?: boolean; description?: string; accessKey?: string; secretKey?: string } = {},
  ): Promise<IssuedCredential> {
    const accessKey = options.accessKey ?? randomString(AK_ALPHABET, 20)
    const secretKey = options.secretKey ?? randomString(SK_ALPHABET, 40)
    const row = {
      access_key: accessKey,
      secret_key: this.box.seal(secretKey, accessKey),
      project_id: projectId,
      admin: options.admin ? 1 : 0,
      description: options.description ?? '',
      created_at: nowIso(),
      revoked_at: null,
    }
    await this.database.transaction(async ({ db }) => {
      const project = await db.selectFrom('projects').select('id').where('id', '=', projectId).executeTakeFirst()
      if (!project) throw new IdentityError('not-found', `project ${projectId} does not exist`)
      await db.insertInto('credentials').values(row).execute()
    })
    return { ...toInfo(row), secretKey }
  }

  async listCredentials(projectId?: string): Promise<CredentialInfo[]> {
    let q = this.database.db.selectFrom('credentials').selectAll().orderBy('created_at').orderBy('access_key')
    if (projectId !== undefined) q = q.where('project_id', '=', projectId)
    return (await q.execute()).map(toInfo)
  }

  /**
   * Revokes a credential: from the next request on it authenticates nothing, in this process and
   * on every SQLite replica; on PostgreSQL replicas within `FRESHNESS_BOUND_MS`, normally at once.
   */
  async revokeCredential(accessKey: string): Promise<void> {
    await this.database.transaction(async (tx) => {
      const result = await tx.db.updateTable('credentials').set({ revoked_at: nowIso() }).where('access_key', '=', accessKey).where('revoked_at', 'is', null).executeTakeFirst()
      if (Number(result.numUpdatedRows) === 0) {
        const exists = await tx.db.selectFrom('credentials').select('access_key').where('access_key', '=', accessKey).executeTakeFirst()
        if (!exists) throw new IdentityError('not-found', `credential ${accessKey} does not exist`)
        return
      }
      await this.auth.withdraw(tx, { accessKey })
    })
  }

  /**
   * The secret and standing of an access key, with its lock-out: from the cache when it is
   * active and known, otherwise in one read.
   */
  async lookupCredential(accessKey: string, now: Date = new Date()): Promise<CredentialLookup> {
    await this.auth.fresh()
    const cached = this.auth.cache.credential(accessKey, this.box)
    if (cached !== undefined) return { kind: 'active', ...cached }
    const epoch = this.auth.cache.epoch
    const found = await this.readCredential(accessKey, now)
    if (found.kind === 'active') {
      const { secretKey, projectId, admin, recentFailures, hostId } = found
      this.auth.cache.storeCredential(accessKey, this.box, { secretKey, projectId, admin, recentFailures, ...(hostId === undefined ? {} : { hostId }) }, epoch)
    }
    return found
  }

  private async readCredential(accessKey: string, now: Date): Promise<CredentialLookup> {
    const row = await this.database.db
      .selectFrom('credentials as c')
      .leftJoin('auth_failures as f', 'f.access_key', 'c.access_key')
      .select(['c.secret_key', 'c.project_id', 'c.admin', 'c.revoked_at', 'f.locked_until', 'f.consecutive'])
      .where('c.access_key', '=', accessKey)
      .executeTakeFirst()
    if (!row) return this.lookupHostCredential(accessKey, now)
    if (row.revoked_at !== null) return { kind: 'revoked' }
    if (row.locked_until !== null && row.locked_until > now.toISOString()) return { kind: 'locked', until: row.locked_until }
    const secretKey = this.box.open(row.secret_key, accessKey)
    if (secretKey === undefined) throw new Error(`credential ${accessKey} cannot be decrypted with this master key`)
    return { kind: 'active', secretKey, projectId: row.project_id, admin: row.admin === 1, recentFailures: row.consecutive ?? 0 }
  }

  /** A host agent's access key, looked up as a tenant's would be (sealed secret, lock-out). */
  private async lookupHostCredential(accessKey: string, now: Date): Promise<CredentialLookup> {
    const row = await this.database.db
      .selectFrom('host_credentials as c')
      .leftJoin('auth_failures as f', 'f.access_key', 'c.access_key')
      .select(['c.secret_key', 'c.host_id', 'c.revoked_at', 'f.locked_until', 'f.consecutive'])
      .where('c.access_key', '=', accessKey)
      .executeTakeFirst()
    if (!row) return { kind: 'unknown' }
    if (row.revoked_at !== null) return { kind: 'revoked' }
    if (row.locked_until !== null && row.locked_until > now.toISOString()) return { kind: 'locked', until: row.locked_until }
    const secretKey = this.box.open(row.secret_key, accessKey)
    if (secretKey === undefined) throw new Error(`host credential ${accessKey} cannot be decrypted with this master key`)
    return { kind: 'active', secretKey, projectId: '', admin: false, recentFailures: row.consecutive ?? 0, hostId: row.host_id }
  }

  /**
   * Issues the one credential of a host's agent inside the caller's transaction (the one that
   * adds the host); the secret is returned once and stored only sealed.
   */
  async issueHostCredential(db: Database['db'], hostId: string): Promise<{ accessKey: string; secretKey: string }> {
    const accessKey = `HOST${randomString(AK_ALPHABET, 16)}`
    const secretKey = randomString(SK_ALPHABET, 40)
    await db.insertInto('host_credentials').values({ access_key: accessKey, host_id: hostId, secret_key: this.box.seal(secretKey, accessKey), created_at: nowIso(), revoked_at: null }).execute()
    return { accessKey, secretKey }
  }

  /**
   * Inside the caller's transaction (the one that removes a host, its credential with it): the
   * host's agent credential authenticates nothing once it commits, on every replica, as after a
   * revocation.
   */
  async withdrawHostCredentials(tx: Tx, hostId: string): Promise<void> {
    await this.auth.withdraw(tx, { hostId })
  }

  /**
   * Counts a failed signature of an existing access key; the fifth in a row locks it for five
   * minutes. Returns the lock's end when this failure caused one.
   */
  async recordFailure(accessKey: string, now: Date = new Date()): Promise<string | undefined> {
    return this.database.transaction(async (tx) => {
      const { db } = tx
      const current = await db.selectFrom('auth_failures').selectAll().where('access_key', '=', accessKey).executeTakeFirst()
      const expiredLock = current?.locked_until !== null && current?.locked_until !== undefined && current.locked_until <= now.toISOString()
      const consecutive = (current && !expiredLock ? current.consecutive : 0) + 1
      const lockedUntil = consecutive >= LOCKOUT_THRESHOLD ? new Date(now.getTime() + LOCKOUT_MS).toISOString() : null
      const values = { consecutive: lockedUntil ? 0 : consecutive, locked_until: lockedUntil, updated_at: now.toISOString() }
      if (current) await db.updateTable('auth_failures').set(values).where('access_key', '=', accessKey).execute()
      else await db.insertInto('auth_failures').values({ access_key: accessKey, ...values }).execute()
      // A lock-out withdraws authority. The first failure of a run is announced too: replicas
      // that cached the key without failures learn of the run, so a success there ends it.
      if (lockedUntil !== null || consecutive === 1) await this.auth.withdraw(tx, { accessKey })
      else this.auth.forgetOnCommit(tx, { accessKey })
      return lockedUntil ?? undefined
    })
  }

  /** A correct signature ends a run of failures. */
  async recordSuccess(accessKey: string): Promise<void> {
    await this.database.transaction(async (tx) => {
      await tx.db.deleteFrom('auth_failures').where('access_key', '=', accessKey).execute()
      this.auth.forgetOnCommit(tx, { accessKey })
    })
  }

  async createUser(projectId: string, name: string, password: string, admin = false): Promise<{ id: string; name: string; projectId: string }> {
    if (password.length < 8) throw new IdentityError('invalid', 'the password must have at least 8 characters')
    const passwordHash = await hashPassword(password)
    const id = randomUUID().replaceAll('-', '')
    await this.database.transaction(async ({ db }) => {
      const project = await db.selectFrom('projects').select('id').where('id', '=', projectId).executeTakeFirst()
      if (!project) throw new IdentityError('not-found', `project ${projectId} does not exist`)
      const taken = await db.selectFrom('users').select('id').where('name', '=', name).executeTakeFirst()
      if (taken) throw new IdentityError('conflict', `user ${name} already exists`)
      await db.insertInto('users').values({ id, name, project_id: projectId, password_hash: passwordHash, admin: admin ? 1 : 0, created_at: nowIso() }).execute()
    })
    return { id, name, projectId }
  }

  /**
   * Issues a token for a user's password (Identity v3 password method). Unknown users cost the
   * same scrypt work as wrong passwords, so timing does not reveal which names exist.
   */
  async issueToken(name: string, password: string): Promise<{ token: string; user: { id: string; name: string }; projectId: string; projectName: string; admin: boolean; issuedAt: string; expiresAt: string } | undefined> {
    const user = await this.database.db.selectFrom('users').selectAll().where('name', '=', name).executeTakeFirst()
    const ok = await verifyPassword(password, user?.password_hash ?? DUMMY_HASH)
    if (!user || !ok) return undefined
    const token = `ecsd_${randomBytes(32).toString('base64url')}`
    const issuedAt = nowIso()
    const expiresAt = new Date(Date.now() + this.tokenTtlMs).toISOString()
    await this.database.transaction(async ({ db }) => {
      await db.deleteFrom('tokens').where('expires_at', '<', issuedAt).execute()
      await db.insertInto('tokens').values({ token_hash: tokenHash(token), user_id: user.id, project_id: user.project_id, issued_at: issuedAt, expires_at: expiresAt }).execute()
    })
    const project = await this.database.db.selectFrom('projects').select('name').where('id', '=', user.project_id).executeTakeFirst()
    return { token, user: { id: user.id, name: user.name }, projectId: user.project_id, projectName: project?.name ?? user.project_id, admin: user.admin === 1, issuedAt, expiresAt }
  }

  /** The principal of a valid, unexpired token, or undefined; a cached token is never served past its expiry. */
  async lookupToken(token: string, now: Date = new Date()): Promise<Principal | undefined> {
    await this.auth.fresh()
    const hash = tokenHash(token)
    const cached = this.auth.cache.token(hash, now.getTime())
    if (cached !== undefined) return { accessKey: cached.accessKey, projectId: cached.projectId, admin: cached.admin, userId: cached.userId }
    const epoch = this.auth.cache.epoch
    const row = await this.database.db
      .selectFrom('tokens as t')
      .innerJoin('users as u', 'u.id', 't.user_id')
      .select(['t.project_id', 't.expires_at', 'u.id', 'u.name', 'u.admin'])
      .where('t.token_hash', '=', hash)
      .executeTakeFirst()
    if (!row || row.expires_at <= now.toISOString()) return undefined
    const principal = { accessKey: `token:${row.name}`, projectId: row.project_id, admin: row.admin === 1, userId: row.id }
    this.auth.cache.storeToken(hash, { ...principal, expiresAt: Date.parse(row.expires_at) }, epoch)
    return principal
  }

  /** Seals any credential secret still stored in plaintext (databases from before encryption). */
  async sealPlaintextSecrets(): Promise<number> {
    return this.database.transaction(async ({ db }) => {
      const rows = await db.selectFrom('credentials').select(['access_key', 'secret_key']).execute()
      let sealed = 0
      for (const r of rows) {
        if (SecretBox.isSealed(r.secret_key)) continue
        await db.updateTable('credentials').set({ secret_key: this.box.seal(r.secret_key, r.access_key) }).where('access_key', '=', r.access_key).execute()
        sealed++
      }
      return sealed
    })
  }

  /** Fails fast when the master key is not the one the stored secrets were sealed with. */
  async checkMasterKey(): Promise<void> {
    const row = await this.database.db.selectFrom('credentials').select(['access_key', 'secret_key']).limit(1).executeTakeFirst()
    if (row && SecretBox.isSealed(row.secret_key) && this.box.open(row.secret_key, row.access_key) === undefined) {
      throw new MasterKeyError('the master key does not open the stored credential secrets: start with the ECSD_MASTER_KEY (or key file) they were sealed with')
    }
  }
}

function toInfo(r: { access_key: string; project_id: string; admin: number; description: string; created_at: string; revoked_at: string | null }): CredentialInfo {
  return { accessKey: r.access_key, projectId: r.project_id, admin: r.admin === 1, description: r.description, createdAt: r.created_at, revokedAt: r.revoked_at }
}

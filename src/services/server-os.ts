import { constants, createPublicKey, publicEncrypt, randomBytes, scrypt, timingSafeEqual, X509Certificate, type KeyObject } from 'node:crypto'
import { promisify } from 'node:util'
import type { Kysely } from 'kysely'
import {
  consoleUrlInvalid, imageNotFound, invalidParameter, serialConsoleDisabled, serverBusy, serverWrongStatus,
  tooManyServersInBatch, weakPassword,
} from '../domain/errors.ts'
import type { RecordOperation } from '../domain/job.ts'
import type { Database, Dialect } from '../store/database.ts'
import type { Schema } from '../store/schema.ts'
import { recordStateChange } from './events.ts'
import type { SecretBox } from './identity/secrets.ts'
import { findImage } from './images.ts'
import { recordJob, type JobRunner } from './jobs.ts'
import type { CreateResources, CreatedServer } from './server-resources.ts'
import { saveServerOptions } from './server-attributes.ts'
import { findProjectServer, lockProjectServers, MAX_BATCH } from './servers.ts'
import { nowIso } from './time.ts'

// ---- Passwords -------------------------------------------------------------------------------

/** The special characters a password may use: the union of those the create and password-reset APIs document. */
const PASSWORD_SPECIALS = '!@$%^-_=+[{}]:,./?~#*'
const PASSWORD_MIN = 8
const PASSWORD_MAX = 26

/**
 * Checks a new password against the API's rules: 8–26 characters of letters, digits and
 * `PASSWORD_SPECIALS` only; with `complexity` (the default, `is_check_password` of a reset) also
 * at least three of the four kinds, and neither "root" nor "Administrator" nor their reverse in it.
 */
export function checkPassword(password: string, complexity = true): void {
  if (password.length < PASSWORD_MIN || password.length > PASSWORD_MAX) throw weakPassword(`it has ${password.length} characters`)
  const foreign = [...password].find((c) => !/[A-Za-z0-9]/.test(c) && !PASSWORD_SPECIALS.includes(c))
  if (foreign !== undefined) throw weakPassword(`it contains the character ${JSON.stringify(foreign)}, which is not allowed`)
  if (!complexity) return
  const kinds = [/[A-Z]/, /[a-z]/, /[0-9]/, /[^A-Za-z0-9]/].filter((kind) => kind.test(password)).length
  if (kinds < 3) throw weakPassword(`it has only ${kinds} of the four kinds of character`)
  const lower = password.toLowerCase()
  for (const word of ['root', 'administrator']) {
    const reversed = [...word].reverse().join('')
    if (lower.includes(word) || lower.includes(reversed)) throw weakPassword(`it contains "${word}" or its reverse`)
  }
}

const scryptAsync = promisify(scrypt) as (password: string, salt: Buffer, keyLength: number, options: { N: number; r: number; p: number }) => Promise<Buffer>
const SCRYPT = { N: 16_384, r: 8, p: 1 }
const SCRYPT_KEY_LENGTH = 32

/** A one-way hash of a password, `scrypt$N$r$p$<salt>$<hash>` (base64url), with a random salt. */
export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(16)
  const hash = await scryptAsync(password, salt, SCRYPT_KEY_LENGTH, SCRYPT)
  return ['scrypt', SCRYPT.N, SCRYPT.r, SCRYPT.p, salt.toString('base64url'), hash.toString('base64url')].join('$')
}

/** Whether `password` is the one `stored` (a `hashPassword` result) was made from. */
export async function passwordMatches(password: string, stored: string): Promise<boolean> {
  const [scheme, n, r, p, salt, hash] = stored.split('$')
  if (scheme !== 'scrypt' || salt === undefined || hash === undefined) return false
  const expected = Buffer.from(hash, 'base64url')
  const actual = await scryptAsync(password, Buffer.from(salt, 'base64url'), expected.length, { N: Number(n), r: Number(r), p: Number(p) })
  return timingSafeEqual(actual, expected)
}

/** The RSA public key of an OpenSSH `ssh-rsa` line or a PEM X.509 certificate; undefined for any other key. */
function rsaKeyOf(publicKey: string): KeyObject | undefined {
  try {
    if (publicKey.includes('BEGIN CERTIFICATE')) {
      const key = new X509Certificate(publicKey).publicKey
      return key.asymmetricKeyType === 'rsa' ? key : undefined
    }
    const [kind, blob] = publicKey.trim().split(/\s+/)
    if (kind !== 'ssh-rsa' || blob === undefined) return undefined
    const raw = Buffer.from(blob, 'base64')
    // An ssh-rsa blob is three SSH strings: the type, the exponent, the modulus.
    const parts: Buffer[] = []
    for (let at = 0; parts.length < 3; ) {
      const length = raw.readUInt32BE(at)
      parts.push(raw.subarray(at + 4, at + 4 + length))
      at += 4 + length
    }
    const unsigned = (b: Buffer) => (b[0] === 0 ? b.subarray(1) : b).toString('base64url')
    return createPublicKey({ key: { kty: 'RSA', e: unsigned(parts[1]!), n: unsigned(parts[2]!) }, format: 'jwk' })
  } catch {
    return undefined
  }
}

/**
 * What `os-server-password` shows for a password: as cloudbase-init leaves it in the metadata
 * service, the password RSA-encrypted (PKCS#1 v1.5, base64) with the public key of the server's
 * key pair, so that only the holder of the private key reads it. "" without an RSA key pair.
 */
export async function passwordBlob(db: Kysely<Schema>, projectId: string, keyName: string | null, password: string): Promise<string> {
  if (keyName === null) return ''
  const row = await db.selectFrom('keypairs').select('public_key').where('project_id', '=', projectId).where('name', '=', keyName).executeTakeFirst()
  const key = row === undefined ? undefined : rsaKeyOf(row.public_key)
  if (key === undefined) return ''
  return publicEncrypt({ key, padding: constants.RSA_PKCS1_PADDING }, Buffer.from(password, 'utf8')).toString('base64')
}


/**
 * Stores the hash of the password a create gave (`adminPass`), never the password, and its
 * encrypted blob when the create names an RSA key pair. A password that breaks the rules refuses
 * the create (nothing of it is kept). One hash serves every server of the create: they share
 * the password, and a hash per server would multiply scrypt's deliberate cost.
 */
export async function savePasswordAtCreate(db: Kysely<Schema>, servers: CreatedServer[], resources: CreateResources): Promise<void> {
  const password = resources.adminPass
  if (password === undefined || servers.length === 0) return
  checkPassword(password)
  const hash = await hashPassword(password)
  const blob = await passwordBlob(db, servers[0]!.projectId, resources.keyName ?? null, password)
  await saveServerOptions(db, servers.map((s) => s.id), { password_hash: hash, password_blob: blob })
}

// ---- Console URLs ----------------------------------------------------------------------------

/** How long a console URL opens its console. */
export const CONSOLE_URL_MINUTES = 10

/** What a console URL shows: the serial console, or the remote (VNC) console, which ecsd serves as the serial console's text. */
export type ConsoleKind = 'serial' | 'remote'

const CONSOLE_BINDING = 'ecsd console url'
const IV_BYTES = 12
const TAG_BYTES = 16

/**
 * A console URL's token: the server, the kind and the expiry, sealed (AES-256-GCM) under the
 * master key, so that any replica opens it, nobody can forge or alter one, and nothing is
 * stored. Packed as base64url of iv ‖ tag ‖ ciphertext to stay within a path segment's length.
 */
function sealConsoleToken(box: SecretBox, serverId: string, kind: ConsoleKind, expiresAtMs: number): string {
  const plaintext = `${kind === 'serial' ? 's' : 'r'}.${Math.ceil(expiresAtMs / 1000).toString(36)}.${serverId.replaceAll('-', '')}`
  const [, iv, tag, data] = box.seal(plaintext, CONSOLE_BINDING).split(':')
  return Buffer.concat([iv!, tag!, data!].map((part) => Buffer.from(part, 'base64url'))).toString('base64url')
}

/** The server and kind of a console token that is genuine and not expired; undefined otherwise. */
function openConsoleToken(box: SecretBox, token: string, nowMs: number): { serverId: string; kind: ConsoleKind } | undefined {
  const raw = Buffer.from(token, 'base64url')
  if (raw.length <= IV_BYTES + TAG_BYTES || raw.toString('base64url') !== token) return undefined
  const sealed = ['v1', raw.subarray(0, IV_BYTES), raw.subarray(IV_BYTES, IV_BYTES + TAG_BYTES), raw.subarray(IV_BYTES + TAG_BYTES)]
    .map((part) => (typeof part === 'string' ? part : part.toString('base64url')))
    .join(':')
  const plaintext = box.open(sealed, CONSOLE_BINDING)
  const match = plaintext === undefined ? null : /^([sr])\.([0-9a-z]+)\.([0-9a-f]{32})$/.exec(plaintext)
  if (!match) return undefined
  if (Number.parseInt(match[2]!, 36) * 1000 < nowMs) return undefined
  const hex = match[3]!
  const serverId = `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`
  return { serverId, kind: match[1] === 's' ? 'serial' : 'remote' }
}

// ---- Use cases -------------------------------------------------------------------------------

/** What a reinstall or change of OS installs: the new login (password or key pair), user data, and for a change the image. */
export interface OsInstall {
  adminPass: string | undefined
  keyName: string | undefined
  userId: string | undefined
  /** `withStopServer`: a running server is accepted too. */
  mode: 'withStopServer' | undefined
  /** base64; only the cloud-init variants take it. */
  userData: string | undefined
  /** changeOs only: the new image. */
  imageId?: string | undefined
}

/** Dependencies of `ServerOsService`. */
export interface ServerOsServiceDeps {
  database: Database
  jobs: JobRunner
  /** Seals console URL tokens. */
  box: SecretBox
}

const SERVER_COLUMNS = ['id', 'status', 'task_state', 'in_recycle_bin', 'host_id'] as const

/**
 * The OS of a server and what comes with it: reinstall and change of OS (record-only: the change
 * is made in the request's transaction and its job recorded as done), passwords (kept only as a
 * hash, plus the blob encrypted for the key pair's holder), console URLs of ecsd's own console
 * page, crash dumps and monitoring registration.
 */
export class ServerOsService {
  constructor(private readonly deps: ServerOsServiceDeps) {}

  /**
   * Reinstalls the server's image (`reinstall`) or installs another (`changeOs`). The server must
   * be SHUTOFF, or ACTIVE with `withStopServer`; it keeps its power state (nothing boots or stops
   * a record), and its password, key pair and user data become what the request gives.
   */
  async installOs(projectId: string, serverId: string, operation: Extract<RecordOperation, 'reinstall' | 'changeOs'>, install: OsInstall): Promise<{ jobId: string }> {
    const path = operation === 'reinstall' ? 'os-reinstall' : 'os-change'
    if (install.keyName !== undefined && install.userId === undefined) throw invalidParameter(`${path}.userid is required with ${path}.keyname`)
    if (install.userData !== undefined && Buffer.from(install.userData, 'base64').length > 32_768) throw invalidParameter(`${path}.metadata.user_data is longer than 32 KB once decoded`)
    if (operation === 'changeOs' && (install.imageId === undefined || !findImage(install.imageId))) throw imageNotFound(install.imageId ?? '', 400)
    if (install.adminPass !== undefined) checkPassword(install.adminPass)
    const hash = install.adminPass === undefined ? null : await hashPassword(install.adminPass)
    return this.deps.database.transaction(async (tx) => {
      const { db, dialect } = tx
      const server = await lockServer(db, dialect, projectId, serverId)
      if (server.task_state !== null) throw serverBusy(serverId, server.status, server.task_state)
      const running = server.status === 'ACTIVE' && install.mode === 'withStopServer'
      if (server.status !== 'SHUTOFF' && !running) {
        throw serverWrongStatus(serverId, server.status, path, 'stopped (SHUTOFF), or ACTIVE with "mode": "withStopServer"')
      }
      if (install.keyName !== undefined) {
        const key = await db.selectFrom('keypairs').select('name').where('project_id', '=', projectId).where('name', '=', install.keyName).executeTakeFirst()
        if (!key) throw invalidParameter(`${path}.keyname ${install.keyName} is not a key pair of this project`)
      }
      const blob = install.adminPass === undefined ? '' : await passwordBlob(db, projectId, install.keyName ?? null, install.adminPass)
      await saveServerOptions(db, [serverId], { password_hash: hash, password_blob: blob, key_name: install.keyName ?? null, user_data: install.userData ?? null })
      await db
        .updateTable('servers')
        .set({ updated_at: nowIso(), ...(operation === 'changeOs' ? { image_ref: install.imageId! } : {}) })
        .where('id', '=', serverId)
        .execute()
      return { jobId: (await recordJob(tx, this.deps.jobs, { projectId, operation, work: [], alreadyDone: [serverId] })).jobId }
    })
  }

  /** Sets a server's password (`os-reset-password`): ACTIVE or SHUTOFF servers, no job working on them. */
  async resetPassword(projectId: string, serverId: string, password: string, complexity: boolean): Promise<void> {
    checkPassword(password, complexity)
    await this.resetPasswords(projectId, [serverId], password)
  }

  /**
   * Sets the same password on many servers, all or none (`os-reset-passwords`); a `dry_run`
   * checks the password (when given) and the servers and changes nothing. Returns the servers.
   */
  async batchResetPassword(projectId: string, requested: string[], password: string | undefined, dryRun: boolean): Promise<string[]> {
    const serverIds = [...new Set(requested)]
    if (serverIds.length > MAX_BATCH) throw tooManyServersInBatch(serverIds.length, MAX_BATCH)
    if (password === undefined && !dryRun) throw invalidParameter('new_password is required unless dry_run is true')
    if (password !== undefined) checkPassword(password)
    if (dryRun) {
      await this.deps.database.transaction(async ({ db, dialect }) => {
        for (const server of await lockProjectServers(db, dialect, projectId, serverIds)) assertPasswordSettable(server)
      })
      return serverIds
    }
    await this.resetPasswords(projectId, serverIds, password!)
    return serverIds
  }

  private async resetPasswords(projectId: string, serverIds: string[], password: string): Promise<void> {
    const hash = await hashPassword(password)
    await this.deps.database.transaction(async ({ db, dialect }) => {
      const servers = await lockProjectServers(db, dialect, projectId, serverIds)
      for (const server of servers) assertPasswordSettable(server)
      const keys = await db.selectFrom('server_options').select(['server_id', 'key_name']).where('server_id', 'in', serverIds).execute()
      const keyOf = new Map(keys.map((k) => [k.server_id, k.key_name]))
      const blobs = new Map<string | null, string>()
      for (const id of serverIds) {
        const keyName = keyOf.get(id) ?? null
        let blob = blobs.get(keyName)
        if (blob === undefined) {
          blob = await passwordBlob(db, projectId, keyName, password)
          blobs.set(keyName, blob)
        }
        await saveServerOptions(db, [id], { password_hash: hash, password_blob: blob })
      }
    })
  }

  /** `os-resetpwd-flag`: ecsd resets the password of any server, so "True" for every server of the project. */
  async resetPasswordFlag(projectId: string, serverId: string): Promise<'True'> {
    await findProjectServer(this.deps.database.db, projectId, serverId)
    return 'True'
  }

  /** The encrypted password blob of a server; "" when there is none. */
  async showPassword(projectId: string, serverId: string): Promise<string> {
    await findProjectServer(this.deps.database.db, projectId, serverId)
    const row = await this.deps.database.db.selectFrom('server_options').select('password_blob').where('server_id', '=', serverId).executeTakeFirst()
    return row?.password_blob ?? ''
  }

  /** Forgets the encrypted password blob (the password itself, and its hash, stay). */
  async deletePassword(projectId: string, serverId: string): Promise<void> {
    await this.deps.database.transaction(async ({ db, dialect }) => {
      await lockServer(db, dialect, projectId, serverId)
      await db.updateTable('server_options').set({ password_blob: '' }).where('server_id', '=', serverId).execute()
    })
  }

  /**
   * A console URL under `baseUrl`: the remote console needs the server ACTIVE; the serial
   * console needs it switched on.
   */
  async consoleUrl(projectId: string, serverId: string, kind: ConsoleKind, baseUrl: string): Promise<string> {
    const db = this.deps.database.db
    const server = await findProjectServer(db, projectId, serverId)
    if (kind === 'remote' && server.status !== 'ACTIVE') throw serverWrongStatus(serverId, server.status, 'remote_console', 'ACTIVE (running)')
    if (kind === 'serial') await assertSerialConsoleEnabled(db, serverId)
    const token = sealConsoleToken(this.deps.box, serverId, kind, Date.now() + CONSOLE_URL_MINUTES * 60_000)
    return `${baseUrl}/console/${token}`
  }

  /**
   * The server a console URL opens, or `consoleUrlInvalid`. A serial console switched off since
   * the URL was made does not open.
   */
  async openConsole(token: string): Promise<{ serverId: string; kind: ConsoleKind }> {
    const opened = openConsoleToken(this.deps.box, token, Date.now())
    if (!opened) throw consoleUrlInvalid(CONSOLE_URL_MINUTES)
    if (opened.kind === 'serial') await assertSerialConsoleEnabled(this.deps.database.db, opened.serverId)
    return opened
  }

  /** Switches the serial console on or off; without `enabled` nothing changes. */
  async setSerialConsole(projectId: string, serverId: string, enabled: boolean | undefined): Promise<void> {
    await this.deps.database.transaction(async ({ db, dialect }) => {
      await lockServer(db, dialect, projectId, serverId)
      if (enabled !== undefined) await saveServerOptions(db, [serverId], { serial_console_enabled: enabled ? 1 : 0 })
    })
  }

  /**
   * Records a crash dump request of an ACTIVE server in its event history. ecsd cannot inject
   * an NMI into a guest (neither the simulated hosts nor the agent's QEMU driver offer it), so
   * the event says so rather than pretend a dump was taken.
   */
  async crashDump(projectId: string, serverId: string): Promise<void> {
    await this.deps.database.transaction(async ({ db, dialect }) => {
      const server = await lockServer(db, dialect, projectId, serverId)
      if (server.task_state !== null) throw serverBusy(serverId, server.status, server.task_state)
      if (server.status !== 'ACTIVE') throw serverWrongStatus(serverId, server.status, 'trigger-crash-dump', 'ACTIVE (running)')
      await recordStateChange(db, {
        at: nowIso(), projectId, serverId, hostId: server.host_id, reason: 'trigger-crash-dump', from: server.status, to: server.status, force: true,
        detail: 'a crash dump was requested; ecsd has no way to send the guest an NMI, so the guest kept running and no dump was taken',
      })
    })
  }

  /** Registers the server for platform monitoring (`monitored`); registering again changes nothing. */
  async registerMonitor(projectId: string, serverId: string): Promise<void> {
    await this.deps.database.transaction(async ({ db, dialect }) => {
      await lockServer(db, dialect, projectId, serverId)
      await saveServerOptions(db, [serverId], { monitored: 1 })
    })
  }
}

type ServerState = Pick<Schema['servers'], (typeof SERVER_COLUMNS)[number]>

/** A server of the project, locked; another project's server and a binned one answer like the API does for them. */
async function lockServer(db: Kysely<Schema>, dialect: Dialect, projectId: string, serverId: string): Promise<ServerState> {
  const [server] = await lockProjectServers(db, dialect, projectId, [serverId])
  return server!
}

/** A password is set on a running or stopped server that no job is working on. */
function assertPasswordSettable(server: ServerState): void {
  if (server.task_state !== null) throw serverBusy(server.id, server.status, server.task_state)
  if (server.status !== 'ACTIVE' && server.status !== 'SHUTOFF') throw serverWrongStatus(server.id, server.status, 'a password reset', 'ACTIVE or SHUTOFF')
}

async function assertSerialConsoleEnabled(db: Kysely<Schema>, serverId: string): Promise<void> {
  const row = await db.selectFrom('server_options').select('serial_console_enabled').where('server_id', '=', serverId).executeTakeFirst()
  if (row !== undefined && row.serial_console_enabled === 0) throw serialConsoleDisabled(serverId)
}

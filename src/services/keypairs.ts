import { createHash, generateKeyPairSync, X509Certificate } from 'node:crypto'
import { EcsError, keypairExists, keypairInvalid, keypairNotFound } from '../domain/errors.ts'
import type { Database } from '../store/database.ts'
import type { Schema } from '../store/schema.ts'
import { lockProject } from './groups.ts'
import { nowIso } from './time.ts'

/** Key pairs a project may have (the limits API's `maxTotalKeypairs`). */
export const MAX_KEYPAIRS = 100

/** A key pair as stored; `privateKey` only at creation when ecsd generated it. */
export interface Keypair {
  id: number
  name: string
  userId: string
  type: 'ssh' | 'x509'
  publicKey: string
  fingerprint: string
  createdAt: string
  privateKey?: string
}

/** A key pair to create: imported (`publicKey`) or generated (SSH only). */
export interface NewKeypair {
  name: string
  type: 'ssh' | 'x509'
  publicKey: string | undefined
  userId: string
}

const SSH_KEY_TYPES = ['ssh-rsa', 'ssh-ed25519', 'ssh-dss', 'ecdsa-sha2-nistp256', 'ecdsa-sha2-nistp384', 'ecdsa-sha2-nistp521']

/**
 * Key pairs (Nova's `os-keypairs`), per project. ecsd keeps the public key and shows it; it
 * injects nothing into guests. A generated key's private half is returned once and not kept.
 */
export class KeypairService {
  constructor(private readonly database: Database) {}

  /** Imports or generates a key pair; names are unique in the project (409), at most `MAX_KEYPAIRS`. */
  async create(projectId: string, input: NewKeypair): Promise<Keypair> {
    const material = input.publicKey === undefined ? generate(input.type) : parse(input.type, input.publicKey)
    return this.database.transaction(async ({ db, dialect }) => {
      await lockProject(db, projectId)
      const taken = await db.selectFrom('keypairs').select('name').where('project_id', '=', projectId).where('name', '=', input.name).executeTakeFirst()
      if (taken) throw keypairExists(input.name)
      const { n, top } = await db
        .selectFrom('keypairs')
        .select((eb) => [eb.fn.countAll<number | string>().as('n'), eb.fn.max('id').as('top')])
        .where('project_id', '=', projectId)
        .executeTakeFirstOrThrow()
      if (Number(n) >= MAX_KEYPAIRS) throw new EcsError('Ecs.0022', 403, `Insufficient key pair quota: this project already has the maximum of ${MAX_KEYPAIRS} key pairs.`, { message: 'Quota exceeded, too many key pairs.' })
      const row: Schema['keypairs'] = {
        project_id: projectId, name: input.name, id: Number(top ?? 0) + 1, user_id: input.userId, type: input.type,
        public_key: material.publicKey, fingerprint: material.fingerprint, created_at: nowIso(),
      }
      await db.insertInto('keypairs').values(row).execute()
      return { ...toKeypair(row), ...(material.privateKey === undefined ? {} : { privateKey: material.privateKey }) }
    })
  }

  /** The project's key pairs by name, after `marker` (a name), at most `limit`. */
  async list(projectId: string, limit: number | undefined, marker: string | undefined): Promise<Keypair[]> {
    const db = this.database.db
    if (marker !== undefined) {
      const found = await db.selectFrom('keypairs').select('name').where('project_id', '=', projectId).where('name', '=', marker).executeTakeFirst()
      if (!found) throw new EcsError('Ecs.0005', 400, `Invalid parameter values: marker ${marker} is not a key pair of this project.`, { message: `Marker ${marker} could not be found.` })
    }
    const rows = await db
      .selectFrom('keypairs')
      .selectAll()
      .where('project_id', '=', projectId)
      .$if(marker !== undefined, (q) => q.where('name', '>', marker!))
      .orderBy('name')
      .$if(limit !== undefined, (q) => q.limit(limit!))
      .execute()
    return rows.map(toKeypair)
  }

  /** A key pair of the project by name, or the not-found error. */
  async show(projectId: string, name: string): Promise<Keypair> {
    const row = await this.database.db.selectFrom('keypairs').selectAll().where('project_id', '=', projectId).where('name', '=', name).executeTakeFirst()
    if (!row) throw keypairNotFound(name)
    return toKeypair(row)
  }

  /** Deletes a key pair; servers that name it keep the name, as in Nova. */
  async delete(projectId: string, name: string): Promise<void> {
    await this.database.transaction(async ({ db }) => {
      const gone = await db.deleteFrom('keypairs').where('project_id', '=', projectId).where('name', '=', name).executeTakeFirst()
      if (Number(gone.numDeletedRows) === 0) throw keypairNotFound(name)
    })
  }
}

function toKeypair(r: Schema['keypairs']): Keypair {
  return { id: r.id, name: r.name, userId: r.user_id, type: r.type as Keypair['type'], publicKey: r.public_key, fingerprint: r.fingerprint, createdAt: r.created_at }
}

/** Nova's fingerprints: colon-separated hex, MD5 of the key blob for SSH, SHA-1 of the DER for X.509. */
function colonHex(digest: Buffer): string {
  return [...digest].map((b) => b.toString(16).padStart(2, '0')).join(':')
}

/** An OpenSSH public key line, checked: known type, base64 blob that names the same type. */
function parse(type: 'ssh' | 'x509', text: string): { publicKey: string; fingerprint: string; privateKey?: string } {
  if (type === 'x509') {
    let cert: X509Certificate
    try {
      cert = new X509Certificate(text)
    } catch {
      throw keypairInvalid('public_key is not a PEM X.509 certificate')
    }
    return { publicKey: text, fingerprint: colonHex(createHash('sha1').update(cert.raw).digest()) }
  }
  const [kind, blob] = text.trim().split(/\s+/)
  if (kind === undefined || blob === undefined || !SSH_KEY_TYPES.includes(kind) || !/^[A-Za-z0-9+/]+={0,2}$/.test(blob)) {
    throw keypairInvalid(`public_key is not an OpenSSH public key ("${SSH_KEY_TYPES[0]} AAAA… comment")`)
  }
  const raw = Buffer.from(blob, 'base64')
  const nameLength = raw.length >= 4 ? raw.readUInt32BE(0) : -1
  if (nameLength < 0 || raw.subarray(4, 4 + nameLength).toString('latin1') !== kind) throw keypairInvalid(`the key data does not encode a ${kind} key`)
  return { publicKey: text.trim(), fingerprint: colonHex(createHash('md5').update(raw).digest()) }
}

/** An RSA 2048 key pair in OpenSSH public / PEM private form, as Nova generates. */
function generate(type: 'ssh' | 'x509'): { publicKey: string; fingerprint: string; privateKey: string } {
  if (type === 'x509') throw keypairInvalid('ecsd generates SSH key pairs only; import an X.509 certificate as public_key')
  const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 })
  const jwk = publicKey.export({ format: 'jwk' }) as { n: string; e: string }
  const mpint = (b64url: string) => {
    let bytes = Buffer.from(b64url, 'base64url')
    // An mpint with the top bit set needs a leading zero to stay positive.
    if (bytes[0]! & 0x80) bytes = Buffer.concat([Buffer.from([0]), bytes])
    return bytes
  }
  const blob = Buffer.concat([lengthPrefixed(Buffer.from('ssh-rsa')), lengthPrefixed(mpint(jwk.e)), lengthPrefixed(mpint(jwk.n))])
  return {
    publicKey: `ssh-rsa ${blob.toString('base64')} Generated-by-ecsd`,
    fingerprint: colonHex(createHash('md5').update(blob).digest()),
    privateKey: privateKey.export({ type: 'pkcs1', format: 'pem' }).toString(),
  }
}

/** An SSH wire `string`: a 32-bit big-endian length, then the bytes. */
function lengthPrefixed(b: Buffer): Buffer {
  const length = Buffer.alloc(4)
  length.writeUInt32BE(b.length)
  return Buffer.concat([length, b])
}

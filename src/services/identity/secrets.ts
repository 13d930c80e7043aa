import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto'
import { chmodSync, existsSync, linkSync, mkdirSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs'
import path from 'node:path'

const VERSION = 'v1'

/** A master key that cannot be used; the message says what to fix. */
export class MasterKeyError extends Error {
  override name = 'MasterKeyError'
}

/**
 * Encrypts credential secrets at rest with AES-256-GCM under the master key. A stored secret
 * is `v1:<iv>:<tag>:<ciphertext>` (base64url parts); the access key is bound in as additional
 * authenticated data, so a ciphertext copied onto another credential row does not decrypt.
 */
export class SecretBox {
  constructor(private readonly key: Buffer) {
    if (key.length !== 32) throw new MasterKeyError(`the master key must be 32 bytes, got ${key.length}`)
  }

  seal(plaintext: string, boundTo: string): string {
    const iv = randomBytes(12)
    const cipher = createCipheriv('aes-256-gcm', this.key, iv)
    cipher.setAAD(Buffer.from(boundTo, 'utf8'))
    const data = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()])
    return [VERSION, iv.toString('base64url'), cipher.getAuthTag().toString('base64url'), data.toString('base64url')].join(':')
  }

  /**
   * Opened secrets by sealed value and binding, so that a credential read again (after the
   * authentication cache was dropped, see `AuthCache`) costs no AES work. Keyed by the sealed
   * value itself, it can never answer for a row that changed. Bounded, and cleared whole when
   * full.
   */
  private readonly opened = new Map<string, string>()

  /** Returns the plaintext, or undefined when the value was not sealed by this key for `boundTo`. */
  open(sealed: string, boundTo: string): string | undefined {
    const cacheKey = `${boundTo}\n${sealed}`
    const known = this.opened.get(cacheKey)
    if (known !== undefined) return known
    const plaintext = this.openUncached(sealed, boundTo)
    if (plaintext !== undefined) {
      if (this.opened.size >= 10_000) this.opened.clear()
      this.opened.set(cacheKey, plaintext)
    }
    return plaintext
  }

  private openUncached(sealed: string, boundTo: string): string | undefined {
    const [version, iv, tag, data] = sealed.split(':')
    if (version !== VERSION || iv === undefined || tag === undefined || data === undefined) return undefined
    try {
      const decipher = createDecipheriv('aes-256-gcm', this.key, Buffer.from(iv, 'base64url'))
      decipher.setAAD(Buffer.from(boundTo, 'utf8'))
      decipher.setAuthTag(Buffer.from(tag, 'base64url'))
      return Buffer.concat([decipher.update(Buffer.from(data, 'base64url')), decipher.final()]).toString('utf8')
    } catch {
      return undefined
    }
  }

  /** Whether a stored value is sealed (as opposed to a plaintext secret from before encryption). */
  static isSealed(value: string): boolean {
    return value.startsWith(`${VERSION}:`)
  }
}

/**
 * The master key: `ECSD_MASTER_KEY` (64 hex characters or base64 of 32 bytes) when given;
 * otherwise the key file (default `<data dir>/master.key`), created with mode 0600 on first
 * use. Replicas sharing a PostgreSQL database must share the key — give them the same
 * `ECSD_MASTER_KEY` (or the same file).
 */
export function loadMasterKey(options: { value: string | undefined; file: string }): Buffer {
  if (options.value !== undefined) return parseKey(options.value, 'ECSD_MASTER_KEY')
  if (!existsSync(options.file)) {
    // Processes sharing a data directory may start at the same instant: the key is written
    // whole to a private file and then hard-linked into place, which succeeds for exactly one
    // of them; the others find the winner's complete file and use it.
    mkdirSync(path.dirname(options.file), { recursive: true })
    const draft = `${options.file}.${process.pid}.${randomBytes(4).toString('hex')}`
    writeFileSync(draft, `${randomBytes(32).toString('hex')}\n`, { mode: 0o600, flag: 'wx' })
    chmodSync(draft, 0o600)
    try {
      linkSync(draft, options.file)
    } catch (err) {
      if ((err as { code?: string }).code !== 'EEXIST') throw err
    } finally {
      unlinkSync(draft)
    }
  }
  return parseKey(readFileSync(options.file, 'utf8').trim(), options.file)
}

function parseKey(text: string, source: string): Buffer {
  const key = /^[0-9a-fA-F]{64}$/.test(text) ? Buffer.from(text, 'hex') : Buffer.from(text, 'base64')
  if (key.length !== 32) throw new MasterKeyError(`${source} must hold 32 bytes as 64 hex characters or base64`)
  return key
}

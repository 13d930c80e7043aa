/**
 * Disks crossing hosts in a cold move. The source agent, given a `send-disk` task, grants its
 * token for that server's disk (recorded in `<state dir>/grants/`, so a restart keeps serving
 * it) and serves the disk at `GET /disks/{server_id}` on its `--listen` address to whoever shows
 * the token — the target agent, which `fetchDisk`s it into a file of its own. The grant goes when
 * the source lets go of the server (`release`, `delete`).
 */
import { createHash, timingSafeEqual } from 'node:crypto'
import { createReadStream, createWriteStream } from 'node:fs'
import { mkdir, rm, stat } from 'node:fs/promises'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import path from 'node:path'
import { Transform } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import type { Logger } from 'pino'
import { request } from 'undici'
import { isSafeServerId, readJson, writeFileAtomic } from './state-files.ts'

/** The header a target agent sends its token in (`?token=` in the query works too). */
export const DISK_TOKEN_HEADER = 'x-ecsd-disk-token'

/** The disk grants of one state directory: which token may fetch which server's disk. */
export class DiskGrants {
  private readonly dir: string

  constructor(stateDir: string) {
    this.dir = path.join(stateDir, 'grants')
  }

  async open(): Promise<void> {
    await mkdir(this.dir, { recursive: true })
  }

  /** Lets `token` fetch the server's disk (a newer grant replaces an older one). */
  async grant(serverId: string, token: string): Promise<void> {
    await writeFileAtomic(this.file(serverId), `${JSON.stringify({ token, grantedAt: new Date().toISOString() })}\n`)
  }

  /** Takes the grant back. */
  async revoke(serverId: string): Promise<void> {
    await rm(this.file(serverId), { force: true })
  }

  /** Whether `token` is the server's granted one; compared in constant time. */
  async allows(serverId: string, token: string): Promise<boolean> {
    const grant = await readJson<{ token: string }>(this.file(serverId))
    if (grant === undefined) return false
    // Digests first: timingSafeEqual needs equal lengths, and the length must not leak either.
    const digest = (s: string) => createHash('sha256').update(s).digest()
    return timingSafeEqual(digest(grant.token), digest(token))
  }

  private file(serverId: string): string {
    if (!isSafeServerId(serverId)) throw new Error(`not a server id: ${JSON.stringify(serverId)}`)
    return path.join(this.dir, `${serverId}.json`)
  }
}

/** What the disk server needs: the grants, and where each server's disk file is. */
export interface DiskServerOptions {
  grants: DiskGrants
  diskFile(serverId: string): string
  logger: Logger
}

/**
 * The agent's own HTTP server: `GET /disks/{server_id}` streams the disk to a holder of its
 * token, and nothing else is served. A missing or wrong token and an unknown server get the same
 * 403, so that the answer tells nothing about which servers are here.
 */
export function createDiskServer(options: DiskServerOptions): Server {
  const { grants, logger } = options
  return createServer((req, res) => {
    serveDisk(req, res).catch((err: unknown) => {
      logger.error({ err, url: req.url }, 'serving a disk failed')
      if (!res.headersSent) plain(res, 500, 'internal error')
      else res.destroy()
    })
  })

  async function serveDisk(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://agent')
    const match = /^\/disks\/([^/]+)$/.exec(url.pathname)
    if (!match) return plain(res, 404, 'not found')
    if (req.method !== 'GET') return plain(res, 405, 'only GET')
    let serverId: string
    try {
      serverId = decodeURIComponent(match[1]!)
    } catch {
      return plain(res, 404, 'not found')
    }
    const header = req.headers[DISK_TOKEN_HEADER]
    const token = (Array.isArray(header) ? header[0] : header) ?? url.searchParams.get('token') ?? ''
    if (!isSafeServerId(serverId) || token === '' || !(await grants.allows(serverId, token))) {
      logger.warn({ serverId, remote: req.socket.remoteAddress }, 'disk request refused: no grant for this token')
      return plain(res, 403, 'no grant for this disk and token')
    }
    const file = options.diskFile(serverId)
    const size = (await stat(file)).size
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(size) })
    await pipeline(createReadStream(file), res)
    logger.info({ serverId, bytes: size, remote: req.socket.remoteAddress }, 'disk sent')
  }
}

function plain(res: ServerResponse, status: number, text: string): void {
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8' })
  res.end(`${text}\n`)
}

/** Starts `server` on `host:port` (0: any free port); answers the address it listens on. */
export async function listen(server: Server, host: string, port: number): Promise<AddressInfo> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, host, () => {
      server.off('error', reject)
      resolve()
    })
  })
  return server.address() as AddressInfo
}

/** A disk download that cannot succeed by trying again (refused, or the source has no such disk). */
export class DiskRefused extends Error {
  override name = 'DiskRefused'
}

/**
 * Fetches a server's disk from the source agent at `source` (`host:port`) into `file`, checking
 * that every byte the source announced arrived. Rejects with DiskRefused when the source refuses.
 */
export async function fetchDisk(source: string, serverId: string, token: string, file: string, timeoutMs: number): Promise<number> {
  const url = `http://${source}/disks/${encodeURIComponent(serverId)}`
  const res = await request(url, { method: 'GET', headers: { [DISK_TOKEN_HEADER]: token }, bodyTimeout: timeoutMs, headersTimeout: timeoutMs })
  if (res.statusCode !== 200) {
    const text = (await res.body.text()).trim()
    const reason = `${url} answered ${res.statusCode}: ${text}`
    if (res.statusCode >= 400 && res.statusCode < 500) throw new DiskRefused(reason)
    throw new Error(reason)
  }
  const announced = Number(res.headers['content-length'])
  let received = 0
  const count = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      received += chunk.length
      done(null, chunk)
    },
  })
  await pipeline(res.body, count, createWriteStream(file, { mode: 0o600 }))
  if (Number.isFinite(announced) && received !== announced) throw new Error(`${url}: ${received} of ${announced} bytes arrived`)
  return received
}

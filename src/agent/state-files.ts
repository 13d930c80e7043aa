/**
 * Small durable files of the agent's state directory. A file is replaced whole — written next
 * to its place, flushed, renamed over it — so a reader (this process after a crash, or a
 * `kill -9` in the middle of a write) sees the old content or the new one, never a mix.
 */
import { randomBytes } from 'node:crypto'
import { open, readFile, rename, rm } from 'node:fs/promises'

/** Writes `data` to `file` atomically and durably. */
export async function writeFileAtomic(file: string, data: string): Promise<void> {
  const temporary = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`
  const handle = await open(temporary, 'w', 0o600)
  try {
    await handle.writeFile(data)
    await handle.sync()
  } finally {
    await handle.close()
  }
  try {
    await rename(temporary, file)
  } catch (err) {
    await rm(temporary, { force: true })
    throw err
  }
}

/** The parsed JSON of `file`, or undefined when there is no such file. */
export async function readJson<T>(file: string): Promise<T | undefined> {
  let text: string
  try {
    text = await readFile(file, 'utf8')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw err
  }
  return JSON.parse(text) as T
}

/**
 * Whether a server id can name a file here: the control plane's ids are UUIDs, but ids also come
 * from the network (a disk request's path), so anything that could leave its directory is refused.
 */
export function isSafeServerId(id: string): boolean {
  return /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/.test(id) && !id.includes('..')
}

import { spawn, type ChildProcess } from 'node:child_process'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { sdkHeaders } from '../src/api/auth/signature.ts'
import { DEMO } from '../src/services/demo.ts'

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')

/** A real `ecsd serve` process, as `npm start` runs it, on a random port. */
export interface EcsdProcess {
  url: string
  child: ChildProcess
  /** Everything the process wrote to stdout so far. */
  stdout(): string
  /** Everything the process wrote to stderr so far, for failure messages. */
  stderr(): string
  /**
   * Sends `signal` and waits for the exit (SIGKILL after 15 s); resolves with the exit code or
   * the name of the signal that ended it.
   */
  stop(signal?: NodeJS.Signals): Promise<number | string | null>
}

/**
 * Preloaded into the server: when its stdin (a pipe from the test process) reaches EOF, it sends
 * itself SIGTERM. The pipe closes however the test process ends, even when it dies without
 * running `after` hooks, so a server never outlives its test.
 */
export const PARENT_WATCHDOG =
  'data:text/javascript,' +
  encodeURIComponent('process.stdin.on("end",()=>process.kill(process.pid,"SIGTERM")).resume();process.stdin.unref?.()')

/** Starts ecsd on `dataDir` with any extra CLI arguments; rejects with its stderr if it does not come up. */
export async function startEcsd(dataDir: string, args: string[] = [], env: Record<string, string> = {}, timeoutMs = 180_000): Promise<EcsdProcess> {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', '--import', PARENT_WATCHDOG, 'src/main.ts', 'serve', '--port', '0', '--data-dir', dataDir, '--log-level', 'warn', ...args],
    { cwd: ROOT, stdio: ['pipe', 'pipe', 'pipe'], env: { ...withoutEcsdVariables(process.env), ...env } },
  )
  child.stdin!.on('error', () => undefined)
  let out = ''
  let err = ''
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()))
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()))
  const exited = new Promise<number | string | null>((resolve) => child.once('exit', (code, signal) => resolve(signal ?? code)))
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
      reject(new Error(`ecsd did not start within ${timeoutMs} ms:\n${err}`))
    }, timeoutMs)
    const check = () => {
      const m = /ecsd listening on (https?:\/\/\S+)\n/.exec(out)
      if (m) {
        clearTimeout(timer)
        resolve(m[1]!)
      }
    }
    child.stdout!.on('data', check)
    void exited.then((code) => {
      clearTimeout(timer)
      reject(new Error(`ecsd exited (${String(code)}) before listening:\n${err}`))
    })
  })
  return {
    url,
    child,
    stdout: () => out,
    stderr: () => err,
    stop: (signal: NodeJS.Signals = 'SIGTERM') => stopChild(child, exited, signal),
  }
}

/**
 * Sends `signal` to a child that still runs (SIGKILL after 15 s if it is still there) and
 * resolves with how it ended: its exit code or the name of the signal.
 */
export function stopChild(child: ChildProcess, exited: Promise<number | string | null>, signal: NodeJS.Signals): Promise<number | string | null> {
  if (child.exitCode === null && child.signalCode === null) {
    child.kill(signal)
    const fallback = setTimeout(() => child.kill('SIGKILL'), 15_000)
    void exited.finally(() => clearTimeout(fallback))
  }
  return exited
}

/** A signed HTTP call to a running ecsd with the demo credential, as the SDK makes it. */
export async function httpCall(baseUrl: string, method: string, pathAndQuery: string, body?: unknown): Promise<{ status: number; body: unknown; requestId: string | null }> {
  const payload = body === undefined ? undefined : JSON.stringify(body)
  const headers = sdkHeaders({ method, url: pathAndQuery, host: new URL(baseUrl).host, body: payload, credential: DEMO })
  const res = await fetch(baseUrl + pathAndQuery, { method, headers, ...(payload === undefined ? {} : { body: payload }) })
  const text = await res.text()
  return { status: res.status, body: text === '' ? undefined : (JSON.parse(text) as unknown), requestId: res.headers.get('x-request-id') }
}

/** `/v1/{demo project}` + path. */
export function demoPath(p: string): string {
  return `/v1/${DEMO.projectId}${p}`
}

/** Polls a job over HTTP until it finishes. */
export async function httpWaitForJob(baseUrl: string, jobId: string, timeoutMs = 20_000): Promise<string> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const res = await httpCall(baseUrl, 'GET', demoPath(`/jobs/${jobId}`))
    const status = (res.body as { status: string }).status
    if (status !== 'RUNNING' && status !== 'INIT') return status
    if (Date.now() > deadline) throw new Error(`job ${jobId} still ${status}`)
    await new Promise((r) => setTimeout(r, 20))
  }
}

/** The environment minus ECSD_* settings, so a developer's shell cannot change what a test starts. */
function withoutEcsdVariables(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(env).filter(([k]) => !k.startsWith('ECSD_')))
}

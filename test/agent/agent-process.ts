/**
 * `ecsd agent` as a real process for the agent tests: started with the fake hypervisor on a
 * state directory of the test's, its JSON log lines kept for assertions, stopped or killed at
 * will. Like the servers of test/process.ts, it ends when the test process does.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { PARENT_WATCHDOG, stopChild } from '../process.ts'

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..')

/** A host's agent credential, as `ecsd hosts add --json` prints it. */
export interface HostCredential {
  access_key: string
  secret_key: string
}

/** A running `ecsd agent`. */
export interface AgentProcess {
  host: string
  stateDir: string
  /** `host:port` it registered for the other agents (its disk server). */
  address: string
  child: ChildProcess
  /** Everything it wrote to stderr so far (its log). */
  stderr(): string
  /** Its log lines, parsed. */
  logs(): Array<Record<string, unknown>>
  /** Sends `signal` and waits for the exit; resolves with the exit code or the signal's name. */
  stop(signal?: NodeJS.Signals): Promise<number | string | null>
}

/** Arguments of `startAgent`. */
export interface AgentArgs {
  endpoint: string
  host: string
  credential: HostCredential
  stateDir: string
  /** The hypervisor (default `fake`). */
  driver?: 'fake' | 'qemu'
  /** More flags (`--max-vm-ram-mb 128`, …). */
  extra?: string[]
}

/** Spawns `ecsd agent` (the secret key in the environment, as recommended); not waited for. */
export function spawnAgent(a: AgentArgs): { child: ChildProcess; stderr(): string; exited: Promise<number | string | null> } {
  const child = spawn(
    process.execPath,
    [
      '--import', 'tsx', '--import', PARENT_WATCHDOG, 'src/main.ts', 'agent',
      '--endpoint', a.endpoint, '--host', a.host, '--access-key', a.credential.access_key, '--state-dir', a.stateDir,
      '--driver', a.driver ?? 'fake', '--listen', '127.0.0.1:0', ...(a.extra ?? []),
    ],
    { cwd: ROOT, stdio: ['pipe', 'pipe', 'pipe'], env: { ...withoutEcsdVariables(process.env), ECSD_SECRET_KEY: a.credential.secret_key } },
  )
  child.stdin!.on('error', () => undefined)
  let err = ''
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()))
  child.stdout!.resume()
  const exited = new Promise<number | string | null>((resolve) => child.once('exit', (code, signal) => resolve(signal ?? code)))
  return { child, stderr: () => err, exited }
}

/**
 * Starts an agent and waits until it is at work: registered, heard by the control plane, its
 * hypervisor reconciled (its task loop starts right after). Rejects with its log if it exits first.
 */
export async function startAgent(a: AgentArgs, timeoutMs = 180_000): Promise<AgentProcess> {
  const { child, stderr, exited } = spawnAgent(a)
  const logs = () => stderr().split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>)
  const address = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
      reject(new Error(`agent ${a.host} did not start within ${timeoutMs} ms:\n${stderr()}`))
    }, timeoutMs)
    const check = () => {
      const lines = logs()
      const listening = lines.find((l) => l.msg === 'agent listening')
      if (listening && lines.some((l) => l.msg === 'reconciled')) {
        clearTimeout(timer)
        resolve(String(listening.advertise))
      }
    }
    child.stderr!.on('data', check)
    void exited.then((code) => {
      clearTimeout(timer)
      reject(new Error(`agent ${a.host} exited (${String(code)}) before it was at work:\n${stderr()}`))
    })
  })
  return {
    host: a.host, stateDir: a.stateDir, address, child, stderr, logs,
    stop: (signal: NodeJS.Signals = 'SIGTERM') => stopChild(child, exited, signal),
  }
}

/** Runs `ecsd …` (a command that ends, like `hosts add` or `audit`) to its end, with `env` on top of a clean environment. */
export function ecsdCli(args: string[], env: Record<string, string> = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts', ...args], {
      cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: { ...withoutEcsdVariables(process.env), ...env },
    })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()))
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()))
    child.once('exit', (code) => resolve({ code, stdout, stderr }))
  })
}

/** The environment minus ECSD_* settings, so a developer's shell cannot change what a test starts. */
function withoutEcsdVariables(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(env).filter(([k]) => !k.startsWith('ECSD_')))
}

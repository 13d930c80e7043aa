/**
 * The processes of a benchmark run: pinning to cores (taskset), the ecsd server and the
 * baseline server as child processes, their start-up time and peak RSS.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { closeSync, existsSync, openSync, readFileSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { inspectorUrl } from './profiler.ts'

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..')

/** Whether `taskset` can pin processes here (util-linux on Linux). */
export const HAS_TASKSET = process.platform === 'linux' && spawnSync('taskset', ['--version'], { stdio: 'ignore' }).status === 0

/** Pins every thread of process `pid` (default: this one) to `core`; false when impossible. */
export function pin(core: number, pid = process.pid): boolean {
  if (!HAS_TASKSET) return false
  return spawnSync('taskset', ['-a', '-p', '-c', String(core), String(pid)], { stdio: 'ignore' }).status === 0
}

/** The command line that runs `args` pinned to `core` when taskset exists. */
function pinned(core: number | undefined, args: string[]): [string, string[]] {
  if (core === undefined || !HAS_TASKSET) return [args[0]!, args.slice(1)]
  return ['taskset', ['-c', String(core), ...args]]
}

/** Children still running; killed if this process exits early (a failed run leaves no server behind). */
const live = new Set<ChildProcess>()
process.once('exit', () => {
  for (const child of live) child.kill('SIGKILL')
})

/** A server child process under measurement. */
export interface ServerProcess {
  url: string
  pid: number
  /** From spawn to the listening line, ms (includes Node and TypeScript loading). */
  startupMs: number
  /** The V8 inspector's WebSocket URL, when the process was started with `--inspect`. */
  inspector: string | undefined
  /** Peak resident set size so far (VmHWM), MiB; undefined where /proc is missing. */
  peakRssMb(): number | undefined
  stop(): Promise<void>
}

/**
 * Starts `node --import tsx <args>` with stdout and stderr going to `logFile` (so that neither
 * the server nor this process spends time on a pipe), and waits for `listening` to match.
 */
async function startNodeServer(options: { args: string[]; nodeArgs?: string[]; env: Record<string, string>; core: number | undefined; logFile: string; listening: RegExp; timeoutMs?: number }): Promise<ServerProcess> {
  const fd = openSync(options.logFile, 'a')
  const [cmd, argv] = pinned(options.core, [process.execPath, ...(options.nodeArgs ?? []), '--import', 'tsx', ...options.args])
  const started = performance.now()
  const child: ChildProcess = spawn(cmd, argv, { cwd: ROOT, stdio: ['ignore', fd, fd], env: { ...withoutEcsd(process.env), ...options.env } })
  closeSync(fd)
  live.add(child)
  child.once('exit', () => live.delete(child))
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  let url: string | undefined
  const deadline = Date.now() + (options.timeoutMs ?? 60_000)
  while (url === undefined) {
    const m = options.listening.exec(existsSync(options.logFile) ? readFileSync(options.logFile, 'utf8') : '')
    if (m) url = m[1]!
    else if (child.exitCode !== null || child.signalCode !== null) throw new Error(`server exited (${child.exitCode ?? child.signalCode}):\n${readFileSync(options.logFile, 'utf8').slice(-3000)}`)
    else if (Date.now() > deadline) {
      child.kill('SIGKILL')
      throw new Error(`server did not start in time:\n${readFileSync(options.logFile, 'utf8').slice(-3000)}`)
    } else await new Promise((r) => setTimeout(r, 5))
  }
  const startupMs = performance.now() - started
  const pid = child.pid!
  return {
    url,
    pid,
    startupMs,
    inspector: inspectorUrl(readFileSync(options.logFile, 'utf8')),
    peakRssMb() {
      try {
        const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
        return m ? Number(m[1]) / 1024 : undefined
      } catch {
        return undefined
      }
    },
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM')
        const timer = setTimeout(() => child.kill('SIGKILL'), 15_000)
        await exited
        clearTimeout(timer)
      }
    },
  }
}

/** Settings every benchmarked ecsd gets on top of the defaults (each one is reported). */
export const BENCH_SERVER_ENV: Record<string, string> = {
  // The per-credential rate limit (default 5,000 requests/s) would cap the load generator.
  ECSD_RATE_LIMIT: '0',
  // Quotas sized for a benchmark tenant that creates tens of thousands of servers.
  ECSD_QUOTA_INSTANCES: '100000000',
  ECSD_QUOTA_CORES: '1000000000',
  ECSD_QUOTA_RAM_MB: '2000000000',
}

/** Starts `ecsd serve` on a SQLite data directory or a PostgreSQL URL. */
export function startEcsd(options: { nodeArgs?: string[]; dataDir: string; databaseUrl?: string | undefined; core: number | undefined; logFile: string; env?: Record<string, string>; logLevel?: string }): Promise<ServerProcess> {
  const args = ['src/main.ts', 'serve', '--port', '0', '--data-dir', options.dataDir, '--log-level', options.logLevel ?? 'info', '--no-demo']
  if (options.databaseUrl !== undefined) args.push('--database', options.databaseUrl)
  return startNodeServer({ args, nodeArgs: options.nodeArgs ?? [], env: { ...BENCH_SERVER_ENV, ...options.env }, core: options.core, logFile: options.logFile, listening: /ecsd listening on (https?:\/\/\S+)\n/ })
}

/** Starts the baseline server (bench/baseline-server.ts). */
export function startBaseline(options: { core: number | undefined; logFile: string; logLevel?: string; nodeArgs?: string[] }): Promise<ServerProcess> {
  return startNodeServer({
    args: ['bench/baseline-server.ts', '--log-level', options.logLevel ?? 'info'],
    nodeArgs: options.nodeArgs ?? [],
    env: {},
    core: options.core,
    logFile: options.logFile,
    listening: /baseline listening on (http:\/\/\S+)\n/,
  })
}

/** Runs `ecsd fleet generate` in a child process; returns its summary line. */
export function generateFleetCli(args: string[]): string {
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'src/main.ts', 'fleet', 'generate', '--json', ...args], { cwd: ROOT, encoding: 'utf8', env: withoutEcsd(process.env), stdio: ['ignore', 'pipe', 'inherit'] })
  if (r.status !== 0) throw new Error(`fleet generate failed (${r.status}): ${r.stdout}`)
  const s = JSON.parse(r.stdout) as { hosts: number; servers: number; groups: number; members: number; zones: string[]; seconds: number }
  return `fleet: ${s.hosts} hosts in ${s.zones.join(', ')}, ${s.servers} servers, ${s.groups} groups with ${s.members} members, in ${s.seconds.toFixed(1)} s`
}

function withoutEcsd(env: NodeJS.ProcessEnv): Record<string, string> {
  return Object.fromEntries(Object.entries(env).filter((e): e is [string, string] => !e[0].startsWith('ECSD_') && e[1] !== undefined))
}

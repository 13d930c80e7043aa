/**
 * Running the `ecsd` command as a user does, for the CLI tests: the package's own bin in the
 * checkout (through `npx ecsd …` where that is the point), in a user's environment, and what to
 * expect of what it printed.
 */
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

/** The checkout. */
export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..')

/** What a finished CLI process did. */
export interface Run {
  code: number | null
  signal: NodeJS.Signals | null
  stdout: string
  stderr: string
}

/** The environment of a user's shell — none of the test runner's ECSD_* settings — plus `env`. */
export function cliEnv(env: Record<string, string> = {}): NodeJS.ProcessEnv {
  return { ...Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('ECSD_'))), ...env }
}

/** Runs `npx ecsd ARGS` in the checkout to the end, whatever its exit code. */
export function npxEcsd(args: string[], options: { env?: Record<string, string>; cwd?: string } = {}): Promise<Run> {
  return runToEnd('npx', ['ecsd', ...args], options)
}

/**
 * Runs the package's `ecsd` command (its bin file, which `npx ecsd` runs) to the end. The bin
 * test checks that npx finds it; the other CLI tests call it without npx's second of start-up.
 */
export function ecsdCommand(args: string[], options: { env?: Record<string, string>; cwd?: string } = {}): Promise<Run> {
  return runToEnd(process.execPath, [path.join(ROOT, 'bin', 'ecsd.mjs'), ...args], options)
}

function runToEnd(file: string, args: string[], options: { env?: Record<string, string>; cwd?: string }): Promise<Run> {
  return new Promise((resolve, reject) => {
    execFile(file, args, { cwd: options.cwd ?? ROOT, env: cliEnv(options.env), maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      const failed = err as (Error & { code?: number | string; signal?: NodeJS.Signals | null }) | null
      // Not started at all, or its output overflowed: not an answer of ecsd.
      if (failed !== null && typeof failed.code !== 'number' && failed.signal == null) reject(failed)
      else resolve({ code: failed === null ? 0 : typeof failed.code === 'number' ? failed.code : null, signal: failed?.signal ?? null, stdout, stderr })
    })
  })
}

/** A success: exit 0. */
export function assertOk(run: Run): void {
  assert.equal(run.code, 0, `exit ${run.code ?? run.signal}; stderr:\n${run.stderr}`)
}

/** The JSON answer of a command that succeeded. */
export function json<T>(run: Run): T {
  assertOk(run)
  return JSON.parse(run.stdout) as T
}

/** A failure: nothing on stdout, exactly one line `ecsd: …` on stderr matching `message`, exit `code`. */
export function assertOneLineError(run: Run, code: number, message: RegExp): void {
  assert.equal(run.code, code, `exit ${run.code ?? run.signal}; stdout:\n${run.stdout}\nstderr:\n${run.stderr}`)
  assert.equal(run.stdout, '')
  const lines = run.stderr.split('\n').filter((l) => l !== '')
  assert.equal(lines.length, 1, `one line, got:\n${run.stderr}`)
  assert.match(lines[0]!, /^ecsd: /)
  assert.match(lines[0]!, message)
}

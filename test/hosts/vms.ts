/**
 * Helpers of the tests that run real VMs: waiting on a VM's serial console within a bound, and
 * making sure no QEMU a test started outlives it.
 */
import { readFileSync, readdirSync } from 'node:fs'
import { setTimeout as sleep } from 'node:timers/promises'
import type { Hypervisor } from '../../src/agent/hypervisor.ts'

/** How long a VM may take from start to its boot marker: TCG boots in ~10 s here; generous for a loaded machine. */
export const BOOT_TIMEOUT_MS = 120_000

/** A line `ECSD-COUNT <id> <n>` of the demo guest. */
export interface Count {
  serverId: string
  n: number
}

/** The counter lines of a console text, in order. */
export function counts(text: string): Count[] {
  return [...text.matchAll(/ECSD-COUNT (\S+) (\d+)/g)].map((m) => ({ serverId: m[1] ?? '', n: Number(m[2]) }))
}

/**
 * Polls the VM's console from `offset` until `done` holds for the text read so far; answers
 * that text and the offset it ends at. Fails with the text seen after `timeoutMs`.
 */
export async function waitForConsole(
  hypervisor: Hypervisor,
  serverId: string,
  done: (text: string) => boolean,
  options: { offset?: number; timeoutMs?: number; what?: string } = {},
): Promise<{ text: string; offset: number }> {
  const deadline = Date.now() + (options.timeoutMs ?? BOOT_TIMEOUT_MS)
  let offset = options.offset ?? 0
  let text = ''
  for (;;) {
    const chunk = await hypervisor.console(serverId, offset)
    text += chunk.data
    offset = chunk.offset
    if (done(text)) return { text, offset }
    if (Date.now() > deadline) {
      throw new Error(`${serverId}: no ${options.what ?? 'expected output'} within the bound; console:\n${text.slice(-2000)}`)
    }
    await sleep(250)
  }
}

/** Where a VM's console ends now: what a later wait starts from. */
export async function consoleEnd(hypervisor: Hypervisor, serverId: string): Promise<number> {
  let offset = 0
  for (;;) {
    const chunk = await hypervisor.console(serverId, offset)
    if (chunk.offset === offset) return offset
    offset = chunk.offset
  }
}

/** The pids of the QEMU processes whose command line mentions `dir` (a test's temp dir). */
export function qemuPidsUnder(dir: string): number[] {
  const pids: number[] = []
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    try {
      const args = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0')
      if ((args[0] ?? '').includes('qemu-system') && args.some((a) => a.includes(dir))) pids.push(Number(entry))
    } catch {
      // Gone since the directory was listed.
    }
  }
  return pids
}

/** Kills (SIGKILL) every QEMU process whose command line mentions `dir`, by pid. */
export function killQemuUnder(dir: string): void {
  for (const pid of qemuPidsUnder(dir)) {
    try {
      process.kill(pid, 'SIGKILL')
    } catch {
      // Already gone.
    }
  }
}

/** Polls `probe` until it answers something other than undefined/false; fails after `timeoutMs` saying `what`. */
export async function waitUntil<T>(what: string, probe: () => Promise<T | undefined | false> | T | undefined | false, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const value = await probe()
    if (value !== undefined && value !== false) return value
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for: ${what}`)
    await sleep(250)
  }
}

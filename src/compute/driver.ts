import type { Kysely } from 'kysely'
import type { DriverOperation } from '../domain/job.ts'
import type { MoveKind } from '../domain/move.ts'
import type { Schema } from '../store/schema.ts'

/** The physical part of a move: where from, where to, and how. */
export interface DriverMove {
  /** Host name the server leaves. Equal to `to` for a resize in place. */
  from: string
  to: string
  kind: MoveKind
  /** The server's size once moved. */
  vcpus: number
  ramMb: number
  /** Run the server on `to` afterwards (it ran before, or a resize asked to restart it). */
  powerOnAfter: boolean
}

/** What a host driver is told to do: one operation on one server on one host. */
export interface DriverCommand {
  operation: DriverOperation
  /**
   * The sub-job this step belongs to: the same for every attempt of the step (a repeat after a
   * crash included), so a driver can recognise a step it has already carried out.
   */
  jobId: string
  serverId: string
  /** What the server is: its size (after a resize: the new one) and its image. */
  vm: { vcpus: number; ramMb: number; image: string }
  /** The host the server is on — for a move, the host it goes to. */
  hostName: string
  /** Set for `resize`, `migrate`, `redeploy` and `revert`. */
  move?: DriverMove
  /** Set for `reboot`. */
  reboot?: 'SOFT' | 'HARD'
}

/**
 * The boundary to the hypervisors. A driver performs the physical part of an operation and
 * resolves when it is done, or rejects with a reason the job records as its `fail_reason`.
 * Calls may be repeated after a crash (a job is resumed from the start of its step), so a driver
 * must treat a repeated command as already done. A move that fails must leave the server where
 * it was (the control plane puts it back on its source), unless the driver rejects with a
 * `ServerLostOnTarget`, which leaves it in ERROR on the target.
 */
export interface HostDriver {
  perform(command: DriverCommand): Promise<void>
  /**
   * The hosts keep servers' disks on shared storage (as Huawei's EVS volumes are), so a stopped
   * server moves by a change of records alone: such a move ends in the transaction that decides
   * it, without a driver step. Absent or false: every move is a driver step.
   */
  readonly movesStoppedServersInstantly?: boolean
  /**
   * The same, decided for a pair of hosts (a fleet that mixes kinds of hosts), reading through
   * `db` — the caller's transaction; absent: `movesStoppedServersInstantly`.
   */
  movesInstantly?(db: Kysely<Schema>, sourceHostId: string, targetHostId: string): Promise<boolean>
  /**
   * Fences a host that comes back after it was declared down: destroys every server it still
   * runs except `keep` (the ones the control plane says are there), so that a server evacuated
   * from it never runs twice. Absent: the host has nothing to destroy (it is simulated).
   */
  fence?(hostName: string, keep: readonly string[]): Promise<void>
}

/**
 * A move that failed after the server left its source: it cannot be put back, so it is
 * recorded in ERROR on the target (the source is released).
 */
export class ServerLostOnTarget extends Error {
  override name = 'ServerLostOnTarget'
}

/** Knobs of the simulated driver. */
export interface SimulatedDriverOptions {
  /** How long every operation takes. */
  latencyMs: number
  /**
   * Where the simulated servers' disks live: `shared` (the default) — moving a stopped server
   * needs no driver step; `local` — every move is a driver step that takes `latencyMs`.
   */
  disks?: 'shared' | 'local'
  /** Makes chosen commands fail, for tests of the failure paths; return a reason to fail. */
  fault?: (command: DriverCommand) => string | Error | undefined
}

/** A driver with no hypervisor behind it: each operation takes `latencyMs` and succeeds unless a fault is injected. */
export class SimulatedDriver implements HostDriver {
  readonly movesStoppedServersInstantly: boolean

  constructor(private readonly options: SimulatedDriverOptions) {
    this.movesStoppedServersInstantly = (options.disks ?? 'shared') === 'shared'
  }

  async perform(command: DriverCommand): Promise<void> {
    // Unref'd: an operation in flight must not keep a stopping process alive (its job's lease is
    // handed back and the next runner repeats the step).
    if (this.options.latencyMs > 0) await new Promise((r) => setTimeout(r, this.options.latencyMs).unref())
    const fault = this.options.fault?.(command)
    if (fault !== undefined) throw typeof fault === 'string' ? new Error(fault) : fault
  }
}

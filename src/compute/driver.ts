import type { ServerOperation } from '../domain/job.ts'

/** What a host driver is told to do: one operation on one server on one host. */
export interface DriverCommand {
  operation: ServerOperation
  serverId: string
  hostName: string
}

/**
 * The boundary to the hypervisors. A driver performs the physical part of an operation and
 * resolves when it is done, or rejects with a reason the job records as its `fail_reason`.
 * Calls may be repeated after a crash (a job is resumed from the start of its step), so a driver
 * must treat a repeated command as already done.
 */
export interface HostDriver {
  perform(command: DriverCommand): Promise<void>
}

/** Knobs of the simulated driver. */
export interface SimulatedDriverOptions {
  /** How long every operation takes. */
  latencyMs: number
  /** Makes chosen commands fail, for tests of the failure paths; return a reason to fail. */
  fault?: (command: DriverCommand) => string | undefined
}

/** A driver with no hypervisor behind it: each operation takes `latencyMs` and succeeds unless a fault is injected. */
export class SimulatedDriver implements HostDriver {
  constructor(private readonly options: SimulatedDriverOptions) {}

  async perform(command: DriverCommand): Promise<void> {
    // Unref'd: an operation in flight must not keep a stopping process alive (its job's lease is
    // handed back and the next runner repeats the step).
    if (this.options.latencyMs > 0) await new Promise((r) => setTimeout(r, this.options.latencyMs).unref())
    const fault = this.options.fault?.(command)
    if (fault !== undefined) throw new Error(fault)
  }
}

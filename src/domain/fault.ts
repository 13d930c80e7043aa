/**
 * Vocabulary of injected faults: a step of the simulated hosts (a driver operation, the hosts'
 * heartbeats, the fencing of a host that returns) that fails or stalls, on one host or on all.
 */
import type { DriverOperation } from './job.ts'

/**
 * What a fault can hit: `boot` (create), `start`, `stop` (also a delete into the recycle bin),
 * `reboot`, `move` (resize, migration, redeploy, recycle-bin revert, evacuation: the source and
 * the target host both count), `delete` (also the purge of a binned server), `heartbeat` (the host's
 * heartbeats stop reaching the control plane), `fence` (the host cannot be fenced when it
 * returns after being declared down).
 */
export const FAULT_STEPS = ['boot', 'start', 'stop', 'reboot', 'move', 'delete', 'heartbeat', 'fence'] as const
/** One of `FAULT_STEPS`. */
export type FaultStep = (typeof FAULT_STEPS)[number]

/** `fail`: the step rejects with the fault's reason; `stall`: the step waits until the fault is removed, then runs. */
export const FAULT_MODES = ['fail', 'stall'] as const
/** One of `FAULT_MODES`. */
export type FaultMode = (typeof FAULT_MODES)[number]

/** Longest reason accepted; it ends up in a job's `fail_reason`. */
export const MAX_FAULT_REASON_LENGTH = 255

const STEP_OF: Record<DriverOperation, FaultStep> = {
  create: 'boot',
  start: 'start',
  stop: 'stop',
  recycle: 'stop',
  reboot: 'reboot',
  delete: 'delete',
  purge: 'delete',
  resize: 'move',
  migrate: 'move',
  redeploy: 'move',
  revert: 'move',
  evacuate: 'move',
}

/** The step a driver operation is, as faults name it. */
export function faultStepOf(operation: DriverOperation): FaultStep {
  return STEP_OF[operation]
}

/** A fault as an operator describes it (the admin API's body, an `ECSD_FAULTS` entry). */
export interface FaultSpec {
  /** Host name; absent for every host. */
  host?: string
  step: FaultStep
  mode: FaultMode
  /** 0 < p ≤ 1, default 1: the chance that one step is hit. */
  probability?: number
  /** What a failed step reports; default: a sentence describing the fault. */
  reason?: string
}

/** A fault with its defaults filled in, as it is stored. */
export interface FaultDefinition {
  hostName: string | null
  step: FaultStep
  mode: FaultMode
  probability: number
  reason: string
}

/** A stored fault. */
export interface Fault extends FaultDefinition {
  id: string
  createdAt: string
}

/** A fault description that cannot be used; the message names the field and says why. */
export class FaultSpecError extends Error {
  override name = 'FaultSpecError'
}

const SPEC_FIELDS = new Set(['host', 'step', 'mode', 'probability', 'reason'])

/**
 * Checks an untrusted fault description (parsed JSON) field by field and returns it typed;
 * throws a `FaultSpecError` naming the first wrong field.
 */
export function readFaultSpec(value: unknown): FaultSpec {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new FaultSpecError('a fault must be an object')
  const fields = value as Record<string, unknown>
  const unknown = Object.keys(fields).find((k) => !SPEC_FIELDS.has(k))
  if (unknown !== undefined) throw new FaultSpecError(`unknown field "${unknown}" (a fault has host, step, mode, probability, reason)`)
  const { host, step, mode, probability, reason } = fields
  if (!FAULT_STEPS.includes(step as FaultStep)) throw new FaultSpecError(`step must be one of ${FAULT_STEPS.map((s) => `"${s}"`).join(', ')}, got ${JSON.stringify(step) ?? 'nothing'}`)
  if (!FAULT_MODES.includes(mode as FaultMode)) throw new FaultSpecError(`mode must be "fail" or "stall", got ${JSON.stringify(mode) ?? 'nothing'}`)
  if (host !== undefined && (typeof host !== 'string' || host.length === 0 || host.length > 255)) {
    throw new FaultSpecError(`host must be a host name (1 to 255 characters), got ${JSON.stringify(host)}`)
  }
  if (probability !== undefined && (typeof probability !== 'number' || !(probability > 0 && probability <= 1))) {
    throw new FaultSpecError(`probability must be a number above 0 and at most 1, got ${JSON.stringify(probability)}`)
  }
  if (reason !== undefined && (typeof reason !== 'string' || reason.trim().length === 0 || reason.length > MAX_FAULT_REASON_LENGTH)) {
    throw new FaultSpecError(`reason must be a non-empty text of at most ${MAX_FAULT_REASON_LENGTH} characters, got ${JSON.stringify(reason)}`)
  }
  return {
    step: step as FaultStep,
    mode: mode as FaultMode,
    ...(host === undefined ? {} : { host: host as string }),
    ...(probability === undefined ? {} : { probability: probability as number }),
    ...(reason === undefined ? {} : { reason: reason as string }),
  }
}

/** Fills in a description's defaults: every host, probability 1, a reason that says what the fault is. */
export function defineFault(spec: FaultSpec): FaultDefinition {
  const hostName = spec.host ?? null
  const probability = spec.probability ?? 1
  const effect = spec.step === 'heartbeat' ? 'heartbeats stop' : `${spec.step} ${spec.mode === 'fail' ? 'fails' : 'stalls'}`
  const reason = spec.reason ?? `${effect} on ${hostName === null ? 'every host' : `host ${hostName}`}${probability < 1 ? ` with probability ${probability}` : ''}`
  return { hostName, step: spec.step, mode: spec.mode, probability, reason }
}

/** Whether a fault applies to a step on one of the hosts it runs on (a move's source and target). */
export function faultMatches(fault: FaultDefinition, step: FaultStep, hostNames: readonly string[]): boolean {
  return fault.step === step && (fault.hostName === null || hostNames.includes(fault.hostName))
}

/** Lifecycle vocabulary of a server, as the Huawei ECS API names it. */

/** The `status` values ecsd produces (a subset of the API's documented set). */
export const SERVER_STATUSES = ['BUILD', 'ACTIVE', 'SHUTOFF', 'ERROR', 'DELETED', 'REBOOT', 'HARD_REBOOT', 'RESIZE', 'MIGRATING', 'REBUILD'] as const
/** One of `SERVER_STATUSES`. */
export type ServerStatus = (typeof SERVER_STATUSES)[number]

/**
 * Every status the API documents; list filters accept all of them so that a client filtering
 * for a status ecsd never produces gets an empty page, not an error.
 */
export const DOCUMENTED_SERVER_STATUSES = [
  'ACTIVE', 'BUILD', 'DELETED', 'ERROR', 'HARD_REBOOT', 'MIGRATING', 'PAUSED', 'REBOOT', 'REBUILD',
  'RESIZE', 'REVERT_RESIZE', 'SHUTOFF', 'SHELVED', 'SHELVED_OFFLOADED', 'SOFT_DELETED', 'SUSPENDED',
  'UNKNOWN', 'VERIFY_RESIZE',
] as const

/** `OS-EXT-STS:task_state` while a job works on the server; null when idle (Nova's names). */
export type TaskState =
  | 'spawning' | 'powering-off' | 'powering-on' | 'deleting' | 'rebooting' | 'rebooting_hard'
  | 'resize_migrating' | 'migrating' | 'restoring' | 'rebuilding'

/** Nova power states, exposed as `OS-EXT-STS:power_state`. */
export const POWER_STATE = { NOSTATE: 0, RUNNING: 1, SHUTDOWN: 4 } as const

/**
 * `OS-EXT-STS:vm_state` for each status; a server that is resized or moved keeps the vm state of
 * its power state, as in Nova.
 */
export function vmStateOf(status: ServerStatus, powerState: number): string {
  switch (status) {
    case 'REBOOT':
    case 'HARD_REBOOT':
      return 'active'
    case 'RESIZE':
    case 'MIGRATING':
    case 'REBUILD':
      return powerState === POWER_STATE.RUNNING ? 'active' : 'stopped'
    case 'BUILD':
      return 'building'
    case 'ACTIVE':
      return 'active'
    case 'SHUTOFF':
      return 'stopped'
    case 'ERROR':
      return 'error'
    case 'DELETED':
      return 'deleted'
  }
}

/** Virtualization of a flavor, and so of its servers. Only KVM servers may join a group. */
export type Virtualization = 'kvm' | 'xen'

/** The `ecs:virtualization_env_types` extra spec the API uses to tell KVM from Xen. */
export function virtualizationEnvType(v: Virtualization): string {
  return v === 'kvm' ? 'CloudCompute' : 'FusionCompute'
}

/** Server names: the API allows 1–64 characters. */
export const SERVER_NAME_MAX = 64

/**
 * Name of the i-th server of a multi-server create: the API appends a four-digit ordinal
 * (`web-0001`, `web-0002`, …) when `count` > 1.
 */
export function nthServerName(base: string, index: number, count: number): string {
  return count > 1 ? `${base}-${String(index + 1).padStart(4, '0')}` : base
}

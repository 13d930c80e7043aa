/**
 * Vocabulary of the work the control plane hands to host agents. Every physical step of a job on
 * an agent's host is one task; a task's id is derived from the sub-job and the step, so a step
 * repeated after a crash (of a replica or of the agent) names the same task and is never carried
 * out twice: the agent remembers what it finished and answers the same outcome again.
 */

/** The kinds of task, and what each asks the agent to do. */
export const AGENT_TASK_KINDS = [
  /** Create the server's disk from its image and start it. */
  'boot',
  'start',
  'stop',
  'reboot',
  /** Stop the server and delete its disk and state. */
  'delete',
  /** New vCPUs and memory on the same host; running again afterwards if `powerOnAfter`. */
  'resize',
  /** Cold move, source side: stop the server and serve its disk to the target under `token`. */
  'send-disk',
  /** Cold move, target side: fetch the disk from the source agent, define the server there. */
  'receive-disk',
  /** After a move that succeeded, source side: delete what is left of the server here. */
  'release',
  /** Evacuation of a failed host, target side: a new disk from the image (no copy survives). */
  'rebuild',
  /** Live move, target side: an incoming VM waits for the migration; answers its port. */
  'live-in',
  /** Live move, source side: migrate the running VM (memory and disk) to the target's port. */
  'live-out',
  /** Live move, target side: the migration is done; the VM runs here now. */
  'live-done',
  /** The tail of the server's serial console from `offset`. */
  'console',
] as const
/** One of `AGENT_TASK_KINDS`. */
export type AgentTaskKind = (typeof AGENT_TASK_KINDS)[number]

/** What a VM is: enough to (re)create and start it anywhere. */
export interface VmSpec {
  serverId: string
  vcpus: number
  ramMb: number
  /** The image id (`imageRef`); a directory of the agent's image directory. */
  image: string
}

/** The specification of each kind of task, as stored and as the agent receives it. */
export interface AgentTaskSpecs {
  boot: VmSpec
  start: VmSpec
  stop: { serverId: string; hard: boolean }
  reboot: { serverId: string; hard: boolean }
  delete: { serverId: string }
  resize: VmSpec & { powerOnAfter: boolean }
  'send-disk': { serverId: string; token: string }
  'receive-disk': VmSpec & { source: string; token: string; powerOnAfter: boolean }
  release: { serverId: string }
  rebuild: VmSpec & { powerOnAfter: boolean }
  'live-in': VmSpec
  'live-out': { serverId: string; target: string; port: number }
  'live-done': { serverId: string }
  console: { serverId: string; offset: number }
}

/** What an agent answers for the kinds that answer something. */
export interface AgentTaskResults {
  'live-in': { port: number }
  console: { data: string; offset: number }
}

/** `pending` → `claimed` (an agent took it) → `done` | `failed`. */
export type AgentTaskState = 'pending' | 'claimed' | 'done' | 'failed'

/** A task as the agent API hands it out. */
export interface AgentTask<K extends AgentTaskKind = AgentTaskKind> {
  id: string
  kind: K
  serverId: string | null
  spec: AgentTaskSpecs[K]
}

import type { VmSpec } from '../domain/agent-task.ts'

/** A VM the hypervisor of this host knows of. */
export interface LocalVm {
  serverId: string
  running: boolean
}

/**
 * What a host agent needs of its hypervisor: VMs named by their server id, each with its own
 * disk (an overlay of its image) and serial console log. Every call is idempotent — starting a
 * running VM, stopping a stopped one, destroying one that is gone all succeed without doing
 * anything — because a task may be carried out again after a crash.
 */
export interface Hypervisor {
  /** The VMs this host has (defined, running or not). */
  list(): Promise<LocalVm[]>
  /** Creates the VM's disk from its image if it has none; does not start it. */
  create(spec: VmSpec): Promise<void>
  /** Starts the VM (creating its disk first if needed), with the vCPUs and memory of `spec`. */
  start(spec: VmSpec): Promise<void>
  /** Stops the VM: a clean shutdown, or at once when `hard`. */
  stop(serverId: string, hard: boolean): Promise<void>
  reboot(serverId: string, hard: boolean): Promise<void>
  /** Stops the VM and deletes its disk, console log and state. */
  destroy(serverId: string): Promise<void>
  /** The file of the VM's disk, to send to another host in a cold move. */
  diskFile(serverId: string): string
  /** Makes a disk received from another host the VM's disk (moved into place, not copied). */
  adoptDisk(spec: VmSpec, file: string): Promise<void>
  /** Starts a VM that waits for an incoming live migration; answers the port it listens on. */
  prepareIncoming(spec: VmSpec): Promise<{ port: number }>
  /** Migrates the running VM, memory and disk, to `host:port`; resolves when it is done. */
  migrateOut(serverId: string, host: string, port: number): Promise<void>
  /** The serial console output from `offset` (bytes), and where it ends now. */
  console(serverId: string, offset: number): Promise<{ data: string; offset: number }>
}

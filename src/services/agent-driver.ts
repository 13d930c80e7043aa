import type { DriverCommand, HostDriver } from '../compute/driver.ts'
import type { VmSpec } from '../domain/agent-task.ts'
import type { Kysely } from 'kysely'
import type { Database } from '../store/database.ts'
import { prepared } from '../store/prepared.ts'
import type { Schema } from '../store/schema.ts'
import { AgentTaskQueue } from './agent-tasks.ts'

/** A host as the driver needs it: is an agent there, and where can other agents reach it. */
interface AgentHost {
  id: string
  name: string
  agent: boolean
  address: string | null
}

/**
 * The driver of a fleet with host agents: each step on a host whose agent has reported becomes
 * tasks on the agent queue, and waits for them; steps on simulated hosts go to `simulated`. One
 * fleet may mix both. A move between agent hosts is three steps, each its own task — cold: the
 * source stops the server and serves its disk, the target fetches it, the source deletes its
 * copy; live: the target starts an incoming VM, the source migrates memory and disk to it, the
 * target takes over; an evacuation rebuilds the server from its image on the target, since the
 * failed host's disk is out of reach (its stale copy is destroyed when the host is fenced).
 */
export class AgentDriver implements HostDriver {
  constructor(
    private readonly database: Database,
    private readonly queue: AgentTaskQueue,
    private readonly simulated: HostDriver,
  ) {}

  /** Stopped servers move without a step only on simulated hosts with shared disks; see `movesInstantly`. */
  get movesStoppedServersInstantly(): boolean {
    return this.simulated.movesStoppedServersInstantly === true
  }

  /** Whether a stopped server's move between these hosts needs no driver step: both simulated, with shared disks. */
  async movesInstantly(db: Kysely<Schema>, sourceHostId: string, targetHostId: string): Promise<boolean> {
    if (!this.movesStoppedServersInstantly) return false
    return (await AGENT_HOST_AMONG_TWO.first(db, { sourceHostId, targetHostId })) === undefined
  }

  async perform(command: DriverCommand): Promise<void> {
    const names = command.move ? [command.move.from, command.move.to] : [command.hostName]
    const hosts = await this.hosts(names)
    const target = hosts.get(command.hostName)
    const source = command.move ? hosts.get(command.move.from) : undefined
    if (!target?.agent && !source?.agent) return this.simulated.perform(command)
    const vm: VmSpec = { serverId: command.serverId, ...command.vm }
    const task = (host: AgentHost, kind: Parameters<AgentTaskQueue['run']>[2], spec: Parameters<AgentTaskQueue['run']>[4]) =>
      this.queue.run(host.id, `${command.jobId}:${kind}`, kind, command.serverId, spec)
    if (!command.move) {
      const host = target!
      switch (command.operation) {
        case 'create': await task(host, 'boot', vm); return
        case 'start': await task(host, 'start', vm); return
        case 'stop':
        case 'recycle': await task(host, 'stop', { serverId: vm.serverId, hard: false }); return
        case 'reboot': await task(host, 'reboot', { serverId: vm.serverId, hard: command.reboot === 'HARD' }); return
        case 'delete':
        case 'purge': await task(host, 'delete', { serverId: vm.serverId }); return
        default: throw new Error(`no agent step for ${command.operation}`)
      }
    }
    const { powerOnAfter, kind } = command.move
    if (command.move.from === command.move.to) {
      await task(target!, 'resize', { ...vm, powerOnAfter })
      return
    }
    if (!target?.agent) {
      // Onto a simulated host: the agent host only lets go of its copy.
      await this.simulated.perform(command)
      if (source?.agent && command.operation !== 'evacuate') await task(source, 'release', { serverId: vm.serverId })
      return
    }
    if (command.operation === 'evacuate' || !source?.agent || source.address === null) {
      // Nothing to copy from: a failed host, or a simulated one. The image is the source.
      await task(target, 'rebuild', { ...vm, powerOnAfter })
      return
    }
    if (kind === 'live') {
      const incoming = await task(target, 'live-in', vm)
      const port = (incoming.result as { port: number }).port
      await task(source, 'live-out', { serverId: vm.serverId, target: hostOf(target), port })
      await task(target, 'live-done', { serverId: vm.serverId })
    } else {
      const sent = await task(source, 'send-disk', { serverId: vm.serverId, token: AgentTaskQueue.newToken() })
      const { token } = sent.spec as { token: string }
      await task(target, 'receive-disk', { ...vm, source: source.address, token, powerOnAfter })
    }
    await task(source, 'release', { serverId: vm.serverId })
  }

  /** Agent hosts are fenced by their agents (the heartbeat's answer); simulated ones here. */
  async fence(hostName: string, keep: readonly string[]): Promise<void> {
    await this.simulated.fence?.(hostName, keep)
  }

  private async hosts(names: string[]): Promise<Map<string, AgentHost>> {
    const db = this.database.db
    const rows = names.length === 1 ? await HOST_BY_NAME.all(db, { name: names[0]! }) : await db.selectFrom('hosts').select(['id', 'name', 'agent_seen_at', 'agent_address']).where('name', 'in', names).execute()
    return new Map(rows.map((h) => [h.name, { id: h.id, name: h.name, agent: h.agent_seen_at !== null, address: h.agent_address }]))
  }
}

/** The host part of an agent's `host:port` address (a live migration goes to a port of its own). */
function hostOf(host: AgentHost): string {
  const address = host.address ?? ''
  const i = address.lastIndexOf(':')
  const name = i < 0 ? address : address.slice(0, i)
  return name.startsWith('[') && name.endsWith(']') ? name.slice(1, -1) : name
}

const AGENT_HOST_AMONG_TWO = prepared((db, p: { sourceHostId: string; targetHostId: string }) =>
  db.selectFrom('hosts').select('id').where('id', 'in', [p.sourceHostId, p.targetHostId]).where('agent_seen_at', 'is not', null).limit(1),
)

const HOST_BY_NAME = prepared((db, p: { name: string }) => db.selectFrom('hosts').select(['id', 'name', 'agent_seen_at', 'agent_address']).where('name', '=', p.name))

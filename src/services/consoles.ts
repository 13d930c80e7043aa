import { randomUUID } from 'node:crypto'
import { consoleUnavailable, serverNotFound } from '../domain/errors.ts'
import type { Database } from '../store/database.ts'
import { AgentTaskFailed, type AgentTaskQueue } from './agent-tasks.ts'

/** A piece of a server's serial console. */
export interface ConsoleChunk {
  serverId: string
  /** The host whose console log this is: a server that moved has a new log on its new host. */
  hostName: string
  /** Where `data` starts in that log: the offset asked for, or 0 when it was past the log's end (another host's log). */
  offset: number
  /** Where the next read starts. */
  nextOffset: number
  data: string
  /** True on a simulated host, which runs nothing: `data` is a description of the server, not a guest's output. */
  simulated: boolean
}

/** Settings of `ConsoleService`. */
export interface ConsoleServiceOptions {
  /** How long a read waits for the host's agent before it answers that the console cannot be read now. */
  agentTimeoutMs: number
}

/**
 * Serial consoles for operators. On an agent's host a read is a `console` task the agent
 * answers from the VM's serial log (so any replica can serve it, like every other step); the
 * task is forgotten once read. A simulated host runs no guest: its "console" is a fixed
 * description of the server, so that tools reading consoles still work against the local fleet.
 */
export class ConsoleService {
  constructor(
    private readonly database: Database,
    private readonly tasks: AgentTaskQueue,
    private readonly options: ConsoleServiceOptions,
  ) {}

  /** The console of any project's server from `offset` (an operator's view). */
  async read(serverId: string, offset: number): Promise<ConsoleChunk> {
    const row = await this.database.db
      .selectFrom('servers')
      .innerJoin('hosts', 'hosts.id', 'servers.host_id')
      .select(['servers.id', 'servers.name', 'servers.status', 'servers.in_recycle_bin', 'hosts.id as host_id', 'hosts.name as host_name', 'hosts.agent_seen_at'])
      .where('servers.id', '=', serverId)
      .executeTakeFirst()
    if (!row || row.in_recycle_bin === 1) throw serverNotFound(serverId)
    if (row.agent_seen_at === null) {
      const text = `[ecsd] ${row.id} (${row.name}) is ${row.status} on simulated host ${row.host_name}, which runs no guest and has no serial output.\n`
      const bytes = Buffer.byteLength(text)
      const from = offset <= bytes ? offset : 0
      const data = Buffer.from(text).subarray(from).toString('utf8')
      return { serverId, hostName: row.host_name, offset: from, nextOffset: bytes, data, simulated: true }
    }
    const taskId = `console:${serverId}:${randomUUID()}`
    let timer: NodeJS.Timeout | undefined
    const timedOut = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), this.options.agentTimeoutMs)))
    try {
      const reading = this.tasks.run(row.host_id, taskId, 'console', serverId, { serverId, offset })
      // Once the read has timed out its task is failed and forgotten, and the wait ends in a rejection nobody awaits.
      reading.catch(() => undefined)
      const answer = await Promise.race([reading, timedOut])
      if (answer === 'timeout') {
        await this.tasks.complete(row.host_id, taskId, { state: 'failed', error: 'nobody waits for this read any more' })
        throw consoleUnavailable(serverId, row.host_name, `did not answer within ${Math.round(this.options.agentTimeoutMs / 1000)} s`)
      }
      const { data, offset: end } = answer.result
      const start = end - Buffer.byteLength(data)
      return { serverId, hostName: row.host_name, offset: start, nextOffset: end, data, simulated: false }
    } catch (err) {
      if (err instanceof AgentTaskFailed) throw consoleUnavailable(serverId, row.host_name, `could not read it: ${err.message}`)
      throw err
    } finally {
      clearTimeout(timer)
      await this.tasks.discard(taskId)
    }
  }
}

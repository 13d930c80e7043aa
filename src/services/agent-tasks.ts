import { randomBytes } from 'node:crypto'
import type { AgentTask, AgentTaskKind, AgentTaskResults, AgentTaskSpecs, AgentTaskState } from '../domain/agent-task.ts'
import { EcsError } from '../domain/errors.ts'
import type { Database } from '../store/database.ts'
import type { AgentTaskTable } from '../store/tables/host-lifecycle.ts'
import { nowIso } from './time.ts'

/** A task of an agent's host that could not be carried out: it failed there, or the host is gone. */
export class AgentTaskFailed extends Error {
  override name = 'AgentTaskFailed'
}

/** How an agent reports a task's end. */
export type AgentTaskOutcome = { state: 'done'; result?: unknown } | { state: 'failed'; error: string }

/** A server as the control plane expects an agent's host to have it. */
export interface ExpectedServer {
  id: string
  /** Run it (`running`), keep it stopped (`stopped`), or leave it as it is while a job works on it (`busy`). */
  power: 'running' | 'stopped' | 'busy'
  vcpus: number
  ramMb: number
  image: string
}

/** Settings of the queue. */
export interface AgentTaskQueueOptions {
  /** How often a waiting step looks at its task. */
  pollMs: number
  /** How long an ended task is kept (default a day): long after its job step read it, short enough that the table stays small. */
  retentionMs?: number
}

/** Ended tasks are kept a day unless told otherwise. */
const DEFAULT_RETENTION_MS = 24 * 3600 * 1000
/** Each process forgets old tasks at most this often, while agents take work from it. */
const PRUNE_EVERY_MS = 60_000

/**
 * The work queue between the control plane and host agents, in the database so that any
 * replica can hand out work and any replica can wait for it. A job step that needs an agent
 * `run`s a task and waits for its outcome; the agent long-polls `claim`, carries the task out
 * and `complete`s it. Task ids come from the step (sub-job + kind), so a step repeated after a
 * crash finds the task the first attempt created — done already, or still under way — and an
 * agent that restarted gets back the tasks its previous run had taken but not finished.
 */
export class AgentTaskQueue {
  /** When this process last forgot old tasks (0: not yet). */
  private prunedAt = 0

  constructor(
    private readonly database: Database,
    private readonly options: AgentTaskQueueOptions,
  ) {}

  /**
   * Makes sure the task exists (creating it with `spec` the first time; a repeated step keeps the
   * first spec) and waits until the agent ends it. Rejects with `AgentTaskFailed` when it failed,
   * or when its host stops being up before it ends (a dead host carries nothing out).
   */
  async run<K extends AgentTaskKind>(hostId: string, id: string, kind: K, serverId: string | null, spec: AgentTaskSpecs[K]): Promise<{ spec: AgentTaskSpecs[K]; result: K extends keyof AgentTaskResults ? AgentTaskResults[K] : unknown }> {
    const task = await this.ensure(hostId, id, kind, serverId, spec)
    for (;;) {
      const row = await this.database.db
        .selectFrom('agent_tasks')
        .innerJoin('hosts', 'hosts.id', 'agent_tasks.host_id')
        .select(['agent_tasks.state', 'agent_tasks.result', 'agent_tasks.error', 'hosts.state as host_state', 'hosts.name'])
        .where('agent_tasks.id', '=', id)
        .executeTakeFirst()
      if (!row) throw new AgentTaskFailed(`task ${id} is gone (its host was removed)`)
      if (row.state === 'done') {
        return { spec: JSON.parse(task.spec) as AgentTaskSpecs[K], result: (row.result === null ? undefined : JSON.parse(row.result)) as never }
      }
      if (row.state === 'failed') throw new AgentTaskFailed(`${kind} on host ${row.name} failed: ${row.error ?? 'no reason given'}`)
      if (row.host_state !== 'up') {
        await this.complete(hostId, id, { state: 'failed', error: `host ${row.name} is ${row.host_state}` })
        throw new AgentTaskFailed(`${kind} on host ${row.name} cannot be carried out: the host is ${row.host_state}`)
      }
      await new Promise((r) => setTimeout(r, this.options.pollMs).unref())
    }
  }

  /**
   * Hands an agent session the tasks of its host: pending ones, and those an earlier session
   * took and did not finish (that agent process is gone; this one decides from its own records
   * whether the task was carried out). Oldest first.
   */
  async claim(hostId: string, session: string, max = 16): Promise<AgentTask[]> {
    if (Date.now() - this.prunedAt >= PRUNE_EVERY_MS) {
      this.prunedAt = Date.now()
      await this.prune(new Date(Date.now() - (this.options.retentionMs ?? DEFAULT_RETENTION_MS)))
    }
    return this.database.transaction(async ({ db }) => {
      const open = await db
        .selectFrom('agent_tasks')
        .selectAll()
        .where('host_id', '=', hostId)
        .where((eb) => eb.or([
          eb('state', '=', 'pending'),
          eb.and([eb('state', '=', 'claimed'), eb('claimed_by', '!=', session)]),
        ]))
        .orderBy('created_at')
        .orderBy('id')
        .limit(max)
        .execute()
      if (open.length === 0) return []
      await db
        .updateTable('agent_tasks')
        .set({ state: 'claimed', claimed_by: session, claimed_at: nowIso() })
        .where('id', 'in', open.map((t) => t.id))
        .where('state', 'in', ['pending', 'claimed'])
        .execute()
      return open.map(toTask)
    })
  }

  /**
   * Records a task's end; idempotent (an outcome reported twice, or for a task already ended,
   * changes nothing). A task of another host is not found.
   */
  async complete(hostId: string, id: string, outcome: AgentTaskOutcome): Promise<void> {
    await this.database.transaction(async ({ db }) => {
      const task = await db.selectFrom('agent_tasks').select(['state']).where('id', '=', id).where('host_id', '=', hostId).executeTakeFirst()
      if (!task) throw new EcsError('Ecs.0005', 404, `Task ${id} is not a task of this host.`)
      if (task.state === 'done' || task.state === 'failed') return
      await db
        .updateTable('agent_tasks')
        .set({
          state: outcome.state, finished_at: nowIso(),
          result: outcome.state === 'done' && outcome.result !== undefined ? JSON.stringify(outcome.result) : null,
          error: outcome.state === 'failed' ? outcome.error : null,
        })
        .where('id', '=', id)
        .where('state', 'in', ['pending', 'claimed'])
        .execute()
    })
  }

  /**
   * What the host should have: every server the database puts on it (recycle-bin servers kept
   * stopped), with the power it should be in — or `busy` while a job works on it, whose tasks
   * say what to do. Servers moving off it are there too, `busy`: their move already points them
   * at the target, but the copy here is still the move's (a disk to send, a VM to migrate) until
   * its job releases it. An agent reconciles its hypervisor with this after it starts.
   */
  async expected(hostId: string): Promise<ExpectedServer[]> {
    const rows = await this.database.db
      .selectFrom('servers')
      .select(['id', 'status', 'task_state', 'in_recycle_bin', 'vcpus', 'ram_mb', 'image_ref'])
      .where('host_id', '=', hostId)
      .orderBy('id')
      .execute()
    const leaving = await this.database.db
      .selectFrom('moves')
      .innerJoin('servers', 'servers.id', 'moves.server_id')
      .select(['servers.id', 'moves.held_vcpus', 'moves.held_ram_mb', 'servers.image_ref'])
      .where('moves.source_host_id', '=', hostId)
      .whereRef('moves.target_host_id', '!=', 'moves.source_host_id')
      .orderBy('servers.id')
      .execute()
    return [
      ...rows.map((s) => ({
        id: s.id,
        power: s.task_state !== null ? 'busy' as const : s.in_recycle_bin === 0 && s.status === 'ACTIVE' ? 'running' as const : 'stopped' as const,
        vcpus: s.vcpus, ramMb: s.ram_mb, image: s.image_ref,
      })),
      ...leaving.map((s) => ({ id: s.id, power: 'busy' as const, vcpus: s.held_vcpus, ramMb: s.held_ram_mb, image: s.image_ref })),
    ]
  }

  /**
   * Forgets an ended task whose outcome was read and matters to no later step (a console read):
   * such tasks would otherwise pile up, one per read. A task still open is kept.
   */
  async discard(id: string): Promise<void> {
    await this.database.db.deleteFrom('agent_tasks').where('id', '=', id).where('state', 'in', ['done', 'failed']).execute()
  }

  /**
   * Forgets the tasks that ended before `cutoff`: their job steps read them long ago, and an
   * agent answers a redelivery from its own records anyway. Open tasks are never forgotten.
   * Answers how many went.
   */
  async prune(cutoff: Date): Promise<number> {
    const gone = await this.database.db
      .deleteFrom('agent_tasks')
      .where('state', 'in', ['done', 'failed'])
      .where('finished_at', '<', cutoff.toISOString())
      .executeTakeFirst()
    return Number(gone.numDeletedRows)
  }

  /** A new secret for a disk a source agent serves to one target. */
  static newToken(): string {
    return randomBytes(24).toString('hex')
  }

  private async ensure(hostId: string, id: string, kind: AgentTaskKind, serverId: string | null, spec: unknown): Promise<AgentTaskTable> {
    return this.database.transaction(async ({ db }) => {
      const existing = await db.selectFrom('agent_tasks').selectAll().where('id', '=', id).executeTakeFirst()
      if (existing) return existing
      const row: AgentTaskTable = {
        id, host_id: hostId, server_id: serverId, kind, spec: JSON.stringify(spec), state: 'pending' satisfies AgentTaskState,
        result: null, error: null, created_at: nowIso(), claimed_at: null, claimed_by: null, finished_at: null,
      }
      await db.insertInto('agent_tasks').values(row).execute()
      return row
    })
  }
}

function toTask(row: AgentTaskTable): AgentTask {
  return { id: row.id, kind: row.kind as AgentTaskKind, serverId: row.server_id, spec: JSON.parse(row.spec) as AgentTask['spec'] }
}

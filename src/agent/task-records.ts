/**
 * What the agent remembers of each task, one file per task in `<state dir>/tasks/`, so that a
 * task is never carried out twice: a run is recorded `running` before it starts and its outcome
 * before it is reported. A task delivered again — after a restart, or because the report was
 * lost — is answered from a finished record; one whose record is still `running` was
 * interrupted, and is run again (every hypervisor call is idempotent).
 */
import { createHash } from 'node:crypto'
import { mkdir, readdir, rm } from 'node:fs/promises'
import path from 'node:path'
import type { AgentTaskKind } from '../domain/agent-task.ts'
import type { TaskOutcome } from './control-plane.ts'
import { readJson, writeFileAtomic } from './state-files.ts'

/** One task as the agent recorded it. */
export interface TaskRecord {
  id: string
  kind: AgentTaskKind
  serverId: string | null
  state: 'running' | 'done' | 'failed'
  /** How many times a run was started: more than 1 after an interrupted run. */
  attempts: number
  /** How far a task of several steps got; a repeated run skips the steps behind it. */
  phase?: string
  result?: unknown
  error?: string
  startedAt: string
  finishedAt?: string
  /** When the control plane acknowledged the outcome. */
  reportedAt?: string
}

/** Finished records are kept this long after they were reported, then pruned at start. */
const KEEP_REPORTED_MS = 7 * 24 * 3600 * 1000

/** The task records of one state directory. */
export class TaskRecords {
  private readonly dir: string

  constructor(stateDir: string) {
    this.dir = path.join(stateDir, 'tasks')
  }

  /** Creates the directory and prunes records reported long ago. */
  async open(): Promise<void> {
    await mkdir(this.dir, { recursive: true })
    const cutoff = Date.now() - KEEP_REPORTED_MS
    for (const name of await readdir(this.dir)) {
      const file = path.join(this.dir, name)
      if (name.endsWith('.tmp')) {
        // A write that a crash interrupted: its record is the file it was to replace.
        await rm(file, { force: true })
        continue
      }
      const record = await readJson<TaskRecord>(file).catch(() => undefined)
      if (record?.reportedAt !== undefined && Date.parse(record.reportedAt) < cutoff) await rm(file, { force: true })
    }
  }

  /** The record of a task, if it was ever started here. */
  get(id: string): Promise<TaskRecord | undefined> {
    return readJson<TaskRecord>(this.file(id))
  }

  /** Every record, for reconciliation (which servers an unfinished task concerns) and tests. */
  async all(): Promise<TaskRecord[]> {
    const names = (await readdir(this.dir)).filter((n) => n.endsWith('.json'))
    const records = await Promise.all(names.map((n) => readJson<TaskRecord>(path.join(this.dir, n)).catch(() => undefined)))
    return records.filter((r): r is TaskRecord => r !== undefined)
  }

  /** Records that a run of the task starts now (again, if a record exists). */
  async begin(task: { id: string; kind: AgentTaskKind; serverId: string | null }, previous: TaskRecord | undefined): Promise<TaskRecord> {
    const record: TaskRecord = {
      ...(previous ?? {}),
      id: task.id, kind: task.kind, serverId: task.serverId, state: 'running',
      attempts: (previous?.attempts ?? 0) + 1, startedAt: new Date().toISOString(),
    }
    await this.write(record)
    return record
  }

  /** Records how far a running task got. */
  async advance(record: TaskRecord, phase: string): Promise<TaskRecord> {
    const next = { ...record, phase }
    await this.write(next)
    return next
  }

  /** Records the outcome; from now on the task is answered from this record. */
  async finish(record: TaskRecord, outcome: TaskOutcome): Promise<TaskRecord> {
    const { result: _result, error: _error, ...rest } = record
    const next: TaskRecord = {
      ...rest, state: outcome.state, finishedAt: new Date().toISOString(),
      ...(outcome.state === 'done' ? (outcome.result === undefined ? {} : { result: outcome.result }) : { error: outcome.error }),
    }
    await this.write(next)
    return next
  }

  /** Records that the control plane has the outcome. */
  async reported(id: string): Promise<void> {
    const record = await this.get(id)
    if (record === undefined || record.reportedAt !== undefined) return
    await this.write({ ...record, reportedAt: new Date().toISOString() })
  }

  /** The outcome a finished record answers. */
  static outcome(record: TaskRecord): TaskOutcome {
    return record.state === 'failed'
      ? { state: 'failed', error: record.error ?? 'failed' }
      : { state: 'done', ...(record.result === undefined ? {} : { result: record.result }) }
  }

  private write(record: TaskRecord): Promise<void> {
    return writeFileAtomic(this.file(record.id), `${JSON.stringify(record, null, 2)}\n`)
  }

  /** Task ids are up to 200 characters of any kind: the file is named by their hash. */
  private file(id: string): string {
    return path.join(this.dir, `${createHash('sha256').update(id).digest('hex')}.json`)
  }
}

/** Vocabulary of asynchronous jobs, as `GET /v1/{project_id}/jobs/{job_id}` reports them. */

export const JOB_STATUSES = ['INIT', 'RUNNING', 'SUCCESS', 'FAIL'] as const
/** One of `JOB_STATUSES`. */
export type JobStatus = (typeof JOB_STATUSES)[number]

/** What a sub-job does to its one server; the parent job's type is derived from it. */
export type ServerOperation = 'create' | 'start' | 'stop' | 'delete'

/** Job type names: the parent (batch) and the per-server sub-job. */
export const JOB_TYPES: Record<ServerOperation, { parent: string; sub: string }> = {
  create: { parent: 'createServer', sub: 'createSingleServer' },
  start: { parent: 'batchStartServer', sub: 'startSingleServer' },
  stop: { parent: 'batchStopServer', sub: 'stopSingleServer' },
  delete: { parent: 'deleteServer', sub: 'deleteSingleServer' },
}

/** Vocabulary of asynchronous jobs, as `GET /v1/{project_id}/jobs/{job_id}` reports them. */

export const JOB_STATUSES = ['INIT', 'RUNNING', 'SUCCESS', 'FAIL'] as const
/** One of `JOB_STATUSES`. */
export type JobStatus = (typeof JOB_STATUSES)[number]

/**
 * What a sub-job does to its one server; the parent job's type is derived from it. `recycle` is
 * a delete that moves the server into the recycle bin, `purge` deletes a binned server for good;
 * `resize`, `migrate`, `redeploy` and `revert` (out of the recycle bin) are moves.
 */
export type ServerOperation =
  | 'create' | 'start' | 'stop' | 'delete' | 'reboot' | 'recycle' | 'purge'
  | 'resize' | 'migrate' | 'redeploy' | 'revert' | 'evacuate'
  | RecordOperation

/**
 * Operations that change only records (the OS image, NICs, volumes): the change is made in the
 * request's transaction and the job is recorded as already done, so no driver step runs.
 */
export type RecordOperation = 'reinstall' | 'changeOs' | 'addNics' | 'deleteNics' | 'changeVpc' | 'attachVolume' | 'detachVolume'

/** Operations whose sub-jobs the job runner carries out with a driver step. */
export type DriverOperation = Exclude<ServerOperation, RecordOperation>

/** The operations carried out by the move primitive (a `moves` row drives them). */
export const MOVE_OPERATIONS: ReadonlySet<ServerOperation> = new Set(['resize', 'migrate', 'redeploy', 'revert', 'evacuate'])

/**
 * Job type names: the parent (single or batch request) and the per-server sub-job. The API
 * documents only the create types; the others follow the same pattern.
 */
export const JOB_TYPES: Record<ServerOperation, { parent: string; sub: string }> = {
  create: { parent: 'createServer', sub: 'createSingleServer' },
  start: { parent: 'batchStartServer', sub: 'startSingleServer' },
  stop: { parent: 'batchStopServer', sub: 'stopSingleServer' },
  delete: { parent: 'deleteServer', sub: 'deleteSingleServer' },
  recycle: { parent: 'deleteServer', sub: 'deleteSingleServer' },
  reboot: { parent: 'batchRebootServer', sub: 'rebootSingleServer' },
  purge: { parent: 'deleteRecycleBinServer', sub: 'deleteSingleServer' },
  resize: { parent: 'resizeServer', sub: 'resizeSingleServer' },
  migrate: { parent: 'migrateServer', sub: 'migrateSingleServer' },
  redeploy: { parent: 'redeployServer', sub: 'redeploySingleServer' },
  revert: { parent: 'revertRecycleBinServer', sub: 'revertSingleServer' },
  evacuate: { parent: 'evacuateServer', sub: 'evacuateSingleServer' },
  reinstall: { parent: 'reinstallOs', sub: 'reinstallSingleOs' },
  changeOs: { parent: 'changeOs', sub: 'changeSingleOs' },
  addNics: { parent: 'attachNics', sub: 'attachSingleNic' },
  deleteNics: { parent: 'detachNics', sub: 'detachSingleNic' },
  changeVpc: { parent: 'changeVpc', sub: 'changeSingleVpc' },
  attachVolume: { parent: 'attachVolume', sub: 'attachSingleVolume' },
  detachVolume: { parent: 'detachVolume', sub: 'detachSingleVolume' },
}

/** The parent type of a batch resize (`POST …/cloudservers/batch-resize`). */
export const BATCH_RESIZE_JOB_TYPE = 'batchResizeServers'

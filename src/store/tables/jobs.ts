/**
 * An asynchronous job. A parent job (parent_id null) is what the API returns a `job_id` for;
 * each server it touches has one sub-job row (parent_id set, server_id set).
 */
export interface JobTable {
  id: string
  project_id: string
  parent_id: string | null
  /** Job type as the API names it, e.g. `createServer`, `createSingleServer`. */
  type: string
  /** See `ServerOperation`; what the runner does to `server_id`. */
  operation: string
  /** See `JobStatus`. */
  status: string
  server_id: string | null
  error_code: string | null
  fail_reason: string | null
  /** `X-Client-Token` of the request that created the job (parents only), for idempotent retries. */
  client_token: string | null
  /** JSON: the ids of the servers of a parent job, in request order. */
  server_ids: string | null
  begin_time: string
  end_time: string | null
  /** The runner (one per process) that runs this sub-job now; null for parents and finished jobs. */
  lease_owner: string | null
  /** Until when `lease_owner` owns it; after that any runner may take it over. */
  lease_expires_at: string | null
}

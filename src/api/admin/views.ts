import type { EventView } from '../../services/events.ts'
import type { CredentialInfo } from '../../services/identity/index.ts'

// The admin API's bodies, shared with the CLI's `--json` so both print the same names. Types
// only are imported: the CLI loads this without the HTTP stack.

/** Credentials as the admin API lists them (Huawei IAM's field names); never the secret. */
export function credentialBody(c: CredentialInfo) {
  return {
    access: c.accessKey,
    project_id: c.projectId,
    admin: c.admin,
    description: c.description,
    status: c.revokedAt === null ? 'active' : 'revoked',
    created_at: c.createdAt,
    ...(c.revokedAt === null ? {} : { revoked_at: c.revokedAt }),
  }
}

/** An event as `GET /admin/events` answers it (snake_case names). */
export function eventBody(e: EventView) {
  return {
    id: e.id, at: e.at, kind: e.kind, project_id: e.projectId, server_id: e.serverId, group_id: e.groupId, host: e.host,
    from_host: e.fromHost, to_host: e.toHost, reason: e.reason, status_from: e.statusFrom, status_to: e.statusTo, job_id: e.jobId,
    message: e.message, diagnosis: e.diagnosis,
  }
}

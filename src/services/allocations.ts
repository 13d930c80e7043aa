import type { Kysely } from 'kysely'
import { capacityContended } from '../domain/errors.ts'
import { TransientConflictError } from '../store/database.ts'
import { prepared } from '../store/prepared.ts'
import type { Schema } from '../store/schema.ts'

/** A server's claim on a host: what its flavor takes, whether it runs or not. */
export interface Allocation {
  hostId: string
  vcpus: number
  ramMb: number
}

/**
 * Takes `a` from its host's free capacity. The update is conditional on the capacity still
 * being there, so even a caller that skipped placement cannot overfill a host (and the CHECK
 * constraint stands behind this). When the host lacks room — another writer filled it since the
 * placement read it — the transaction is retried and placement runs again; a request that loses
 * that race on every retry gets `Ecs.0319`, never an internal error.
 */
export async function claim(db: Kysely<Schema>, a: Allocation): Promise<void> {
  if (a.vcpus === 0 && a.ramMb === 0) return
  if ((await CLAIM.run(db, a)) !== 1) {
    throw new TransientConflictError(`capacity claim of ${a.vcpus} vCPU / ${a.ramMb} MiB on host ${a.hostId} refused`, capacityContended(a.hostId))
  }
}

/** Gives `a` back to its host. */
export async function release(db: Kysely<Schema>, a: Allocation): Promise<void> {
  if (a.vcpus === 0 && a.ramMb === 0) return
  await RELEASE.run(db, a)
}

/**
 * Adds (or, with negative numbers, removes) servers to a project's usage counters; call in the
 * transaction that inserts or deletes the servers.
 */
export async function adjustUsage(db: Kysely<Schema>, projectId: string, delta: { servers: number; cores: number; ramMb: number }): Promise<void> {
  await ADJUST_USAGE.run(db, { projectId, ...delta })
}

const CLAIM = prepared((db, a: Allocation) =>
  db
    .updateTable('hosts')
    .set((eb) => ({
      free_vcpus: eb('free_vcpus', '-', a.vcpus),
      free_ram_mb: eb('free_ram_mb', '-', a.ramMb),
    }))
    .where('id', '=', a.hostId)
    .where('free_vcpus', '>=', a.vcpus)
    .where('free_ram_mb', '>=', a.ramMb),
)

const RELEASE = prepared((db, a: Allocation) =>
  db
    .updateTable('hosts')
    .set((eb) => ({
      free_vcpus: eb('free_vcpus', '+', a.vcpus),
      free_ram_mb: eb('free_ram_mb', '+', a.ramMb),
    }))
    .where('id', '=', a.hostId),
)

const ADJUST_USAGE = prepared((db, p: { projectId: string; servers: number; cores: number; ramMb: number }) =>
  db
    .updateTable('projects')
    .set((eb) => ({
      servers_used: eb('servers_used', '+', p.servers),
      cores_used: eb('cores_used', '+', p.cores),
      ram_used_mb: eb('ram_used_mb', '+', p.ramMb),
    }))
    .where('id', '=', p.projectId),
)

/**
 * Replica processes for a test: N `ecsd serve` on a fresh PostgreSQL database of the suite's
 * server, and a direct connection to that database, stopped and closed when the test ends.
 */
import type { TestContext } from 'node:test'
import type { Database } from '../src/store/database.ts'
import { tempDir } from './helper.ts'
import { createTestDatabase } from './postgres.ts'
import { ReplicaFleet, openDatabase } from './stress/harness.ts'

/** Starts `replicas` processes (data directories named `<dirPrefix>…`), each step `driverLatencyMs` long on the simulated hosts. */
export async function replicasOnPostgres(
  t: TestContext,
  options: { replicas: number; dirPrefix: string; driverLatencyMs: number },
): Promise<{ fleet: ReplicaFleet; database: Database }> {
  let fleet: ReplicaFleet | undefined
  let database: Database | undefined
  t.after(async () => {
    await database?.close()
    await fleet?.stop()
  })
  const databaseUrl = await createTestDatabase(t)
  fleet = await ReplicaFleet.start({ replicas: options.replicas, dataDir: tempDir(t, options.dirPrefix), databaseUrl, driverLatencyMs: options.driverLatencyMs })
  database = openDatabase(fleet.database)
  return { fleet, database }
}

/**
 * Benchmark fixtures written straight into a generated database before the server starts: a
 * separate benchmark tenant (so the demo project's group list stays the fleet's), pairs of
 * hosts on which add_member must move a server every time, and empty groups to create into.
 */
import path from 'node:path'
import type { Kysely } from 'kysely'
import { adjustUsage } from '../../src/services/allocations.ts'
import { loadMasterKey, SecretBox } from '../../src/services/identity/secrets.ts'
import { IdentityService } from '../../src/services/identity/index.ts'
import { insertMemberships } from '../../src/services/membership.ts'
import type { Database } from '../../src/store/database.ts'
import type { Schema } from '../../src/store/schema.ts'
import { FRESH_SERVER_COLUMNS } from '../../src/store/tables/servers.ts'
import type { Credential } from './load.ts'

/** The benchmark tenant. */
export const BENCH: Credential = {
  projectId: 'bec0000000000000000000000000be01',
  accessKey: 'ECSDBENCHAK000000001',
  secretKey: 'ecsdBenchSecretKey0000000000000000000001',
}

/** One connection's add/remove cycle: server `server` alternates between two groups. */
export interface CycleFixture {
  server: string
  /** Group whose member sits on the server's first host (so joining it moves the server away). */
  groupA: string
  /** Group whose member sits on the other host (so joining it moves the server back). */
  groupB: string
}

const HOST = { vcpus: 64, ram_mb: 256 * 1024 } as const
const FLAVOR = { id: 's6.small.1', vcpus: 1, ram_mb: 1024 } as const

/** Creates the benchmark project and its credential, sealed with the data directory's master key. */
export async function createBenchTenant(database: Database, dataDir: string): Promise<void> {
  const box = new SecretBox(loadMasterKey({ value: undefined, file: path.join(dataDir, 'master.key') }))
  const identity = new IdentityService(database, box, 3_600_000)
  await identity.createProject('bench', BENCH.projectId)
  await identity.createCredential(BENCH.projectId, { accessKey: BENCH.accessKey, secretKey: BENCH.secretKey, description: 'benchmark' })
}

/**
 * For each connection: a zone of two hosts A and B, a stopped KVM server S on A, group GA with
 * one member on A and group GB with one member on B. `add S to GA` must move S to B (A is taken
 * by GA's member and B is the only other host of the zone), `remove`, `add S to GB` must move it
 * back to A, `remove`: every add_member of the cycle is a re-placement.
 */
export async function createCycleFixtures(database: Database, connections: number): Promise<CycleFixture[]> {
  const now = new Date().toISOString()
  const fixtures: CycleFixture[] = []
  await database.transaction(async ({ db }) => {
    for (let c = 0; c < connections; c++) {
      const az = `bench-cycle-${String(c).padStart(3, '0')}`
      const [a, b] = [`${az}-a`, `${az}-b`]
      const s = crypto.randomUUID()
      const ma = crypto.randomUUID()
      const mb = crypto.randomUUID()
      const ga = crypto.randomUUID()
      const gb = crypto.randomUUID()
      const host = (id: string, servers: number) => ({
        id, name: id, az, vcpus: HOST.vcpus, ram_mb: HOST.ram_mb, cpu_allocation_ratio: 1, ram_allocation_ratio: 1,
        free_vcpus: HOST.vcpus - servers * FLAVOR.vcpus, free_ram_mb: HOST.ram_mb - servers * FLAVOR.ram_mb, state: 'up', enabled: 1, created_at: now, dedicated_to: null,
      })
      await db.insertInto('hosts').values([host(a, 2), host(b, 1)]).execute()
      await db.insertInto('servers').values([server(s, a, az, now), server(ma, a, az, now), server(mb, b, az, now)]).execute()
      await db.insertInto('server_groups').values([group(ga, `cycle-${c}-a`, now), group(gb, `cycle-${c}-b`, now)]).execute()
      await insertMemberships(db, [
        { groupId: ga, serverId: ma, hostId: a, distinctHost: true, createdAt: now },
        { groupId: gb, serverId: mb, hostId: b, distinctHost: true, createdAt: now },
      ])
      fixtures.push({ server: s, groupA: ga, groupB: gb })
    }
    await adjustUsage(db, BENCH.projectId, { servers: 3 * connections, cores: 3 * connections * FLAVOR.vcpus, ramMb: 3 * connections * FLAVOR.ram_mb })
  })
  return fixtures
}

/** `n` empty anti-affinity groups of the benchmark tenant, for create-into-group. */
export async function createEmptyGroups(database: Database, n: number): Promise<string[]> {
  const now = new Date().toISOString()
  const ids = Array.from({ length: n }, () => crypto.randomUUID())
  await database.transaction(async ({ db }) => {
    for (let i = 0; i < ids.length; i += 1000) {
      await db.insertInto('server_groups').values(ids.slice(i, i + 1000).map((id, k) => group(id, `create-${i + k}`, now))).execute()
    }
  })
  return ids
}

/** Ids of `n` servers of the demo project, spread over the fleet. */
export async function sampleServers(db: Kysely<Schema>, projectId: string, n: number): Promise<string[]> {
  const rows = await db.selectFrom('servers').select('id').where('project_id', '=', projectId).orderBy('created_at').limit(n * 50).execute()
  const step = Math.max(1, Math.floor(rows.length / n))
  return rows.filter((_, i) => i % step === 0).slice(0, n).map((r) => r.id)
}

function server(id: string, hostId: string, az: string, now: string): Schema['servers'] {
  return {
    id, project_id: BENCH.projectId, name: `cycle-${id.slice(0, 8)}`, status: 'SHUTOFF', task_state: null, power_state: 4,
    flavor_id: FLAVOR.id, vcpus: FLAVOR.vcpus, ram_mb: FLAVOR.ram_mb, virtualization: 'kvm', az, host_id: hostId,
    image_ref: 'img-ubuntu-22.04', vpc_id: 'vpc-bench', metadata: '{}', created_at: now, updated_at: now, launched_at: now,
    ...FRESH_SERVER_COLUMNS,
  }
}

function group(id: string, name: string, now: string): Schema['server_groups'] {
  return { id, project_id: BENCH.projectId, name, policy: 'anti-affinity', created_at: now }
}

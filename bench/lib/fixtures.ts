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
import { NEW_HOST_COLUMNS } from '../../src/store/tables/hosts.ts'
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
        free_vcpus: HOST.vcpus - servers * FLAVOR.vcpus, free_ram_mb: HOST.ram_mb - servers * FLAVOR.ram_mb, state: 'up', enabled: 1, created_at: now, ...NEW_HOST_COLUMNS,
      })
      await db.insertInto('hosts').values([host(a, 2), host(b, 1)]).execute()
      await db.insertInto('servers').values([server(s, a, az, now), server(ma, a, az, now), server(mb, b, az, now)]).execute()
      await db.insertInto('server_groups').values([group(ga, `cycle-${c}-a`, now), group(gb, `cycle-${c}-b`, now)]).execute()
      await insertMemberships(db, [
        { groupId: ga, serverId: ma, hostId: a, createdAt: now },
        { groupId: gb, serverId: mb, hostId: b, createdAt: now },
      ])
      fixtures.push({ server: s, groupA: ga, groupB: gb })
    }
    await adjustUsage(db, BENCH.projectId, { servers: 3 * connections, cores: 3 * connections * FLAVOR.vcpus, ramMb: 3 * connections * FLAVOR.ram_mb })
  })
  return fixtures
}

/**
 * The zone `npm run bench` creates into: empty hosts of its own (64 vCPU, 256 GiB each, 64 small
 * servers), so that a create phase never fills up however fast it runs — the move fixtures
 * fill half of the generated fleet — and moves after it still find room in the fleet.
 */
export const CREATE_ZONE = 'bench-create'

/** Adds `hosts` empty hosts in `CREATE_ZONE`. */
export async function createPlacementZone(database: Database, hosts: number): Promise<void> {
  const now = new Date().toISOString()
  const rows = Array.from({ length: hosts }, (_, i) => {
    const id = `${CREATE_ZONE}-${String(i).padStart(4, '0')}`
    return {
      id, name: id, az: CREATE_ZONE, vcpus: HOST.vcpus, ram_mb: HOST.ram_mb, cpu_allocation_ratio: 1, ram_allocation_ratio: 1,
      free_vcpus: HOST.vcpus, free_ram_mb: HOST.ram_mb, state: 'up', enabled: 1, created_at: now, ...NEW_HOST_COLUMNS,
    }
  })
  await database.transaction(async ({ db }) => {
    for (let i = 0; i < rows.length; i += 500) await db.insertInto('hosts').values(rows.slice(i, i + 500)).execute()
  })
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
  return { id, project_id: BENCH.projectId, name, policy: 'anti-affinity', created_at: now, spread_fault_domains: 0, max_server_per_host: null, user_id: null, affinity_host_id: null }
}

/** Servers the moves scenarios move: each redeploy or resize of one of them is a move. */
export interface MoveFixtures {
  /** Stopped members of anti-affinity groups, on the fleet's hosts: every redeploy moves one. */
  redeploy: string[]
  /**
   * Stopped group members, each alone with a filler on a host left with no free capacity: a
   * resize to `s6.medium.2` (1 GiB more) cannot stay, so each one moves.
   */
  resize: string[]
}

/** Members per fixture group of the moves scenarios. */
const MOVE_GROUP_SIZE = 8

/**
 * Fixtures of the moves scenarios on the generated fleet, in the benchmark tenant. The fleet's
 * hosts that are up and enabled are split in two: the first half carries up to
 * `redeployServers` small stopped servers dealt round-robin where there is room (groups of eight
 * consecutive ones, so each group's members sit on distinct hosts); on each host of the second half, one small stopped server and
 * a filler that takes the rest of the host — those are the resize sources, and the first half
 * is where they can go.
 */
export async function createMoveFixtures(database: Database, redeployServers: number): Promise<MoveFixtures> {
  const now = new Date().toISOString()
  const hosts = await database.db
    .selectFrom('hosts')
    .select(['id', 'az', 'free_vcpus', 'free_ram_mb'])
    .where('state', '=', 'up')
    .where('enabled', '=', 1)
    .where('dedicated_to', 'is', null)
    .where('id', 'not like', 'bench-%')
    .orderBy('id')
    .execute()
  const half = Math.floor(hosts.length / 2)
  const targets = hosts.slice(0, half)
  const sources = hosts.slice(half).filter((h) => h.free_vcpus > FLAVOR.vcpus && h.free_ram_mb > FLAVOR.ram_mb)
  const rows: Array<Schema['servers']> = []
  const taken = new Map<string, { vcpus: number; ramMb: number }>()
  const take = (hostId: string, vcpus: number, ramMb: number) => {
    const t = taken.get(hostId) ?? { vcpus: 0, ramMb: 0 }
    taken.set(hostId, { vcpus: t.vcpus + vcpus, ramMb: t.ramMb + ramMb })
  }
  const redeploy: string[] = []
  // Round-robin over the target hosts that still have room (each keeps at least a quarter of
  // its free capacity, so that the moves have somewhere to go).
  const room = new Map(targets.map((h) => [h.id, { vcpus: Math.floor(h.free_vcpus * 0.75), ramMb: Math.floor(h.free_ram_mb * 0.75) }]))
  for (let i = 0, k = 0; i < redeployServers && k < redeployServers * targets.length; k++) {
    const host = targets[k % targets.length]!
    const r = room.get(host.id)!
    if (r.vcpus < FLAVOR.vcpus || r.ramMb < FLAVOR.ram_mb) continue
    room.set(host.id, { vcpus: r.vcpus - FLAVOR.vcpus, ramMb: r.ramMb - FLAVOR.ram_mb })
    const id = crypto.randomUUID()
    rows.push(server(id, host.id, host.az, now))
    take(host.id, FLAVOR.vcpus, FLAVOR.ram_mb)
    redeploy.push(id)
    i++
  }
  const resize: string[] = []
  for (const host of sources) {
    const id = crypto.randomUUID()
    rows.push(server(id, host.id, host.az, now))
    const filler = { ...server(crypto.randomUUID(), host.id, host.az, now), name: 'filler', vcpus: host.free_vcpus - FLAVOR.vcpus, ram_mb: host.free_ram_mb - FLAVOR.ram_mb }
    rows.push(filler)
    take(host.id, host.free_vcpus, host.free_ram_mb)
    resize.push(id)
  }
  const hostOf = new Map(rows.map((r) => [r.id, r.host_id]))
  const members = (ids: string[], label: string) => {
    const groups: Array<Schema['server_groups']> = []
    const memberships: Parameters<typeof insertMemberships>[1][number][] = []
    for (let i = 0; i < ids.length; i += MOVE_GROUP_SIZE) {
      const g = crypto.randomUUID()
      groups.push(group(g, `${label}-${i / MOVE_GROUP_SIZE}`, now))
      for (const id of ids.slice(i, i + MOVE_GROUP_SIZE)) {
        memberships.push({ groupId: g, serverId: id, hostId: hostOf.get(id)!, createdAt: now })
      }
    }
    return { groups, memberships }
  }
  const a = members(redeploy, 'redeploy')
  const b = members(resize, 'resize')
  await database.transaction(async ({ db }) => {
    for (let i = 0; i < rows.length; i += 500) await db.insertInto('servers').values(rows.slice(i, i + 500)).execute()
    const groups = [...a.groups, ...b.groups]
    for (let i = 0; i < groups.length; i += 500) await db.insertInto('server_groups').values(groups.slice(i, i + 500)).execute()
    await insertMemberships(db, [...a.memberships, ...b.memberships])
    for (const [hostId, t] of taken) {
      await db.updateTable('hosts').set((eb) => ({ free_vcpus: eb('free_vcpus', '-', t.vcpus), free_ram_mb: eb('free_ram_mb', '-', t.ramMb) })).where('id', '=', hostId).execute()
    }
    await adjustUsage(db, BENCH.projectId, {
      servers: rows.length,
      cores: rows.reduce((n, r) => n + r.vcpus, 0),
      ramMb: rows.reduce((n, r) => n + r.ram_mb, 0),
    })
  })
  return { redeploy, resize }
}

/** One crowded host of the evacuation benchmark and its servers. */
export interface CrowdedHost {
  name: string
  /** Running small servers on it, each the only member of its own anti-affinity group. */
  servers: string[]
}

/**
 * A host `name` in `az` of the shared pool (64 vCPU, 256 GiB) carrying `servers` running small
 * KVM servers of the benchmark tenant, each the one member of its own anti-affinity group: when
 * the host fails, each one is a separate evacuation — its own group locked, its own placement.
 */
export async function createCrowdedHost(database: Database, name: string, az: string, servers: number): Promise<CrowdedHost> {
  if (servers * FLAVOR.vcpus > HOST.vcpus) throw new Error(`a crowded host holds at most ${HOST.vcpus / FLAVOR.vcpus} small servers`)
  const now = new Date().toISOString()
  const ids = Array.from({ length: servers }, () => crypto.randomUUID())
  const groups = ids.map(() => crypto.randomUUID())
  await database.transaction(async ({ db }) => {
    await db.insertInto('hosts').values({
      ...NEW_HOST_COLUMNS, id: name, name, az, vcpus: HOST.vcpus, ram_mb: HOST.ram_mb, cpu_allocation_ratio: 1, ram_allocation_ratio: 1,
      free_vcpus: HOST.vcpus - servers * FLAVOR.vcpus, free_ram_mb: HOST.ram_mb - servers * FLAVOR.ram_mb, state: 'up', enabled: 1, created_at: now,
    }).execute()
    // An empty one is a spare: somewhere for another crowded host's servers to go.
    if (servers === 0) return
    await db.insertInto('servers').values(ids.map((id, i) => ({ ...server(id, name, az, now), name: `${name}-${i}`, status: 'ACTIVE', power_state: 1 }))).execute()
    await db.insertInto('server_groups').values(groups.map((id, i) => group(id, `${name}-${i}`, now))).execute()
    await insertMemberships(db, ids.map((serverId, i) => ({ groupId: groups[i]!, serverId, hostId: name, createdAt: now })))
    await adjustUsage(db, BENCH.projectId, { servers, cores: servers * FLAVOR.vcpus, ramMb: servers * FLAVOR.ram_mb })
  })
  return { name, servers: ids }
}

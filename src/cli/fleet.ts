/**
 * `ecsd fleet generate`: fills a database with a synthetic fleet for benchmarks and capacity
 * tests — hosts across availability zones, servers in mixed states with their allocations
 * taken from their hosts, and anti-affinity groups whose members sit on distinct hosts — all in
 * the demo project, so the demo credentials and flavors work against it.
 *
 * Rows are written in batches, one transaction per batch, as multi-row inserts; the whole fleet
 * is never held in memory. The generator is deterministic for a given `seed`.
 */
import { sql } from 'kysely'
import { loadConfig, type ConfigFlags } from '../config.ts'
import { adjustUsage } from '../services/allocations.ts'
import { DEMO, DEMO_FLAVORS, seedDemo } from '../services/demo.ts'
import { loadMasterKey, SecretBox } from '../services/identity/secrets.ts'
import { insertMemberships, type NewMembership } from '../services/membership.ts'
import { uuidV7 } from '../services/time.ts'
import type { Database } from '../store/database.ts'
import type { Schema } from '../store/schema.ts'
import { NEW_HOST_COLUMNS } from '../store/tables/hosts.ts'
import { FRESH_SERVER_COLUMNS } from '../store/tables/servers.ts'
import { openDatabase } from './database.ts'
import { fields, print, printJson, progressBar } from './output.ts'

/** What to generate. */
export interface FleetOptions {
  hosts: number
  serversPerHost: number
  /** Anti-affinity groups in the demo project. */
  groups: number
  /** Members of each group, each on its own host. */
  groupMembers: number
  /** Availability zones `az1` … `azN`; hosts are dealt round-robin. */
  zones: number
  /** Fault domains `rack-1` … `rack-N` in each zone, hosts dealt round-robin; 0: hosts have none. */
  faultDomains: number
  /** Seed of the pseudo-random generator: the same options give the same fleet. */
  seed: number
  /** Servers per transaction (rounded to whole hosts). */
  batchServers: number
}

export { FLEET_DEFAULTS } from './fleet-defaults.ts'

/** What was written. */
export interface FleetSummary {
  hosts: number
  servers: number
  groups: number
  members: number
  zones: string[]
  seconds: number
}

/** Called after each batch with the servers written so far. */
export type FleetProgress = (serversDone: number, serversTotal: number) => void

/** Hosts come in three sizes, 4 GiB of RAM per vCPU, scaled up when many servers must fit. */
const HOST_VCPUS = [48, 64, 96] as const
/** The flavor mix of generated servers (weights); members of groups are always KVM. */
const FLAVOR_WEIGHTS: Record<(typeof DEMO_FLAVORS)[number]['id'], number> = {
  's6.small.1': 20,
  's6.medium.2': 20,
  's6.large.2': 25,
  's6.xlarge.2': 15,
  'c7.2xlarge.4': 5,
  's3.small.1': 10,
  's3.large.2': 5,
  's6.2xlarge.2': 0,
  'm6.4xlarge.8': 0,
}
const SMALLEST_KVM = DEMO_FLAVORS.find((f) => f.id === 's6.small.1')!
const POWER = { ACTIVE: 1, SHUTOFF: 4, ERROR: 0 } as const
const YEAR_MS = 365 * 24 * 3600 * 1000

/** Why the requested fleet cannot be generated (bad sizes, a non-empty database). */
export class FleetError extends Error {
  override name = 'FleetError'
}

/** A seeded pseudo-random generator (mulberry32). */
function prng(seed: number): () => number {
  let a = seed | 0
  return () => {
    a = (a + 0x6d2b79f5) | 0
    let t = Math.imul(a ^ (a >>> 15), 1 | a)
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/**
 * Time-ordered ids (`uuidV7`, with random bits drawn from `random`, so a seed reproduces them).
 * Successive ids sort after each other, so a bulk load appends to the primary-key and host
 * indexes instead of scattering writes over them.
 */
function idGenerator(random: () => number, startMs: number): () => string {
  let ms = startMs
  let counter = 0
  return () => {
    if (++counter === 4096) {
      counter = 0
      ms++
    }
    // 15 random digits, then the variant's 2 bits: the draws (and so, for a seed, the whole
    // fleet) are those of the generator's first versions.
    let rand = ''
    for (let i = 0; i < 15; i++) rand += HEX[Math.floor(random() * 16)]
    return uuidV7(ms, counter, `${HEX[Math.floor(random() * 4)]}${rand}`)
  }
}

const HEX = '0123456789abcdef'

/**
 * Which hosts carry the members of which groups: member slot `s` (group `floor(s / k)`) goes to
 * a host such that the `k` members of a group are always on `k` distinct hosts, spread over the
 * fleet when there are enough hosts.
 */
function memberPlan(hosts: number, groups: number, k: number): Map<number, number[]> {
  const slots = groups * k
  const plan = new Map<number, number[]>()
  for (let s = 0; s < slots; s++) {
    const host = slots <= hosts ? Math.floor((s * hosts) / slots) : s % hosts
    const list = plan.get(host)
    if (list) list.push(Math.floor(s / k))
    else plan.set(host, [Math.floor(s / k)])
  }
  return plan
}

function validate(o: FleetOptions): void {
  const positive = (name: string, v: number, min: number) => {
    if (!Number.isInteger(v) || v < min) throw new FleetError(`${name} must be an integer ≥ ${min}, got ${v}`)
  }
  positive('--hosts', o.hosts, 1)
  positive('--servers-per-host', o.serversPerHost, 0)
  positive('--groups', o.groups, 0)
  positive('--group-members', o.groupMembers, 1)
  positive('--zones', o.zones, 1)
  positive('--fault-domains', o.faultDomains, 0)
  positive('--batch-servers', o.batchServers, 1)
  if (o.groups > 0 && o.groupMembers > o.hosts) throw new FleetError(`--group-members ${o.groupMembers} needs at least as many hosts (--hosts ${o.hosts})`)
  const perHost = Math.ceil((o.groups * o.groupMembers) / o.hosts)
  if (o.groups > 0 && perHost > o.serversPerHost) {
    throw new FleetError(`${o.groups} groups × ${o.groupMembers} members need ${perHost} servers per host; --servers-per-host is ${o.serversPerHost}`)
  }
}

/**
 * Writes the fleet. The database must be migrated, hold the demo tenant (`seedDemo`, which the
 * CLI runs first) and no server yet; the generated hosts join whatever hosts exist (the demo's 16
 * on a fresh database).
 */
export async function generateFleet(database: Database, options: FleetOptions, onProgress?: FleetProgress): Promise<FleetSummary> {
  validate(options)
  const started = performance.now()
  const { hosts: hostCount, serversPerHost, groups: groupCount, groupMembers, seed } = options
  const random = prng(seed)
  const uuid = idGenerator(random, Date.UTC(2026, 0, 1) + seed)
  const zones = Array.from({ length: options.zones }, (_, i) => `az${i + 1}`)
  const now = Date.now()
  const nowIso = new Date(now).toISOString()

  if (database.dialect === 'sqlite') {
    // Bulk load: a larger page cache for the B-tree inserts, and one WAL sync per
    // checkpoint instead of per commit (a crash mid-load loses the last batches, never
    // consistency; re-run the generator on a fresh database).
    await sql`pragma cache_size = -1048576`.execute(database.db)
    await sql`pragma synchronous = OFF`.execute(database.db)
  }

  await database.transaction(async ({ db }) => {
    const project = await db.selectFrom('projects').select('id').where('id', '=', DEMO.projectId).executeTakeFirst()
    if (!project) throw new FleetError('the demo project does not exist; this database was started with --no-demo (use a fresh --data-dir or database)')
    const flavors = await db.selectFrom('flavors').select('id').where('id', 'in', DEMO_FLAVORS.map((f) => f.id)).execute()
    if (flavors.length !== DEMO_FLAVORS.length) throw new FleetError('the demo flavors are missing from this database')
    const server = await db.selectFrom('servers').select('id').limit(1).executeTakeFirst()
    if (server) throw new FleetError('the database already has servers; fleet generate fills a database without servers (use a fresh --data-dir or database)')
  })

  const groupIds = Array.from({ length: groupCount }, () => uuid())
  const plan = memberPlan(hostCount, groupCount, groupMembers)
  const scale = Math.max(1, Math.ceil(serversPerHost / 16))
  const flavorTable = DEMO_FLAVORS.flatMap((f) => Array.from({ length: FLAVOR_WEIGHTS[f.id] }, () => f))
  // Columns of the widest row written (servers).
  const columns = 26
  // Multi-row inserts stay under both dialects' bound-parameter limits (SQLite 32766, PostgreSQL 65535).
  const rowsPerInsert = Math.floor(30_000 / columns)
  const hostsPerBatch = Math.max(1, Math.floor(options.batchServers / Math.max(1, serversPerHost)))
  const totalServers = hostCount * serversPerHost

  await database.transaction(async ({ db }) => {
    if (groupIds.length === 0) return
    await db
      .insertInto('server_groups')
      .values(groupIds.map((id, g) => ({ id, project_id: DEMO.projectId, name: `fleet-group-${String(g + 1).padStart(4, '0')}`, policy: 'anti-affinity', created_at: nowIso, spread_fault_domains: 0, max_server_per_host: null, user_id: null, affinity_host_id: null })))
      .execute()
  })

  let serversDone = 0
  let members = 0
  for (let first = 0; first < hostCount; first += hostsPerBatch) {
    const last = Math.min(hostCount, first + hostsPerBatch)
    const hostRows: Array<Schema['hosts']> = []
    const serverRows: Array<Schema['servers']> = []
    const memberRows: NewMembership[] = []
    for (let h = first; h < last; h++) {
      const vcpus = HOST_VCPUS[Math.floor(random() * HOST_VCPUS.length)]! * scale
      const ramMb = vcpus * 4096
      const az = zones[h % zones.length]!
      const hostId = uuid()
      let freeVcpus = vcpus
      let freeRam = ramMb
      const memberOf = plan.get(h) ?? []
      for (let k = 0; k < serversPerHost; k++) {
        const groupIndex = memberOf[k]
        let flavor = flavorTable[Math.floor(random() * flavorTable.length)]!
        if (groupIndex !== undefined && flavor.virtualization !== 'kvm') flavor = SMALLEST_KVM
        if (flavor.vcpus > freeVcpus || flavor.ram_mb > freeRam) flavor = SMALLEST_KVM
        if (flavor.vcpus > freeVcpus || flavor.ram_mb > freeRam) {
          throw new FleetError(`host ${h} (${vcpus} vCPU) cannot hold ${serversPerHost} servers; use fewer --servers-per-host`)
        }
        freeVcpus -= flavor.vcpus
        freeRam -= flavor.ram_mb
        const roll = random()
        const status = roll < 0.7 ? 'ACTIVE' : roll < 0.95 ? 'SHUTOFF' : 'ERROR'
        const created = new Date(now - Math.floor(random() * YEAR_MS)).toISOString()
        const serverId = uuid()
        serverRows.push({
          id: serverId,
          project_id: DEMO.projectId,
          name: `fleet-${String(h).padStart(6, '0')}-${k}`,
          status,
          task_state: null,
          power_state: POWER[status],
          flavor_id: flavor.id,
          vcpus: flavor.vcpus,
          ram_mb: flavor.ram_mb,
          virtualization: flavor.virtualization,
          az,
          host_id: hostId,
          image_ref: 'img-ubuntu-22.04',
          vpc_id: 'vpc-fleet',
          metadata: '{}',
          created_at: created,
          updated_at: created,
          launched_at: status === 'ERROR' ? null : created,
          ...FRESH_SERVER_COLUMNS,
        })
        if (groupIndex !== undefined) {
          memberRows.push({ groupId: groupIds[groupIndex]!, serverId, hostId, createdAt: nowIso })
        }
      }
      const state = random() < 0.005 ? 'down' : 'up'
      const enabled = random() < 0.01 ? 0 : 1
      hostRows.push({
        ...NEW_HOST_COLUMNS,
        id: hostId,
        name: `${az}-host-${String(h + 1).padStart(6, '0')}`,
        az,
        vcpus,
        ram_mb: ramMb,
        cpu_allocation_ratio: 1,
        ram_allocation_ratio: 1,
        free_vcpus: freeVcpus,
        free_ram_mb: freeRam,
        state,
        enabled,
        created_at: nowIso,
        // Host h is the (h ÷ zones)-th host of its zone, so each zone's hosts go round its racks.
        fault_domain: options.faultDomains === 0 ? null : `rack-${(Math.floor(h / zones.length) % options.faultDomains) + 1}`,
        admin_state: enabled === 1 ? 'enabled' : 'disabled',
        admin_reason: enabled === 1 ? null : 'disabled by the fleet generator',
        state_changed_at: nowIso,
        // Generated hosts are simulated: the process heartbeats for them from its start.
        last_heartbeat_at: null,
      })
    }
    await database.transaction(async ({ db }) => {
      for (let i = 0; i < hostRows.length; i += rowsPerInsert) await db.insertInto('hosts').values(hostRows.slice(i, i + rowsPerInsert)).execute()
      // A generated down host stays down: its simulated heartbeats are stopped by a fault, which
      // an operator deletes to bring it back (it is then fenced, as any host that returns).
      const down = hostRows.filter((h) => h.state === 'down')
      if (down.length > 0) {
        await db
          .insertInto('faults')
          .values(down.map((h) => ({ id: uuid(), host_name: h.name, step: 'heartbeat', mode: 'fail', probability: 1, reason: 'generated down by the fleet generator', created_at: nowIso })))
          .execute()
      }
      for (let i = 0; i < serverRows.length; i += rowsPerInsert) await db.insertInto('servers').values(serverRows.slice(i, i + rowsPerInsert)).execute()
      await insertMemberships(db, memberRows, rowsPerInsert)
      await adjustUsage(db, DEMO.projectId, {
        servers: serverRows.length,
        cores: serverRows.reduce((n, r) => n + r.vcpus, 0),
        ramMb: serverRows.reduce((n, r) => n + r.ram_mb, 0),
      })
    })
    serversDone += serverRows.length
    members += memberRows.length
    onProgress?.(serversDone, totalServers)
  }

  if (database.dialect === 'postgres') await sql`analyze`.execute(database.db)
  else await sql`pragma wal_checkpoint(truncate)`.execute(database.db)
  return { hosts: hostCount, servers: serversDone, groups: groupCount, members, zones, seconds: (performance.now() - started) / 1000 }
}

/** The flags of `ecsd fleet generate`. */
export type FleetGenerateFlags = Pick<ConfigFlags, 'dataDir' | 'database'> & FleetOptions & { json?: boolean }

/**
 * `ecsd fleet generate`: migrates the database, creates the demo tenant if the database has no
 * project yet (as `serve` would), writes the fleet with a progress bar on a terminal and prints
 * a summary.
 */
export async function fleetGenerate(flags: FleetGenerateFlags): Promise<void> {
  const config = loadConfig({ dataDir: flags.dataDir, database: flags.database, logLevel: 'warn' })
  const database = await openDatabase(config, { migrate: true })
  const bar = progressBar()
  const started = performance.now()
  const onProgress: FleetProgress = (done, total) => {
    const seconds = (performance.now() - started) / 1000
    const rate = seconds > 0 ? done / seconds : 0
    const eta = rate > 0 ? (total - done) / rate : 0
    bar.update(done, total, `fleet ${count(done)}/${count(total)} servers  ${count(Math.round(rate))}/s  ${seconds.toFixed(1)} s  ETA ${eta.toFixed(0)} s`)
  }
  try {
    await seedDemo(database, new SecretBox(loadMasterKey({ value: config.masterKey, file: config.masterKeyFile })))
    const s = await generateFleet(database, flags, onProgress)
    bar.end()
    if (flags.json) {
      printJson(s)
      return
    }
    print(fields([
      ['hosts', `${count(s.hosts)} in ${s.zones.join(', ')}`],
      ['servers', count(s.servers)],
      ['groups', `${count(s.groups)} with ${count(s.members)} members`],
      ['time', `${s.seconds.toFixed(1)} s (${count(Math.round(s.servers / s.seconds))} servers/s)`],
    ]))
  } finally {
    bar.end()
    await database.close()
  }
}

function count(n: number): string {
  return n.toLocaleString('en-US')
}

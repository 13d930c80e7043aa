import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { sql } from 'kysely'
import { PlacementEngine } from '../../src/placement/engine.ts'
import { DEFAULT_FILTERS } from '../../src/placement/filters/index.ts'
import { packScore, spreadScore } from '../../src/placement/scores/index.ts'
import type { PlacementRequest } from '../../src/placement/types.ts'
import { EcsError } from '../../src/domain/errors.ts'
import { GROUP_POLICIES } from '../../src/domain/group.ts'
import type { Dialect } from '../../src/store/database.ts'
import { NEW_HOST_COLUMNS } from '../../src/store/tables/hosts.ts'
import { DIALECTS, openTestDatabase } from '../helper.ts'
import type { TestContext } from 'node:test'

/** A seeded pseudo-random generator, so a failing case replays. */
function mulberry32(seed: number): () => number {
  let a = seed
  return () => {
    a = (a + 0x6d2b79f5) | 0
    let t = Math.imul(a ^ (a >>> 15), 1 | a)
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

async function fleet(t: TestContext, dialect: Dialect, hosts: Array<{ name: string; az: string; free_vcpus: number; free_ram_mb: number; state?: string; enabled?: number; dedicated_to?: string | null; fault_domain?: string | null }>) {
  const database = await openTestDatabase(t, { dialect })
  t.after(() => database.close())
  await database.migrate()
  const now = new Date().toISOString()
  // Projects that dedicated hosts can belong to.
  await database.db.insertInto('projects').values(['p1', 'p2'].map((id) => ({ id, name: id, created_at: now }))).execute()
  for (let i = 0; i < hosts.length; i += 1000) {
    await database.db.insertInto('hosts').values(hosts.slice(i, i + 1000).map((h) => ({
      id: h.name, name: h.name, az: h.az, vcpus: 32, ram_mb: 131072, cpu_allocation_ratio: 1, ram_allocation_ratio: 1,
      free_vcpus: h.free_vcpus, free_ram_mb: h.free_ram_mb, state: h.state ?? 'up', enabled: h.enabled ?? 1, created_at: now,
      ...NEW_HOST_COLUMNS, dedicated_to: h.dedicated_to ?? null, fault_domain: h.fault_domain ?? null, admin_state: (h.enabled ?? 1) === 1 ? 'enabled' : 'disabled',
    }))).execute()
  }
  return database
}

const request = (over: Partial<PlacementRequest> = {}): PlacementRequest => ({ vcpus: 2, ramMb: 4096, az: 'az1', groupPolicy: 'anti-affinity', groupHostIds: new Set(), subject: 'srv', ...over })

for (const dialect of DIALECTS) describe(`placement engine on ${dialect}`, () => {
  test('spread picks the emptiest host; pack the fullest that fits', async (t) => {
    const database = await fleet(t, dialect, [
      { name: 'a', az: 'az1', free_vcpus: 32, free_ram_mb: 8192 },
      { name: 'b', az: 'az1', free_vcpus: 32, free_ram_mb: 131072 },
      { name: 'c', az: 'az1', free_vcpus: 32, free_ram_mb: 65536 },
      { name: 'd', az: 'az1', free_vcpus: 32, free_ram_mb: 2048 },
    ])
    const spread = new PlacementEngine({ filters: DEFAULT_FILTERS, score: spreadScore, subsetSize: 1 })
    const pack = new PlacementEngine({ filters: DEFAULT_FILTERS, score: packScore, subsetSize: 1 })
    assert.equal((await spread.place(database.db, request())).name, 'b')
    assert.equal((await pack.place(database.db, request())).name, 'a')
  })

  test('the pick is random among the best subsetSize hosts only', async (t) => {
    const database = await fleet(t, dialect, ['a', 'b', 'c', 'd', 'e'].map((name, i) => ({ name, az: 'az1', free_vcpus: 32, free_ram_mb: 131072 - i * 1024 })))
    const seen = new Set<string>()
    const random = mulberry32(7)
    const engine = new PlacementEngine({ filters: DEFAULT_FILTERS, score: spreadScore, subsetSize: 3, random })
    for (let i = 0; i < 60; i++) seen.add((await engine.place(database.db, request())).name)
    assert.deepEqual([...seen].sort(), ['a', 'b', 'c'])
  })

  test('anti-affinity, zone, state and capacity all exclude; the diagnosis counts each step', async (t) => {
    const database = await fleet(t, dialect, [
      { name: 'a', az: 'az1', free_vcpus: 32, free_ram_mb: 131072 },
      { name: 'b', az: 'az1', free_vcpus: 1, free_ram_mb: 131072 },
      { name: 'c', az: 'az1', free_vcpus: 32, free_ram_mb: 131072, state: 'down' },
      { name: 'd', az: 'az1', free_vcpus: 32, free_ram_mb: 131072, enabled: 0 },
      { name: 'e', az: 'az2', free_vcpus: 32, free_ram_mb: 131072 },
      { name: 'f', az: 'az1', free_vcpus: 32, free_ram_mb: 131072 },
    ])
    const engine = new PlacementEngine({ filters: DEFAULT_FILTERS, score: spreadScore, subsetSize: 1 })
    assert.equal((await engine.place(database.db, request({ groupHostIds: new Set(['a']) }))).name, 'f')
    await assert.rejects(engine.place(database.db, request({ groupHostIds: new Set(['a', 'f']) })), (err: unknown) => {
      assert.ok(err instanceof EcsError)
      assert.equal(err.code, 'Ecs.0319')
      assert.match(err.message, /HostState\(up, enabled\): 4 → AvailabilityZone\(az1\): 3 → Tenancy\(shared pool\): 3 → Capacity\(2 vCPU, 4096 MiB\): 2 → AntiAffinity\(2 hosts used by other members\): 0/)
      return true
    })
    assert.equal((await engine.place(database.db, request({ az: undefined, groupHostIds: new Set(['a', 'f']) }))).name, 'e', 'no zone: any zone')
  })

  test('fault-domain spread keeps out the racks of the other members; a host without a rack is its own', async (t) => {
    const database = await fleet(t, dialect, [
      { name: 'a', az: 'az1', free_vcpus: 32, free_ram_mb: 131072, fault_domain: 'rack-1' },
      { name: 'b', az: 'az1', free_vcpus: 32, free_ram_mb: 131072, fault_domain: 'rack-1' },
      { name: 'c', az: 'az1', free_vcpus: 32, free_ram_mb: 131072, fault_domain: 'rack-2' },
      { name: 'd', az: 'az1', free_vcpus: 32, free_ram_mb: 131072, fault_domain: null },
      { name: 'e', az: 'az1', free_vcpus: 32, free_ram_mb: 131072, fault_domain: null },
    ])
    const engine = new PlacementEngine({ filters: DEFAULT_FILTERS, score: spreadScore, subsetSize: 1 })
    const spreading = request({ groupHostIds: new Set(['a', 'd']), groupFaultDomains: new Set(['rack-1']) })
    const candidates = (await engine.candidateQuery(database.db, spreading).execute()).map((h) => h.name).sort()
    assert.deepEqual(candidates, ['c', 'e'], 'not b (rack-1 is used), not d (held, its own domain)')
    assert.ok(candidates.includes((await engine.place(database.db, spreading)).name))
    assert.equal((await engine.place(database.db, request({ groupHostIds: new Set(['a']) }))).name, 'b', 'a group that does not spread may use rack-1 again')
    await assert.rejects(engine.place(database.db, request({ groupHostIds: new Set(['a', 'c', 'd', 'e']), groupFaultDomains: new Set(['rack-1', 'rack-2']) })), (err: unknown) => {
      assert.ok(err instanceof EcsError)
      assert.equal(err.code, 'Ecs.0319')
      assert.match(err.message, /AntiAffinity\(4 hosts used by other members\): 1 → FaultDomainSpread\(2 fault domains used by other members\): 0/)
      return true
    })
  })

  test('the SQL candidate query and the pure filters agree on random fleets and requests', async (t) => {
    const seed = Number(process.env.ECSD_TEST_SEED ?? Date.now() % 100000)
    const random = mulberry32(seed)
    const hosts = Array.from({ length: 60 }, (_, i) => ({
      name: `h${String(i).padStart(2, '0')}`,
      az: random() < 0.5 ? 'az1' : 'az2',
      free_vcpus: Math.floor(random() * 6),
      free_ram_mb: Math.floor(random() * 6) * 1024,
      state: random() < 0.1 ? 'down' : 'up',
      enabled: random() < 0.1 ? 0 : 1,
      dedicated_to: random() < 0.15 ? (random() < 0.5 ? 'p1' : 'p2') : null,
      fault_domain: random() < 0.2 ? null : `rack-${1 + Math.floor(random() * 5)}`,
    }))
    const database = await fleet(t, dialect, hosts)
    const rows = await database.db.selectFrom('hosts').select(['id', 'name', 'az', 'vcpus', 'ram_mb', 'free_vcpus', 'free_ram_mb', 'state', 'enabled', 'dedicated_to', 'fault_domain']).execute()
    for (let i = 0; i < 100; i++) {
      const groupHostIds = new Set(rows.filter(() => random() < 0.3).map((r) => r.id))
      // Every policy; anti-affinity with up to 3 members per host, held 1–3 times each.
      const groupPolicy = GROUP_POLICIES[Math.floor(random() * GROUP_POLICIES.length)]!
      const groupHostCounts = new Map([...groupHostIds].map((id) => [id, 1 + Math.floor(random() * 3)]))
      // A spreading (anti-affinity) group holds the racks of its held hosts; sometimes only those without a rack.
      const spread = groupPolicy === 'anti-affinity' && random() < 0.5
      const heldRacks = rows.filter((r) => groupHostIds.has(r.id) && r.fault_domain !== null && random() < 0.8).map((r) => r.fault_domain!)
      const req = request({
        vcpus: 1 + Math.floor(random() * 4),
        ramMb: (1 + Math.floor(random() * 4)) * 1024,
        az: random() < 0.2 ? undefined : random() < 0.5 ? 'az1' : 'az2',
        groupPolicy,
        groupHostIds,
        groupHostCounts,
        maxServerPerHost: spread ? 1 : 1 + Math.floor(random() * 3),
        groupFaultDomains: spread ? new Set(heldRacks) : undefined,
        dedicatedTo: random() < 0.3 ? 'p1' : undefined,
        requestedHostId: random() < 0.2 ? rows[Math.floor(random() * rows.length)]!.id : undefined,
        avoidHostIds: random() < 0.3 ? new Set(rows.filter(() => random() < 0.2).map((r) => r.id)) : undefined,
      })
      const expected = rows.filter((h) => DEFAULT_FILTERS.every((f) => f.passes(h, req))).map((h) => h.id).sort()
      const viaSql = await database.db
        .selectFrom('hosts')
        .select('id')
        .where((eb) => eb.and(DEFAULT_FILTERS.flatMap((f) => { const p = f.where(eb, req); return p ? [p] : [] })))
        .orderBy('id')
        .execute()
      assert.deepEqual(viaSql.map((r) => r.id), expected, `seed ${seed}, request ${i}`)
    }
  })

  for (const az of ['az1', undefined]) {
    test(`the candidate query walks a partial placement index, no sort, no scan (az ${az ?? 'any'})`, async (t) => {
      // A fleet large enough that PostgreSQL's planner prefers the index on its own merits.
      const hosts = Array.from({ length: dialect === 'postgres' ? 20_000 : 0 }, (_, i) => ({
        name: `h${i}`, az: i % 2 === 0 ? 'az1' : 'az2', free_vcpus: i % 33, free_ram_mb: (i % 129) * 1024, enabled: i % 50 === 0 ? 0 : 1,
        fault_domain: i % 7 === 0 ? null : `rack-${i % 40}`,
      }))
      const database = await fleet(t, dialect, hosts)
      if (dialect === 'postgres') await sql`analyze hosts`.execute(database.db)
      // An ordinary group, and one that spreads over fault domains: its predicate is checked on
      // the rows the index walk yields, never a reason to leave the index.
      for (const [score, groupFaultDomains] of [[spreadScore, undefined], [packScore, undefined], [spreadScore, new Set(['rack-2', 'rack-4'])], [packScore, new Set(['rack-2', 'rack-4'])]] as const) {
        const engine = new PlacementEngine({ filters: DEFAULT_FILTERS, score, subsetSize: 3 })
        const compiled = engine.candidateQuery(database.db, request({ az, groupHostIds: new Set(['h2', 'h4']), groupFaultDomains })).compile()
        const plan = dialect === 'sqlite'
          ? (await database.db.executeQuery<{ detail: string }>({ ...compiled, sql: `explain query plan ${compiled.sql}` })).rows.map((r) => r.detail).join('\n')
          : (await database.db.executeQuery<{ 'QUERY PLAN': string }>({ ...compiled, sql: `explain ${compiled.sql}` })).rows.map((r) => r['QUERY PLAN']).join('\n')
        const index = az ? 'hosts_candidates' : 'hosts_candidates_any_az'
        if (dialect === 'sqlite') {
          assert.match(plan, new RegExp(`USING INDEX ${index} \\(`), plan)
          assert.doesNotMatch(plan, /TEMP B-TREE|SCAN hosts$/m, plan)
        } else {
          assert.match(plan, new RegExp(`Index Scan (Backward )?using ${index} on hosts`), plan)
          assert.doesNotMatch(plan, /Seq Scan|Sort/, plan)
        }
      }
    })
  }
})

for (const dialect of DIALECTS) describe(`placement of group members on ${dialect}`, () => {
  const engine = (random?: () => number) => new PlacementEngine({ filters: DEFAULT_FILTERS, score: spreadScore, subsetSize: 3, ...(random ? { random } : {}) })
  /** Twenty roomy hosts in az1 (emptiest first: h00) and two nearly full ones, m1 and m2. */
  const twenty = () => [
    ...Array.from({ length: 20 }, (_, i) => ({ name: `h${String(i).padStart(2, '0')}`, az: 'az1', free_vcpus: 32, free_ram_mb: 131072 - i * 1024 })),
    { name: 'm1', az: 'az1', free_vcpus: 32, free_ram_mb: 8192 },
    { name: 'm2', az: 'az1', free_vcpus: 32, free_ram_mb: 4096 },
  ]

  test('soft-affinity: the members\' host wins although spread would not even fetch it; a full one is passed over, never a refusal', async (t) => {
    const database = await fleet(t, dialect, twenty())
    const random = mulberry32(11)
    const members = (holds: Record<string, number>) => request({ groupPolicy: 'soft-affinity', groupHostIds: new Set(Object.keys(holds)), groupHostCounts: new Map(Object.entries(holds)) })
    for (let i = 0; i < 20; i++) assert.equal((await engine(random).place(database.db, members({ m1: 1 }))).name, 'm1')
    // The host with more members wins over the one with fewer.
    for (let i = 0; i < 20; i++) assert.equal((await engine(random).place(database.db, members({ m1: 1, m2: 2 }))).name, 'm2')
    // Too small for the server: the best of the rest, by spread.
    const big = { ...members({ m1: 1, m2: 2 }), ramMb: 16384 }
    const seen = new Set<string>()
    for (let i = 0; i < 30; i++) seen.add((await engine(random).place(database.db, big)).name)
    assert.deepEqual([...seen].sort(), ['h00', 'h01', 'h02'], 'random among the best three by spread, as without a group')
  })

  test('soft-anti-affinity: a host without members wins although spread prefers the members\' hosts; when all hold members, the fewest', async (t) => {
    // The twelve emptiest hosts all hold members: the candidate query alone would return only them.
    const database = await fleet(t, dialect, twenty())
    const random = mulberry32(5)
    const held = Object.fromEntries(Array.from({ length: 12 }, (_, i) => [`h${String(i).padStart(2, '0')}`, 1 + (i % 2)]))
    const req = request({ groupPolicy: 'soft-anti-affinity', groupHostIds: new Set(Object.keys(held)), groupHostCounts: new Map(Object.entries(held)) })
    const seen = new Set<string>()
    for (let i = 0; i < 30; i++) seen.add((await engine(random).place(database.db, req)).name)
    assert.deepEqual([...seen].sort(), ['h12', 'h13', 'h14'], 'the best three hosts without members')
    // Every host of the zone holds members: the ones holding one, never those holding two.
    const all = Object.fromEntries(twenty().map((h, i) => [h.name, i % 2 === 0 ? 2 : 1]))
    const crowded = request({ groupPolicy: 'soft-anti-affinity', groupHostIds: new Set(Object.keys(all)), groupHostCounts: new Map(Object.entries(all)) })
    for (let i = 0; i < 20; i++) {
      const name = (await engine(random).place(database.db, crowded)).name
      assert.equal(all[name], 1, `${name} holds ${all[name]}`)
    }
  })

  test('affinity: the members\' host or nothing; the first member goes where spread sends it', async (t) => {
    const database = await fleet(t, dialect, twenty())
    assert.equal((await engine(() => 0).place(database.db, request({ groupPolicy: 'affinity' }))).name, 'h00')
    assert.equal((await engine(mulberry32(3)).place(database.db, request({ groupPolicy: 'affinity', groupHostIds: new Set(['m2']) }))).name, 'm2')
    await assert.rejects(engine().place(database.db, request({ groupPolicy: 'affinity', groupHostIds: new Set(['m2']), ramMb: 8192 })), (err: unknown) => {
      assert.ok(err instanceof EcsError)
      assert.equal(err.code, 'Ecs.0319')
      assert.match(err.message, /Capacity\(2 vCPU, 8192 MiB\): 21 → Affinity\(the host of the group: m2\): 0/)
      return true
    })
  })

  test('anti-affinity with max_server_per_host: a host takes members up to the rule, moves away from it included', async (t) => {
    const database = await fleet(t, dialect, [
      { name: 'a', az: 'az1', free_vcpus: 32, free_ram_mb: 131072 },
      { name: 'b', az: 'az1', free_vcpus: 32, free_ram_mb: 131072 },
      { name: 'c', az: 'az1', free_vcpus: 32, free_ram_mb: 65536 },
    ])
    const req = (holds: Record<string, number>) =>
      request({ groupPolicy: 'anti-affinity', maxServerPerHost: 2, groupHostIds: new Set(Object.keys(holds)), groupHostCounts: new Map(Object.entries(holds)) })
    const picks = new Set<string>()
    for (let i = 0; i < 20; i++) picks.add((await engine(mulberry32(i)).place(database.db, req({ a: 2, b: 1 }))).name)
    assert.deepEqual([...picks].sort(), ['b', 'c'], 'a is full, b has a place left')
    await assert.rejects(engine().place(database.db, req({ a: 2, b: 2, c: 2 })), (err: unknown) => {
      assert.ok(err instanceof EcsError)
      assert.match(err.message, /AntiAffinity\(3 hosts holding 2 members, the most one host may\): 0/)
      return true
    })
  })
})

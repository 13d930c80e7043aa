/**
 * Simultaneous boots through the OpenStack Compute API across three real replica processes on
 * one PostgreSQL, into a group of each hard policy (anti-affinity with max_server_per_host 2, and
 * affinity), both races at once. Every boot is accepted (202), as in Nova; exactly as many servers
 * as the fleet has places for become ACTIVE, where the policy allows, and every other one is in
 * ERROR with Nova's fault, holding no host. The audit is clean.
 */
import assert from 'node:assert/strict'
import { test, type TestContext } from 'node:test'
import { audit } from '../../../src/services/audit.ts'
import { DEMO } from '../../../src/services/demo.ts'
import { createRng, randomSeed, send, waitForJobsToFinish } from '../../stress/harness.ts'
import { IMAGE } from './nova.ts'
import { replicasOnPostgres } from '../../replicas.ts'

const SEED = process.env.ECSD_STRESS_SEED ? Number(process.env.ECSD_STRESS_SEED) : randomSeed()

/** Each race: the group, how many boots of which flavor where, and how many can be placed. */
const RACES = {
  // Two members a host over the eight hosts of az1: sixteen places for 30 boots.
  'anti-affinity': { policy: 'anti-affinity', rules: { max_server_per_host: 2 }, boots: 30, flavor: 's6.small.1', az: 'az1', winners: 16 },
  // Four c7.2xlarge.4 fill one host; the first one placed pins the group there.
  affinity: { policy: 'affinity', rules: undefined, boots: 12, flavor: 'c7.2xlarge.4', az: 'az2', winners: 4 },
} as const
type Race = keyof typeof RACES

const nova = (p: string) => `/v2.1/${DEMO.projectId}${p}`
const V264 = { 'OpenStack-API-Version': 'compute 2.64' }

test('across 3 replica processes on one PostgreSQL: OpenStack boots never break a hard policy', async (t: TestContext) => {
  const { fleet: replicas, database: db } = await replicasOnPostgres(t, { replicas: 3, dirPrefix: 'ecsd-nova-replicas-', driverLatencyMs: 20 })
  const rng = createRng(SEED)
  t.diagnostic(`seed ${SEED} (replay: ECSD_STRESS_SEED=${SEED})`)

  const groups = {} as Record<Race, string>
  for (const race of Object.keys(RACES) as Race[]) {
    const { policy, rules } = RACES[race]
    const res = await send(replicas, rng, 'POST', nova('/os-server-groups'), { server_group: { name: race, policy, ...(rules ? { rules } : {}) } }, V264)
    assert.ok(res.kind === 'response' && res.status === 200, JSON.stringify(res))
    groups[race] = (res.body as { server_group: { id: string } }).server_group.id
  }

  const boots = (Object.keys(RACES) as Race[]).flatMap((race) => Array.from({ length: RACES[race].boots }, (_, i) => ({ race, i })))
  const answers = await Promise.all(boots.map(async ({ race, i }) => {
    const { flavor, az } = RACES[race]
    const body = { server: { name: `${race}-${i}`, flavorRef: flavor, imageRef: IMAGE, networks: 'none', availability_zone: az }, 'os:scheduler_hints': { group: groups[race] } }
    return { race, outcome: await send(replicas, rng, 'POST', nova('/servers'), body, { 'OpenStack-API-Version': 'compute 2.71' }) }
  }))
  const ids: Record<Race, string[]> = { 'anti-affinity': [], affinity: [] }
  for (const { race, outcome } of answers) {
    assert.ok(outcome.kind === 'response' && outcome.status === 202, `${race}: ${JSON.stringify(outcome)}`)
    ids[race].push((outcome.body as { server: { id: string } }).server.id)
  }
  assert.deepEqual(await waitForJobsToFinish(db, 120_000), [], 'every boot job finished')

  for (const race of Object.keys(RACES) as Race[]) {
    const placed = await db.db
      .selectFrom('servers')
      .innerJoin('server_group_members as m', 'm.server_id', 'servers.id')
      .select(['servers.id', 'servers.host_id', 'servers.status'])
      .where('m.group_id', '=', groups[race])
      .execute()
    const unplaced = await db.db.selectFrom('unscheduled_servers').select(['id', 'fault']).where('group_id', '=', groups[race]).execute()
    t.diagnostic(`${race}: ${placed.length} placed, ${unplaced.length} in ERROR without a host`)
    assert.equal(placed.length, RACES[race].winners, race)
    assert.ok(placed.every((s) => s.status === 'ACTIVE'), race)
    assert.deepEqual(new Set([...placed, ...unplaced].map((s) => s.id)), new Set(ids[race]), `${race}: every accepted boot is a server`)
    assert.ok(unplaced.every((s) => (JSON.parse(s.fault) as { message: string }).message.startsWith('No valid host was found.')))
    const perHost = new Map<string, number>()
    for (const s of placed) perHost.set(s.host_id, (perHost.get(s.host_id) ?? 0) + 1)
    if (race === 'anti-affinity') assert.deepEqual([...perHost.values()], Array.from({ length: 8 }, () => 2), 'two members on each host, never three')
    else assert.equal(perHost.size, 1, `one host: ${JSON.stringify([...perHost])}`)
  }
  assert.deepEqual(await audit(db.db), [])
  assert.deepEqual(replicas.errorLines(), [], 'no replica logged an error')
})

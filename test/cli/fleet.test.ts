import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import type { TestContext } from 'node:test'
import { FLEET_DEFAULTS, generateFleet, type FleetOptions } from '../../src/cli/fleet.ts'
import { seedDemo } from '../../src/services/demo.ts'
import { SecretBox } from '../../src/services/identity/secrets.ts'
import { openTestDatabase, TEST_MASTER_KEY } from '../helper.ts'

/** Generates a fleet without servers on a fresh SQLite database; returns the generated hosts' zone and fault domain. */
async function generatedHosts(t: TestContext, options: Partial<FleetOptions>): Promise<Array<{ az: string; fault_domain: string | null }>> {
  const database = await openTestDatabase(t)
  t.after(() => database.close())
  await database.migrate()
  await seedDemo(database, new SecretBox(TEST_MASTER_KEY))
  const demoHosts = new Set((await database.db.selectFrom('hosts').select('id').execute()).map((h) => h.id))
  await generateFleet(database, { ...FLEET_DEFAULTS, hosts: 12, serversPerHost: 0, groups: 0, zones: 2, ...options })
  const rows = await database.db.selectFrom('hosts').select(['id', 'az', 'fault_domain']).orderBy('name').execute()
  return rows.filter((h) => !demoHosts.has(h.id)).map(({ az, fault_domain }) => ({ az, fault_domain }))
}

describe('fleet generate', () => {
  test('--fault-domains N deals each zone\'s hosts round-robin into rack-1 … rack-N', async (t) => {
    const hosts = await generatedHosts(t, { faultDomains: 3 })
    assert.equal(hosts.length, 12)
    for (const az of ['az1', 'az2']) {
      const racks = hosts.filter((h) => h.az === az).map((h) => h.fault_domain)
      assert.deepEqual(racks, ['rack-1', 'rack-2', 'rack-3', 'rack-1', 'rack-2', 'rack-3'], az)
    }
  })

  test('without it (the default), generated hosts have no fault domain', async (t) => {
    const hosts = await generatedHosts(t, {})
    assert.equal(FLEET_DEFAULTS.faultDomains, 0)
    assert.ok(hosts.every((h) => h.fault_domain === null))
  })
})

import assert from 'node:assert/strict'
import path from 'node:path'
import { test } from 'node:test'
import type { HostBody } from '../../src/cli/hosts.ts'
import { DEMO } from '../../src/services/demo.ts'
import { buildTestApp, createGroup, createServers, TEST_MASTER_KEY, tempDir } from '../helper.ts'
import { assertOk, json, ecsdCommand } from './cli.ts'

/** An event as `ecsd events --json` prints it: the admin API's names. */
interface EventBody {
  [field: string]: string | null
}

test('ecsd events, audit and hosts list on a SQLite data dir: a table by default, the same data as JSON with --json', async (t) => {
  const dataDir = tempDir(t)
  const { app, database } = await buildTestApp(t, { file: path.join(dataDir, 'ecsd.sqlite') })
  const groupId = await createGroup(app, 'cli')
  const [serverId] = await createServers(app, { name: 'cli-1', availability_zone: 'az1', 'os:scheduler_hints': { group: groupId } })
  const { host } = await database.db.selectFrom('servers').innerJoin('hosts', 'hosts.id', 'servers.host_id').select('hosts.name as host').where('servers.id', '=', serverId!).executeTakeFirstOrThrow()
  // One broken invariant for the audit to find: a host without servers that records less free vCPU than it has.
  const empty = await database.db.selectFrom('hosts').select(['id', 'name']).where('free_vcpus', '=', database.db.selectFrom('hosts').select((eb) => eb.fn.max('vcpus').as('v'))).where('az', '=', 'az2').executeTakeFirstOrThrow()
  await database.db.updateTable('hosts').set((eb) => ({ free_vcpus: eb('free_vcpus', '-', 1) })).where('name', '=', empty.name).execute()

  const at = ['--data-dir', dataDir]
  const keyEnv = { env: { ECSD_MASTER_KEY: TEST_MASTER_KEY.toString('hex') } }
  const [eventsJson, eventsTable, auditTable, auditJson, hostsTable, hostsJson] = await Promise.all([
    ecsdCommand(['events', '--server', serverId!, '--json', ...at]),
    ecsdCommand(['events', '--server', serverId!, '--kind', 'placed', ...at]),
    ecsdCommand(['audit', ...at]),
    ecsdCommand(['audit', '--json', ...at]),
    ecsdCommand(['hosts', 'list', ...at], keyEnv),
    ecsdCommand(['hosts', 'list', '--json', ...at], keyEnv),
  ])

  const { events, next_marker } = json<{ events: EventBody[]; next_marker: string | null }>(eventsJson)
  assert.equal(next_marker, null)
  const placed = events.find((e) => e.kind === 'placed')
  assert.ok(placed, JSON.stringify(events))
  assert.deepEqual(Object.keys(placed).sort(), [
    'at', 'diagnosis', 'from_host', 'group_id', 'host', 'id', 'job_id', 'kind', 'message', 'project_id', 'reason', 'server_id', 'status_from', 'status_to', 'to_host',
  ])
  assert.equal(placed.server_id, serverId)
  assert.equal(placed.group_id, groupId)
  assert.equal(placed.project_id, DEMO.projectId)
  assert.equal(placed.host, host)
  assert.ok(events.every((e) => e.server_id === serverId))

  assertOk(eventsTable)
  const [header, ...rows] = eventsTable.stdout.trimEnd().split('\n')
  assert.match(header!, /^TIME\s+KIND\s+SERVER\s+GROUP\s+HOST\s+MESSAGE$/)
  assert.equal(rows.length, 1, eventsTable.stdout)
  assert.equal(rows[0]!.split(/\s{2,}/).join(' | '), [placed.at!.replace(/\.\d+Z$/, 'Z'), 'placed', serverId, groupId, host, placed.message].join(' | '))

  // Violations exit 1, in both forms.
  assert.equal(auditTable.code, 1, auditTable.stderr)
  assert.match(auditTable.stdout, /^INVARIANT\s+MESSAGE\n/)
  assert.match(auditTable.stdout, new RegExp(`^capacity\\s+host ${empty.id} records free .*$`, 'm'))
  assert.match(auditTable.stdout, /\naudit: 1 violation\n$/)
  assert.equal(auditJson.code, 1, auditJson.stderr)
  const { violations } = JSON.parse(auditJson.stdout) as { violations: Array<{ invariant: string; message: string }> }
  assert.deepEqual(violations.map((v) => v.invariant), ['capacity'])
  assert.ok(auditTable.stdout.includes(violations[0]!.message))

  const { hosts } = json<{ hosts: HostBody[] }>(hostsJson)
  assertOk(hostsTable)
  const lines = hostsTable.stdout.trimEnd().split('\n')
  assert.match(lines[0]!, /^NAME\s+AZ\s+FAULT DOMAIN\s+STATE\s+ADMIN STATE\s+VCPU USED\/CAP\s+RAM MIB USED\/CAP\s+SERVERS$/)
  assert.equal(lines.length, hosts.length + 1)
  const used = hosts.find((h) => h.name === host)!
  assert.equal(used.servers, 1)
  assert.match(hostsTable.stdout, new RegExp(`^${host}\\s+az1\\s+-\\s+up\\s+enabled\\s+${used.used.vcpus}/${used.capacity.vcpus}\\s+${used.used.ram_mb}/${used.capacity.ram_mb}\\s+1$`, 'm'))
})

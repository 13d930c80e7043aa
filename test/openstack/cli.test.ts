/**
 * End-to-end with Debian's OpenStack client: a real ecsd process, and the `openstack` command
 * (python3-openstackclient, run by Debian's /usr/bin/python3) signing in with a password against
 * ecsd's Identity endpoint, exactly as a user would. It creates, lists, shows and deletes server
 * groups of every policy (by name too), boots servers into them with `--hint group=… --min/--max`,
 * and checks where the servers landed: every policy holds. Run with `npm run test:openstack`.
 */
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { after, before, describe, test } from 'node:test'
import { promisify } from 'node:util'
import { DEMO } from '../../src/services/demo.ts'
import { startEcsd, type EcsdProcess } from '../process.ts'

const run = promisify(execFile)

/** How often a wait polls, and when it gives up instead of hanging (not a measure of speed). */
const POLL_MS = 100
const WAIT_MS = 120_000

interface ServerRow {
  ID: string
  Name: string
  Status: string
  Host?: string
}

describe('the openstack CLI against ecsd', () => {
  let ecsd: EcsdProcess
  let dataDir = ''
  let home = ''

  before(async () => {
    dataDir = mkdtempSync(path.join(tmpdir(), 'ecsd-openstack-data-'))
    home = mkdtempSync(path.join(tmpdir(), 'ecsd-openstack-home-'))
    ecsd = await startEcsd(dataDir, ['--driver-latency-ms', '20'])
  })
  after(async () => {
    try {
      if (ecsd) assert.equal(await ecsd.stop('SIGTERM'), 0, ecsd.stderr())
    } finally {
      for (const dir of [dataDir, home]) if (dir !== '') rmSync(dir, { recursive: true, force: true })
    }
  })

  /**
   * Runs `openstack …` as the demo user (or the demo admin) with the password login of the
   * environment a user would set; returns stdout, or fails with the command's stderr.
   */
  async function openstack(args: string[], as: 'user' | 'admin' = 'user'): Promise<string> {
    const admin = as === 'admin'
    const env: NodeJS.ProcessEnv = {
      PATH: process.env['PATH'] ?? '/usr/bin:/bin',
      // The client keeps caches and keyrings under HOME: a temporary one, removed at the end.
      HOME: home,
      LANG: 'C.UTF-8',
      OS_AUTH_URL: `${ecsd.url}/v3`,
      OS_IDENTITY_API_VERSION: '3',
      OS_USERNAME: admin ? DEMO.adminUserName : DEMO.userName,
      OS_PASSWORD: admin ? DEMO.adminUserPassword : DEMO.userPassword,
      OS_PROJECT_NAME: DEMO.projectName,
      OS_USER_DOMAIN_NAME: 'Default',
      OS_PROJECT_DOMAIN_NAME: 'Default',
      OS_REGION_NAME: 'RegionOne',
    }
    try {
      const { stdout } = await run('/usr/bin/python3', ['/usr/bin/openstack', ...args], { env, maxBuffer: 16 * 1024 * 1024 })
      return stdout
    } catch (err) {
      const e = err as { stderr?: string; stdout?: string; message: string }
      throw new Error(`openstack ${args.join(' ')} failed: ${e.message}\n${e.stderr ?? ''}${e.stdout ?? ''}\n--- ecsd stderr ---\n${ecsd.stderr()}`)
    }
  }
  const json = async <T>(args: string[], as: 'user' | 'admin' = 'user'): Promise<T> => JSON.parse(await openstack([...args, '-f', 'json'], as)) as T

  /** The servers whose name contains `prefix`, as the admin lists them (with their hosts). */
  const serversNamed = (prefix: string) => json<ServerRow[]>(['server', 'list', '--long', '--name', prefix], 'admin')

  /** Waits until `count` servers named `prefix…` exist and none is building; returns them. */
  async function settled(prefix: string, count: number): Promise<ServerRow[]> {
    const deadline = Date.now() + WAIT_MS
    for (;;) {
      const rows = await serversNamed(prefix)
      if (rows.length === count && rows.every((r) => r.Status !== 'BUILD')) return rows
      if (Date.now() > deadline) assert.fail(`${prefix}: still ${JSON.stringify(rows.map((r) => r.Status))} after ${WAIT_MS} ms`)
      await new Promise((r) => setTimeout(r, POLL_MS))
    }
  }

  /** Creates a group with the CLI, as the demo user; returns what the CLI shows. */
  const createGroup = (name: string, policy: string, extra: string[] = []) =>
    json<{ id: string; name: string; policy: string; rules: Record<string, unknown>; members: string[] }>(['server', 'group', 'create', '--policy', policy, ...extra, name])

  /** Boots `count` servers into a group in az1 with `--hint group=… --min/--max`. */
  const boot = (name: string, groupId: string, count: number, flavor = 's6.small.1') =>
    openstack(['server', 'create', '--image', 'demo-busybox', '--flavor', flavor, '--availability-zone', 'az1', '--hint', `group=${groupId}`, '--min', String(count), '--max', String(count), name])

  const hostCounts = (rows: ServerRow[]) => {
    const counts = new Map<string, number>()
    for (const r of rows) counts.set(r.Host ?? '', (counts.get(r.Host ?? '') ?? 0) + 1)
    return counts
  }

  test('server group create/list/show/delete for each policy, and by name', async () => {
    const policies = ['anti-affinity', 'affinity', 'soft-anti-affinity', 'soft-affinity']
    const created: Array<Awaited<ReturnType<typeof createGroup>>> = []
    for (const policy of policies) {
      const g = await createGroup(`cli-${policy}`, policy)
      assert.equal(g.policy, policy)
      assert.deepEqual(g.members, [])
      created.push(g)
    }
    const ruled = await createGroup('cli-two-per-host', 'anti-affinity', ['--rule', 'max_server_per_host=2'])
    assert.deepEqual(ruled.rules, { max_server_per_host: 2 })
    const listed = await json<Array<{ ID: string; Name: string; Policy: string }>>(['server', 'group', 'list'])
    for (const g of [...created, ruled]) assert.ok(listed.some((l) => l.ID === g.id && l.Name === g.name), `${g.name} listed`)
    // show and delete by name: the CLI asks for the name as an id (404), then finds it in the list.
    const shown = await json<{ id: string; policy: string }>(['server', 'group', 'show', 'cli-soft-affinity'])
    assert.equal(shown.id, created[3]!.id)
    for (const policy of policies) await openstack(['server', 'group', 'delete', `cli-${policy}`])
    await openstack(['server', 'group', 'delete', ruled.id])
    const left = await json<Array<{ ID: string }>>(['server', 'group', 'list'])
    assert.ok(!left.some((l) => [...created, ruled].some((g) => g.id === l.ID)), 'all deleted')
    // An older microversion sends and reads the policies form.
    const old = await json<{ policies?: string[]; policy?: string }>(['--os-compute-api-version', '2.13', 'server', 'group', 'create', '--policy', 'affinity', 'cli-old'])
    assert.ok(old.policy === 'affinity' || JSON.stringify(old.policies) === '["affinity"]', JSON.stringify(old))
    await openstack(['server', 'group', 'delete', 'cli-old'])
  })

  test('anti-affinity: each server on its own host', async () => {
    const g = await createGroup('aa', 'anti-affinity')
    await boot('aa-web', g.id, 4)
    const rows = await settled('aa-web', 4)
    assert.ok(rows.every((r) => r.Status === 'ACTIVE'), JSON.stringify(rows))
    assert.equal(new Set(rows.map((r) => r.Host)).size, 4, JSON.stringify(rows))
    const group = await json<{ members: string[] }>(['server', 'group', 'show', 'aa'])
    assert.deepEqual(new Set(group.members), new Set(rows.map((r) => r.ID)))
  })

  test('anti-affinity with --rule max_server_per_host=2: two servers a host at most', async () => {
    const g = await createGroup('two', 'anti-affinity', ['--rule', 'max_server_per_host=2'])
    // az1 has 8 hosts: 16 servers fill every host with exactly two.
    await boot('two-web', g.id, 16)
    const rows = await settled('two-web', 16)
    assert.ok(rows.every((r) => r.Status === 'ACTIVE'), JSON.stringify(rows.map((r) => r.Status)))
    assert.deepEqual([...hostCounts(rows).values()], Array.from({ length: 8 }, () => 2))
  })

  test('affinity: every server on one host', async () => {
    const g = await createGroup('aff', 'affinity')
    await boot('aff-web', g.id, 3)
    const rows = await settled('aff-web', 3)
    assert.ok(rows.every((r) => r.Status === 'ACTIVE'))
    assert.equal(new Set(rows.map((r) => r.Host)).size, 1, JSON.stringify(rows))
  })

  test('soft-anti-affinity spreads and soft-affinity packs, never refusing a boot', async () => {
    const spread = await createGroup('soft-aa', 'soft-anti-affinity')
    await boot('saa-web', spread.id, 3)
    const spreadRows = await settled('saa-web', 3)
    assert.ok(spreadRows.every((r) => r.Status === 'ACTIVE'))
    assert.equal(new Set(spreadRows.map((r) => r.Host)).size, 3, JSON.stringify(spreadRows))
    const pack = await createGroup('soft-aff', 'soft-affinity')
    await boot('saff-web', pack.id, 3)
    const packRows = await settled('saff-web', 3)
    assert.ok(packRows.every((r) => r.Status === 'ACTIVE'))
    assert.equal(new Set(packRows.map((r) => r.Host)).size, 1, JSON.stringify(packRows))
  })

  test('a boot no host can satisfy is accepted, then ERROR with Nova\'s fault', async () => {
    const g = await createGroup('full', 'anti-affinity')
    await boot('full-web', g.id, 9)
    const rows = await settled('full-web', 9)
    assert.ok(rows.every((r) => r.Status === 'ERROR'), JSON.stringify(rows.map((r) => r.Status)))
    const shown = await json<{ fault: { message: string } }>(['server', 'show', rows[0]!.ID])
    assert.equal(shown.fault.message, 'No valid host was found. There are not enough hosts available.')
  })

  test('server show and delete; the group loses its members', async () => {
    const g = await createGroup('gone', 'anti-affinity')
    await boot('gone-web', g.id, 2)
    const rows = await settled('gone-web', 2)
    const shown = await json<{ id: string; name: string; status: string; 'OS-EXT-SRV-ATTR:host'?: string }>(['server', 'show', rows[0]!.Name], 'admin')
    assert.equal(shown.id, rows[0]!.ID)
    assert.equal(shown['OS-EXT-SRV-ATTR:host'], rows[0]!.Host)
    const asUser = await json<Record<string, unknown>>(['server', 'show', rows[0]!.ID])
    assert.equal('OS-EXT-SRV-ATTR:host' in asUser, false, 'hosts are for admins')
    await openstack(['server', 'delete', ...rows.map((r) => r.ID)])
    const deadline = Date.now() + WAIT_MS
    while ((await serversNamed('gone-web')).length > 0) {
      if (Date.now() > deadline) assert.fail('servers still listed after delete')
      await new Promise((r) => setTimeout(r, POLL_MS))
    }
    const group = await json<{ members: string[] }>(['server', 'group', 'show', 'gone'])
    assert.deepEqual(group.members, [])
  })
})

import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import path from 'node:path'
import { test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { tempDir } from '../helper.ts'
import { startEcsd } from '../process.ts'
import { loadHuaweiSdk } from '../sdk.ts'

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..')

async function ecsdCli(args: string[]): Promise<string> {
  const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', 'src/main.ts', ...args], { cwd: ROOT })
  return stdout
}

test('the official SDK works with a freshly created project and credential, and a revoked credential is refused on the next call', async (t) => {
  const dataDir = tempDir(t)
  const ecsd = await startEcsd(dataDir, ['--driver-latency-ms', '0'])
  t.after(() => ecsd.stop())
  const savedHome = process.env['HOME']
  t.after(() => {
    if (savedHome === undefined) delete process.env['HOME']
    else process.env['HOME'] = savedHome
  })

  // The operator's commands run beside the live server, on the same database and master key.
  const created = await ecsdCli(['projects', 'create', '--name', 'acme', '--data-dir', dataDir])
  const projectId = /project ([0-9a-f]{32})/.exec(created)?.[1]
  assert.ok(projectId, created)
  const issued = await ecsdCli(['credentials', 'create', '--project', projectId, '--data-dir', dataDir])
  const ak = /^AK (\S+)$/m.exec(issued)?.[1]
  const sk = /^SK (\S+)$/m.exec(issued)?.[1]
  assert.ok(ak && sk, issued)

  const { ecs, BasicCredentials } = loadHuaweiSdk(tempDir(t))
  const client = ecs.EcsClient.newBuilder()
    .withCredential(new BasicCredentials().withAk(ak).withSk(sk).withProjectId(projectId))
    .withEndpoint(ecsd.url)
    .build()
  const group = (await client.createServerGroup(
    new ecs.CreateServerGroupRequest().withBody(new ecs.CreateServerGroupRequestBody().withServerGroup(new ecs.CreateServerGroupOption('web', ['anti-affinity' as never]))),
  )) as unknown as { server_group: { id: string } }
  const listed = (await client.listServerGroups(new ecs.ListServerGroupsRequest())) as unknown as { server_groups: Array<{ id: string }> }
  assert.deepEqual(listed.server_groups.map((g) => g.id), [group.server_group.id])
  const limits = (await client.showServerLimits(new ecs.ShowServerLimitsRequest())) as unknown as { absolute: { totalServerGroupsUsed: number } }
  assert.equal(limits.absolute.totalServerGroupsUsed, 1)

  const list = await ecsdCli(['credentials', 'list', '--project', projectId, '--data-dir', dataDir])
  assert.ok(list.includes(ak) && !list.includes(sk), 'listed without its secret')
  await ecsdCli(['credentials', 'revoke', ak, '--data-dir', dataDir])
  await assert.rejects(client.listServerGroups(new ecs.ListServerGroupsRequest()), (err: { httpStatusCode?: number; errorCode?: string; errorMsg?: string }) => {
    assert.equal(err.httpStatusCode, 401)
    assert.equal(err.errorCode, 'APIGW.0301')
    assert.match(String(err.errorMsg), /revoked/)
    return true
  })
})

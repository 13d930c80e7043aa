/**
 * SDK checks of a server's name, description, tags, metadata, metadata options and
 * auto-terminate time: each writes through the SDK and reads back through the SDK (the server
 * view, the tag reads, the metadata-options read). The depth is in
 * test/api/huawei/server-attributes.test.ts.
 */
import assert from 'node:assert/strict'
import { json } from '../story.ts'
import type { OperationChecks, OperationContext, Wire } from './types.ts'

const HOUR_MS = 3_600_000

/** `yyyy-MM-ddTHH:mm:ssZ` of a time `offsetMs` from now. */
const at = (offsetMs: number) => `${new Date(Date.now() + offsetMs).toISOString().slice(0, 19)}Z`

async function showServer(c: OperationContext, id: string): Promise<Wire> {
  const r = await c.client['showServer']!(new c.ecs.ShowServerRequest(id))
  assert.equal(r.httpStatusCode, 200, `showServer ${id}`)
  return r['server'] as Wire
}

async function serverTags(c: OperationContext, id: string): Promise<Wire[]> {
  const r = await c.client['showServerTags']!(new c.ecs.ShowServerTagsRequest(id))
  assert.equal(r.httpStatusCode, 200, `showServerTags ${id}`)
  return r['tags'] as Wire[]
}

/** A new server with these tags (`server_tags` of the create). */
const taggedServer = (c: OperationContext, tags: Record<string, string>) =>
  c.server({ serverTags: Object.entries(tags).map(([key, value]) => new c.ecs.PostPaidServerTag(key, value)) })

function updateMetadata(c: OperationContext, id: string, metadata: Record<string, string>) {
  return c.client['updateServerMetadata']!(new c.ecs.UpdateServerMetadataRequest(id).withBody(new c.ecs.UpdateServerMetadataRequestBody(metadata)))
}

async function metadataOptions(c: OperationContext, id: string): Promise<Wire> {
  const r = await c.client['showMetadataOptions']!(new c.ecs.ShowMetadataOptionsRequest(id))
  assert.equal(r.httpStatusCode, 200, `showMetadataOptions ${id}`)
  return r
}

/** SDK checks of tags, metadata, names, metadata options, auto-terminate time. */
export const checks: OperationChecks = {
  updateServer: async (c) => {
    const id = await c.server()
    const name = c.unique('sdk-op-updated')
    const r = await c.client['updateServer']!(
      new c.ecs.UpdateServerRequest(id).withBody(
        new c.ecs.UpdateServerRequestBody().withServer(new c.ecs.UpdateServerOption().withName(name).withDescription('updated by the SDK').withHostname('sdk-host-1')),
      ),
    )
    assert.equal(r.httpStatusCode, 200, `updateServer: ${json(r)}`)
    const result = r['server'] as Wire
    assert.deepEqual([result['id'], result['name'], result['OS-EXT-SRV-ATTR:hostname']], [id, name, 'sdk-host-1'])
    const shown = await showServer(c, id)
    assert.deepEqual([shown['name'], shown['description'], shown['OS-EXT-SRV-ATTR:hostname']], [name, 'updated by the SDK', 'sdk-host-1'])
  },

  batchUpdateServersName: async (c) => {
    const id = await c.server()
    const name = c.unique('sdk-op-batch-name')
    const body = () => new c.ecs.BatchUpdateServersNameRequestBody(name, [new c.ecs.ServerId(id)])
    const checked = await c.client['batchUpdateServersName']!(new c.ecs.BatchUpdateServersNameRequest().withBody(body().withDryRun(true)))
    assert.equal(checked.httpStatusCode, 202, `dry run: ${json(checked)}`)
    assert.notEqual((await showServer(c, id))['name'], name, 'a dry run renames nothing')
    const r = await c.client['batchUpdateServersName']!(new c.ecs.BatchUpdateServersNameRequest().withBody(body()))
    assert.equal(r.httpStatusCode, 200)
    assert.deepEqual(r['response'], [{ id }])
    assert.equal((await showServer(c, id))['name'], name)
  },

  batchCreateServerTags: async (c) => {
    const id = await taggedServer(c, { env: 'dev' })
    const r = await c.client['batchCreateServerTags']!(
      new c.ecs.BatchCreateServerTagsRequest(id).withBody(
        new c.ecs.BatchCreateServerTagsRequestBody('create', [new c.ecs.BatchAddServerTag('env').withValue('prod'), new c.ecs.BatchAddServerTag('team')]),
      ),
    )
    assert.equal(r.httpStatusCode, 204)
    assert.deepEqual(await serverTags(c, id), [{ key: 'env', value: 'prod' }, { key: 'team', value: '' }])
    await c.refused(
      c.client['batchCreateServerTags']!(new c.ecs.BatchCreateServerTagsRequest(id).withBody(
        new c.ecs.BatchCreateServerTagsRequestBody('create', [new c.ecs.BatchAddServerTag('bad key')]),
      )),
      400, 'Ecs.0906', 'a key with a space',
    )
  },

  batchDeleteServerTags: async (c) => {
    const id = await taggedServer(c, { env: 'dev', team: 'a', tier: 'web' })
    const r = await c.client['batchDeleteServerTags']!(
      new c.ecs.BatchDeleteServerTagsRequest(id).withBody(
        new c.ecs.BatchDeleteServerTagsRequestBody('delete', [new c.ecs.ServerTag('env'), new c.ecs.ServerTag('team').withValue('not-its-value')]),
      ),
    )
    assert.equal(r.httpStatusCode, 204)
    assert.deepEqual(await serverTags(c, id), [{ key: 'team', value: 'a' }, { key: 'tier', value: 'web' }])
  },

  listServerTags: async (c) => {
    const key = c.unique('sdk-key')
    await taggedServer(c, { [key]: 'one' })
    await taggedServer(c, { [key]: 'two' })
    const r = await c.client['listServerTags']!(new c.ecs.ListServerTagsRequest())
    assert.equal(r.httpStatusCode, 200)
    assert.deepEqual((r['tags'] as Wire[]).find((t) => t['key'] === key), { key, values: ['one', 'two'] })
  },

  showServerTags: async (c) => {
    const id = await taggedServer(c, { env: 'prod', role: '' })
    assert.deepEqual(await serverTags(c, id), [{ key: 'env', value: 'prod' }, { key: 'role', value: '' }])
    assert.deepEqual((await showServer(c, id))['tags'], ['env=prod', 'role'])
  },

  listServersByTag: async (c) => {
    const key = c.unique('sdk-by-tag')
    const id = await taggedServer(c, { [key]: 'yes' })
    await taggedServer(c, { [key]: 'no' })
    const query = (action: string) =>
      c.client['listServersByTag']!(new c.ecs.ListServersByTagRequest().withBody(
        new c.ecs.ListServersByTagRequestBody(action).withTags([new c.ecs.ServerTags(key, ['yes'])]).withLimit('10').withOffset('0'),
      ))
    const found = await query('filter')
    assert.equal(found.httpStatusCode, 200)
    assert.deepEqual((found['resources'] as Wire[]).map((s) => [s['resource_id'], s['tags']]), [[id, [{ key, value: 'yes' }]]])
    assert.equal(found['total_count'], 1)
    assert.equal((await query('count'))['total_count'], 1)
  },

  updateServerMetadata: async (c) => {
    const id = await c.server({ metadata: { owner: 'sdk' } })
    const r = await updateMetadata(c, id, { owner: 'ops', purpose: 'check' })
    assert.equal(r.httpStatusCode, 200)
    assert.deepEqual(r['metadata'], { owner: 'ops', purpose: 'check' })
    const metadata = (await showServer(c, id))['metadata'] as Wire
    assert.deepEqual([metadata['owner'], metadata['purpose']], ['ops', 'check'])
    await c.refused(updateMetadata(c, id, { vpc_id: 'mine' }), 400, 'Ecs.0005', 'a platform metadata key')
  },

  deleteServerMetadata: async (c) => {
    const id = await c.server({ metadata: { owner: 'sdk', keep: 'me' } })
    const r = await c.client['deleteServerMetadata']!(new c.ecs.DeleteServerMetadataRequest('owner', id))
    assert.equal(r.httpStatusCode, 204)
    const metadata = (await showServer(c, id))['metadata'] as Wire
    assert.deepEqual([metadata['owner'], metadata['keep']], [undefined, 'me'])
    await c.refused(c.client['deleteServerMetadata']!(new c.ecs.DeleteServerMetadataRequest('owner', id)), 404, 'Ecs.0005', 'a key deleted already')
  },

  showMetadataOptions: async (c) => {
    const id = await c.server({ metadataOptions: new c.ecs.UpdateServerMetadataOptionsRequestBody().withHttpTokens('required') })
    const r = await metadataOptions(c, id)
    assert.deepEqual([r['http_endpoint'], r['http_tokens']], ['enabled', 'required'])
  },

  updateMetadataOptions: async (c) => {
    const id = await c.server()
    const r = await c.client['updateMetadataOptions']!(
      new c.ecs.UpdateMetadataOptionsRequest(id).withBody(new c.ecs.UpdateServerMetadataOptionsRequestBody().withHttpEndpoint('disabled')),
    )
    assert.equal(r.httpStatusCode, 200)
    const shown = await metadataOptions(c, id)
    assert.deepEqual([shown['http_endpoint'], shown['http_tokens']], ['disabled', 'optional'])
  },

  updateServerAutoTerminateTime: async (c) => {
    const id = await c.server()
    const set = (time: string) =>
      c.client['updateServerAutoTerminateTime']!(new c.ecs.UpdateServerAutoTerminateTimeRequest(id).withBody(new c.ecs.UpdateServerAutoTerminateTimeRequestBody(time)))
    const when = at(3 * HOUR_MS)
    assert.equal((await set(when)).httpStatusCode, 200)
    assert.equal((await showServer(c, id))['auto_terminate_time'], `${when.slice(0, 16)}:00Z`)
    await c.refused(set(at(HOUR_MS / 6)), 400, 'Ecs.0005', 'a time less than 30 minutes away')
    assert.equal((await set('')).httpStatusCode, 200)
    assert.equal((await showServer(c, id))['auto_terminate_time'], '')
  },
}

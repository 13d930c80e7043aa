import { v1 } from '../../helper.ts'
import { at, HOUR_MS, type Case } from './world.ts'

/** Cases of the operations on tags, metadata, names, metadata options, auto-terminate time. */
export const attributeCases: Record<string, Case> = {
  'PUT /v1/{project_id}/cloudservers/{server_id}': async (w, send) => {
    const id = await w.server({ server_tags: [{ key: 'role', value: 'web' }] })
    await send({ method: 'PUT', url: v1(`/cloudservers/${id}`), body: { server: { name: w.unique('renamed'), description: 'd', hostname: 'host-1', user_data: 'IyEvYmluL3No' } } })
  },
  'PUT /v1/{project_id}/cloudservers/server-name': async (w, send) => {
    const id = await w.server()
    await send({ method: 'PUT', url: v1('/cloudservers/server-name'), body: { name: w.unique('batch'), servers: [{ id }], dry_run: true } })
    await send({ method: 'PUT', url: v1('/cloudservers/server-name'), body: { name: w.unique('batch'), servers: [{ id }] } })
  },
  'POST /v1/{project_id}/cloudservers/{server_id}/tags/action': async (w, send) => {
    const id = await w.server()
    await send({ method: 'POST', url: v1(`/cloudservers/${id}/tags/action`), body: { action: 'create', tags: [{ key: 'env', value: 'prod' }, { key: 'team' }] } })
    await send({ method: 'POST', url: v1(`/cloudservers/${id}/tags/action`), body: { action: 'delete', tags: [{ key: 'team' }] } })
  },
  'GET /v1/{project_id}/cloudservers/tags': async (w, send) => {
    await w.server({ server_tags: [{ key: 'env', value: 'test' }] })
    await send({ method: 'GET', url: v1('/cloudservers/tags') })
  },
  'GET /v1/{project_id}/cloudservers/{server_id}/tags': async (w, send) => {
    await send({ method: 'GET', url: v1(`/cloudservers/${await w.server({ server_tags: [{ key: 'env', value: 'test' }] })}/tags`) })
  },
  'POST /v1/{project_id}/cloudservers/resource_instances/action': async (w, send) => {
    await w.server({ server_tags: [{ key: 'env', value: 'test' }] })
    await send({ method: 'POST', url: v1('/cloudservers/resource_instances/action'), body: { action: 'filter', tags: [{ key: 'env', values: ['test'] }], limit: '10', offset: '0' } })
    await send({ method: 'POST', url: v1('/cloudservers/resource_instances/action'), body: { action: 'count', not_tags: [{ key: 'env', values: [] }] } })
  },
  'POST /v1/{project_id}/cloudservers/{server_id}/metadata': async (w, send) => {
    await send({ method: 'POST', url: v1(`/cloudservers/${await w.server()}/metadata`), body: { metadata: { owner: 'me' } } })
  },
  'DELETE /v1/{project_id}/cloudservers/{server_id}/metadata/{key}': async (w, send) => {
    const id = await w.server({ metadata: { owner: 'me' } })
    await send({ method: 'DELETE', url: v1(`/cloudservers/${id}/metadata/owner`) })
  },
  'GET /v1/{project_id}/cloudservers/{server_id}/metadata-options': async (w, send) => {
    await send({ method: 'GET', url: v1(`/cloudservers/${await w.sharedServer()}/metadata-options`) })
  },
  'PUT /v1/{project_id}/cloudservers/{server_id}/metadata-options': async (w, send) => {
    await send({ method: 'PUT', url: v1(`/cloudservers/${await w.server()}/metadata-options`), body: { http_endpoint: 'enabled', http_tokens: 'required' } })
  },
  'POST /v1/{project_id}/cloudservers/{server_id}/actions/update-auto-terminate-time': async (w, send) => {
    const id = await w.server()
    await send({ method: 'POST', url: v1(`/cloudservers/${id}/actions/update-auto-terminate-time`), body: { auto_terminate_time: at(2 * HOUR_MS) } })
    await send({ method: 'POST', url: v1(`/cloudservers/${id}/actions/update-auto-terminate-time`), body: { auto_terminate_time: '' } })
  },
}

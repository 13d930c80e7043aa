import { call, v1 } from '../../helper.ts'
import type { RouteArea } from './routes.ts'

/** `yyyy-MM-ddTHH:mm:ssZ` two hours from now: a valid auto-terminate time when the request is made. */
function inTwoHours(): string {
  return `${new Date(Date.now() + 2 * 3_600_000).toISOString().slice(0, 19)}Z`
}

/** Routes of tags, metadata, names, metadata options, auto-terminate time. */
export const area: RouteArea = {
  routes: [
    { method: 'PUT', path: (i) => `/cloudservers/${i.server}`, body: () => ({ server: { name: 'renamed', description: 'd', hostname: 'host-1', user_data: 'IyEvYmluL3No' } }) },
    { method: 'PUT', path: () => '/cloudservers/server-name', body: (i) => ({ name: 'batch', servers: [{ id: i.server }], dry_run: false }) },
    { method: 'POST', path: (i) => `/cloudservers/${i.server}/tags/action`, body: (i) => ({ action: 'create', tags: [{ key: i.key, value: 'v' }] }) },
    { method: 'POST', path: (i) => `/cloudservers/${i.server}/tags/action`, body: (i) => ({ action: 'delete', tags: [{ key: i.key }] }) },
    { method: 'GET', path: () => '/cloudservers/tags' },
    { method: 'GET', path: (i) => `/cloudservers/${i.server}/tags` },
    {
      method: 'POST', path: () => '/cloudservers/resource_instances/action',
      body: (i) => ({ action: 'filter', limit: '10', offset: '0', tags: [{ key: i.key, values: ['v'] }], not_tags: [{ key: 'x', values: [] }], matches: [{ key: 'resource_name', value: 'web' }] }),
    },
    { method: 'POST', path: (i) => `/cloudservers/${i.server}/metadata`, body: (i) => ({ metadata: { [i.key]: 'v' } }) },
    { method: 'DELETE', path: (i) => `/cloudservers/${i.server}/metadata/${i.key}` },
    { method: 'GET', path: (i) => `/cloudservers/${i.server}/metadata-options` },
    { method: 'PUT', path: (i) => `/cloudservers/${i.server}/metadata-options`, body: () => ({ http_endpoint: 'enabled', http_tokens: 'required' }) },
    { method: 'POST', path: (i) => `/cloudservers/${i.server}/actions/update-auto-terminate-time`, body: () => ({ auto_terminate_time: inTwoHours() }) },
  ],
  // The fixture server has a tag and a metadata item under the key `k`, for the reads and deletes.
  setup: async ({ app, server }) => {
    for (const req of [
      { method: 'POST' as const, url: v1(`/cloudservers/${server}/tags/action`), body: { action: 'create', tags: [{ key: 'k', value: 'v' }] } },
      { method: 'POST' as const, url: v1(`/cloudservers/${server}/metadata`), body: { metadata: { k: 'v' } } },
    ]) {
      const res = await call(app, req)
      if (res.statusCode >= 300) throw new Error(`fixture ${req.url}: ${res.statusCode} ${res.body}`)
    }
    return { key: 'k' }
  },
}

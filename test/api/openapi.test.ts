import assert from 'node:assert/strict'
import { test } from 'node:test'
import { VERSION } from '../../src/version.ts'
import { buildTestApp } from '../helper.ts'

interface OpenApiDocument {
  openapi: string
  info: { version: string }
  paths: Record<string, Record<string, { parameters?: Array<{ name: string; in: string }>; requestBody?: unknown; responses?: Record<string, unknown> }>>
}

test('GET /openapi.json describes the routes from the schemas they validate with, without credentials', async (t) => {
  const { app } = await buildTestApp(t)
  const res = await app.inject({ method: 'GET', url: '/openapi.json' })
  assert.equal(res.statusCode, 200, res.body)
  const doc = res.json() as OpenApiDocument
  assert.equal(doc.openapi, '3.1.0')
  assert.equal(doc.info.version, VERSION)
  const action = doc.paths['/v1/{project_id}/cloudservers/os-server-groups/{server_group_id}/action']?.post
  assert.ok(action, 'the add/remove member route is described')
  assert.deepEqual(action.parameters?.map((p) => `${p.in}:${p.name}`).sort(), ['path:project_id', 'path:server_group_id'])
  assert.ok(action.requestBody, 'with its body schema')
  const show = doc.paths['/v1/{project_id}/cloudservers/{server_id}']?.get
  assert.ok(show?.responses?.['200'], 'show has its answer schema')
  for (const path of ['/v2.1/os-server-groups', '/v2.1/{project_id}/os-server-groups']) assert.ok(doc.paths[path]?.post, `the OpenStack surface is described: POST ${path}`)
  assert.equal(doc.paths['/openapi.json'], undefined, 'the document does not describe itself')
})

test('every operation documents its success answer; errors are shared components', async (t) => {
  const { app } = await buildTestApp(t)
  const doc = (await app.inject({ method: 'GET', url: '/openapi.json' })).json() as OpenApiDocument & { components: { schemas: Record<string, unknown> } }
  for (const [path, item] of Object.entries(doc.paths)) {
    for (const [method, operation] of Object.entries(item)) {
      const responses = operation.responses as Record<string, { description: string; content?: unknown }>
      const success = Object.keys(responses).filter((status) => /^[23]\d\d$/.test(status))
      assert.ok(success.length > 0, `${method.toUpperCase()} ${path} documents a success status`)
      // A route without a response schema gets swagger's placeholder: no content, "Default Response".
      for (const status of success) {
        const answer = responses[status]!
        assert.ok(answer.content !== undefined || answer.description !== 'Default Response', `${method.toUpperCase()} ${path} ${status} has a response schema`)
      }
    }
  }
  assert.deepEqual(Object.keys(doc.components.schemas).sort(), ['HuaweiError', 'IdentityError', 'NovaFault'])
  const show = doc.paths['/v2.1/servers/{server_id}']?.get?.responses as Record<string, { content: Record<string, { schema: unknown }> }>
  assert.deepEqual(show['4XX']?.content['application/json']?.schema, { $ref: '#/components/schemas/NovaFault' })
})

test('GET /docs serves a page that reads /openapi.json', async (t) => {
  const { app } = await buildTestApp(t)
  let res = await app.inject({ method: 'GET', url: '/docs' })
  for (let hops = 0; res.statusCode >= 300 && res.statusCode < 400 && hops < 3; hops++) {
    const location = String(res.headers.location)
    res = await app.inject({ method: 'GET', url: location.startsWith('/') ? location : `/docs/${location.replace(/^\.\//, '')}` })
  }
  assert.equal(res.statusCode, 200, res.body.slice(0, 200))
  assert.match(String(res.headers['content-type']), /text\/html/)
  assert.match(res.body, /swagger/i)
  const init = await app.inject({ method: 'GET', url: '/docs/static/swagger-initializer.js' })
  assert.equal(init.statusCode, 200)
  assert.match(init.body, /\/openapi\.json/)
})

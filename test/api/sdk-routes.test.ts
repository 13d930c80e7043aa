import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { test } from 'node:test'
import { pino } from 'pino'
import { buildApp } from '../../src/app.ts'
import { buildTestApp } from '../helper.ts'

/** One operation of the SDK's `EcsClient`: its method and URL template, as the SDK builds requests. */
interface SdkOperation {
  name: string
  method: string
  template: string
}

/**
 * Every operation of the official SDK, read from the SDK itself: each `EcsClient` method has a
 * request builder with `method: "…", url: "…"`, which is what the SDK sends.
 */
function sdkOperations(): SdkOperation[] {
  const file = createRequire(import.meta.url).resolve('@huaweicloud/huaweicloud-sdk-ecs/v2/EcsClient.js')
  const source = readFileSync(file, 'utf8')
  const builders = source.slice(source.indexOf('const ParamCreater'))
  const found = [...builders.matchAll(/\n {8}(\w+)\(\w*\) \{\n\s+const options = \{\n\s+method: "(\w+)",\n\s+url: "([^"]*)"/g)]
  return found.map(([, name, method, template]) => ({ name: name!, method: method!, template: template! }))
}

/** A path's shape with its parameters blanked: `/v1/{}/cloudservers/{}/tags`. */
const shape = (path: string) => path.replace(/\{[^}]+\}|:[A-Za-z_]+/g, '{}')

test('every SDK operation is routed to the route of its own path, never caught by a parameter of another', async (t) => {
  const operations = sdkOperations()
  assert.equal(operations.length, 103, 'the SDK has 103 operations')
  const { services } = await buildTestApp(t)
  // A second application over the same services, to see which route answers each request.
  const app = buildApp(services, pino({ level: 'silent' }))
  let routed: string | undefined
  app.addHook('onRequest', async (req) => {
    routed = req.routeOptions.url
  })
  await app.ready()
  t.after(() => app.close())

  const wrong: string[] = []
  for (const op of operations) {
    // `{api_version}` is the one template the SDK fills with a literal: `GET /v2.1`.
    const url = op.template === '/{api_version}' ? '/v2.1' : op.template === '' ? '/' : op.template.replace(/\{[^}]+\}/g, 'some-id')
    const expected = op.template === '/{api_version}' ? '/v2.1' : op.template === '' ? '/' : shape(op.template)
    routed = undefined
    await app.inject({ method: op.method as 'GET', url, ...(op.method === 'GET' || op.method === 'DELETE' ? {} : { payload: {} }) })
    const actual = routed === undefined ? 'no route' : shape(routed)
    if (actual !== expected) wrong.push(`${op.name}: ${op.method} ${op.template} is answered by ${actual}`)
  }
  assert.deepEqual(wrong, [])
})

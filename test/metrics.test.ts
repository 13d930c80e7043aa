import assert from 'node:assert/strict'
import { test } from 'node:test'
import { buildTestApp, call, createBody, createServers, v1 } from './helper.ts'

test('GET /metrics reports request latency by route pattern and placement outcomes', async (t) => {
  const { app } = await buildTestApp(t)
  await createServers(app, { count: 2 })
  const refused = await call(app, { method: 'POST', url: v1('/cloudservers'), body: createBody({ flavorRef: 'c7.2xlarge.4', count: 40, availability_zone: 'az1' }) })
  assert.equal(refused.statusCode, 400)
  const res = await app.inject({ method: 'GET', url: '/metrics' })
  assert.equal(res.statusCode, 200)
  assert.match(String(res.headers['content-type']), /^text\/plain/)
  const placed = Number(/^ecsd_placements_total\{result="placed"\} (\d+)$/m.exec(res.body)?.[1])
  assert.ok(placed >= 3, `the two servers and the placements of the refused request before it ran out: ${placed}`)
  assert.match(res.body, /^ecsd_placements_total\{result="no_valid_host"\} 1$/m)
  assert.match(res.body, /^ecsd_http_request_duration_seconds_count\{method="POST",route="\/v1\/:project_id\/cloudservers",status_code="200"\} 1$/m)
  assert.doesNotMatch(res.body, /0123456789abcdef0123456789abcdef/, 'no ids in labels')
  assert.match(res.body, /^ecsd_process_cpu_user_seconds_total /m)
})

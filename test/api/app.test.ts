import assert from 'node:assert/strict'
import { connect } from 'node:net'
import { describe, test } from 'node:test'
import { signRequest } from '../../src/api/auth/signature.ts'
import { BODY_LIMIT_BYTES } from '../../src/app.ts'
import { DEMO } from '../../src/services/demo.ts'
import { buildTestApp, call, createServers, snapshot, v1 } from '../helper.ts'

const GROUPS = v1('/cloudservers/os-server-groups')
const GROUP_BODY = JSON.stringify({ server_group: { name: 'g', policies: ['anti-affinity'] } })

/** Signs with the demo credential, then lets `tamper` change the request before it is sent. */
function signedRequest(over: { method?: string; url?: string; body?: string; date?: Date; headers?: Record<string, string> } = {}) {
  const method = over.method ?? 'POST'
  const url = over.url ?? GROUPS
  const headers: Record<string, string> = { host: '127.0.0.1:8080', 'content-type': 'application/json', 'x-project-id': DEMO.projectId, ...over.headers }
  const body = over.body ?? (method === 'POST' ? GROUP_BODY : undefined)
  const signed = signRequest({ method, url, headers, ...(body === undefined ? {} : { body }), accessKey: DEMO.accessKey, secretKey: DEMO.secretKey, ...(over.date ? { date: over.date } : {}) })
  return { method, url, headers: { ...headers, ...signed } as Record<string, string>, ...(body === undefined ? {} : { payload: body }) }
}

function gatewayError(res: { statusCode: number; headers: Record<string, unknown>; json(): unknown }) {
  const body = res.json() as { error_code: string; error_msg: string; request_id: string }
  assert.equal(body.request_id, res.headers['x-request-id'], 'the body names the request id of the header')
  return body
}

describe('authentication', () => {
  test('a correctly signed request passes', async (t) => {
    const { app } = await buildTestApp(t)
    const res = await app.inject(signedRequest() as never)
    assert.equal(res.statusCode, 200, res.body)
  })

  test('tampered, unsigned and stale requests are refused with 401 APIGW.0301 and change nothing', async (t) => {
    const { app, database } = await buildTestApp(t)
    const before = await snapshot(database)
    const good = signedRequest()
    const cases: Record<string, { method: string; url: string; headers: Record<string, string>; payload?: string }> = {
      'no Authorization': { ...good, headers: { ...good.headers, Authorization: '' } },
      'body changed': { ...good, payload: GROUP_BODY.replace('"g"', '"h"') },
      'path changed': { ...good, url: v1('/cloudservers') },
      'query added': { ...good, url: `${GROUPS}?limit=1` },
      'signed header changed': { ...good, headers: { ...good.headers, 'x-project-id': DEMO.projectId.toUpperCase() } },
      'method changed': { ...good, method: 'PATCH' },
      'wrong secret': signedRequestWithKey(DEMO.accessKey, 'not-the-secret'),
      'unknown access key': signedRequestWithKey('NOSUCHAK000000000001', DEMO.secretKey),
      'date 16 minutes old': signedRequest({ date: new Date(Date.now() - 16 * 60_000) }),
      'date 16 minutes ahead': signedRequest({ date: new Date(Date.now() + 16 * 60_000) }),
      'garbage Authorization': { ...good, headers: { ...good.headers, Authorization: 'Basic dXNlcjpwYXNz' } },
    }
    for (const [name, req] of Object.entries(cases)) {
      const res = await app.inject(req as never)
      if (name === 'method changed') {
        assert.equal(res.statusCode, 404, `${name}: no such route`)
        continue
      }
      assert.equal(res.statusCode, 401, `${name} → ${res.statusCode} ${res.body}`)
      const body = gatewayError(res)
      assert.equal(body.error_code, 'APIGW.0301', name)
      assert.match(body.error_msg, /^Incorrect IAM authentication information: /, name)
    }
    assert.deepEqual(await snapshot(database), before)
  })

  test('a signature mismatch shows the server-side canonical request, so a client author can compare', async (t) => {
    const { app } = await buildTestApp(t)
    const res = await app.inject(signedRequestWithKey(DEMO.accessKey, 'wrong') as never)
    assert.match(gatewayError(res).error_msg, /canonicalRequest:POST\|\/v1\/0123456789abcdef0123456789abcdef\/cloudservers\/os-server-groups\/\|/)
  })

  test('the credential must belong to the project of the path and of X-Project-Id', async (t) => {
    const { app, database } = await buildTestApp(t)
    const other = 'fedcba9876543210fedcba9876543210'
    await database.db.insertInto('projects').values({ id: other, name: 'other', created_at: new Date().toISOString() }).execute()
    const wrongPath = await app.inject(signedRequest({ url: `/v1/${other}/cloudservers/os-server-groups`, headers: { 'x-project-id': DEMO.projectId } }) as never)
    assert.equal(wrongPath.statusCode, 401)
    assert.match(gatewayError(wrongPath).error_msg, /another project/)
    const wrongHeader = await app.inject(signedRequest({ headers: { 'x-project-id': other } }) as never)
    assert.equal(wrongHeader.statusCode, 401)
    assert.match(gatewayError(wrongHeader).error_msg, /X-Project-Id/)
  })

  test('authentication comes before body problems: an unsigned malformed body is 401, not 400', async (t) => {
    const { app } = await buildTestApp(t)
    const res = await app.inject({ method: 'POST', url: GROUPS, headers: { 'content-type': 'application/json' }, payload: '{nope' })
    assert.equal(res.statusCode, 401)
  })
})

function signedRequestWithKey(accessKey: string, secretKey: string) {
  const headers: Record<string, string> = { host: '127.0.0.1:8080', 'content-type': 'application/json', 'x-project-id': DEMO.projectId }
  const signed = signRequest({ method: 'POST', url: GROUPS, headers, body: GROUP_BODY, accessKey, secretKey })
  return { method: 'POST', url: GROUPS, headers: { ...headers, ...signed }, payload: GROUP_BODY }
}

describe('edge behaviour', () => {
  test('unknown routes answer 404 APIGW.0101 in the gateway shape, signed or not', async (t) => {
    const { app } = await buildTestApp(t)
    for (const res of [
      await app.inject({ method: 'GET', url: '/v3/whatever' }),
      await call(app, { method: 'GET', url: v1('/cloudservers/os-server-groups/x/members') }),
      await call(app, { method: 'DELETE', url: GROUPS }),
    ]) {
      assert.equal(res.statusCode, 404)
      assert.equal(gatewayError(res).error_code, 'APIGW.0101')
    }
  })

  test('every response carries a fresh X-Request-Id', async (t) => {
    const { app } = await buildTestApp(t)
    const ids = new Set<string>()
    for (const res of [
      await call(app, { method: 'GET', url: GROUPS }),
      await call(app, { method: 'GET', url: v1('/cloudservers/nope') }),
      await app.inject({ method: 'GET', url: '/' }),
      await app.inject({ method: 'GET', url: GROUPS }),
    ]) {
      const id = String(res.headers['x-request-id'])
      assert.match(id, /^[0-9a-f]{32}$/)
      ids.add(id)
    }
    assert.equal(ids.size, 4)
  })

  test('a client-chosen X-Request-Id is not trusted', async (t) => {
    const { app } = await buildTestApp(t)
    const res = await call(app, { method: 'GET', url: GROUPS, headers: { 'x-request-id': 'injected\nvalue' } })
    assert.match(String(res.headers['x-request-id']), /^[0-9a-f]{32}$/)
  })

  test('malformed JSON, wrong content type and oversized bodies get 4xx in the ECS shape and change nothing', async (t) => {
    const { app, database } = await buildTestApp(t)
    await createServers(app)
    const before = await snapshot(database)
    const bad = await call(app, { method: 'POST', url: GROUPS, body: '{"server_group": {"name": "g",' })
    assert.equal(bad.statusCode, 400)
    assert.equal((bad.json() as { error: { code: string } }).error.code, 'Ecs.0005')
    const text = await call(app, { method: 'POST', url: GROUPS, body: 'name=g', headers: { 'content-type': 'text/plain' } })
    assert.equal(text.statusCode, 400)
    assert.match((text.json() as { error: { message: string } }).error.message, /application\/json/)
    const big = await call(app, { method: 'POST', url: GROUPS, body: JSON.stringify({ server_group: { name: 'x'.repeat(BODY_LIMIT_BYTES), policies: ['anti-affinity'] } }) })
    assert.equal(big.statusCode, 413)
    assert.equal((big.json() as { error: { code: string } }).error.code, 'Ecs.0005')
    const deep = await call(app, { method: 'POST', url: GROUPS, body: '['.repeat(5000) + ']'.repeat(5000) })
    assert.equal(deep.statusCode, 400)
    assert.deepEqual(await snapshot(database), before)
  })

  test('error bodies are never null and always JSON', async (t) => {
    const { app } = await buildTestApp(t)
    const res = await call(app, { method: 'GET', url: v1('/jobs/x') })
    assert.equal(res.headers['content-type'], 'application/json; charset=utf-8')
    assert.notEqual(res.json(), null)
  })
})

describe('inputs the fuzz suite found', () => {
  test('an over-long path parameter is 414 in the ECS shape, with a request id', async (t) => {
    const { app } = await buildTestApp(t)
    const res = await call(app, { method: 'DELETE', url: v1(`/cloudservers/os-server-groups/${'x'.repeat(300)}`) })
    assert.equal(res.statusCode, 414)
    assert.equal((res.json() as { error: { code: string } }).error.code, 'Ecs.0005')
    assert.match(String(res.headers['x-request-id']), /^[0-9a-f]{32}$/)
  })

  test('NUL characters are refused in paths, queries and bodies (PostgreSQL text cannot hold them)', async (t) => {
    const { app, database } = await buildTestApp(t)
    const before = await snapshot(database)
    for (const res of [
      await call(app, { method: 'GET', url: v1('/jobs/%00') }),
      await call(app, { method: 'GET', url: v1('/cloudservers/detail?name=a%00b') }),
      await call(app, { method: 'POST', url: GROUPS, body: { server_group: { name: 'a\u0000b', policies: ['anti-affinity'] } } }),
    ]) {
      assert.equal(res.statusCode, 400, res.body)
      assert.match((res.json() as { error: { message: string } }).error.message, /NUL character/)
    }
    assert.deepEqual(await snapshot(database), before)
  })

  test('numbers beyond safe integers in query strings are 400, not LIMIT Infinity', async (t) => {
    const { app } = await buildTestApp(t)
    for (const q of ['limit=1e309', 'offset=1e309', 'offset=99999999999999999999', 'limit=2&offset=1e20']) {
      const res = await call(app, { method: 'GET', url: v1(`/cloudservers/detail?${q}`) })
      assert.equal(res.statusCode, 400, `${q} → ${res.body}`)
    }
  })
})

describe('draining', () => {
  test('a request arriving on an open connection while the process drains gets 503 in the ECS shape, a request id and Connection: close', async (t) => {
    const { app } = await buildTestApp(t)
    await app.listen({ port: 0, host: '127.0.0.1' })
    const port = (app.server.address() as { port: number }).port
    const socket = connect(port, '127.0.0.1')
    await new Promise((resolve) => socket.once('connect', resolve))
    const closing = app.close()
    await new Promise((resolve) => setTimeout(resolve, 20))
    let answer = ''
    socket.on('data', (d: Buffer) => (answer += d.toString()))
    const ended = new Promise((resolve) => socket.once('close', resolve))
    socket.write(`GET ${v1('/cloudservers/limits')} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`)
    await ended
    await closing
    assert.match(answer, /^HTTP\/1\.1 503 /)
    assert.match(answer, /\r\nconnection: close\r\n/i)
    assert.match(answer, /\r\nx-request-id: [0-9a-f]{32}\r\n/i)
    const body = JSON.parse(answer.slice(answer.indexOf('\r\n\r\n') + 4)) as { error: { code: string; message: string } }
    assert.equal(body.error.code, 'Ecs.0000')
    assert.match(body.error.message, /shutting down/)
  })
})

/**
 * The dashboard signs requests in the browser with WebCrypto; here its signer (run on Node's
 * WebCrypto) must produce exactly what the server-side signer produces and what the verifier
 * accepts, for the requests the page makes and for awkward paths and queries.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { canonicalRequest as serverCanonical, parseAuthorization, signRequest as serverSign, verifySignature } from '../../src/api/auth/signature.ts'
import { canonicalRequest, sdkDate, signRequest } from '../../dashboard/src/sign.ts'

const KEYS = { accessKey: 'ECSDDEMOADMIN0000001', secretKey: 'ecsdDemoAdminSecretKey00000000000000000001' }
const DATE = new Date('2025-03-04T05:06:07.890Z')

const CASES: Array<{ method: string; url: string; body?: string }> = [
  { method: 'GET', url: '/admin/fleet' },
  { method: 'GET', url: '/admin/fleet/servers?host=az1-host-01&host=az1-host-02&limit=5000' },
  { method: 'GET', url: '/admin/fleet/servers?q=web%20%E2%9C%93%2B1&limit=50' },
  { method: 'GET', url: '/admin/events?after=0191a3b4-0000-7000-8000-000000000001&limit=500' },
  { method: 'GET', url: '/admin/events?server_id=x&limit=100&kind=moved' },
  { method: 'GET', url: '/admin/hosts/rack%2F1%20host' },
  { method: 'GET', url: '/admin/fleet/servers?b=2&a=2&a=1&c' },
  { method: 'POST', url: '/admin/servers/abc/migrate', body: '{"migrate":{"live":true}}' },
]

test('the browser signer signs as the server-side signer does, and the verifier accepts it', async () => {
  const host = '127.0.0.1:8080'
  for (const c of CASES) {
    const browser = await signRequest({ ...c, host, ...KEYS, date: DATE })
    const headers: Record<string, string> = { host, ...(c.body === undefined ? {} : { 'content-type': 'application/json' }) }
    const server = serverSign({ method: c.method, url: c.url, headers, ...(c.body === undefined ? {} : { body: c.body }), ...KEYS, date: DATE })
    assert.equal(browser['X-Sdk-Date'], server['X-Sdk-Date'], c.url)
    assert.equal(browser.Authorization, server.Authorization, `${c.method} ${c.url}`)

    const parsed = parseAuthorization(browser.Authorization)
    assert.ok(!('error' in parsed))
    const wire = { method: c.method, url: c.url, headers: { ...headers, 'x-sdk-date': browser['X-Sdk-Date']! }, body: c.body === undefined ? undefined : Buffer.from(c.body) }
    assert.deepEqual(verifySignature(wire, parsed, KEYS.secretKey, DATE), { ok: true }, c.url)
    assert.equal(await canonicalRequest(c.method, c.url, wire.headers, parsed.signedHeaders, c.body ?? ''), serverCanonical(wire, parsed.signedHeaders))
  }
})

test('signs host and X-Sdk-Date, and Content-Type only with a body', async () => {
  const get = await signRequest({ method: 'GET', url: '/admin/fleet', host: 'h:1', ...KEYS, date: DATE })
  assert.match(get.Authorization!, /SignedHeaders=host;x-sdk-date,/)
  assert.equal(get['Content-Type'], undefined)
  const post = await signRequest({ method: 'POST', url: '/x', host: 'h:1', body: '{}', ...KEYS, date: DATE })
  assert.match(post.Authorization!, /SignedHeaders=content-type;host;x-sdk-date,/)
  assert.equal(post['Content-Type'], 'application/json')
  assert.equal(sdkDate(DATE), '20250304T050607Z')
})

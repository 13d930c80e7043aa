import { test, describe, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { createRequire } from 'node:module'
import { createHash } from 'node:crypto'
import { createServer, type Server } from 'node:http'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { stringify as stringifyQuery } from 'node:querystring'
import {
  MAX_CLOCK_SKEW_MS,
  SIGNING_ALGORITHM,
  canonicalRequest,
  computeSignature,
  parseAuthorization,
  parseSdkDate,
  signRequest,
  stringToSign,
  verifySignature,
  type ParsedAuthorization,
  type SignatureCheck,
  type WireRequest,
} from '../../../src/api/auth/signature.ts'

const AK = 'AKEXAMPLE'
const SK = 'SKEXAMPLE'
const HOST = '127.0.0.1:8080'
const SDK_DATE = '20240101T000000Z'
const DATE = new Date(Date.UTC(2024, 0, 1, 0, 0, 0))
const SIGNED = ['content-type', 'host', 'x-project-id', 'x-sdk-date']
const EMPTY_SHA256 = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855'

const ACTION_PATH = '/v1/proj1/cloudservers/os-server-groups/grp1/action'
const ACTION_BODY = '{"add_member":{"instance_uuid":"srv1"}}'
const ACTION_SIGNATURE = 'be798bfc60a75089a202c2bf4568930792d2894e0746069cbad167b87b5faa9a'
const LIST_URL = '/v1/proj1/cloudservers/os-server-groups?limit=2&marker=grp1'
const LIST_SIGNATURE = '2c400eaa8a5c49bd62d21f376c96d5fbc58ccc40b5d3e011b7301f5777ead669'

const sha256 = (s: string | Buffer): string => createHash('sha256').update(s).digest('hex')

function baseHeaders(): Record<string, string> {
  return { 'content-type': 'application/json', 'x-project-id': 'proj1', host: HOST }
}

function wire(method: string, url: string, body?: string, headers: Record<string, string> = baseHeaders()): WireRequest {
  return {
    method,
    url,
    headers: { ...headers, 'x-sdk-date': SDK_DATE },
    body: body === undefined ? undefined : Buffer.from(body, 'utf8'),
  }
}

function auth(header: string | string[] | undefined): ParsedAuthorization {
  assert.equal(typeof header, 'string', 'authorization header must be a single string')
  const parsed = parseAuthorization(header as string)
  if ('error' in parsed) assert.fail(parsed.error)
  return parsed
}

function parseError(header: string | undefined): string {
  const parsed = parseAuthorization(header)
  if (!('error' in parsed)) assert.fail(`expected "${header}" to be rejected`)
  assert.ok(parsed.error.length > 0)
  return parsed.error
}

function failure(check: SignatureCheck): string {
  if (check.ok) assert.fail('expected verification to fail')
  assert.ok(check.reason.length > 0, 'reason must not be empty')
  return check.reason
}

/** Signs with signRequest and returns the request as the server would receive it. */
function signedRequest(method: string, url: string, body?: string, headers: Record<string, string> = baseHeaders(), date = DATE): WireRequest {
  const added = signRequest({ method, url, headers, ...(body === undefined ? {} : { body }), accessKey: AK, secretKey: SK, date })
  const received: Record<string, string> = {}
  for (const [k, v] of Object.entries(headers)) received[k.toLowerCase()] = v
  return {
    method,
    url,
    headers: { ...received, 'x-sdk-date': added['X-Sdk-Date'], authorization: added.Authorization },
    body: body === undefined ? undefined : Buffer.from(body, 'utf8'),
  }
}

function verify(req: WireRequest, secret = SK, now = DATE): SignatureCheck {
  return verifySignature(req, auth(req.headers['authorization']), secret, now)
}

describe('reference test vectors (§5.3)', () => {
  const actionCanonical = [
    'POST',
    `${ACTION_PATH}/`,
    '',
    `content-type:application/json\nhost:${HOST}\nx-project-id:proj1\nx-sdk-date:${SDK_DATE}\n`,
    SIGNED.join(';'),
    'ce159e1a959a6bbad064bcf60f68711f923010fa88e7107f8b35ca870ebc1003',
  ].join('\n')
  const listCanonical = [
    'GET',
    '/v1/proj1/cloudservers/os-server-groups/',
    'limit=2&marker=grp1',
    `content-type:application/json\nhost:${HOST}\nx-project-id:proj1\nx-sdk-date:${SDK_DATE}\n`,
    SIGNED.join(';'),
    EMPTY_SHA256,
  ].join('\n')

  test('POST action vector: canonical request and signature', () => {
    assert.equal(sha256(ACTION_BODY), 'ce159e1a959a6bbad064bcf60f68711f923010fa88e7107f8b35ca870ebc1003')
    const canonical = canonicalRequest(wire('POST', ACTION_PATH, ACTION_BODY), SIGNED)
    assert.equal(canonical, actionCanonical)
    assert.equal(stringToSign(SDK_DATE, canonical), `${SIGNING_ALGORITHM}\n${SDK_DATE}\n${sha256(canonical)}`)
    assert.equal(computeSignature(SK, SDK_DATE, canonical), ACTION_SIGNATURE)
  })

  test('GET list vector: canonical request and signature', () => {
    const canonical = canonicalRequest(wire('GET', LIST_URL), SIGNED)
    assert.equal(canonical, listCanonical)
    assert.equal(computeSignature(SK, SDK_DATE, canonical), LIST_SIGNATURE)
  })

  test('signRequest reproduces both vectors exactly (headers given in SDK casing)', () => {
    const headers = { 'content-type': 'application/json', 'X-Project-Id': 'proj1', host: HOST }
    const common = { headers, accessKey: AK, secretKey: SK, date: DATE }
    assert.deepEqual(signRequest({ method: 'POST', url: ACTION_PATH, body: ACTION_BODY, ...common }), {
      'X-Sdk-Date': SDK_DATE,
      Authorization: `SDK-HMAC-SHA256 Access=AKEXAMPLE, SignedHeaders=content-type;host;x-project-id;x-sdk-date, Signature=${ACTION_SIGNATURE}`,
    })
    assert.deepEqual(signRequest({ method: 'GET', url: LIST_URL, ...common }), {
      'X-Sdk-Date': SDK_DATE,
      Authorization: `SDK-HMAC-SHA256 Access=AKEXAMPLE, SignedHeaders=content-type;host;x-project-id;x-sdk-date, Signature=${LIST_SIGNATURE}`,
    })
  })

  test('signRequest with a Buffer body signs the same bytes', () => {
    const added = signRequest({ method: 'POST', url: ACTION_PATH, headers: baseHeaders(), body: Buffer.from(ACTION_BODY), accessKey: AK, secretKey: SK, date: DATE })
    assert.ok(added.Authorization.endsWith(`Signature=${ACTION_SIGNATURE}`))
  })

  test('verifySignature accepts both vectors', () => {
    for (const [req, signature] of [
      [wire('POST', ACTION_PATH, ACTION_BODY), ACTION_SIGNATURE],
      [wire('GET', LIST_URL), LIST_SIGNATURE],
    ] as const) {
      req.headers['authorization'] = `SDK-HMAC-SHA256 Access=AKEXAMPLE, SignedHeaders=${SIGNED.join(';')}, Signature=${signature}`
      assert.deepEqual(verify(req), { ok: true })
    }
  })
})

describe('captured SDK request (§5.6)', () => {
  const body = '{"add_member":{"instance_uuid":"34dac9a0-c4a7-457b-bab2-e2c696e0e401"}}'
  const path = '/v1/0123456789abcdef0123456789abcdef/cloudservers/os-server-groups/5bbcc3c4-1da2-4437-a48a-66f15b1b13f9/action'
  const req: WireRequest = {
    method: 'POST',
    url: path,
    headers: {
      accept: 'application/json',
      'content-type': 'application/json',
      'user-agent': 'huaweicloud-usdk-nodejs/3.0; os/linux#6.1#x64 nodejs/v20.20.2 meta/C; app/0',
      'x-project-id': '0123456789abcdef0123456789abcdef',
      'x-sdk-date': '20261128T065806Z',
      host: '127.0.0.1:39473',
      'content-length': '71',
      'accept-encoding': 'gzip, compress, deflate, br',
      connection: 'keep-alive',
    },
    body: Buffer.from(body),
  }

  test('canonical request is reproduced exactly, with the empty line before SignedHeaders', () => {
    assert.equal(req.body?.length, 71)
    const expected = [
      'POST',
      `${path}/`,
      '',
      'content-type:application/json',
      'host:127.0.0.1:39473',
      'x-project-id:0123456789abcdef0123456789abcdef',
      'x-sdk-date:20261128T065806Z',
      '',
      'content-type;host;x-project-id;x-sdk-date',
      'b2ee1bdb5449c6ab893201157c306e0c25105fadcf5fafc204b65e7f0acae912',
    ].join('\n')
    assert.equal(canonicalRequest(req, SIGNED), expected)
  })
})

describe('canonicalisation rules', () => {
  const canonicalLines = (url: string): string[] => canonicalRequest(wire('GET', url), SIGNED).split('\n')

  test('path segments are encoded raw, without decoding first', () => {
    assert.equal(canonicalLines('/v1/p/x/a%20b')[1], '/v1/p/x/a%2520b/')
    assert.equal(canonicalLines('/v1/p%3Ax/x')[1], '/v1/p%253Ax/x/')
    assert.equal(canonicalLines('/v1/p/x/a*b~c')[1], '/v1/p/x/a%2Ab~c/')
  })

  test('a trailing slash is appended only when missing', () => {
    assert.equal(canonicalLines('/v1/p/x')[1], '/v1/p/x/')
    assert.equal(canonicalLines('/v1/p/x/')[1], '/v1/p/x/')
    assert.equal(canonicalLines('/')[1], '/')
  })

  test('query is decoded then re-encoded with the RFC 3986 encoder', () => {
    assert.equal(canonicalLines('/v1/p/x?limit=10&marker=m%20a*rk')[2], 'limit=10&marker=m%20a%2Ark')
    assert.equal(canonicalLines('/v1/p/x?q=a+b&u=%C3%BC%2F')[2], 'q=a%20b&u=%C3%BC%2F')
    assert.equal(canonicalLines("/v1/p/x?s=!'()")[2], 's=%21%27%28%29')
  })

  test('query pairs are sorted by key then value; a key without "=" has an empty value', () => {
    assert.equal(canonicalLines('/v1/p/x?b=2&a=z&a=b&flag&a=a%20b')[2], 'a=a%20b&a=b&a=z&b=2&flag=')
  })

  test('no query, an empty query and empty pairs give an empty line', () => {
    assert.equal(canonicalLines('/v1/p/x')[2], '')
    assert.equal(canonicalLines('/v1/p/x?')[2], '')
    assert.equal(canonicalLines('/v1/p/x?&a=1&')[2], 'a=1')
  })

  test('header lines are sorted, lower-cased, values kept verbatim, repeated headers joined with ","', () => {
    const req = wire('GET', '/v1/p/x')
    req.headers['x-multi'] = ['a', ' b ']
    const lines = canonicalRequest(req, ['x-multi', 'Host', 'x-sdk-date']).split('\n')
    assert.deepEqual(lines.slice(3, 7), [`host:${HOST}`, `x-multi:a, b `, `x-sdk-date:${SDK_DATE}`, ''])
    assert.equal(lines[7], 'x-multi;Host;x-sdk-date')
  })

  test('a signed x-sdk-content-sha256 replaces the body hash; an unsigned one is ignored', () => {
    const req = wire('POST', '/v1/p/x', '{"a":1}')
    req.headers['x-sdk-content-sha256'] = 'UNSIGNED-PAYLOAD'
    assert.equal(canonicalRequest(req, [...SIGNED, 'x-sdk-content-sha256']).split('\n').at(-1), 'UNSIGNED-PAYLOAD')
    assert.equal(canonicalRequest(req, SIGNED).split('\n').at(-1), sha256('{"a":1}'))
  })

  test('an empty body hashes like no body', () => {
    assert.equal(canonicalRequest(wire('POST', '/v1/p/x', ''), SIGNED).split('\n').at(-1), EMPTY_SHA256)
  })
})

describe('parseSdkDate', () => {
  test('accepts the SDK format as UTC', () => {
    assert.equal(parseSdkDate('20240101T000000Z')?.toISOString(), '2024-01-01T00:00:00.000Z')
    assert.equal(parseSdkDate('20240229T235959Z')?.toISOString(), '2024-02-29T23:59:59.000Z')
  })

  test('rejects anything else, including out-of-range fields', () => {
    for (const bad of ['', '20240101T000000', '20240101T000000z', '2024-01-01T00:00:00Z', '20241301T000000Z', '20230229T000000Z', '20240101T240000Z', '20240101T006000Z', '20240101T000060Z', ' 20240101T000000Z', '20240101T000000Z ']) {
      assert.equal(parseSdkDate(bad), undefined, bad)
    }
  })
})

describe('parseAuthorization', () => {
  test('parses the SDK form', () => {
    assert.deepEqual(parseAuthorization(`SDK-HMAC-SHA256 Access=AKEXAMPLE, SignedHeaders=content-type;host;x-project-id;x-sdk-date, Signature=${ACTION_SIGNATURE}`), {
      accessKey: 'AKEXAMPLE',
      signedHeaders: SIGNED,
      signature: ACTION_SIGNATURE,
    })
  })

  test('tolerates whitespace variations around the separators', () => {
    for (const h of [
      `SDK-HMAC-SHA256 Access=AK,SignedHeaders=host;x-sdk-date,Signature=${ACTION_SIGNATURE}`,
      `SDK-HMAC-SHA256   Access=AK,   SignedHeaders=host;x-sdk-date,\tSignature=${ACTION_SIGNATURE}`,
      `SDK-HMAC-SHA256\tAccess=AK , SignedHeaders=host;x-sdk-date , Signature=${ACTION_SIGNATURE} `,
    ]) {
      assert.deepEqual(auth(h), { accessKey: 'AK', signedHeaders: ['host', 'x-sdk-date'], signature: ACTION_SIGNATURE }, h)
    }
  })

  test('rejects malformed headers with a reason', () => {
    const sig = ACTION_SIGNATURE
    assert.match(parseError(undefined), /missing Authorization/)
    assert.match(parseError(''), /missing Authorization/)
    assert.match(parseError(`Bearer abc`), /unsupported Authorization scheme "Bearer"/)
    assert.match(parseError(`V11-HMAC-SHA256 Credential=ak/x, SignedHeaders=host, Signature=${sig}`), /unsupported/)
    assert.match(parseError(`sdk-hmac-sha256 Access=AK, SignedHeaders=host;x-sdk-date, Signature=${sig}`), /unsupported/)
    assert.match(parseError('SDK-HMAC-SHA256'), /no parameters/)
    assert.match(parseError(`SDK-HMAC-SHA256 Access=AK, Signature=${sig}`), /exactly 3/)
    assert.match(parseError(`SDK-HMAC-SHA256 Access=AK, SignedHeaders=host, Signature=${sig}, Extra=1`), /exactly 3/)
    assert.match(parseError(`SDK-HMAC-SHA256 SignedHeaders=host, Access=AK, Signature=${sig}`), /parameter 1 must be "Access=/)
    assert.match(parseError(`SDK-HMAC-SHA256 Access=, SignedHeaders=host, Signature=${sig}`), /Access/)
    assert.match(parseError(`SDK-HMAC-SHA256 Access=A K, SignedHeaders=host, Signature=${sig}`), /Access/)
    assert.match(parseError(`SDK-HMAC-SHA256 Access=AK, SignedHeaders=, Signature=${sig}`), /SignedHeaders/)
    assert.match(parseError(`SDK-HMAC-SHA256 Access=AK, SignedHeaders=host;;x-sdk-date, Signature=${sig}`), /SignedHeaders/)
    assert.match(parseError(`SDK-HMAC-SHA256 Access=AK, SignedHeaders=Host;X-Sdk-Date, Signature=${sig}`), /lower-case/)
    assert.match(parseError('SDK-HMAC-SHA256 Access=AK, SignedHeaders=host, Signature=abc'), /64 lower-case hex/)
    assert.match(parseError(`SDK-HMAC-SHA256 Access=AK, SignedHeaders=host, Signature=${sig.toUpperCase()}`), /64 lower-case hex/)
    assert.match(parseError(`SDK-HMAC-SHA256 Access=AK, SignedHeaders=host, Signature=${sig}00`), /64 lower-case hex/)
  })
})

describe('verifySignature rejects tampering and bad requests', () => {
  const good = (): WireRequest => signedRequest('POST', '/v1/proj1/cloudservers/os-server-groups/grp1/action?dry=false&marker=m%20a*rk', ACTION_BODY)
  const mismatch = /^verify aksk signature fail, canonicalRequest:/

  test('the untampered request verifies, and unsigned headers may change', () => {
    const req = good()
    assert.deepEqual(verify(req), { ok: true })
    req.headers['user-agent'] = 'something else'
    req.headers['accept'] = '*/*'
    assert.deepEqual(verify(req), { ok: true })
  })

  test('changed body byte', () => {
    const req = good()
    const body = Buffer.from(ACTION_BODY)
    body[body.length - 3] = 0x32
    req.body = body
    assert.match(failure(verify(req)), mismatch)
    req.body = undefined
    assert.match(failure(verify(req)), mismatch)
  })

  test('changed path', () => {
    const req = good()
    req.url = req.url.replace('grp1', 'grp2')
    const reason = failure(verify(req))
    assert.match(reason, mismatch)
    assert.ok(reason.includes('POST|/v1/proj1/cloudservers/os-server-groups/grp2/action/|dry=false&marker=m%20a%2Ark|content-type:application/json|'), reason)
  })

  test('changed query value', () => {
    const req = good()
    req.url = req.url.replace('dry=false', 'dry=true')
    assert.match(failure(verify(req)), mismatch)
  })

  test('added query parameter', () => {
    const req = good()
    req.url += '&limit=1'
    assert.match(failure(verify(req)), mismatch)
  })

  test('changed signed header value', () => {
    const req = good()
    req.headers['x-project-id'] = 'proj2'
    assert.match(failure(verify(req)), mismatch)
  })

  test('changed method', () => {
    const req = good()
    req.method = 'PUT'
    assert.match(failure(verify(req)), mismatch)
  })

  test('wrong secret', () => {
    assert.match(failure(verify(good(), 'SKEXAMPLF')), mismatch)
    assert.match(failure(verify(good(), '')), mismatch)
  })

  test('stale or future date beyond 15 minutes, with how far off and the window', () => {
    const sixteen = 16 * 60 * 1000
    const behind = failure(verify(good(), SK, new Date(DATE.getTime() + sixteen)))
    assert.match(behind, /16m0s behind server time 2024-01-01T00:16:00\.000Z/)
    assert.match(behind, /±15m0s/)
    const ahead = failure(verify(good(), SK, new Date(DATE.getTime() - sixteen)))
    assert.match(ahead, /16m0s ahead of server time/)
    assert.match(failure(verify(good(), SK, new Date(DATE.getTime() + MAX_CLOCK_SKEW_MS + 1000))), /15m1s behind/)
  })

  test('exactly 15 minutes off in either direction is accepted', () => {
    assert.deepEqual(verify(good(), SK, new Date(DATE.getTime() + MAX_CLOCK_SKEW_MS)), { ok: true })
    assert.deepEqual(verify(good(), SK, new Date(DATE.getTime() - MAX_CLOCK_SKEW_MS)), { ok: true })
  })

  test('missing or malformed X-Sdk-Date header', () => {
    const missing = good()
    delete missing.headers['x-sdk-date']
    assert.match(failure(verify(missing)), /missing X-Sdk-Date/)
    const malformed = good()
    malformed.headers['x-sdk-date'] = '2024-01-01T00:00:00Z'
    assert.match(failure(verify(malformed)), /malformed X-Sdk-Date "2024-01-01T00:00:00Z"/)
  })

  test('SignedHeaders without host or x-sdk-date is refused even when the signature itself is valid', () => {
    for (const signed of [['content-type', 'x-project-id', 'x-sdk-date'], ['content-type', 'host', 'x-project-id']]) {
      const req = wire('POST', ACTION_PATH, ACTION_BODY)
      const signature = computeSignature(SK, SDK_DATE, canonicalRequest(req, signed))
      const reason = failure(verifySignature(req, { accessKey: AK, signedHeaders: signed, signature }, SK, DATE))
      assert.match(reason, /must include "(host|x-sdk-date)"/)
    }
  })

  test('a signed header absent from the request', () => {
    const req = good()
    delete req.headers['x-project-id']
    assert.match(failure(verify(req)), /"x-project-id" is listed in SignedHeaders but absent/)
  })

  test('malformed percent-escape in the query fails without throwing', () => {
    for (const url of ['/v1/p/x?marker=%E0%A4%A', '/v1/p/x?marker=%zz', '/v1/p/x?%C3=1', '/v1/p/x?m=%ED%A0%80']) {
      const req = wire('GET', url)
      assert.doesNotThrow(() => canonicalRequest(req, SIGNED))
      const check = verifySignature(req, { accessKey: AK, signedHeaders: SIGNED, signature: LIST_SIGNATURE }, SK, DATE)
      assert.match(failure(check), /malformed percent-escape/)
    }
    assert.throws(() => signRequest({ method: 'GET', url: '/v1/p/x?m=%zz', headers: baseHeaders(), accessKey: AK, secretKey: SK }), TypeError)
  })

  test('a signature of the wrong length fails without throwing', () => {
    const req = good()
    const parsed = auth(req.headers['authorization'])
    for (const signature of ['', 'abc', parsed.signature + '0', parsed.signature.slice(1)]) {
      assert.match(failure(verifySignature(req, { ...parsed, signature }, SK, DATE)), mismatch)
    }
  })

  test('a body pinned by an unsigned x-sdk-content-sha256 header is still checked', () => {
    const req = good()
    req.headers['x-sdk-content-sha256'] = sha256(ACTION_BODY)
    req.body = Buffer.from('{"add_member":{"instance_uuid":"evil"}}')
    assert.match(failure(verify(req)), mismatch)
  })
})

describe('signRequest input checks', () => {
  const base = { method: 'GET', url: '/v1/p/x', accessKey: AK, secretKey: SK }
  test('refuses inputs that could never verify', () => {
    assert.throws(() => signRequest({ ...base, headers: { 'content-type': 'application/json' } }), /host/)
    assert.throws(() => signRequest({ ...base, headers: { host: HOST, 'X-Sdk-Date': SDK_DATE } }), /X-Sdk-Date/)
    assert.throws(() => signRequest({ ...base, headers: { host: HOST, Host: HOST } }), /more than once/)
    assert.throws(() => signRequest({ ...base, accessKey: 'A K', headers: { host: HOST } }), /accessKey/)
  })

  test('defaults the date to now', () => {
    const before = Date.now()
    const added = signRequest({ ...base, headers: { host: HOST } })
    const signedAt = parseSdkDate(added['X-Sdk-Date'])
    assert.ok(signedAt !== undefined)
    assert.ok(Math.abs(signedAt.getTime() - before) < 5000)
  })
})

const require = createRequire(import.meta.url)

interface SdkCredential {
  getAk(): string
  getSk(): string
}
interface SdkSignInput {
  endpoint: string
  method: string
  headers: Record<string, string>
  queryParams?: Record<string, unknown>
  data?: unknown
}
const { AKSKSigner } = require('@huaweicloud/huaweicloud-sdk-core/auth/AKSKSigner') as {
  AKSKSigner: { sign(request: SdkSignInput, credential: SdkCredential): Record<string, string> }
}

describe('cross-check against the SDK signer (AKSKSigner.sign, in process)', () => {
  const credential: SdkCredential = { getAk: () => AK, getSk: () => SK }
  const endpoint = `http://${HOST}`

  // What DefaultHttpClient puts on the wire: axios resolves the path with WHATWG URL and appends
  // querystring.stringify(params); the body is JSON.stringify(data).
  function sdkRequest(method: string, path: string, queryParams: Record<string, unknown>, data?: unknown): WireRequest {
    const signed = AKSKSigner.sign(
      { endpoint: endpoint + path, method, headers: { 'content-type': 'application/json', 'X-Project-Id': 'proj1', 'X-Sdk-Date': SDK_DATE }, queryParams, data },
      credential,
    )
    const query = stringifyQuery(queryParams as Parameters<typeof stringifyQuery>[0])
    const headers: Record<string, string> = {}
    for (const [k, v] of Object.entries(signed)) headers[k.toLowerCase()] = v
    return {
      method,
      url: new URL(endpoint + path).pathname + (query ? `?${query}` : ''),
      headers,
      body: data === undefined ? undefined : Buffer.from(JSON.stringify(data)),
    }
  }

  test('reference vectors come out of the SDK signer unchanged', () => {
    assert.ok(sdkRequest('POST', ACTION_PATH, {}, JSON.parse(ACTION_BODY)).headers['authorization']?.toString().endsWith(ACTION_SIGNATURE))
    assert.ok(sdkRequest('GET', '/v1/proj1/cloudservers/os-server-groups', { limit: 2, marker: 'grp1' }).headers['authorization']?.toString().endsWith(LIST_SIGNATURE))
  })

  const cases: Array<[string, string, string, Record<string, unknown>, unknown?]> = [
    ['plain list', 'GET', '/v1/proj1/cloudservers/os-server-groups', { limit: 10 }],
    ['space and * in query', 'GET', '/v1/proj1/cloudservers/os-server-groups', { limit: 10, marker: 'm a*rk' }],
    ['space in path (double encoded in the signature)', 'GET', '/v1/proj1/cloudservers/os-server-groups/a b', {}],
    ['encoded project id in path', 'GET', `/v1/${encodeURIComponent('p:x y')}/cloudservers/detail`, {}],
    ['* ~ and - in path', 'DELETE', '/v1/proj1/cloudservers/os-server-groups/a*b~c-d', {}],
    ['unicode, reserved characters and arrays in query', 'GET', '/v1/proj1/cloudservers/detail', { tags: ['zz', 'a b', 'é', '日本'], 'k y': "ü/?&=+!'()*", emoji: '😀', n: 0, b: true }],
    ['unicode body', 'POST', '/v1/proj1/cloudservers/os-server-groups', {}, { server_group: { name: 'grüße 😀 *', policies: ['anti-affinity'] } }],
    ['body and query together', 'POST', '/v1/proj1/cloudservers/action', { x: 'y z' }, { 'os-stop': { servers: [{ id: 's1' }], type: 'SOFT' } }],
  ]
  for (const [name, method, path, query, data] of cases) {
    test(`verifySignature accepts SDK output: ${name}`, () => {
      assert.deepEqual(verify(sdkRequest(method, path, query, data)), { ok: true })
    })
  }

  test('SDK output for unicode or \' ^ | in a path segment cannot verify: the SDK signs a different path than it sends', () => {
    for (const segment of ['é', "a'b", 'a^b', 'a|b']) {
      const req = sdkRequest('GET', `/v1/proj1/cloudservers/${segment}`, {})
      assert.match(failure(verify(req)), /verify aksk signature fail/, segment)
    }
  })
})

interface HcClient {
  sendRequest(options: {
    method: string
    url: string
    contentType: string
    headers: Record<string, string>
    pathParams: Record<string, string>
    queryParams: Record<string, unknown>
    data?: unknown
  }): Promise<unknown>
}
interface EcsClient {
  listServerGroups(request: { limit?: number; marker?: string }): Promise<unknown>
  addServerGroupMember(request: { server_group_id: string; body: unknown }): Promise<unknown>
  createPostPaidServers(request: { 'X-Client-Token'?: string; body: unknown }): Promise<unknown>
  deleteServerGroup(request: { server_group_id: string }): Promise<unknown>
}
interface Builder<T> {
  withCredential(c: unknown): Builder<T>
  withEndpoint(e: string): Builder<T>
  build(): T
}

describe('cross-check against the real SDK over HTTP', () => {
  const captured: WireRequest[] = []
  let server: Server
  let endpoint = ''
  let home = ''
  const savedHome = process.env['HOME']
  const SECRET = 'sk-roundtrip/+=é'

  before(async () => {
    home = mkdtempSync(join(tmpdir(), 'ecsd-sdk-home-'))
    process.env['HOME'] = home
    server = createServer((req, res) => {
      const chunks: Buffer[] = []
      req.on('data', (c: Buffer) => chunks.push(c))
      req.on('end', () => {
        captured.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body: chunks.length > 0 ? Buffer.concat(chunks) : undefined })
        res.writeHead(200, { 'content-type': 'application/json' })
        res.end('{}')
      })
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    const address = server.address()
    assert.ok(address !== null && typeof address === 'object')
    endpoint = `http://127.0.0.1:${address.port}`
  })

  after(async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()))
    if (savedHome === undefined) delete process.env['HOME']
    else process.env['HOME'] = savedHome
    rmSync(home, { recursive: true, force: true })
  })

  function lastVerified(): SignatureCheck {
    const req = captured.at(-1)
    assert.ok(req !== undefined, 'the SDK sent nothing')
    return verifySignature(req, auth(req.headers['authorization']), SECRET, new Date())
  }

  function credentials(projectId: string): unknown {
    const { BasicCredentials } = require('@huaweicloud/huaweicloud-sdk-core') as {
      BasicCredentials: new () => { withAk(v: string): { withSk(v: string): { withProjectId(v: string): unknown } } }
    }
    return new BasicCredentials().withAk('AKROUNDTRIP').withSk(SECRET).withProjectId(projectId)
  }

  test('HcClient requests with spaces, unicode, * and arrays', async () => {
    const { ClientBuilder } = require('@huaweicloud/huaweicloud-sdk-core/ClientBuilder') as {
      ClientBuilder: new (init: (c: HcClient) => HcClient) => Builder<HcClient>
    }
    const client = new ClientBuilder((c) => c).withCredential(credentials('p:x y')).withEndpoint(endpoint).build()
    const requests = [
      { method: 'GET', url: '/v1/{project_id}/cloudservers/os-server-groups/{id}', pathParams: { id: 'a b*c' }, queryParams: { marker: 'm a*rk', limit: 10 } },
      { method: 'GET', url: '/v1/{project_id}/cloudservers/detail', pathParams: {}, queryParams: { tags: ['z', 'a b', 'é'], 'k y': 'ü/?&=+', single: ['only'] } },
      { method: 'POST', url: '/v1/{project_id}/cloudservers/{id}/action', pathParams: { id: 'g1' }, queryParams: {}, data: { name: 'grüße 😀 *', n: [1, 2] } },
      { method: 'DELETE', url: '/v1/{project_id}/cloudservers/os-server-groups/{id}', pathParams: { id: 'g1' }, queryParams: {}, data: {} },
    ]
    for (const r of requests) {
      await client.sendRequest({ ...r, contentType: 'application/json;charset=UTF-8', headers: {} })
      assert.deepEqual(lastVerified(), { ok: true }, `${r.method} ${captured.at(-1)?.url}`)
    }
    assert.equal(captured.at(-4)?.url, '/v1/p%3Ax%20y/cloudservers/os-server-groups/a%20b*c?marker=m%20a*rk&limit=10')
  })

  test('EcsClient group operations', async () => {
    const ecs = require('@huaweicloud/huaweicloud-sdk-ecs') as { EcsClient: { newBuilder(): Builder<EcsClient> } }
    const client = ecs.EcsClient.newBuilder().withCredential(credentials('0123456789abcdef0123456789abcdef')).withEndpoint(endpoint).build()

    await client.listServerGroups({ limit: 10, marker: 'm a*rk' })
    assert.deepEqual(lastVerified(), { ok: true })
    await client.listServerGroups({})
    assert.deepEqual(lastVerified(), { ok: true })
    await client.addServerGroupMember({ server_group_id: '5bbcc3c4-1da2-4437-a48a-66f15b1b13f9', body: { add_member: { instance_uuid: 'srv-ü' } } })
    assert.deepEqual(lastVerified(), { ok: true })
    await client.createPostPaidServers({ 'X-Client-Token': 'tok-1', body: { server: { name: 'vm 1' } } })
    assert.deepEqual(lastVerified(), { ok: true })
    assert.equal(auth(captured.at(-1)?.headers['authorization']).signedHeaders.join(';'), 'content-type;host;x-client-token;x-project-id;x-sdk-date')
    await client.deleteServerGroup({ server_group_id: 'g1' })
    assert.deepEqual(lastVerified(), { ok: true })

    const tampered = captured.at(-3)
    assert.ok(tampered !== undefined)
    tampered.body = Buffer.from('{"add_member":{"instance_uuid":"srv-x"}}')
    assert.match(failure(verifySignature(tampered, auth(tampered.headers['authorization']), SECRET, new Date())), /verify aksk signature fail/)
  })
})

import assert from 'node:assert/strict'
import path from 'node:path'
import { describe, test } from 'node:test'
import { ConfigError, DEFAULT_QUOTAS, loadConfig, readTlsFiles } from '../src/config.ts'
import { generateCertificates } from './certificates.ts'
import { tempDir } from './helper.ts'

describe('loadConfig', () => {
  test('defaults', () => {
    const c = loadConfig({}, {})
    assert.equal(c.host, '127.0.0.1')
    assert.equal(c.port, 8080)
    assert.equal(c.dataDir, path.resolve('data'))
    assert.equal(c.demo, true)
    assert.ok(c.driverLatencyMs > 0 && c.driverLatencyMs < 1000, 'well under a second')
    assert.deepEqual(c.quotas, DEFAULT_QUOTAS)
    assert.equal(c.quotas.maxServerGroups, 10)
    assert.equal(c.quotas.maxServerGroupMembers, 16)
    assert.deepEqual(c.placement, { score: 'spread', subsetSize: 3 })
  })

  test('environment over defaults, flags over environment; empty variables count as unset', () => {
    const env = { ECSD_PORT: '9000', ECSD_HOST: '0.0.0.0', ECSD_DATA_DIR: '/tmp/x', ECSD_DEMO: 'false', ECSD_DEMO_FLEET: 'false', ECSD_QUOTA_SERVER_GROUP_MEMBERS: '4', ECSD_LOG_LEVEL: '' }
    const fromEnv = loadConfig({}, env)
    assert.equal(fromEnv.port, 9000)
    assert.equal(fromEnv.host, '0.0.0.0')
    assert.equal(fromEnv.dataDir, '/tmp/x')
    assert.equal(fromEnv.demo, false)
    assert.equal(fromEnv.demoFleet, false)
    assert.equal(fromEnv.quotas.maxServerGroupMembers, 4)
    assert.equal(fromEnv.logLevel, 'info')
    const fromFlags = loadConfig({ port: 7000, host: '::1', demo: true, demoFleet: true, dataDir: 'rel' }, env)
    assert.equal(fromFlags.port, 7000)
    assert.equal(fromFlags.host, '::1')
    assert.equal(fromFlags.demo, true)
    assert.equal(fromFlags.demoFleet, true)
    assert.equal(fromFlags.dataDir, path.resolve('rel'))
  })

  test('unusable values are refused with the name of the setting', () => {
    for (const [env, mentions] of [
      [{ ECSD_PORT: '70000' }, /ECSD_PORT.*70000/],
      [{ ECSD_PORT: 'http' }, /ECSD_PORT/],
      [{ ECSD_DRIVER_LATENCY_MS: '-1' }, /ECSD_DRIVER_LATENCY_MS/],
      [{ ECSD_QUOTA_SERVER_GROUP_MEMBERS: '0' }, /ECSD_QUOTA_SERVER_GROUP_MEMBERS/],
      [{ ECSD_DEMO: 'yes' }, /ECSD_DEMO/],
      [{ ECSD_DEMO_FLEET: 'no' }, /ECSD_DEMO_FLEET/],
      [{ ECSD_PLACEMENT_SCORE: 'random' }, /ECSD_PLACEMENT_SCORE/],
    ] as const) {
      assert.throws(() => loadConfig({}, env), (err: unknown) => err instanceof ConfigError && mentions.test(err.message))
    }
  })
})

describe('TLS settings', () => {
  test('plain HTTP unless both files are named; flags over environment; paths resolved', () => {
    assert.equal(loadConfig({}, {}).tls, undefined)
    assert.deepEqual(loadConfig({}, { ECSD_TLS_CERT: 'c.pem', ECSD_TLS_KEY: 'k.pem' }).tls, { certFile: path.resolve('c.pem'), keyFile: path.resolve('k.pem') })
    assert.deepEqual(loadConfig({ tlsCert: '/x/c.pem' }, { ECSD_TLS_CERT: 'c.pem', ECSD_TLS_KEY: '/x/k.pem' }).tls, { certFile: '/x/c.pem', keyFile: '/x/k.pem' })
    for (const [flags, env, mentions] of [
      [{ tlsCert: 'c.pem' }, {}, /--tls-cert \/ ECSD_TLS_CERT is set but --tls-key \/ ECSD_TLS_KEY is not/],
      [{}, { ECSD_TLS_KEY: 'k.pem' }, /--tls-key \/ ECSD_TLS_KEY is set but --tls-cert \/ ECSD_TLS_CERT is not/],
      [{}, { ECSD_TLS_CERT: 'c.pem', ECSD_TLS_KEY: '' }, /ECSD_TLS_KEY is not/],
    ] as const) {
      assert.throws(() => loadConfig(flags, env), (err: unknown) => err instanceof ConfigError && mentions.test(err.message))
    }
  })

  test('readTlsFiles gives a matching certificate and key, and refuses anything else with the setting and the file', async (t) => {
    const certs = await generateCertificates(tempDir(t))
    const { cert, key } = readTlsFiles({ certFile: certs.certFile, keyFile: certs.keyFile })
    assert.match(cert.toString(), /^-----BEGIN CERTIFICATE-----/)
    assert.match(key.toString(), /^-----BEGIN PRIVATE KEY-----/)
    const absent = path.join(path.dirname(certs.caFile), 'absent.pem')
    for (const [files, mentions] of [
      [{ certFile: absent, keyFile: certs.keyFile }, /^--tls-cert \/ ECSD_TLS_CERT: cannot read .*absent\.pem \(ENOENT: no such file or directory\)$/],
      [{ certFile: certs.certFile, keyFile: absent }, /^--tls-key \/ ECSD_TLS_KEY: cannot read .*absent\.pem \(ENOENT/],
      [{ certFile: certs.keyFile, keyFile: certs.keyFile }, /^--tls-cert \/ ECSD_TLS_CERT: .*server\.key is not a PEM certificate/],
      [{ certFile: certs.certFile, keyFile: certs.certFile }, /^--tls-key \/ ECSD_TLS_KEY: .*server\.pem is not an unencrypted PEM private key/],
      [{ certFile: certs.otherCaFile, keyFile: certs.keyFile }, /^--tls-key \/ ECSD_TLS_KEY: .*server\.key is not the private key of the certificate in .*other-ca\.pem$/],
    ] as const) {
      assert.throws(() => readTlsFiles(files), (err: unknown) => err instanceof ConfigError && mentions.test(err.message), String(mentions))
    }
  })
})

import assert from 'node:assert/strict'
import { writeFileSync } from 'node:fs'
import path from 'node:path'
import { describe, test, type TestContext } from 'node:test'
import { CONFIG_FILE, ConfigError, DEFAULT_QUOTAS, loadConfig, readSettings, readTlsFiles } from '../src/config.ts'
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

describe('config file', () => {
  /** Writes `content` (JSON unless text) to a file in a fresh directory; answers the directory and the file. */
  function configFile(t: TestContext, content: unknown, name = 'settings.json'): { dir: string; file: string } {
    const dir = tempDir(t)
    const file = path.join(dir, name)
    writeFileSync(file, typeof content === 'string' ? content : JSON.stringify(content))
    return { dir, file }
  }

  test('its keys are the environment\'s; flags over environment over file over defaults', (t) => {
    const { file } = configFile(t, { ECSD_PORT: 9000, ECSD_HOST: '0.0.0.0', ECSD_DEMO: false, ECSD_LOG_LEVEL: 'debug', ECSD_QUOTA_INSTANCES: 7, ECSD_FAULTS: [{ step: 'start', mode: 'fail' }] })
    const fromFile = loadConfig({}, { ECSD_CONFIG: file })
    assert.equal(fromFile.port, 9000)
    assert.equal(fromFile.host, '0.0.0.0')
    assert.equal(fromFile.demo, false)
    assert.equal(fromFile.logLevel, 'debug')
    assert.equal(fromFile.quotas.maxTotalInstances, 7)
    assert.equal(fromFile.faults.length, 1)
    assert.equal(fromFile.dataDir, path.resolve('data'), 'what the file does not say keeps its default')
    const fromEnv = loadConfig({}, { ECSD_CONFIG: file, ECSD_PORT: '9100', ECSD_LOG_LEVEL: '' })
    assert.equal(fromEnv.port, 9100)
    assert.equal(fromEnv.logLevel, 'debug', 'an empty variable is not set: the file\'s value holds')
    assert.equal(loadConfig({ port: 9200 }, { ECSD_CONFIG: file, ECSD_PORT: '9100' }).port, 9200)
    assert.throws(() => loadConfig({}, { ECSD_CONFIG: configFile(t, { ECSD_PORT: 70000 }).file }), /ECSD_PORT must be an integer from 0 to 65535, got "70000"/)
  })

  test('ecsd.config.json in the working directory is read when none is named; a named one must exist', (t) => {
    const { dir } = configFile(t, { ECSD_REGION: 'here' }, CONFIG_FILE)
    assert.deepEqual(readSettings({}, dir), { ECSD_REGION: 'here' })
    assert.deepEqual(readSettings({ ECSD_REGION: 'env' }, dir), { ECSD_REGION: 'env' })
    assert.deepEqual(readSettings({}, tempDir(t)), {}, 'no file: no settings from one')
    const other = configFile(t, { ECSD_REGION: 'there' }).file
    assert.deepEqual(readSettings({ ECSD_CONFIG: other }, dir), { ECSD_REGION: 'there' }, 'the named file instead')
    assert.throws(() => readSettings({ ECSD_CONFIG: 'absent.json' }, dir), (err: unknown) => err instanceof ConfigError && /^config file absent\.json: cannot read it \(ENOENT/.test(err.message))
  })

  test('an unknown key, JSON that is not an object of settings, a value that is not text, a number or a boolean: refused, naming the file', (t) => {
    for (const [content, mentions] of [
      [{ ECSD_PROT: 9000 }, /^config file settings\.json: unknown setting "ECSD_PROT" \(did you mean ECSD_PORT\?\)/],
      [{ port: 9000 }, /unknown setting "port" \(did you mean ECSD_PORT\?\)/],
      [{ ECSD_CONFIG: 'other.json' }, /unknown setting "ECSD_CONFIG"/],
      ['{"ECSD_PORT": 9000,', /^config file settings\.json is not valid JSON/],
      [[{ ECSD_PORT: 9000 }], /^config file settings\.json must be a JSON object of settings/],
      ['null', /must be a JSON object of settings/],
      [{ ECSD_PORT: null }, /^config file settings\.json: ECSD_PORT must be text, a number or a boolean, got null$/],
      [{ ECSD_HOST: ['a'] }, /ECSD_HOST must be text, a number or a boolean/],
    ] as const) {
      const { dir } = configFile(t, content)
      assert.throws(() => readSettings({ ECSD_CONFIG: 'settings.json' }, dir), (err: unknown) => err instanceof ConfigError && mentions.test(err.message), String(mentions))
    }
  })
})

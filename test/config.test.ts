import assert from 'node:assert/strict'
import path from 'node:path'
import { describe, test } from 'node:test'
import { ConfigError, DEFAULT_QUOTAS, loadConfig } from '../src/config.ts'

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
    const env = { ECSD_PORT: '9000', ECSD_HOST: '0.0.0.0', ECSD_DATA_DIR: '/tmp/x', ECSD_DEMO: 'false', ECSD_QUOTA_SERVER_GROUP_MEMBERS: '4', ECSD_LOG_LEVEL: '' }
    const fromEnv = loadConfig({}, env)
    assert.equal(fromEnv.port, 9000)
    assert.equal(fromEnv.host, '0.0.0.0')
    assert.equal(fromEnv.dataDir, '/tmp/x')
    assert.equal(fromEnv.demo, false)
    assert.equal(fromEnv.quotas.maxServerGroupMembers, 4)
    assert.equal(fromEnv.logLevel, 'info')
    const fromFlags = loadConfig({ port: 7000, host: '::1', demo: true, dataDir: 'rel' }, env)
    assert.equal(fromFlags.port, 7000)
    assert.equal(fromFlags.host, '::1')
    assert.equal(fromFlags.demo, true)
    assert.equal(fromFlags.dataDir, path.resolve('rel'))
  })

  test('unusable values are refused with the name of the setting', () => {
    for (const [env, mentions] of [
      [{ ECSD_PORT: '70000' }, /ECSD_PORT.*70000/],
      [{ ECSD_PORT: 'http' }, /ECSD_PORT/],
      [{ ECSD_DRIVER_LATENCY_MS: '-1' }, /ECSD_DRIVER_LATENCY_MS/],
      [{ ECSD_QUOTA_SERVER_GROUP_MEMBERS: '0' }, /ECSD_QUOTA_SERVER_GROUP_MEMBERS/],
      [{ ECSD_DEMO: 'yes' }, /ECSD_DEMO/],
      [{ ECSD_PLACEMENT_SCORE: 'random' }, /ECSD_PLACEMENT_SCORE/],
    ] as const) {
      assert.throws(() => loadConfig({}, env), (err: unknown) => err instanceof ConfigError && mentions.test(err.message))
    }
  })
})

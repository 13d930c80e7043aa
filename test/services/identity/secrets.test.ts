import assert from 'node:assert/strict'
import { statSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { test } from 'node:test'
import { loadMasterKey, MasterKeyError, SecretBox } from '../../../src/services/identity/secrets.ts'
import { tempDir } from '../../helper.ts'

test('sealed secrets open only with the same key and the same access key, and never when tampered', () => {
  const box = new SecretBox(Buffer.alloc(32, 1))
  const sealed = box.seal('s3cret', 'AK1')
  assert.ok(SecretBox.isSealed(sealed))
  assert.ok(!sealed.includes('s3cret'))
  assert.notEqual(box.seal('s3cret', 'AK1'), sealed, 'a fresh IV every time')
  assert.equal(box.open(sealed, 'AK1'), 's3cret')
  assert.equal(box.open(sealed, 'AK1'), 's3cret', 'again, from the cache')
  assert.equal(box.open(sealed, 'AK2'), undefined, 'bound to its access key, cache or not')
  assert.equal(new SecretBox(Buffer.alloc(32, 2)).open(sealed, 'AK1'), undefined, 'another master key')
  const [v, iv, tag, data] = sealed.split(':')
  const flipped = `${v}:${iv}:${tag}:${data!.startsWith('A') ? 'B' : 'A'}${data!.slice(1)}`
  assert.equal(box.open(flipped, 'AK1'), undefined, 'tampered ciphertext')
  assert.equal(box.open('plaintext', 'AK1'), undefined)
  assert.throws(() => new SecretBox(Buffer.alloc(16)), MasterKeyError)
})

test('the master key: from ECSD_MASTER_KEY, else a generated 0600 file reused on the next start', (t) => {
  const dir = tempDir(t)
  const file = path.join(dir, 'keys', 'master.key')
  const first = loadMasterKey({ value: undefined, file })
  assert.equal(first.length, 32)
  assert.equal(statSync(file).mode & 0o777, 0o600)
  assert.deepEqual(loadMasterKey({ value: undefined, file }), first)
  assert.deepEqual(loadMasterKey({ value: 'ab'.repeat(32), file }), Buffer.alloc(32, 0xab))
  assert.deepEqual(loadMasterKey({ value: Buffer.alloc(32, 5).toString('base64'), file }), Buffer.alloc(32, 5))
  assert.throws(() => loadMasterKey({ value: 'short', file }), /ECSD_MASTER_KEY must hold 32 bytes/)
  const bad = path.join(dir, 'bad.key')
  writeFileSync(bad, 'nope\n')
  assert.throws(() => loadMasterKey({ value: undefined, file: bad }), MasterKeyError)
})

import assert from 'node:assert/strict'
import { test } from 'node:test'
import { newJobId, newTimeOrderedId, uuidV7 } from '../../src/services/time.ts'

test('time-ordered ids are UUIDs of version 7 that sort in the order they were made, even many in one millisecond', () => {
  const ids = Array.from({ length: 20_000 }, () => newTimeOrderedId())
  for (const id of ids) assert.match(id, /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/)
  for (let i = 1; i < ids.length; i++) assert.ok(ids[i]! > ids[i - 1]!, `${ids[i]} sorts after ${ids[i - 1]}`)
  assert.equal(new Set(ids).size, ids.length)
  assert.match(newJobId(), /^[0-9a-f]{32}$/)
})

test('uuidV7 lays out milliseconds, counter and random bits as RFC 9562 does', () => {
  assert.equal(uuidV7(0x0123456789ab, 0x5, 'f00000000000000000'), '01234567-89ab-7005-b000-000000000000')
})

import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { setTimeout } from 'node:timers/promises'
import type { App } from '../../src/app.ts'
import { DEMO } from '../../src/services/demo.ts'
import { buildTestApp, call, createGroup, createServers, DIALECTS } from '../helper.ts'

/** `GET /admin/events`: the event history for operators; only with an admin credential. */

const ADMIN = { accessKey: DEMO.adminAccessKey, secretKey: DEMO.adminSecretKey }

/** The answer's fields, exactly: the dashboard and the CLI read these names. */
const EVENT_FIELDS = [
  'at', 'diagnosis', 'from_host', 'group_id', 'host', 'id', 'job_id', 'kind', 'message', 'project_id', 'reason', 'server_id', 'status_from', 'status_to', 'to_host',
]

interface EventBody {
  id: string
  at: string
  kind: string
  server_id: string | null
  group_id: string | null
  host: string | null
  from_host: string | null
  to_host: string | null
  message: string
  diagnosis: string | null
  [field: string]: unknown
}

interface EventListBody {
  events: EventBody[]
  next_marker: string | null
}

function events(app: App, query = '', credential: { accessKey: string; secretKey: string } = ADMIN) {
  return call(app, { method: 'GET', url: `/admin/events${query}`, ...credential })
}

async function list(app: App, query = ''): Promise<EventListBody> {
  const res = await events(app, query)
  assert.equal(res.statusCode, 200, res.body)
  return res.json() as EventListBody
}

for (const dialect of DIALECTS) {
  describe(`GET /admin/events (${dialect})`, () => {
    test('answers operators only', async (t) => {
      const { app } = await buildTestApp(t, { dialect })
      const res = await events(app, '', { accessKey: DEMO.accessKey, secretKey: DEMO.secretKey })
      assert.equal(res.statusCode, 403, res.body)
      const { error } = res.json() as { error: { code: string; message: string } }
      assert.equal(error.code, 'Ecs.0003')
      assert.match(error.message, /GET \/admin\/events needs an operator \(admin\) credential/)
      const unsigned = await app.inject({ method: 'GET', url: '/admin/events' })
      assert.equal(unsigned.statusCode, 401, unsigned.body)
    })

    test('refuses a bad query with 400 in the API\'s error format', async (t) => {
      const { app } = await buildTestApp(t, { dialect })
      const id = '01900000-0000-7000-8000-000000000000'
      const cases: Array<[string, RegExp]> = [
        ['?limit=0', /limit/],
        ['?limit=1001', /limit/],
        ['?limit=ten', /limit/],
        ['?kind=exploded', /kind: must be one of/],
        ['?colour=blue', /unknown field "colour"/],
        ['?since=yesterday', /since "yesterday" is not a time/],
        ['?until=2030-13-01T00:00:00Z', /until .* is not a time/],
        ['?marker=nope', /marker/],
        ['?after=nope', /after/],
        [`?marker=${id}&after=${id}`, /not both/],
      ]
      for (const [query, message] of cases) {
        const res = await events(app, query)
        assert.equal(res.statusCode, 400, `${query}: ${res.body}`)
        const { error } = res.json() as { error: { code: string; message: string } }
        assert.equal(error.code, 'Ecs.0005', query)
        assert.match(error.message, message, query)
      }
    })

    test('filters by server, group, host, kind and time; pages with marker; polls with after', async (t) => {
      const { app, database } = await buildTestApp(t, { dialect })
      const g = await createGroup(app)
      const [member] = await createServers(app, { availability_zone: 'az1', 'os:scheduler_hints': { group: g } })
      const [other] = await createServers(app, { availability_zone: 'az2' })
      const host = (await database.db.selectFrom('servers').innerJoin('hosts', 'hosts.id', 'servers.host_id').select('hosts.name').where('servers.id', '=', member!).executeTakeFirstOrThrow()).name

      const all = await list(app)
      assert.equal(all.next_marker, null)
      for (const e of all.events) assert.deepEqual(Object.keys(e).sort(), EVENT_FIELDS, 'exactly the documented fields')
      assert.ok(all.events.every((e, i) => i === 0 || all.events[i - 1]!.id > e.id), 'newest first')
      assert.ok(all.events.every((e) => !Number.isNaN(Date.parse(e.at))))

      const mine = await list(app, `?server_id=${member}`)
      assert.deepEqual(mine.events.map((e) => e.kind), ['state_changed', 'member_added', 'placed'])
      assert.ok(mine.events.every((e) => e.server_id === member))
      const placed = mine.events[2]!
      assert.deepEqual([placed.host, placed.group_id, placed.message], [host, g, `placed on ${host} in group ${g} (create)`])
      assert.deepEqual((await list(app, `?group_id=${g}`)).events.map((e) => e.kind), ['member_added', 'placed', 'group_created'])
      assert.ok((await list(app, `?host=${host}`)).events.some((e) => e.id === placed.id))
      assert.deepEqual((await list(app, '?kind=placed')).events.map((e) => e.server_id).sort(), [member, other].sort())
      assert.deepEqual((await list(app, '?since=2999-01-01T00:00:00Z')).events, [])
      assert.deepEqual((await list(app, '?until=2000-01-01T00:00:00Z')).events, [])

      const first = await list(app, '?limit=2')
      assert.equal(first.events.length, 2)
      assert.equal(first.next_marker, first.events[1]!.id)
      const second = await list(app, `?limit=100&marker=${first.next_marker}`)
      assert.deepEqual([...first.events, ...second.events].map((e) => e.id), all.events.map((e) => e.id))

      const oldest = all.events.at(-1)!.id
      // On PostgreSQL a poll reads only transactions below every one still running in the
      // cluster (other test files' included): what it answers may lag, never skip.
      let polled = await list(app, `?after=${oldest}&limit=3`)
      while (polled.events.length < 3) {
        await setTimeout(10)
        polled = await list(app, `?after=${oldest}&limit=3`)
      }
      assert.deepEqual(polled.events.map((e) => e.id), all.events.slice(-4, -1).reverse().map((e) => e.id), 'newer than the id, oldest first')
      assert.equal(polled.next_marker, polled.events.at(-1)!.id)
      const newest = all.events[0]!.id
      assert.deepEqual(await list(app, `?after=${newest}`), { events: [], next_marker: newest })
    })
  })
}

/**
 * The capacity guard every placement and move relies on: `claim()` takes room on a host only if
 * the room is still there (a conditional update), and a request that lost the room to another
 * writer is retried and answered `Ecs.0319` — never left to the CHECK constraint, which would
 * turn the lost race into an internal error. Each test here is deterministic: the host is full
 * by construction, or two requests are stopped by a barrier after both chose the last free
 * host and before either claims it.
 */
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import type { Kysely } from 'kysely'
import { EcsError } from '../../src/domain/errors.ts'
import { PlacementEngine, type PlacementOptions } from '../../src/placement/engine.ts'
import type { HostCandidate, PlacementRequest } from '../../src/placement/types.ts'
import { claim } from '../../src/services/allocations.ts'
import { audit } from '../../src/services/audit.ts'
import { DEMO } from '../../src/services/demo.ts'
import { TransientConflictError, type Database } from '../../src/store/database.ts'
import type { Schema } from '../../src/store/schema.ts'
import {
  DIALECTS, buildTestApp, call, createBody, createGroup, createServers, groupAction, snapshot, stopServers, v1, waitForIdle, waitForJob,
} from '../helper.ts'
import { errorCode, shrinkFleet, type Credential } from '../moves.ts'

const hostRow = (db: Kysely<Schema>, id: string) => db.selectFrom('hosts').selectAll().where('id', '=', id).executeTakeFirstOrThrow()

/** Counts the transaction retries of a database (keeping whatever else listened). */
function countRetries(database: Database): string[] {
  const codes: string[] = []
  const previous = database.onRetry
  database.onRetry = (code) => {
    codes.push(code)
    previous?.(code)
  }
  return codes
}

/**
 * A placement engine that can be made to answer a host read earlier (`stale`), as a placement
 * would whose candidate query ran before another writer filled the host.
 */
class StalePlacement extends PlacementEngine {
  stale: HostCandidate | undefined
  calls = 0

  override async place(db: Kysely<Schema>, req: PlacementRequest): Promise<HostCandidate> {
    this.calls++
    return this.stale ?? super.place(db, req)
  }
}

/**
 * A placement engine whose next `parties` placements, once armed, wait after choosing their
 * host until all of them have chosen: they have all read the same free capacity before any of
 * them claims it. Later placements (the retries) pass straight through.
 */
class BarrierPlacement extends PlacementEngine {
  /** Every placement since `arm`, including those that found no host. */
  calls = 0
  readonly chosen: HostCandidate[] = []
  private parties = 0
  private release: (() => void) | undefined
  private barrier: Promise<void> = Promise.resolve()

  arm(parties: number): void {
    this.parties = parties
    this.calls = 0
    this.chosen.length = 0
    this.barrier = new Promise((resolve) => (this.release = resolve))
  }

  override async place(db: Kysely<Schema>, req: PlacementRequest): Promise<HostCandidate> {
    this.calls++
    if (this.chosen.length >= this.parties) return super.place(db, req)
    let host: HostCandidate
    try {
      host = await super.place(db, req)
    } catch (err) {
      // Never leave the other party waiting for a placement that will not come.
      this.release?.()
      throw err
    }
    this.chosen.push(host)
    if (this.chosen.length === this.parties) this.release?.()
    await this.barrier
    return host
  }
}

describe('claim() on a full host', () => {
  for (const dialect of DIALECTS) {
    test(`${dialect}: refused with a retryable conflict that ends as Ecs.0319, the host row unchanged; an exact fit is taken`, async (t) => {
      const { database } = await buildTestApp(t, { dialect })
      const { db } = database
      const host = await db.selectFrom('hosts').select('id').orderBy('name').limit(1).executeTakeFirstOrThrow()
      await db.updateTable('hosts').set({ free_vcpus: 2, free_ram_mb: 2048 }).where('id', '=', host.id).execute()
      const before = await hostRow(db, host.id)
      // Short of vCPU only, of RAM only, of both: each dimension is guarded on its own.
      for (const ask of [{ vcpus: 3, ramMb: 1024 }, { vcpus: 1, ramMb: 2049 }, { vcpus: 4, ramMb: 4096 }]) {
        const err = await claim(db, { hostId: host.id, ...ask }).then(() => undefined, (e: unknown) => e)
        assert.ok(err instanceof TransientConflictError, `claim of ${JSON.stringify(ask)} on 2 vCPU / 2048 MiB: ${String(err)}`)
        assert.ok(err.whenExhausted instanceof EcsError)
        assert.equal(err.whenExhausted.code, 'Ecs.0319')
        assert.equal(err.whenExhausted.status, 400)
        assert.deepEqual(await hostRow(db, host.id), before, 'a refused claim changes nothing')
      }
      await claim(db, { hostId: host.id, vcpus: 2, ramMb: 2048 })
      const after = await hostRow(db, host.id)
      assert.equal(after.free_vcpus, 0)
      assert.equal(after.free_ram_mb, 0)
    })

    test(`${dialect}: inside a transaction, a host that stays full ends in Ecs.0319 after the retries, not in a constraint error`, async (t) => {
      const { database } = await buildTestApp(t, { dialect })
      const { db } = database
      const host = await db.selectFrom('hosts').select('id').orderBy('name').limit(1).executeTakeFirstOrThrow()
      await db.updateTable('hosts').set({ free_vcpus: 1, free_ram_mb: 1024 }).where('id', '=', host.id).execute()
      const before = await hostRow(db, host.id)
      const retries = countRetries(database)
      let attempts = 0
      const err = await database
        .transaction(async (tx) => {
          attempts++
          await claim(tx.db, { hostId: host.id, vcpus: 2, ramMb: 1024 })
        })
        .then(() => undefined, (e: unknown) => e)
      assert.ok(err instanceof EcsError, `expected Ecs.0319, got ${String(err)}`)
      assert.equal(err.code, 'Ecs.0319')
      assert.equal(err.status, 400)
      assert.ok(attempts > 1, 'the transaction was retried')
      assert.equal(retries.length, attempts - 1)
      assert.ok(retries.every((c) => c === 'ECSD_TRANSIENT_CONFLICT'), retries.join(', '))
      assert.deepEqual(await hostRow(db, host.id), before)
    })

    test(`${dialect}: a create placed on a host another writer filled answers Ecs.0319 (HTTP 400) after retries, and changes nothing`, async (t) => {
      let engine: StalePlacement | undefined
      const { app, database } = await buildTestApp(t, {
        dialect,
        placementEngine: (options: PlacementOptions) => (engine = new StalePlacement(options)),
      })
      const [only] = await shrinkFleet(database, [{ vcpus: 2, ramMb: 4096 }])
      // What a placement read while the host was still empty.
      const readEarlier = await engine!.candidateQuery(database.db, { vcpus: 2, ramMb: 4096, az: 'az1', groupPolicy: undefined, groupHostIds: new Set(), subject: 'x' }).executeTakeFirstOrThrow()
      await createServers(app, { flavorRef: 's6.large.2' })
      assert.equal((await hostRow(database.db, only!.id)).free_vcpus, 0)
      engine!.stale = readEarlier
      engine!.calls = 0
      const before = await snapshot(database)
      const res = await call(app, { method: 'POST', url: v1('/cloudservers'), body: createBody({ flavorRef: 's6.large.2' }) })
      assert.equal(res.statusCode, 400, res.body)
      assert.equal(errorCode(res.json()), 'Ecs.0319')
      assert.ok(engine!.calls > 1, 'placement ran again on every retry')
      assert.deepEqual(await snapshot(database), before)
      assert.deepEqual(await audit(database.db), [])
    })
  }
})

describe('two placements that both read the last free slot (PostgreSQL, barrier between choosing and claiming)', () => {
  /**
   * A fleet of two hosts: `full` takes one server and is filled first; `last` has room for one
   * more. A second project, whose requests take other locks than the demo project's.
   */
  async function setup(t: Parameters<typeof buildTestApp>[0]) {
    let engine: BarrierPlacement | undefined
    const built = await buildTestApp(t, {
      dialect: 'postgres',
      // Deterministic placement while the fleet is filled: the fullest host that fits first.
      placement: { score: 'pack', subsetSize: 1 },
      placementEngine: (options: PlacementOptions) => (engine = new BarrierPlacement(options)),
    })
    const retries = countRetries(built.database)
    const project = await built.services.identity.createProject('other')
    const issued = await built.services.identity.createCredential(project.id)
    const other: Credential = { accessKey: issued.accessKey, secretKey: issued.secretKey, projectId: project.id }
    return { ...built, engine: engine!, retries, other }
  }

  test('two creates from two projects: one wins the slot, the other is retried and answers Ecs.0319', async (t) => {
    const { app, database, engine, retries, other } = await setup(t)
    const [full, last] = await shrinkFleet(database, [{ vcpus: 2, ramMb: 4096 }, { vcpus: 2, ramMb: 4096 }])
    await database.db.updateTable('hosts').set({ enabled: 0 }).where('id', '=', last!.id).execute()
    await createServers(app, { flavorRef: 's6.large.2' })
    await database.db.updateTable('hosts').set({ enabled: 1 }).where('id', '=', last!.id).execute()
    assert.equal((await hostRow(database.db, full!.id)).free_vcpus, 0)

    engine.arm(2)
    const body = createBody({ flavorRef: 's6.large.2', availability_zone: 'az1' })
    const [demo, theirs] = await Promise.all([
      call(app, { method: 'POST', url: v1('/cloudservers'), body }),
      call(app, { method: 'POST', url: v1('/cloudservers', other.projectId), body, ...other }),
    ])
    assert.deepEqual(engine.chosen.map((h) => h.id), [last!.id, last!.id], 'both placements chose the last free host')
    const answers = [demo, theirs]
    const won = answers.filter((r) => r.statusCode === 200)
    const lost = answers.filter((r) => r.statusCode !== 200)
    assert.equal(won.length, 1, answers.map((r) => `${r.statusCode} ${r.body}`).join('\n'))
    assert.equal(lost[0]!.statusCode, 400, lost[0]!.body)
    assert.equal(errorCode(lost[0]!.json()), 'Ecs.0319')
    assert.ok(retries.includes('ECSD_TRANSIENT_CONFLICT'), `the loser's claim was refused and its transaction retried (retries: ${retries.join(', ')})`)
    assert.equal(engine.calls, 3, 'two placements and the loser\'s retry, which found no host')

    const winnerProject = won[0] === demo ? DEMO.projectId : other.projectId
    const loserProject = won[0] === demo ? other.projectId : DEMO.projectId
    // Read from the database: the winner may be the other project, whose jobs the demo credential cannot see.
    await waitForIdle(database)
    const job = await database.db.selectFrom('jobs').select('status').where('id', '=', (won[0]!.json() as { job_id: string }).job_id).executeTakeFirstOrThrow()
    assert.equal(job.status, 'SUCCESS')
    const onLast = await database.db.selectFrom('servers').select(['project_id', 'status']).where('host_id', '=', last!.id).execute()
    assert.deepEqual(onLast, [{ project_id: winnerProject, status: 'ACTIVE' }])
    assert.equal((await database.db.selectFrom('servers').select('id').where('project_id', '=', loserProject).execute()).length, loserProject === DEMO.projectId ? 1 : 0)
    assert.equal((await hostRow(database.db, last!.id)).free_vcpus, 0)
    assert.deepEqual(await audit(database.db), [])
  })

  for (const move of ['add_member', 'resize'] as const) {
    test(`${move === 'add_member' ? 'an add_member re-placement' : 'a resize that must move'} and another project's create: one wins the slot, the other answers Ecs.0319`, async (t) => {
      const { app, database, engine, retries, other } = await setup(t)
      // `full` fits two small servers; `last` has one vCPU and 2 GiB left for whoever claims it first.
      const [full, last] = await shrinkFleet(database, [{ vcpus: 2, ramMb: 2048 }, { vcpus: 1, ramMb: 2048 }])
      await database.db.updateTable('hosts').set({ enabled: 0 }).where('id', '=', last!.id).execute()
      const g = await createGroup(app)
      const [member] = await createServers(app, { flavorRef: 's6.small.1', 'os:scheduler_hints': { group: g } })
      const [mover] = await createServers(app, { flavorRef: 's6.small.1' })
      await database.db.updateTable('hosts').set({ enabled: 1 }).where('id', '=', last!.id).execute()
      await stopServers(app, [mover!])
      const hostOf = async (id: string) => (await database.db.selectFrom('servers').select('host_id').where('id', '=', id).executeTakeFirstOrThrow()).host_id
      assert.equal(await hostOf(member!), full!.id)
      assert.equal(await hostOf(mover!), full!.id)

      engine.arm(2)
      const [moved, created] = await Promise.all([
        move === 'add_member'
          ? groupAction(app, g, 'add_member', mover!)
          : call(app, { method: 'POST', url: v1(`/cloudservers/${mover}/resize`), body: { resize: { flavorRef: 's6.medium.2' } } }),
        call(app, { method: 'POST', url: v1('/cloudservers', other.projectId), body: createBody({ flavorRef: 's6.medium.2', availability_zone: 'az1' }), ...other }),
      ])
      assert.deepEqual(engine.chosen.map((h) => h.id), [last!.id, last!.id], 'both placements chose the last free host')
      const answers = [moved, created]
      assert.equal(answers.filter((r) => r.statusCode === 200).length, 1, answers.map((r) => `${r.statusCode} ${r.body}`).join('\n'))
      const lost = answers.find((r) => r.statusCode !== 200)!
      assert.equal(lost.statusCode, 400, lost.body)
      assert.equal(errorCode(lost.json()), 'Ecs.0319')
      assert.ok(retries.includes('ECSD_TRANSIENT_CONFLICT'), `the loser's claim was refused and its transaction retried (retries: ${retries.join(', ')})`)
      assert.equal(engine.calls, 3)

      await waitForIdle(database)
      const moverAfter = await database.db.selectFrom('servers').select(['host_id', 'flavor_id', 'status']).where('id', '=', mover!).executeTakeFirstOrThrow()
      const theirs = await database.db.selectFrom('servers').select(['host_id', 'status']).where('project_id', '=', other.projectId).execute()
      const membership = await database.db.selectFrom('server_group_members').select('server_id').where('group_id', '=', g).orderBy('server_id').execute()
      if (moved.statusCode === 200) {
        assert.deepEqual(moverAfter, { host_id: last!.id, flavor_id: move === 'resize' ? 's6.medium.2' : 's6.small.1', status: 'SHUTOFF' })
        assert.deepEqual(theirs, [])
        if (move === 'add_member') assert.deepEqual(membership.map((m) => m.server_id), [member!, mover!].sort())
      } else {
        assert.deepEqual(moverAfter, { host_id: full!.id, flavor_id: 's6.small.1', status: 'SHUTOFF' }, 'the loser did not move')
        assert.deepEqual(theirs, [{ host_id: last!.id, status: 'ACTIVE' }])
        assert.deepEqual(membership.map((m) => m.server_id), [member!])
      }
      assert.deepEqual(await audit(database.db), [])
    })
  }
})

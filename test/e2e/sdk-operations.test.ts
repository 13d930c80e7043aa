/**
 * The acceptance test of the whole SDK: every operation of the official Huawei Cloud Node SDK's
 * `EcsClient` (103 of them) is called THROUGH THE SDK against a real ecsd process (spawned from
 * src/main.ts, SQLite in a temporary directory), none may answer `APIGW.0101` (the gateway's
 * "no such API"), and each makes one round trip: what it wrote reads back the same through the
 * SDK, or what it reports matches what the SDK reads elsewhere.
 *
 * The checks live in ./sdk-operations/*.ts, one module per area, keyed by the `EcsClient` method
 * name; this file starts the process, gives every check the same context (./sdk-operations/
 * types.ts), asserts that the checks cover exactly the SDK's operations, and runs one subtest per
 * operation, in alphabetical order, one after another on the one process. Each check must leave
 * the project as a later check may expect it (no switched-on recycle bin, no host left out of
 * placement); servers it made may stay.
 */
import { describe, before, test } from 'node:test'
import assert from 'node:assert/strict'
import { createRequire } from 'node:module'
import path from 'node:path'
import type * as EcsSdk from '@huaweicloud/huaweicloud-sdk-ecs'
import { DEMO } from '../../src/services/demo.ts'
import { Database } from '../../src/store/database.ts'
import { jobEnd, json, POLL_MS, sdkError, sdkStory, sleep, storyServer } from './story.ts'
import type { Ecs, StoryApi } from './story.ts'
import { checks as attributes } from './sdk-operations/attributes.ts'
import { checks as catalogue } from './sdk-operations/catalogue.ts'
import { checks as nics } from './sdk-operations/nics.ts'
import { checks as os } from './sdk-operations/os.ts'
import { checks as served } from './sdk-operations/served.ts'
import type { Client, OperationCheck, OperationChecks, OperationContext, Wire } from './sdk-operations/types.ts'
import { checks as volumes } from './sdk-operations/volumes.ts'

/** How many operations `EcsClient` has in the SDK version the project pins. */
const SDK_OPERATIONS = 103
/** Where the context's servers run unless a check says otherwise. */
const ZONE = 'az1'
/** The context's servers: the smallest KVM flavor, so that a hundred of them fit anywhere. */
const MACHINE = { imageRef: 'img-ubuntu-22.04', flavorRef: 's6.small.1' }
/** The bound of `until`: only keeps a broken run from hanging. */
const UNTIL_TIMEOUT_MS = 30_000
const DAY_MS = 86_400_000

/**
 * The SDK's operations: the methods of `EcsClient`, sorted. `getPath` is the one method that is
 * not an API call (the generator's helper). Read when the file loads, because the subtests are
 * registered then; loading the module writes nothing (only building a client does).
 */
const OPERATIONS: readonly string[] = (() => {
  const { EcsClient } = createRequire(import.meta.url)('@huaweicloud/huaweicloud-sdk-ecs') as typeof EcsSdk
  const prototype = EcsClient.prototype as unknown as Record<string, unknown>
  return Object.getOwnPropertyNames(prototype)
    .filter((name) => name !== 'constructor' && name !== 'getPath' && typeof prototype[name] === 'function')
    .sort()
})()

/** The six areas' checks merged, and the operations more than one area checks. */
function mergeChecks(modules: Record<string, OperationChecks>): { checks: Map<string, OperationCheck>; duplicated: string[] } {
  const checks = new Map<string, OperationCheck>()
  const duplicated: string[] = []
  for (const [area, areaChecks] of Object.entries(modules)) {
    for (const [operation, check] of Object.entries(areaChecks)) {
      if (checks.has(operation)) duplicated.push(`${operation} (again in ${area})`)
      checks.set(operation, check)
    }
  }
  return { checks, duplicated }
}

const { checks, duplicated } = mergeChecks({ served, attributes, os, nics, volumes, catalogue })

describe('every operation of the official Huawei Cloud SDK answers through the SDK', () => {
  const story = sdkStory<Client>({
    dirPrefix: 'ecsd-e2e-operations',
    ecsdArgs: ['--driver-latency-ms', '5'],
    // The monitor looks at accepted scheduled events every 100 ms; quotas stay out of the way of
    // the hundred-odd servers and the groups the checks make.
    ecsdEnv: { ECSD_JOB_SWEEP_MS: '100', ECSD_QUOTA_INSTANCES: '1000', ECSD_QUOTA_CORES: '10000', ECSD_QUOTA_SERVER_GROUPS: '200' },
  })
  /** The operations the SDK was asked for since the current check began. */
  const called = new Set<string>()
  let context: OperationContext

  /**
   * The SDK's client with every operation wrapped: the call is recorded for the current check,
   * and an `APIGW.0101` answer (ecsd has no such route) fails with a message naming the
   * operation instead of the SDK's generic exception.
   */
  const servedOnly = (client: Client): Client =>
    new Proxy(client, {
      get(target, name, receiver) {
        const value: unknown = Reflect.get(target, name, receiver)
        if (typeof name !== 'string' || typeof value !== 'function' || !OPERATIONS.includes(name)) return value
        return async (request: unknown): Promise<Wire> => {
          called.add(name)
          try {
            return (await value.call(target, request)) as Wire
          } catch (err) {
            const e = err as { errorCode?: string; httpStatusCode?: unknown; errorMsg?: string }
            if (e.errorCode === 'APIGW.0101') assert.fail(`${name}: not served — ecsd answered ${String(e.httpStatusCode)} APIGW.0101 (${e.errorMsg ?? 'no such API'})`)
            throw err
          }
        }
      },
    })

  before(() => {
    const { ecs, client: raw, dataDir } = story.started()
    const client = servedOnly(raw)
    let counter = 0
    let shared: Promise<string> | undefined

    const job: OperationContext['job'] = async (jobId, what) => {
      const ended = await jobEnd(client as unknown as Pick<StoryApi, 'showJob'>, ecs, jobId, what)
      assert.equal(ended.status, 'SUCCESS', `${what}: job ${jobId} ended ${ended.status}: ${json(ended)}`)
      return ended
    }

    const server = async (fields: Record<string, unknown> = {}): Promise<string> => {
      const definition = storyServer(ecs, `sdk-op-${++counter}`, 1, ZONE, undefined, MACHINE) as unknown as Record<string, unknown>
      // A field is given by its model name (`availabilityZone`, `osSchedulerHints`): through the
      // model's `with…` method, which writes the wire name; a name with no method is a wire name.
      for (const [field, value] of Object.entries(fields)) {
        const setter = definition[`with${field.charAt(0).toUpperCase()}${field.slice(1)}`]
        if (typeof setter === 'function') setter.call(definition, value)
        else definition[field] = value
      }
      const r = await client['createPostPaidServers']!(
        new ecs.CreatePostPaidServersRequest().withBody(new ecs.CreatePostPaidServersRequestBody().withServer(definition as never)),
      )
      assert.equal(r.httpStatusCode, 200, `createPostPaidServers: ${json(r)}`)
      const ids = r['serverIds'] as string[]
      assert.equal(ids.length, 1, `createPostPaidServers: serverIds ${json(ids)}`)
      await job(r['job_id'] as string, `create ${String(definition['name'])}`)
      return ids[0]!
    }

    const stoppedServer = async (fields?: Record<string, unknown>): Promise<string> => {
      const id = await server(fields)
      const r = await client['batchStopServers']!(
        new ecs.BatchStopServersRequest().withBody(
          new ecs.BatchStopServersRequestBody().withOsStop(new ecs.BatchStopServersOption().withServers([new ecs.ServerId(id)])),
        ),
      )
      await job(r['job_id'] as string, `stop ${id}`)
      return id
    }

    const rejection: OperationContext['rejection'] = (call, what) => sdkError(call, what)

    context = {
      ecs: ecs as Ecs,
      client,
      projectId: DEMO.projectId,
      unique: (prefix) => `${prefix}-${++counter}`,
      server,
      stoppedServer,
      job,
      admin: story.admin,
      refused: async (call, status, code, what) => story.assertSdkError(await rejection(call, what), status, code, what),
      sharedServer: () => {
        shared ??= server({ name: 'sdk-op-shared' }).catch((err: unknown) => {
          shared = undefined
          throw err
        })
        return shared
      },
      ageServers: async (serverIds, days) => {
        const database = Database.sqlite({ file: path.join(dataDir, 'ecsd.sqlite') })
        try {
          const created = new Date(Date.now() - days * DAY_MS).toISOString()
          const r = await database.db.updateTable('servers').set({ created_at: created }).where('id', 'in', [...serverIds]).executeTakeFirst()
          assert.equal(Number(r.numUpdatedRows), serverIds.length, `every server to age exists: ${json(serverIds)}`)
        } finally {
          await database.close()
        }
      },
      rejection,
      until: async (probe, done, what) => {
        const deadline = Date.now() + UNTIL_TIMEOUT_MS
        for (;;) {
          const value = await probe()
          if (done(value)) return value
          if (Date.now() > deadline) assert.fail(`${what}: still ${json(value)} after ${UNTIL_TIMEOUT_MS} ms`)
          await sleep(POLL_MS)
        }
      },
    }
  })

  test(`the checks cover exactly the SDK's ${SDK_OPERATIONS} operations`, () => {
    assert.equal(OPERATIONS.length, SDK_OPERATIONS, `EcsClient has ${OPERATIONS.length} operations: ${json(OPERATIONS)}`)
    const missing = OPERATIONS.filter((operation) => !checks.has(operation))
    const stale = [...checks.keys()].filter((operation) => !OPERATIONS.includes(operation)).sort()
    const problems = [
      missing.length > 0 ? `${missing.length} operations have no check: ${missing.join(', ')}` : '',
      stale.length > 0 ? `checks of operations EcsClient does not have: ${stale.join(', ')}` : '',
      duplicated.length > 0 ? `operations checked by two modules: ${duplicated.join(', ')}` : '',
    ].filter((line) => line !== '')
    assert.ok(problems.length === 0, problems.join('\n'))
  })

  for (const operation of OPERATIONS) {
    test(operation, async (t) => {
      const check = checks.get(operation)
      if (check === undefined) {
        t.skip('no check yet (the coverage test lists it)')
        return
      }
      called.clear()
      try {
        await check(context)
        assert.ok(called.has(operation), `the check of ${operation} never called ${operation} through the SDK (it called ${json([...called])})`)
      } catch (err) {
        const stderr = story.started().ecsd.stderr()
        if (stderr !== '' && err instanceof Error) err.message += `\n--- ecsd stderr ---\n${stderr}`
        throw err
      }
    })
  }
})

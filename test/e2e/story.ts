/**
 * What the end-to-end stories driven through the official Huawei Cloud SDK share: one real
 * ecsd process per story with the SDK pointed at it, a step runner that stops a story at its
 * first failure, the operator call for the set-up the API has no SDK call for, and small helpers
 * for what the SDK answers.
 */
import { test, before, after, type TestContext } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import type * as EcsSdk from '@huaweicloud/huaweicloud-sdk-ecs'
import { sdkHeaders } from '../../src/api/auth/signature.ts'
import { DEMO } from '../../src/services/demo.ts'
import { startEcsd, type EcsdProcess } from '../process.ts'
import { loadHuaweiSdk, type HuaweiSdk } from '../sdk.ts'

/** How often the stories poll for a state: short, since the driver latency is only 20 ms. */
export const POLL_MS = 20
/** How long a job may run before a story fails instead of hanging. */
const JOB_TIMEOUT_MS = 20_000

// ---------------------------------------------------------------------------------------------
// Wire shapes. The SDK's promises resolve to the parsed JSON (snake_case keys) plus
// `httpStatusCode`, not to its camelCase response classes, so the client is typed by hand.

/** What every SDK answer carries beside the JSON. */
export interface Sdk {
  httpStatusCode: number
}
/** A server as showServer and the server lists return it. */
export interface ServerWire {
  id: string
  name: string
  status: string
  flavor: { id: string; vcpus: string; ram: string }
  'OS-EXT-SRV-ATTR:host': string
  'OS-EXT-AZ:availability_zone': string
  'os:scheduler_hints': { group?: string[] }
}
/** A server group. */
export interface GroupWire {
  id: string
  name: string
  policies: string[]
  members: string[]
}
/** One server's part of a batch job. */
export interface SubJobWire {
  status: string
  job_type: string
  entities: { server_id?: string }
}
/** A job as showJob returns it. */
export interface JobWire {
  status: string
  job_id: string
  job_type: string
  fail_reason: string | null
  entities: { sub_jobs_total?: number; sub_jobs?: SubJobWire[] }
}
/** showServerLimits' answer. */
export interface LimitsWire {
  absolute: Record<string, number | unknown[]>
}

/** The SDK's ECS module. */
export type Ecs = typeof EcsSdk
/** The request class `K` of the SDK, as an instance type. */
export type Req<K extends keyof Ecs> = Ecs[K] extends abstract new (...args: never[]) => infer I ? I : never

/**
 * The calls of `EcsClient` that more than one story makes, with the responses as they really
 * arrive; each story extends it with the calls it tests.
 */
export interface StoryApi {
  createPostPaidServers(r: Req<'CreatePostPaidServersRequest'>): Promise<Sdk & { job_id: string; serverIds: string[] }>
  showJob(r: Req<'ShowJobRequest'>): Promise<Sdk & JobWire>
  showServer(r: Req<'ShowServerRequest'>): Promise<Sdk & { server: ServerWire }>
  listServersDetails(r: Req<'ListServersDetailsRequest'>): Promise<Sdk & { count: number; servers: ServerWire[] }>
  batchStopServers(r: Req<'BatchStopServersRequest'>): Promise<Sdk & { job_id: string }>
  batchStartServers(r: Req<'BatchStartServersRequest'>): Promise<Sdk & { job_id: string }>
  deleteServers(r: Req<'DeleteServersRequest'>): Promise<Sdk & { job_id: string }>
  createServerGroup(r: Req<'CreateServerGroupRequest'>): Promise<Sdk & { server_group: GroupWire }>
  showServerGroup(r: Req<'ShowServerGroupRequest'>): Promise<Sdk & { server_group: GroupWire }>
  deleteServerGroup(r: Req<'DeleteServerGroupRequest'>): Promise<Sdk>
  showServerLimits(r: Req<'ShowServerLimitsRequest'>): Promise<Sdk & LimitsWire>
}

// ---------------------------------------------------------------------------------------------
// Helpers.

/** What the SDK rejects with on a non-2xx answer. */
export interface SdkError extends Error {
  httpStatusCode?: number | string
  errorCode?: string
  errorMsg?: string
  requestId?: string
}

/** Resolves after `ms` milliseconds. */
export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms))
/** A sorted copy, to compare id lists whose order the API does not promise. */
export const sorted = (xs: readonly string[]) => [...xs].sort()
/** `JSON.stringify`, under a name short enough for the failure messages. */
export const json = (v: unknown) => JSON.stringify(v)

/** Awaits a promise that must reject with an SDK exception, and returns the exception. */
export async function sdkError(p: Promise<unknown>, what: string): Promise<SdkError> {
  let value: unknown
  try {
    value = await p
  } catch (err) {
    assert.ok(err instanceof Error, `${what}: rejected with a non-Error: ${String(err)}`)
    return err as SdkError
  }
  assert.fail(`${what}: expected the SDK to reject, but it resolved with ${json(value)}`)
}

/**
 * The post-paid server every story creates (Ubuntu, s6.large.2 unless `machine` names another
 * image and flavor; the e2e VPC and subnet, an SSD root volume), `count` of them in `zone`, in
 * the group `groupId` if one is given.
 */
export function storyServer(
  ecs: Ecs, name: string, count: number, zone: string, groupId?: string,
  machine: { imageRef: string; flavorRef: string } = { imageRef: 'img-ubuntu-22.04', flavorRef: 's6.large.2' },
): Req<'PostPaidServer'> {
  const server = new ecs.PostPaidServer()
    .withImageRef(machine.imageRef)
    .withFlavorRef(machine.flavorRef)
    .withName(name)
    .withVpcid('vpc-e2e')
    .withNics([new ecs.PostPaidServerNic().withSubnetId('subnet-e2e')])
    .withRootVolume(new ecs.PostPaidServerRootVolume().withVolumetype('SSD'))
    .withCount(count)
    .withAvailabilityZone(zone)
  if (groupId !== undefined) server.withOsSchedulerHints(new ecs.PostPaidServerSchedulerHints().withGroup(groupId))
  return server
}

/**
 * Polls showJob every POLL_MS until the job leaves RUNNING and INIT, and returns it as it ended;
 * fails when the response has no job id, when a poll is not a 200 for that job, or when the job
 * still runs after JOB_TIMEOUT_MS. Whether it ended well is the caller's to assert.
 */
export async function jobEnd(client: Pick<StoryApi, 'showJob'>, ecs: Ecs, jobId: string | undefined, what: string): Promise<JobWire> {
  assert.equal(typeof jobId, 'string', `${what}: no job_id in the response`)
  const deadline = Date.now() + JOB_TIMEOUT_MS
  for (;;) {
    const job = await client.showJob(new ecs.ShowJobRequest(jobId))
    assert.equal(job.httpStatusCode, 200)
    assert.equal(job.job_id, jobId)
    if (job.status !== 'RUNNING' && job.status !== 'INIT') return job
    if (Date.now() > deadline) assert.fail(`${what}: job ${jobId} still ${job.status} after ${JOB_TIMEOUT_MS} ms: ${json(job)}`)
    await sleep(POLL_MS)
  }
}

/** How one story's ecsd is started. */
export interface StoryOptions {
  /** Names the temporary directories `<dirPrefix>-data-…` and `<dirPrefix>-home-…`, so a leftover one tells its story. */
  dirPrefix: string
  /** `ecsd serve` arguments beyond the port, data directory and log level. */
  ecsdArgs: string[]
  /** Environment variables for the process, for the settings it has no flag for. */
  ecsdEnv?: Record<string, string>
}

/** A story once its `before` hook has run: the process, the SDK's modules and a client. */
export interface StartedStory<Api> extends HuaweiSdk {
  /** The running ecsd. */
  ecsd: EcsdProcess
  /** Its data directory, for the set-up that goes to its database directly. */
  dataDir: string
  /** The client of the demo project, with the demo credential. */
  client: Api
}

/** What `sdkStory` gives a story file. */
export interface SdkStory<Api> {
  /**
   * The started story. A function because there is nothing to return before the story's
   * `before` hook has run: it throws when called earlier, so a file reads it in a `before` of its
   * own (registered after the story's, so it runs after it) or in a step.
   */
  started(): StartedStory<Api>
  /** Another client of the demo project: the demo access key with `secretKey`. */
  newClient(secretKey: string): Api
  /**
   * Registers a step of the story: the steps share state and run in order, so once one fails
   * the following ones are skipped (naming the failed step) instead of failing with confusing
   * follow-on errors; a failure carries ecsd's stderr.
   */
  step(name: string, fn: (t: TestContext) => Promise<void>): Promise<void>
  /** A call signed with the demo operator credential, as the SDK would sign it; must answer 200. */
  admin(method: 'GET' | 'PUT' | 'POST', pathAndQuery: string, body?: unknown): Promise<unknown>
  /** Asserts that `err` is the SDK's exception for a `status` answer with `code`, a message and a request id. */
  assertSdkError(err: SdkError, status: number, code: string, what: string): void
}

/**
 * Registers, in the `describe` it is called in, the hooks of a story: `before` creates the
 * temporary data and HOME directories, starts ecsd and loads the SDK; `after` stops ecsd with
 * SIGTERM, asserts that it exits 0, restores HOME and removes the directories. `Api` is the
 * caller's typing of `EcsClient`: its promises resolve to the wire JSON, not to the SDK's classes.
 */
export function sdkStory<Api>(options: StoryOptions): SdkStory<Api> {
  const savedHome = process.env['HOME']
  let dataDir = ''
  let homeDir = ''
  let ecsd: EcsdProcess | undefined
  let story: StartedStory<Api> | undefined
  // Should the test process exit without running `after`, the server must not outlive it.
  const killOnExit = () => ecsd?.child.kill('SIGKILL')

  const started = (): StartedStory<Api> => {
    if (story === undefined) throw new Error('the story has not started: read it in a step, or in a hook registered after sdkStory')
    return story
  }

  const buildClient = (sdk: HuaweiSdk, url: string, secretKey: string): Api => {
    const credentials = new sdk.BasicCredentials().withAk(DEMO.accessKey).withSk(secretKey).withProjectId(DEMO.projectId)
    // No trailing slash: the SDK would sign `//v1/…` while sending `/v1/…` (likewise `/v3/…`).
    return sdk.ecs.EcsClient.newBuilder().withCredential(credentials).withEndpoint(url).build() as unknown as Api
  }

  before(async () => {
    dataDir = mkdtempSync(path.join(tmpdir(), `${options.dirPrefix}-data-`))
    homeDir = mkdtempSync(path.join(tmpdir(), `${options.dirPrefix}-home-`))
    process.on('exit', killOnExit)
    ecsd = await startEcsd(dataDir, options.ecsdArgs, options.ecsdEnv)
    const sdk = loadHuaweiSdk(homeDir)
    story = { ...sdk, ecsd, dataDir, client: buildClient(sdk, ecsd.url, DEMO.secretKey) }
  })

  after(async () => {
    try {
      if (ecsd) {
        const exit = await ecsd.stop('SIGTERM')
        process.off('exit', killOnExit)
        assert.equal(exit, 0, `ecsd ended with ${String(exit)} after SIGTERM\n${ecsd.stderr()}`)
      }
    } finally {
      if (savedHome === undefined) delete process.env['HOME']
      else process.env['HOME'] = savedHome
      for (const dir of [dataDir, homeDir]) if (dir !== '') rmSync(dir, { recursive: true, force: true })
    }
  })

  let failedStep: string | undefined
  const step = (name: string, fn: (t: TestContext) => Promise<void>) =>
    test(name, async (t) => {
      if (failedStep !== undefined) {
        t.skip(`skipped: earlier step "${failedStep}" failed`)
        return
      }
      try {
        await fn(t)
      } catch (err) {
        failedStep = name
        if (ecsd && ecsd.stderr() !== '' && err instanceof Error) err.message += `\n--- ecsd stderr ---\n${ecsd.stderr()}`
        throw err
      }
    })

  const admin = async (method: 'GET' | 'PUT' | 'POST', pathAndQuery: string, body?: unknown): Promise<unknown> => {
    const { url } = started().ecsd
    const payload = body === undefined ? undefined : JSON.stringify(body)
    const credential = { accessKey: DEMO.adminAccessKey, secretKey: DEMO.adminSecretKey, projectId: DEMO.projectId }
    const headers = sdkHeaders({ method, url: pathAndQuery, host: new URL(url).host, body: payload, credential })
    const res = await fetch(url + pathAndQuery, { method, headers, ...(payload === undefined ? {} : { body: payload }) })
    const text = await res.text()
    assert.equal(res.status, 200, `${method} ${pathAndQuery}: ${text}`)
    return JSON.parse(text) as unknown
  }

  const assertSdkError = (err: SdkError, status: number, code: string, what: string) => {
    assert.ok(err instanceof started().ClientRequestException, `${what}: expected ClientRequestException, got ${err.name}: ${err.message}`)
    assert.equal(Number(err.httpStatusCode), status, `${what}: httpStatusCode (errorCode ${err.errorCode}, ${err.errorMsg})`)
    assert.equal(err.errorCode, code, `${what}: errorCode (${err.errorMsg})`)
    assert.ok(typeof err.errorMsg === 'string' && err.errorMsg !== '', `${what}: errorMsg is empty`)
    assert.ok(typeof err.requestId === 'string' && err.requestId !== '', `${what}: requestId ${json(err.requestId)} is not a non-empty string`)
  }

  return {
    started,
    newClient: (secretKey) => buildClient(started(), started().ecsd.url, secretKey),
    step,
    admin,
    assertSdkError,
  }
}

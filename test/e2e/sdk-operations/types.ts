import type { Ecs, JobWire, SdkError } from '../story.ts'

/**
 * An answer of the SDK as it really arrives: the wire JSON (plus the SDK's `httpStatusCode`),
 * read by each check as its operation documents it.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Wire = Record<string, any>

/** `EcsClient` as the checks call it: any operation by name, answering the wire JSON. */
export type Client = Record<string, (request: unknown) => Promise<Wire>>

/** What a check of one SDK operation has: the SDK, a client of the demo project, fixtures. */
export interface OperationContext {
  /** The SDK's module: its request and body classes. */
  ecs: Ecs
  client: Client
  projectId: string
  /** A name no other check uses. */
  unique(prefix: string): string
  /** A new ACTIVE server of the demo project, created through the SDK (`fields` override the defaults); its id. */
  server(fields?: Record<string, unknown>): Promise<string>
  /** A new SHUTOFF server. */
  stoppedServer(fields?: Record<string, unknown>): Promise<string>
  /** Waits for a job to end and asserts it succeeded. */
  job(jobId: string | undefined, what: string): Promise<JobWire>
  /** A call signed with the demo operator credential (ecsd's own admin API); must answer 200. */
  admin(method: 'GET' | 'PUT' | 'POST', pathAndQuery: string, body?: unknown): Promise<unknown>
  /** Asserts that `call` is refused with `status` and the Huawei error `code`. */
  refused(call: Promise<unknown>, status: number, code: string, what: string): Promise<void>
  /**
   * An ACTIVE server made once and shared by every check that only reads a server: a check that
   * changes it (stops, renames, tags, moves…) must make its own with `server()`.
   */
  sharedServer(): Promise<string>
  /** Makes servers look `days` old (their creation time in the process's database), for the recycle bin's threshold. */
  ageServers(serverIds: readonly string[], days: number): Promise<void>
  /** Awaits a call the SDK must reject, and returns its exception (for answers `refused` cannot describe, e.g. Nova's faults). */
  rejection(call: Promise<unknown>, what: string): Promise<SdkError>
  /** Calls `probe` every few milliseconds until `done` holds for its answer, which it returns; fails after a bound that only keeps a broken run from hanging. */
  until<T>(probe: () => Promise<T>, done: (value: T) => boolean, what: string): Promise<T>
}

/**
 * The check of one operation: it calls the operation through the SDK and reads back what it
 * wrote (or what it reports) through the SDK.
 */
export type OperationCheck = (c: OperationContext) => Promise<void>

/** Checks keyed by the `EcsClient` method name. */
export type OperationChecks = Record<string, OperationCheck>

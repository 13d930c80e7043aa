import type { Ecs, JobWire } from '../story.ts'

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
}

/**
 * The check of one operation: it calls the operation through the SDK and reads back what it
 * wrote (or what it reports) through the SDK.
 */
export type OperationCheck = (c: OperationContext) => Promise<void>

/** Checks keyed by the `EcsClient` method name. */
export type OperationChecks = Record<string, OperationCheck>

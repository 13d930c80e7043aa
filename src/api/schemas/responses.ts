import { Type, type Static, type TProperties, type TSchema, type TSchemaOptions } from 'typebox'
import { NOVA_FAULT_NAMES } from '../errors.ts'

/**
 * The base of every response schema. Response schemas describe the answers in /openapi.json and
 * are what test/api/openapi-responses.test.ts checks real answers against; they do not shape
 * the answers: src/app.ts serialises with `JSON.stringify` except on the few routes it opts in
 * for speed. Even there a schema must never drop or change a field, so every object is open
 * (`additionalProperties: true`) and every value that can be null is typed nullable.
 */

/** An object that names the properties it documents and lets any other through. */
export function Open<T extends TProperties>(properties: T, options: TSchemaOptions = {}) {
  return Type.Object(properties, { ...options, additionalProperties: true })
}

/** A value that is `null` when absent (rather than a missing property). */
export function Nullable<T extends TSchema>(schema: T, options: TSchemaOptions = {}) {
  return Type.Union([schema, Type.Null()], options)
}

/** An answer without a body (`204`, or a `200`/`202` with nothing in it). */
export function NoContent(description: string) {
  // Typed as nothing: the handler sends no payload at all (`null` would be serialised as "null").
  return Type.Unsafe<undefined>(Type.Null({ description }))
}

/** The `text/plain` media type of an answer, for answers that are JSON or text. */
export const PlainTextMedia = { 'text/plain': { schema: Type.String() } }

/**
 * An answer in plain text rather than JSON (its media type in the document is `text/plain`).
 * Handlers send it as a string with its content type set, which fastify never serialises.
 */
export function PlainText(description: string) {
  return { description, content: PlainTextMedia }
}

/** `{"job_id": …}`: an accepted asynchronous operation; `GET /v1/{project_id}/jobs/{job_id}` follows it. */
export const JobAccepted = Open({ job_id: Type.String() }, { description: 'The operation was accepted; follow its job.' })

/** `{}`: an answer whose body is an empty object (so that the SDK copies the request id into its response). */
export const EmptyObject = Open({}, { description: 'Done; the body is an empty object.' })

/** A string-to-string map (metadata, extra specs). */
export const StringMap = Type.Record(Type.String(), Type.String())

/** A link of the OpenStack APIs: `{"rel": "self", "href": …}`. */
export const Link = Open({ rel: Type.String(), href: Type.String(), type: Type.Optional(Type.String()) })

/**
 * A failure of the Huawei, operator and agent APIs (and of the version list, Glance and
 * `/metrics`, which share the handler): `{"error": {"code", "message"}}` with a Huawei error code,
 * or, for a failure decided at the gateway (authentication), `{"error_code", "error_msg",
 * "request_id"}` as Huawei's API gateway answers.
 */
export const HuaweiError = Type.Union(
  [
    Open(
      { error: Open({ code: Type.String({ description: 'e.g. Ecs.0114; see docs/compatibility.md' }), message: Type.String() }) },
      { title: 'EcsError' },
    ),
    Open({ error_code: Type.String({ description: 'e.g. APIGW.0301' }), error_msg: Type.String(), request_id: Type.String() }, { title: 'GatewayError' }),
  ],
  { $id: 'HuaweiError', description: 'A failure, in the Huawei API\'s shape' },
)

const NovaFaultDetail = Open({
  code: Type.Integer({ description: 'The HTTP status' }),
  message: Type.String(),
  retryAfter: Type.Optional(Type.String({ description: 'Seconds to wait, on overLimit' })),
})

/**
 * A failure of the OpenStack Compute API: a Nova fault, one property named after the status
 * (`{"itemNotFound": {"code": 404, "message": …}}`).
 */
export const NovaFault = Type.Unsafe<Record<string, Static<typeof NovaFaultDetail>>>({
  $id: 'NovaFault',
  description: 'A failure, as a Nova fault',
  type: 'object',
  minProperties: 1,
  maxProperties: 1,
  propertyNames: { enum: [...new Set([...Object.values(NOVA_FAULT_NAMES), 'computeFault'])] },
  additionalProperties: NovaFaultDetail,
})

/**
 * A failure of Identity v3: Keystone's `{"error": {"code": 401, "title", "message"}}`, or, for a
 * body that does not match the request schema, the Huawei shape with a string code.
 */
export const IdentityError = Open(
  { error: Open({ code: Type.Union([Type.Integer(), Type.String()]), message: Type.String(), title: Type.Optional(Type.String()) }) },
  { $id: 'IdentityError', description: 'A failure, as Keystone words it' },
)

/** The schemas routes refer to by `$id`; src/app.ts adds them, and /openapi.json lists them as components. */
export const SHARED_RESPONSE_SCHEMAS: readonly TSchema[] = [HuaweiError, NovaFault, IdentityError]

/** A reference to a shared schema, typed as the schema it names. */
function ref<T extends TSchema>(schema: T) {
  const id = (schema as { $id?: unknown }).$id
  if (typeof id !== 'string') throw new Error('a shared response schema needs an $id')
  return Type.Unsafe<Static<T>>(Type.Ref(id))
}

/** The error answers of a Huawei, operator or agent route: every 4xx and 5xx is a `HuaweiError`. */
export const huaweiErrors = { '4xx': ref(HuaweiError), '5xx': ref(HuaweiError) }

/** The error answers of an OpenStack Compute route: every 4xx and 5xx is a `NovaFault`. */
export const novaErrors = { '4xx': ref(NovaFault), '5xx': ref(NovaFault) }

/** The error answers of an Identity route. */
export const identityErrors = { '4xx': ref(IdentityError), '5xx': ref(IdentityError) }

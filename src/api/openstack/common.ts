import { Ajv, type ValidateFunction } from 'ajv'
import addFormats from 'ajv-formats'
import type { FastifyRequest } from 'fastify'
import type { TSchema } from 'typebox'
import { emptyBody, novaInvalidInput, policyForbidden } from '../../domain/errors.ts'
import { describeValidation } from '../errors.ts'
import { publicBase } from '../identity/routes.ts'
import { projectOf } from '../huawei/project.ts'

/** The caller of an OpenStack request, once authenticated. */
export interface Caller {
  projectId: string
  /** The user for token callers; for AK/SK-signed callers (no user), the project id, as ecsd's v1 views show it. */
  userId: string
  admin: boolean
}

/** The authenticated caller of a request. */
export function callerOf(req: FastifyRequest): Caller {
  const projectId = projectOf(req)
  return { projectId, userId: req.principal?.userId ?? projectId, admin: req.principal?.admin === true }
}

/** Refuses a non-admin caller with Nova's policy fault naming `rule`. */
export function requireAdmin(req: FastifyRequest, rule: string): Caller {
  const caller = callerOf(req)
  if (!caller.admin) throw policyForbidden(rule)
  return caller
}

/** Nova's `links` of a resource: the versioned and the bookmark (unversioned) URL. */
export function links(req: FastifyRequest, projectId: string, resource: string) {
  const base = publicBase(req)
  return [
    { rel: 'self', href: `${base}/v2.1/${projectId}/${resource}` },
    { rel: 'bookmark', href: `${base}/${projectId}/${resource}` },
  ]
}

// Bodies of the OpenStack surface change shape with the microversion, so they are validated in
// the handler, once the version is known, with the same strictness as route schemas.
const ajv = new Ajv({ removeAdditional: false, coerceTypes: false, useDefaults: false, allErrors: true })
addFormats.default(ajv)
const compiled = new WeakMap<TSchema, ValidateFunction>()

/**
 * Checks a request body against the schema of the requested microversion and returns it typed;
 * a missing body, or one that does not match, is Nova's 400 naming every wrong field.
 */
export function validBody<T>(schema: TSchema, body: unknown): T {
  if (body === undefined || body === null) throw emptyBody()
  let validate = compiled.get(schema)
  if (!validate) {
    validate = ajv.compile(schema)
    compiled.set(schema, validate)
  }
  if (!validate(body)) {
    const failure = Object.assign(new Error('invalid body'), { validation: validate.errors ?? [], validationContext: 'body' })
    throw novaInvalidInput(describeValidation(failure as Parameters<typeof describeValidation>[0]))
  }
  return body as T
}

/** A UUID in any case, with or without dashes, as Nova's `uuid` format accepts. */
export function isUuid(text: string): boolean {
  return /^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$/i.test(text)
}

import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify'
import { EcsError, GatewayError, emptyBody, internalError, invalidParameter } from '../domain/errors.ts'

interface AjvIssue {
  instancePath: string
  keyword: string
  message?: string
  params: Record<string, unknown>
}

/** A validation error as fastify raises it. */
type ValidationFailure = FastifyError & { validation: AjvIssue[]; validationContext?: string }

/**
 * Turns a request-validation failure into an actionable message: which part, which field, what
 * was wrong, naming unknown fields and allowed values.
 */
export function describeValidation(err: ValidationFailure): string {
  const part = err.validationContext ?? 'request'
  return err.validation
    .map((issue) => {
      const where = `${part}${issue.instancePath}`
      switch (issue.keyword) {
        case 'additionalProperties':
          return `${where}: unknown field "${String(issue.params.additionalProperty)}"`
        case 'required':
          return `${where}: missing required field "${String(issue.params.missingProperty)}"`
        case 'enum':
          return `${where}: must be one of ${(issue.params.allowedValues as unknown[]).map((v) => JSON.stringify(v)).join(', ')}`
        case 'minProperties':
        case 'maxProperties':
          return `${where}: must contain exactly one action`
        default:
          return `${where} ${issue.message ?? 'is invalid'}`
      }
    })
    .join('; ')
}

function isValidationFailure(err: unknown): err is ValidationFailure {
  return Array.isArray((err as { validation?: unknown }).validation)
}

/** Nova's fault names by HTTP status (`nova/api/openstack/wsgi.py`, `Fault._fault_names`). */
export const NOVA_FAULT_NAMES: Record<number, string> = {
  400: 'badRequest', 401: 'unauthorized', 403: 'forbidden', 404: 'itemNotFound', 405: 'badMethod',
  406: 'notAcceptable', 409: 'conflictingRequest', 413: 'overLimit', 415: 'badMediaType', 429: 'overLimit',
  501: 'notImplemented', 503: 'serviceUnavailable',
}

/**
 * The Nova status of an error whose code has a different one there: an operation refused for the
 * server's state is a conflict (409), a quota a refusal (403).
 */
const NOVA_STATUS_BY_CODE: Record<string, number> = { 'Ecs.0100': 409, 'Ecs.0022': 403, 'Ecs.0001': 403, 'Ecs.0003': 403 }

/** Requests of the OpenStack Compute surface (`/v2.1…`), whose errors are Nova faults. */
export function isOpenStackRequest(req: FastifyRequest): boolean {
  const url = req.raw.url ?? req.url
  return url === '/v2.1' || url.startsWith('/v2.1/') || url.startsWith('/v2.1?')
}

/** A Nova fault body: `{"itemNotFound": {"code": 404, "message": "…"}}`. */
export function novaFault(status: number, message: string) {
  return { [NOVA_FAULT_NAMES[status] ?? 'computeFault']: { code: status, message } }
}

/**
 * The one error handler: domain errors keep their code and status, request errors become
 * `Ecs.0005`/`Common.0002`, and anything else is an internal fault — logged with its stack,
 * answered as `Common.0001` without internals. The same error is rendered in the Huawei shapes
 * on the Huawei API and as a Nova fault on the OpenStack Compute API.
 */
export function handleError(err: unknown, req: FastifyRequest, reply: FastifyReply): FastifyReply {
  const nova = isOpenStackRequest(req)
  if (err instanceof GatewayError) {
    if (nova) return reply.code(err.status).send(novaFault(err.status, err.message))
    return reply.code(err.status).send({ error_code: err.code, error_msg: err.message, request_id: req.id })
  }
  let ecs: EcsError
  if (err instanceof EcsError) {
    ecs = err
  } else if (isValidationFailure(err)) {
    const bodyMissing = err.validationContext === 'body' && (req.body === undefined || req.body === null)
    ecs = bodyMissing ? emptyBody() : invalidParameter(describeValidation(err))
  } else {
    const fe = err as Partial<FastifyError>
    if (fe.code === 'FST_ERR_MAX_PARAM_LENGTH') {
      ecs = new EcsError('Ecs.0005', 414, 'Invalid parameter values: a path parameter is longer than 100 characters; ids have at most 64.')
    } else if (fe.code === 'FST_ERR_BAD_URL') {
      ecs = invalidParameter('the request path is not correctly percent-encoded')
    } else if (fe.code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
      ecs = new EcsError('Ecs.0005', 413, 'Invalid parameter values: the request body is larger than the 1 MiB limit.')
    } else if (typeof fe.statusCode === 'number' && fe.statusCode >= 400 && fe.statusCode < 500) {
      ecs = invalidParameter(fe.message ?? 'the request could not be read')
    } else {
      req.log.error({ err }, 'internal error')
      ecs = internalError()
    }
  }
  if (ecs.status >= 500) req.log.error({ code: ecs.code }, ecs.message)
  if (nova) {
    const status = ecs.nova?.status ?? NOVA_STATUS_BY_CODE[ecs.code] ?? ecs.status
    const body = novaFault(status, ecs.nova?.message ?? ecs.message)
    // A rate-limited client is told when to retry, as Nova's overLimit fault does.
    const retryAfter = reply.getHeader('retry-after')
    if (status === 429 && retryAfter !== undefined) Object.assign(body['overLimit']!, { retryAfter: String(retryAfter) })
    return reply.code(status).send(body)
  }
  return reply.code(ecs.status).send({ error: { code: ecs.code, message: ecs.message } })
}

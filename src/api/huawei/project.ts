import type { FastifyRequest } from 'fastify'

/**
 * The project a request acts on: the authenticated principal's, which authentication has
 * already checked against the path. Reading it anywhere else would let a handler act on an
 * unchecked path parameter.
 */
export function projectOf(req: FastifyRequest): string {
  if (!req.principal) throw new Error('route reached without authentication')
  return req.principal.projectId
}

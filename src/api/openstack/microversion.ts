import type { FastifyReply, FastifyRequest } from 'fastify'
import { microversionMalformed, microversionNotSupported } from '../../domain/errors.ts'

/**
 * Compute API microversions as Nova negotiates them (`nova/api/openstack/api_version_request.py`,
 * `wsgi.py`): the client names one in `OpenStack-API-Version: compute X.Y` (2.27+) or the legacy
 * `X-OpenStack-Nova-API-Version: X.Y`; none means the minimum, `latest` the maximum.
 */

/** A microversion as `[major, minor]`. */
export type Microversion = readonly [number, number]

/** The oldest microversion served: the base of the v2.1 API. */
export const MIN_MICROVERSION: Microversion = [2, 1]
/**
 * The newest microversion served: every shape up to it is implemented (2.71 adds the server's
 * `server_groups`; 2.72 and later change nothing ecsd serves in a way it does yet).
 */
export const MAX_MICROVERSION: Microversion = [2, 71]

/** `2.64` */
export function formatVersion(v: Microversion): string {
  return `${v[0]}.${v[1]}`
}

/** True when `v` is at least `major.minor`. */
export function atLeast(v: Microversion, major: number, minor: number): boolean {
  return v[0] > major || (v[0] === major && v[1] >= minor)
}

declare module 'fastify' {
  interface FastifyRequest {
    /** The negotiated compute microversion of an OpenStack request. */
    microversion: Microversion
  }
}

/** The requested version text: the new header wins over the legacy one, as in Nova. */
function requested(req: FastifyRequest): string | undefined {
  const modern = req.headers['openstack-api-version']
  if (typeof modern === 'string') {
    // The header may name several services ("compute 2.60, volume 3.10"); only compute's counts.
    for (const part of modern.split(',')) {
      const [service, version, ...rest] = part.trim().split(/\s+/)
      if (service?.toLowerCase() === 'compute' && rest.length === 0) return version ?? ''
    }
  }
  const legacy = req.headers['x-openstack-nova-api-version']
  return typeof legacy === 'string' ? legacy.trim() : undefined
}

/**
 * Reads the request's microversion onto `req.microversion`. Malformed → 400, outside
 * [min, max] → 406 (both Nova faults). The version headers are echoed only once a version is
 * accepted; `Vary` and `X-OpenStack-Request-Id` are set on every answer, faults included.
 */
export function negotiateMicroversion(req: FastifyRequest, reply: FastifyReply): void {
  reply.header('vary', 'OpenStack-API-Version, X-OpenStack-Nova-API-Version')
  // Nova's request id, which OpenStack clients log and print with errors; the same id as X-Request-Id.
  reply.header('x-openstack-request-id', `req-${req.id.replace(/^(.{8})(.{4})(.{4})(.{4})(.{12})$/, '$1-$2-$3-$4-$5')}`)
  const text = requested(req)
  let version: Microversion
  if (text === undefined) {
    version = MIN_MICROVERSION
  } else if (text.toLowerCase() === 'latest') {
    version = MAX_MICROVERSION
  } else {
    const m = /^([1-9]\d{0,3})\.(0|[1-9]\d{0,3})$/.exec(text)
    if (!m) throw microversionMalformed(text)
    version = [Number(m[1]), Number(m[2])]
    if (!atLeast(version, ...MIN_MICROVERSION) || atLeast(version, MAX_MICROVERSION[0], MAX_MICROVERSION[1] + 1)) {
      throw microversionNotSupported(text, formatVersion(MIN_MICROVERSION), formatVersion(MAX_MICROVERSION))
    }
  }
  req.microversion = version
  reply.header('openstack-api-version', `compute ${formatVersion(version)}`)
  reply.header('x-openstack-nova-api-version', formatVersion(version))
}

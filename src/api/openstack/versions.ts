import type { FastifyRequest } from 'fastify'
import { publicBase } from '../identity/routes.ts'
import { formatVersion, MAX_MICROVERSION, MIN_MICROVERSION } from './microversion.ts'

/** When the v2.1 API was last changed in Nova's version documents (a constant there too). */
const V21_UPDATED = '2013-07-23T11:33:21Z'

/** The v2.1 entry of a version list: `GET /` (`novaListVersions`). */
export function versionSummary(req: FastifyRequest) {
  return {
    id: 'v2.1',
    status: 'CURRENT',
    version: formatVersion(MAX_MICROVERSION),
    min_version: formatVersion(MIN_MICROVERSION),
    updated: V21_UPDATED,
    links: [{ rel: 'self', href: `${publicBase(req)}/v2.1/` }],
  }
}

/**
 * The v2.1 version document: `GET /v2.1` (`novaShowVersion`). Clients (keystoneauth,
 * openstacksdk) read the microversion range from it; without it they refuse to talk to the API.
 */
export function versionDocument(req: FastifyRequest) {
  const summary = versionSummary(req)
  return {
    version: {
      ...summary,
      links: [...summary.links, { rel: 'describedby', type: 'text/html', href: 'https://docs.openstack.org/' }],
      'media-types': [{ base: 'application/json', type: 'application/vnd.openstack.compute+json;version=2.1' }],
    },
  }
}

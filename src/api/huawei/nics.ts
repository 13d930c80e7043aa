import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { Services } from '../../services/index.ts'

/** A server's NICs, virtual IPs and VPC (under /v1/{project_id}). */
export const nicRoutes: FastifyPluginAsyncTypebox<{ services: Services }> = async (_app, _options) => {}

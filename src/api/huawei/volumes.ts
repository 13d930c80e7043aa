import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { Services } from '../../services/index.ts'

/** Volumes attached to servers: attach, detach, block devices (under /v1/{project_id}). */
export const volumeRoutes: FastifyPluginAsyncTypebox<{ services: Services }> = async (_app, _options) => {}

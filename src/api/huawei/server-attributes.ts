import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { Services } from '../../services/index.ts'

/** A server's name, description, tags, metadata, metadata options and auto-terminate time (under /v1/{project_id}). */
export const serverAttributeRoutes: FastifyPluginAsyncTypebox<{ services: Services }> = async (_app, _options) => {}

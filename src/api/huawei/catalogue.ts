import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { Services } from '../../services/index.ts'

/** Availability zones, flavor sell policies and charge-mode changes (under /v1/{project_id}). */
export const catalogueRoutes: FastifyPluginAsyncTypebox<{ services: Services }> = async (_app, _options) => {}

/** `createServers` and `listCloudServers` (under /v1.1/{project_id}). */
export const cloudServerV11Routes: FastifyPluginAsyncTypebox<{ services: Services }> = async (_app, _options) => {}

/** Launch templates and their versions (under /v3/{project_id}). */
export const launchTemplateRoutes: FastifyPluginAsyncTypebox<{ services: Services }> = async (_app, _options) => {}

import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { Services } from '../../services/index.ts'

/** Reinstall and change OS without cloud-init, passwords, consoles and crash dumps (under /v1/{project_id}). */
export const serverOsRoutes: FastifyPluginAsyncTypebox<{ services: Services }> = async (_app, _options) => {}

/** Reinstall and change OS with cloud-init (under /v2/{project_id}). */
export const serverOsV2Routes: FastifyPluginAsyncTypebox<{ services: Services }> = async (_app, _options) => {}

/** `registerServerMonitor` (under /v1.0, the one path without a project id). */
export const serverMonitorRoutes: FastifyPluginAsyncTypebox<{ services: Services }> = async (_app, _options) => {}

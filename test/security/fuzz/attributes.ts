import type { RouteArea } from './routes.ts'

/** Routes of tags, metadata, names, metadata options, auto-terminate time. */
export const area: RouteArea = { routes: [] }

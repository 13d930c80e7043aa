import type { RouteArea } from './routes.ts'

/** Routes of volumes and block devices. */
export const area: RouteArea = { routes: [] }

import type { RouteArea } from './routes.ts'

/** Routes of availability zones, sell policies, charge mode, createServers, listCloudServers, launch templates. */
export const area: RouteArea = { routes: [] }

import type { RouteArea } from './routes.ts'

/** Routes of NICs, virtual IPs, VPC changes. */
export const area: RouteArea = { routes: [] }

import type { RouteArea } from './routes.ts'

/** Routes of reinstall and change OS, passwords, consoles, crash dumps, monitoring. */
export const area: RouteArea = { routes: [] }

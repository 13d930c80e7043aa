import type { OperationChecks } from './types.ts'

/** SDK checks of the operations served before the whole SDK was: groups, create/start/stop/delete, jobs, flavors, limits, moves, the recycle bin, scheduled events, OpenStack. */
export const checks: OperationChecks = {}

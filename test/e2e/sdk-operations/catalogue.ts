import type { OperationChecks } from './types.ts'

/** SDK checks of availability zones, sell policies, charge mode, createServers, listCloudServers, launch templates. */
export const checks: OperationChecks = {}

import type { OperationChecks } from './types.ts'

/** SDK checks of NICs, virtual IPs, VPC changes. */
export const checks: OperationChecks = {}

import type { OperationChecks } from './types.ts'

/** SDK checks of volumes and block devices. */
export const checks: OperationChecks = {}

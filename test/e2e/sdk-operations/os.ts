import type { OperationChecks } from './types.ts'

/** SDK checks of reinstall and change OS, passwords, consoles, crash dumps, monitoring. */
export const checks: OperationChecks = {}

import type { OperationChecks } from './types.ts'

/** SDK checks of tags, metadata, names, metadata options, auto-terminate time. */
export const checks: OperationChecks = {}

import type { Case } from './world.ts'

/** Cases of the operations on tags, metadata, names, metadata options, auto-terminate time. */
export const attributeCases: Record<string, Case> = {}

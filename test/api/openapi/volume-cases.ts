import type { Case } from './world.ts'

/** Cases of the operations on volumes and block devices. */
export const volumeCases: Record<string, Case> = {}

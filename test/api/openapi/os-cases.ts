import type { Case } from './world.ts'

/** Cases of the operations on reinstall and change OS, passwords, consoles, crash dumps, monitoring. */
export const osCases: Record<string, Case> = {}

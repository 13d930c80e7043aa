import type { Case } from './world.ts'

/** Cases of the operations on availability zones, sell policies, charge mode, createServers, listCloudServers, launch templates. */
export const catalogueCases: Record<string, Case> = {}

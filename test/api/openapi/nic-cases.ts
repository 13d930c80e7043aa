import type { Case } from './world.ts'

/** Cases of the operations on NICs, virtual IPs, VPC changes. */
export const nicCases: Record<string, Case> = {}

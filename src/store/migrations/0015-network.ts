import type { Kysely } from 'kysely'
import type { Dialect } from '../database.ts'

/** Network interfaces beyond the OpenStack surface's ports: virtual IPs and NIC settings. */
export async function up(_db: Kysely<unknown>, _dialect: Dialect): Promise<void> {}

import { sql, type Kysely } from 'kysely'
import type { Dialect } from '../database.ts'

/**
 * What both APIs need to know of a server's NICs beyond the OpenStack surface's ports, and the
 * project's virtual IPs.
 *
 * `server_interfaces` gains its project (addresses are unique per subnet within a project, and a
 * unique index says so: two concurrent creates cannot hand out one address twice), its place
 * among the server's NICs (the lowest is the primary NIC), the address's offset in its subnet's
 * simulated CIDR (`host`, null for an address outside it: the allocator's index) and
 * `delete_on_termination`. Virtual IPs are addresses of a subnet too, bound to NICs of one or
 * more servers; a binding goes with its NIC, the virtual IP stays (it is a VPC resource).
 */
export async function up(db: Kysely<unknown>, _dialect: Dialect): Promise<void> {
  await db.schema.alterTable('server_interfaces').addColumn('project_id', 'text', (c) => c.notNull().defaultTo('')).execute()
  await db.schema.alterTable('server_interfaces').addColumn('position', 'integer', (c) => c.notNull().defaultTo(0)).execute()
  await db.schema.alterTable('server_interfaces').addColumn('host', 'integer').execute()
  await db.schema.alterTable('server_interfaces').addColumn('delete_on_termination', 'integer', (c) => c.notNull().defaultTo(1)).execute()
  await sql`update server_interfaces set project_id = (select servers.project_id from servers where servers.id = server_interfaces.server_id)`.execute(db)
  await separateDuplicateAddresses(db)
  await db.schema.createIndex('server_interfaces_address').unique().on('server_interfaces').columns(['project_id', 'subnet_id', 'ip_address']).execute()
  await db.schema.createIndex('server_interfaces_pool').on('server_interfaces').columns(['project_id', 'subnet_id', 'host']).execute()

  await db.schema
    .createTable('virtual_ips')
    .addColumn('port_id', 'text', (c) => c.primaryKey())
    .addColumn('project_id', 'text', (c) => c.notNull().references('projects.id'))
    .addColumn('subnet_id', 'text', (c) => c.notNull())
    .addColumn('ip_address', 'text', (c) => c.notNull())
    .addColumn('host', 'integer')
    .addColumn('created_at', 'text', (c) => c.notNull())
    .execute()
  await db.schema.createIndex('virtual_ips_address').unique().on('virtual_ips').columns(['project_id', 'subnet_id', 'ip_address']).execute()
  await db.schema.createIndex('virtual_ips_pool').on('virtual_ips').columns(['project_id', 'subnet_id', 'host']).execute()

  await db.schema
    .createTable('virtual_ip_bindings')
    .addColumn('vip_port_id', 'text', (c) => c.notNull().references('virtual_ips.port_id').onDelete('cascade'))
    .addColumn('nic_port_id', 'text', (c) => c.notNull().references('server_interfaces.port_id').onDelete('cascade'))
    .addColumn('reverse_binding', 'integer', (c) => c.notNull())
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addPrimaryKeyConstraint('virtual_ip_bindings_pk', ['vip_port_id', 'nic_port_id'])
    .execute()
  await db.schema.createIndex('virtual_ip_bindings_nic').on('virtual_ip_bindings').column('nic_port_id').execute()
}

/**
 * Ports made before this migration were not checked for duplicate addresses (a fixed IP given
 * twice on the OpenStack surface): every duplicate after the first moves to a free address of the
 * same /24, so that the unique index can be built.
 */
async function separateDuplicateAddresses(db: Kysely<unknown>): Promise<void> {
  const rows = await sql<{ port_id: string; project_id: string; subnet_id: string; ip_address: string }>`
    select port_id, project_id, subnet_id, ip_address from server_interfaces order by created_at, port_id`.execute(db)
  const taken = new Set(rows.rows.map((r) => `${r.project_id} ${r.subnet_id} ${r.ip_address}`))
  const seen = new Set<string>()
  for (const r of rows.rows) {
    const key = `${r.project_id} ${r.subnet_id} ${r.ip_address}`
    if (!seen.has(key)) {
      seen.add(key)
      continue
    }
    const prefix = r.ip_address.split('.').slice(0, 3).join('.')
    for (let last = 2; last <= 252; last++) {
      const candidate = `${r.project_id} ${r.subnet_id} ${prefix}.${last}`
      if (taken.has(candidate)) continue
      taken.add(candidate)
      seen.add(candidate)
      await sql`update server_interfaces set ip_address = ${`${prefix}.${last}`} where port_id = ${r.port_id}`.execute(db)
      break
    }
  }
}

import type { Kysely } from 'kysely'
import type { Dialect } from '../database.ts'

/**
 * Launch templates (`launch_templates`) and their versions (`launch_template_versions`). A
 * template's name is unique in its project (the unique index is also what makes two concurrent
 * creates of one name end with one template); its versions go with it. Lists read a project's
 * templates in id order (ids are time-ordered), and versions per template or per project,
 * filtered by flavor or image, so those are indexed.
 *
 * Also an index on the fixed addresses of server ports (`server_interfaces.ip_address`): the
 * server lists' `ip_eq` filter looks servers up by address.
 */
export async function up(db: Kysely<unknown>, _dialect: Dialect): Promise<void> {
  await db.schema
    .createTable('launch_templates')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('project_id', 'text', (c) => c.notNull().references('projects.id'))
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('description', 'text')
    .addColumn('default_version', 'integer', (c) => c.notNull())
    .addColumn('latest_version', 'integer', (c) => c.notNull())
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('updated_at', 'text', (c) => c.notNull())
    .execute()
  await db.schema.createIndex('launch_templates_name').on('launch_templates').columns(['project_id', 'name']).unique().execute()
  await db.schema.createIndex('launch_templates_project').on('launch_templates').columns(['project_id', 'id']).execute()

  await db.schema
    .createTable('launch_template_versions')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('template_id', 'text', (c) => c.notNull().references('launch_templates.id').onDelete('cascade'))
    .addColumn('project_id', 'text', (c) => c.notNull())
    .addColumn('version_number', 'integer', (c) => c.notNull())
    .addColumn('version_description', 'text')
    .addColumn('template_data', 'text', (c) => c.notNull())
    .addColumn('flavor_id', 'text')
    .addColumn('image_id', 'text')
    .addColumn('created_at', 'text', (c) => c.notNull())
    .execute()
  await db.schema.createIndex('launch_template_versions_number').on('launch_template_versions').columns(['template_id', 'version_number']).unique().execute()
  await db.schema.createIndex('launch_template_versions_project').on('launch_template_versions').columns(['project_id', 'id']).execute()

  await db.schema.createIndex('server_interfaces_ip_address').on('server_interfaces').column('ip_address').execute()
}

import { invalidParameter, launchTemplateNameTaken, launchTemplateNotFound } from '../domain/errors.ts'
import type { Database } from '../store/database.ts'
import type { Schema } from '../store/schema.ts'
import { lockProject } from './groups.ts'
import { newTimeOrderedId, nowIso } from './time.ts'

/**
 * Launch templates (`/v3/{project_id}/launch-templates`): a named, versioned `template_data`.
 * As on the real cloud, the data is stored as given and not checked against flavors, images or
 * networks; a template is created with version 1 as its default, and deleting it deletes its
 * versions.
 */

/** What `createLaunchTemplate` asks for (shape already checked). */
export interface NewLaunchTemplate {
  name: string
  description: string | undefined
  versionDescription: string | undefined
  templateData: TemplateData
  /** Check only; create nothing. */
  dryRun: boolean
}

/** `template_data` as the request gave it; the fields read here are the ones the version list filters by. */
export interface TemplateData {
  flavor_id?: string | undefined
  block_device_mappings?: Array<{ source_id?: string | undefined; source_type?: string | undefined }> | undefined
  [field: string]: unknown
}

/** A page of a list, and the marker of the next page when there is one. */
export interface Page<T> {
  items: T[]
  nextMarker: string | undefined
}

/** `listTemplates` filters: templates named by id or by name (either list matches). */
export interface TemplateQuery {
  ids: string[] | undefined
  names: string[] | undefined
  limit: number
  marker: string | undefined
}

/** `listLaunchTemplateVersions` filters. */
export interface VersionQuery {
  templateId: string | undefined
  imageId: string | undefined
  flavorId: string | undefined
  versions: number[] | undefined
  limit: number
  marker: string | undefined
}

/** Creates a template and its version 1 (the default); returns its id, or undefined for a dry run. */
export async function createLaunchTemplate(database: Database, projectId: string, t: NewLaunchTemplate): Promise<string | undefined> {
  return database.transaction(async ({ db }) => {
    // One create per project at a time: the name check and the insert see the same templates.
    await lockProject(db, projectId)
    const taken = await db.selectFrom('launch_templates').select('id').where('project_id', '=', projectId).where('name', '=', t.name).executeTakeFirst()
    if (taken) throw launchTemplateNameTaken(t.name)
    if (t.dryRun) return undefined
    const id = newTimeOrderedId()
    const now = nowIso()
    await db.insertInto('launch_templates').values({
      id, project_id: projectId, name: t.name, description: t.description ?? null, default_version: 1, latest_version: 1, created_at: now, updated_at: now,
    }).execute()
    await db.insertInto('launch_template_versions').values({
      id: newTimeOrderedId(), template_id: id, project_id: projectId, version_number: 1, version_description: t.versionDescription ?? null,
      template_data: JSON.stringify(t.templateData), flavor_id: t.templateData.flavor_id ?? null, image_id: imageOf(t.templateData), created_at: now,
    }).execute()
    return id
  })
}

/** Deletes a template of the project and all its versions; another project's template is not found. */
export async function deleteLaunchTemplate(database: Database, projectId: string, templateId: string): Promise<void> {
  await database.transaction(async ({ db }) => {
    await db.deleteFrom('launch_template_versions').where('template_id', '=', templateId).where('project_id', '=', projectId).execute()
    const deleted = await db.deleteFrom('launch_templates').where('id', '=', templateId).where('project_id', '=', projectId).executeTakeFirst()
    if (Number(deleted.numDeletedRows) === 0) throw launchTemplateNotFound(templateId)
  })
}

/** The project's templates in creation order, one page after `marker` (a template id of the project). */
export async function listLaunchTemplates(database: Database, projectId: string, q: TemplateQuery): Promise<Page<Schema['launch_templates']>> {
  const db = database.db
  if (q.marker !== undefined) {
    const known = await db.selectFrom('launch_templates').select('id').where('id', '=', q.marker).where('project_id', '=', projectId).executeTakeFirst()
    if (!known) throw invalidParameter(`marker ${q.marker} is not a launch template of this project`)
  }
  const rows = await db
    .selectFrom('launch_templates')
    .selectAll()
    .where('project_id', '=', projectId)
    .$if(q.marker !== undefined, (query) => query.where('id', '>', q.marker!))
    .$if(q.ids !== undefined || q.names !== undefined, (query) =>
      query.where((eb) => eb.or([
        ...(q.ids === undefined ? [] : [eb('id', 'in', q.ids)]),
        ...(q.names === undefined ? [] : [eb('name', 'in', q.names)]),
      ])),
    )
    .orderBy('id')
    .limit(q.limit + 1)
    .execute()
  return pageOf(rows, q.limit)
}

/** Versions of the project's templates in creation order, one page after `marker` (a version id). */
export async function listLaunchTemplateVersions(database: Database, projectId: string, q: VersionQuery): Promise<Page<Schema['launch_template_versions']>> {
  const db = database.db
  if (q.marker !== undefined) {
    const known = await db.selectFrom('launch_template_versions').select('id').where('id', '=', q.marker).where('project_id', '=', projectId).executeTakeFirst()
    if (!known) throw invalidParameter(`marker ${q.marker} is not a launch template version of this project`)
  }
  const rows = await db
    .selectFrom('launch_template_versions')
    .selectAll()
    .where('project_id', '=', projectId)
    .$if(q.marker !== undefined, (query) => query.where('id', '>', q.marker!))
    .$if(q.templateId !== undefined, (query) => query.where('template_id', '=', q.templateId!))
    .$if(q.imageId !== undefined, (query) => query.where('image_id', '=', q.imageId!))
    .$if(q.flavorId !== undefined, (query) => query.where('flavor_id', '=', q.flavorId!))
    .$if(q.versions !== undefined, (query) => query.where('version_number', 'in', q.versions!))
    .orderBy('id')
    .limit(q.limit + 1)
    .execute()
  return pageOf(rows, q.limit)
}

/** The image a version launches from: the source of its first image-sourced block device. */
function imageOf(data: TemplateData): string | null {
  return data.block_device_mappings?.find((m) => m.source_type === 'image' && m.source_id !== undefined)?.source_id ?? null
}

/** A page of `limit` rows out of `limit + 1` read, and whether another page follows. */
function pageOf<T extends { id: string }>(rows: T[], limit: number): Page<T> {
  const items = rows.slice(0, limit)
  return { items, nextMarker: rows.length > limit ? items[items.length - 1]!.id : undefined }
}

import type { Kysely } from 'kysely'
import type { Schema } from '../store/schema.ts'
import { listsByGroup, type GroupService, type GroupView } from './groups.ts'

/** A group as the OpenStack Compute API shows it: the shared view, its project and every member. */
export interface NovaGroupView extends GroupView {
  projectId: string
}

/**
 * Reads of server groups in Nova's terms over the one store both APIs share: offset paging,
 * admins' `all_projects`, and members that include the servers placement could not take (they
 * joined the group at boot, as in Nova, though they hold no host).
 */
export class NovaGroupReader {
  constructor(
    private readonly db: Kysely<Schema>,
    private readonly groups: GroupService,
  ) {}

  /** Groups oldest first, of one project or of all (`projectId` undefined), Nova's limit/offset applied. */
  async list(projectId: string | undefined, limit: number | undefined, offset: number): Promise<NovaGroupView[]> {
    let q = this.db.selectFrom('server_groups').select(['id', 'project_id']).orderBy('created_at').orderBy('id').offset(offset)
    if (projectId !== undefined) q = q.where('project_id', '=', projectId)
    // SQLite needs a LIMIT for an OFFSET; -1 is its "no limit" and PostgreSQL's ALL is spelled NULL.
    q = q.limit(limit ?? Number.MAX_SAFE_INTEGER)
    const rows = await q.execute()
    const views = await Promise.all(rows.map((r) => this.groups.show(r.project_id, r.id)))
    const extra = await unscheduledMembers(this.db, rows.map((r) => r.id))
    return views.map((v, i) => withMembers(v, rows[i]!.project_id, extra.get(v.id)))
  }

  /**
   * One group of the project; for an admin (`anyProject`), of whichever project has it. Unknown
   * ids — and ids that are not UUIDs — are the group's not-found error.
   */
  async show(projectId: string, groupId: string, anyProject: boolean): Promise<NovaGroupView> {
    const owner = anyProject ? await this.ownerOf(groupId) : projectId
    const view = await this.groups.show(owner ?? projectId, groupId)
    const extra = await unscheduledMembers(this.db, [view.id])
    return withMembers(view, owner ?? projectId, extra.get(view.id))
  }

  /** The project of a group, or undefined. */
  async ownerOf(groupId: string): Promise<string | undefined> {
    const row = await this.db.selectFrom('server_groups').select('project_id').where('id', '=', groupId).executeTakeFirst()
    return row?.project_id
  }
}

function withMembers(view: GroupView, projectId: string, extra: string[] | undefined): NovaGroupView {
  return { ...view, projectId, members: extra === undefined ? view.members : [...view.members, ...extra] }
}

/** The unscheduled (ERROR, hostless) servers booted into each group, oldest first. */
export async function unscheduledMembers(db: Kysely<Schema>, groupIds: string[]): Promise<Map<string, string[]>> {
  if (groupIds.length === 0) return new Map()
  const rows = await db
    .selectFrom('unscheduled_servers')
    .select(['id', 'group_id'])
    .where('group_id', 'in', groupIds)
    .orderBy('created_at')
    .orderBy('launch_index')
    .execute()
  return listsByGroup(rows, (r) => r.id)
}

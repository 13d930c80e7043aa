/** A tenant: every server, group and job belongs to exactly one project. */
export interface ProjectTable {
  id: string
  name: string
  created_at: string
}

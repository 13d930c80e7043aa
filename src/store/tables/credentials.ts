/** An AK/SK pair; requests signed with it act on `project_id`. */
export interface CredentialTable {
  access_key: string
  secret_key: string
  project_id: string
  created_at: string
  /** 0 | 1: operator credential, allowed on /admin routes. */
  admin: number
}

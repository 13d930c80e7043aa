/** An AK/SK pair; requests signed with it act on `project_id`. */
export interface CredentialTable {
  access_key: string
  secret_key: string
  project_id: string
  created_at: string
}

/** An AK/SK pair; requests signed with it act on `project_id`. */
export interface CredentialTable {
  access_key: string
  /** Sealed with the master key (`SecretBox`), never plaintext. */
  secret_key: string
  project_id: string
  created_at: string
  /** 0 | 1: operator credential, allowed on /admin routes. */
  admin: number
  /** When it was revoked; a revoked credential authenticates nothing. */
  revoked_at: string | null
  description: string
}

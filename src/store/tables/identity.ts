/** A user who signs in with a password for tokens (Identity v3 password method). */
export interface UserTable {
  id: string
  name: string
  project_id: string
  /** `scrypt$N$r$p$salt$hash` */
  password_hash: string
  admin: number
  created_at: string
}

/** An issued token, stored only as the SHA-256 of its value. */
export interface TokenTable {
  token_hash: string
  user_id: string
  project_id: string
  issued_at: string
  expires_at: string
}

/** Consecutive failed signatures of an access key, and the lock-out they caused. */
export interface AuthFailureTable {
  access_key: string
  consecutive: number
  locked_until: string | null
  updated_at: string
}

/**
 * The single row (`id` = 1) of the authority generation, bumped by every change that withdraws
 * or changes authority; processes drop their authentication cache when it moves.
 */
export interface AuthGenerationTable {
  id: number
  /** bigint in PostgreSQL (read back as a string there). */
  generation: number | string
}

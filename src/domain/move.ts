/** Vocabulary of moves: every change of a server's host or of the share of a host it takes. */

/** Why a server moves; recorded on the move and in its log line. */
export type MoveReason = 'add_member' | 'resize' | 'migrate' | 'live_migrate' | 'redeploy' | 'revert' | 'evacuate' | 'drain'

/**
 * How it moves: `cold` — the server is stopped while it moves (and started again afterwards if
 * it ran); `live` — it keeps running and is copied across.
 */
export type MoveKind = 'cold' | 'live'

/**
 * What a failed move leaves: `rollback` — the server back on its source as it was; `error` — the
 * server in ERROR on its target, the source released (for moves whose source cannot be given
 * back, such as add_member's, where another member already uses it); `strand` — the server back
 * on its source, a failed host, in ERROR and stranded: placed again when capacity returns (an
 * evacuation's).
 */
export type MoveFailure = 'rollback' | 'error' | 'strand'

/** The fields of a server a failed move restores. */
export interface MovePrior {
  hostId: string
  flavorId: string
  vcpus: number
  ramMb: number
  status: string
  powerState: number
  /** The server was in the recycle bin (a revert's prior state). */
  inRecycleBin: boolean
  /** The group the server was a member of before the move (null: none). */
  groupId: string | null
}

import type { PlacementScore } from '../../config.ts'
import type { HostScore } from '../types.ts'

/** Spread (the default, like Nova's RAM weigher): prefer the host with the most RAM left after placing. */
export const spreadScore: HostScore = {
  name: 'spread',
  orderColumn: 'free_ram_mb',
  direction: 'desc',
  score: (host, req) => (host.ram_mb <= 0 ? 0 : (100 * (host.free_ram_mb - req.ramMb)) / host.ram_mb),
}

/** Pack: prefer the fullest host that still fits, keeping whole hosts free. */
export const packScore: HostScore = {
  name: 'pack',
  orderColumn: 'free_ram_mb',
  direction: 'asc',
  score: (host, req) => 100 - spreadScore.score(host, req),
}

/** Scores by configuration name. */
export const SCORES: Record<PlacementScore, HostScore> = { spread: spreadScore, pack: packScore }

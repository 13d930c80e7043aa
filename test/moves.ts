/**
 * Helpers of the move tests: a small fleet, consistent reads of the database while writers run,
 * the in-flight anti-affinity invariant checked from the raw tables (not through the code that
 * wrote them), and signed calls with the operator credential or another project's.
 */
import type { Kysely } from 'kysely'
import { sdkHeaders } from '../src/api/auth/signature.ts'
import type { App } from '../src/app.ts'
import type { MovePrior } from '../src/domain/move.ts'
import { DEMO } from '../src/services/demo.ts'
import type { Database } from '../src/store/database.ts'
import type { Schema } from '../src/store/schema.ts'
import { call, type SignedCall } from './helper.ts'

/** A host kept by `shrinkFleet`. */
export interface KeptHost {
  id: string
  name: string
}

/**
 * Turns the demo fleet into a small one, before any server exists: the first
 * `capacities.length` hosts of `az` (by name) are kept, with the capacities given, and every
 * other host is deleted. Returns the kept hosts in name order.
 */
export async function shrinkFleet(database: Database, capacities: ReadonlyArray<{ vcpus: number; ramMb: number }>, az = 'az1'): Promise<KeptHost[]> {
  const { db } = database
  const kept = await db.selectFrom('hosts').select(['id', 'name']).where('az', '=', az).orderBy('name').limit(capacities.length).execute()
  if (kept.length !== capacities.length) throw new Error(`zone ${az} has only ${kept.length} hosts`)
  await db.deleteFrom('hosts').where('id', 'not in', kept.map((h) => h.id)).execute()
  for (const [i, h] of kept.entries()) {
    const c = capacities[i]!
    await db.updateTable('hosts').set({ vcpus: c.vcpus, ram_mb: c.ramMb, free_vcpus: c.vcpus, free_ram_mb: c.ramMb }).where('id', '=', h.id).execute()
  }
  return kept
}

/**
 * Runs `fn` on one consistent view of the database while other writers go on. PostgreSQL: a
 * REPEATABLE READ transaction (one snapshot for every statement). SQLite: the process's single
 * connection held for the whole read, so that no group commit of this process lands in between.
 */
export async function consistentRead<T>(database: Database, fn: (db: Kysely<Schema>) => Promise<T>): Promise<T> {
  if (database.dialect === 'postgres') return database.db.transaction().setIsolationLevel('repeatable read').execute(fn)
  return database.db.connection().execute(fn)
}

/**
 * Invariant 7 (ARCHITECTURE §2) read from the raw tables: within every anti-affinity group, the
 * hosts its members use — each member's current host (a move's target) and, while a member
 * moves, its source — are pairwise distinct; the group's holds are exactly those hosts; every
 * membership row names its server's host and every move's server records the move's target.
 * The source of a move counts when the server was a member of the group when it began to move
 * (add_member's re-placement leaves a host the server never held for the group). Returns one
 * line per problem.
 */
export async function inFlightViolations(db: Kysely<Schema>): Promise<string[]> {
  const problems: string[] = []
  const members = await db
    .selectFrom('server_group_members as m')
    .innerJoin('server_groups as g', 'g.id', 'm.group_id')
    .innerJoin('servers as s', 's.id', 'm.server_id')
    .select(['m.group_id', 'm.server_id', 'm.host_id as member_host', 's.host_id as server_host'])
    .where('g.policy', '=', 'anti-affinity')
    .execute()
  const moves = new Map((await db.selectFrom('moves').select(['server_id', 'source_host_id', 'target_host_id', 'prior']).execute()).map((m) => [m.server_id, m]))
  const servers = moves.size === 0 ? [] : await db.selectFrom('servers').select(['id', 'host_id', 'task_state']).where('id', 'in', [...moves.keys()]).execute()
  for (const s of servers) {
    const m = moves.get(s.id)!
    if (s.host_id !== m.target_host_id || s.task_state === null) problems.push(`server ${s.id} is moving to ${m.target_host_id} but records host ${s.host_id}, task ${s.task_state ?? 'none'}`)
  }
  const holds = await db.selectFrom('group_host_holds').select(['group_id', 'server_id', 'host_id', 'kind']).execute()
  const expected = new Set<string>()
  const usedBy = new Map<string, string[]>()
  const use = (group: string, host: string, what: string) => {
    const key = `${group} ${host}`
    usedBy.set(key, [...(usedBy.get(key) ?? []), what])
  }
  for (const m of members) {
    if (m.member_host !== m.server_host) problems.push(`member ${m.server_id} of group ${m.group_id} is on ${m.server_host} but its membership records ${m.member_host}`)
    use(m.group_id, m.server_host, `member ${m.server_id}`)
    expected.add(`${m.group_id} ${m.server_id} ${m.server_host} member`)
    const move = moves.get(m.server_id)
    if (move && move.source_host_id !== move.target_host_id && (JSON.parse(move.prior) as MovePrior).groupId === m.group_id) {
      use(m.group_id, move.source_host_id, `the source of member ${m.server_id}'s move`)
      expected.add(`${m.group_id} ${m.server_id} ${move.source_host_id} move-source`)
    }
  }
  for (const [key, users] of usedBy) {
    if (users.length > 1) {
      const [group, host] = key.split(' ')
      problems.push(`group ${group} uses host ${host} ${users.length} times: ${users.join(', ')}`)
    }
  }
  const antiAffinity = new Set((await db.selectFrom('server_groups').select('id').where('policy', '=', 'anti-affinity').execute()).map((g) => g.id))
  const actual = new Set(holds.filter((h) => antiAffinity.has(h.group_id)).map((h) => `${h.group_id} ${h.server_id} ${h.host_id} ${h.kind}`))
  for (const e of expected) if (!actual.has(e)) problems.push(`missing hold: ${e}`)
  for (const a of actual) if (!expected.has(a)) problems.push(`unexpected hold: ${a}`)
  return problems
}

/** A call signed with the demo operator (admin) credential. */
export function adminCall(app: App, c: Omit<SignedCall, 'accessKey' | 'secretKey'>) {
  return call(app, { ...c, accessKey: DEMO.adminAccessKey, secretKey: DEMO.adminSecretKey })
}

/** A signing credential: an AK/SK of a project. */
export interface Credential {
  accessKey: string
  secretKey: string
  projectId: string
}

/** The demo operator credential. */
export const ADMIN: Credential = { accessKey: DEMO.adminAccessKey, secretKey: DEMO.adminSecretKey, projectId: DEMO.projectId }

/** A signed HTTP call to a running ecsd with any credential (default: the demo tenant's). */
export async function signedFetch(baseUrl: string, method: string, pathAndQuery: string, body?: unknown, credential: Credential = DEMO): Promise<{ status: number; body: unknown }> {
  const payload = body === undefined ? undefined : JSON.stringify(body)
  const headers = sdkHeaders({ method, url: pathAndQuery, host: new URL(baseUrl).host, body: payload, credential })
  const res = await fetch(baseUrl + pathAndQuery, { method, headers, ...(payload === undefined ? {} : { body: payload }) })
  const text = await res.text()
  let parsed: unknown = text
  try {
    parsed = text === '' ? undefined : JSON.parse(text)
  } catch {
    // Not JSON: kept as text for the failure message.
  }
  return { status: res.status, body: parsed }
}

/**
 * Polls `condition` until it holds. The deadline only keeps a broken run from hanging; no
 * assertion depends on how fast the condition comes true.
 */
export async function until(condition: () => boolean | Promise<boolean>, what: string, deadlineMs = 60_000): Promise<void> {
  const deadline = Date.now() + deadlineMs
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`gave up waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 5))
  }
}

/** The error code of an error answer (`{"error":{"code"}}`), or undefined. */
export function errorCode(body: unknown): string | undefined {
  return (body as { error?: { code?: string } } | undefined)?.error?.code
}

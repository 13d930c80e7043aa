import { randomBytes } from 'node:crypto'
import type { Kysely } from 'kysely'
import { invalidParameter, serverAlreadyPrePaid, serverInRecycleBin, serverNotFound } from '../domain/errors.ts'
import { lockForUpdate, type Database } from '../store/database.ts'
import type { Schema } from '../store/schema.ts'
import type { CreatedServer } from './server-resources.ts'
import { nowIso } from './time.ts'
import { saveServerOptions } from './server-attributes.ts'

/**
 * Billing as far as ecsd has it: a server is pay-per-use (`postPaid`) or yearly/monthly
 * (`prePaid`, `server_options.charging_mode`). ecsd has no billing system: a yearly/monthly
 * purchase is an order id that is paid at once, and the period only has to be a valid one.
 */

/** The metadata key under which the real cloud shows a yearly/monthly server's order. */
export const ORDER_ID_METADATA_KEY = 'metering.order_id'

/** At most this many servers in one `change-charge-mode` request. */
export const MAX_CHARGE_MODE_SERVERS = 10

/** How long a yearly/monthly purchase may be: 1–9 months or 1–3 years. */
const PERIOD_LIMITS = { month: 9, year: 3 } as const

/** A yearly/monthly period as the APIs give it. */
export interface PrePaidPeriod {
  periodType: string | undefined
  periodNum: number | undefined
}

/** Refuses a yearly/monthly purchase without a valid period (`Ecs.0005`). */
export function assertPrePaidPeriod(p: PrePaidPeriod, fields: { type: string; num: string }): void {
  if (p.periodType !== 'month' && p.periodType !== 'year') {
    throw invalidParameter(`${fields.type} must be "month" or "year" for a yearly/monthly (prePaid) purchase`)
  }
  const max = PERIOD_LIMITS[p.periodType]
  if (p.periodNum === undefined || !Number.isInteger(p.periodNum) || p.periodNum < 1 || p.periodNum > max) {
    throw invalidParameter(`${fields.num} must be a whole number of ${p.periodType}s from 1 to ${max}`)
  }
}

/** An order id in the real cloud's form: `CS`, the time to the minute (yyMMddHHmm), five letters. */
export function newOrderId(now: Date = new Date()): string {
  const stamp = now.toISOString().replace(/[-:T]/g, '').slice(2, 12)
  const letters = [...randomBytes(5)].map((b) => String.fromCharCode(65 + (b % 26))).join('')
  return `CS${stamp}${letters}`
}

/**
 * Marks servers a create has just inserted as yearly/monthly, in the create's transaction; a
 * server already given an options row by another create-time writer keeps it.
 */
export async function saveChargingModeAtCreate(db: Kysely<Schema>, servers: CreatedServer[], chargingMode: 'prePaid' | undefined): Promise<void> {
  if (chargingMode === 'prePaid') await saveServerOptions(db, servers.map((s) => s.id), { charging_mode: 'prePaid' })
}


/** What `changeServerChargeMode` asks for (shape already checked). */
export interface ChargeModeChange {
  serverIds: string[]
  period: PrePaidPeriod
  /** Check only; change nothing. */
  dryRun: boolean
}

/**
 * `changeServerChargeMode` to `prePaid`: every named server must be a pay-per-use server of the
 * project outside the recycle bin, or nothing changes. The servers become yearly/monthly under
 * one new order, recorded in their metadata (`metering.order_id`) as the real cloud shows it.
 * Returns the order id (undefined for a dry run).
 */
export async function changeToPrePaid(database: Database, projectId: string, change: ChargeModeChange): Promise<string | undefined> {
  assertPrePaidPeriod(change.period, { type: 'prepaid_options.period_type', num: 'prepaid_options.period_num' })
  const serverIds = [...new Set(change.serverIds)]
  if (serverIds.length > MAX_CHARGE_MODE_SERVERS) throw invalidParameter(`server_ids names ${serverIds.length} ECSs; at most ${MAX_CHARGE_MODE_SERVERS} per request`)
  return database.transaction(async ({ db, dialect }) => {
    const rows = await lockForUpdate(
      db.selectFrom('servers').select(['id', 'in_recycle_bin', 'metadata']).where('project_id', '=', projectId).where('id', 'in', serverIds).orderBy('id'),
      dialect,
    ).execute()
    const byId = new Map(rows.map((r) => [r.id, r]))
    const prePaid = new Set(
      rows.length === 0
        ? []
        : (await db.selectFrom('server_options').select('server_id').where('server_id', 'in', rows.map((r) => r.id)).where('charging_mode', '=', 'prePaid').execute()).map((r) => r.server_id),
    )
    for (const id of serverIds) {
      const row = byId.get(id)
      if (!row) throw serverNotFound(id)
      if (row.in_recycle_bin === 1) throw serverInRecycleBin(id)
      if (prePaid.has(id)) throw serverAlreadyPrePaid(id)
    }
    if (change.dryRun) return undefined
    const orderId = newOrderId()
    const now = nowIso()
    await saveServerOptions(db, serverIds, { charging_mode: 'prePaid' })
    for (const id of serverIds) {
      const metadata = { ...(JSON.parse(byId.get(id)!.metadata) as Record<string, string>), [ORDER_ID_METADATA_KEY]: orderId }
      await db.updateTable('servers').set({ metadata: JSON.stringify(metadata), updated_at: now }).where('id', '=', id).execute()
    }
    return orderId
  })
}

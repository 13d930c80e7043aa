/** Machine facts, result tables and JSON output shared by the benchmark scripts. */
import { execFileSync } from 'node:child_process'
import { mkdirSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { sql, type Kysely } from 'kysely'
import { PlacementEngine } from '../../src/placement/engine.ts'
import { DEFAULT_FILTERS } from '../../src/placement/filters/index.ts'
import { spreadScore } from '../../src/placement/scores/index.ts'
import type { Dialect } from '../../src/store/database.ts'
import type { Schema } from '../../src/store/schema.ts'
import { HAS_TASKSET } from './processes.ts'

/** What a result was measured on. */
export function machine() {
  let model = os.cpus()[0]?.model ?? 'unknown'
  try {
    const m = /Model name:\s+(.+)/.exec(execFileSync('lscpu', { encoding: 'utf8' }))
    if (m) model = m[1]!.trim()
  } catch {
    // lscpu is optional
  }
  return {
    cpus: os.cpus().length,
    model,
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    node: process.version,
    platform: `${os.type()} ${os.release()}`,
    loadAverage: os.loadavg().map((x) => Number(x.toFixed(2))),
    pinning: HAS_TASKSET ? 'taskset: server on CPU 0, load generator on CPU 1' : 'none (taskset not available)',
  }
}

/** A text table with right-aligned numeric columns. */
export function table(header: string[], rows: Array<Array<string | number>>): string {
  const cells = [header, ...rows.map((r) => r.map((c) => String(c)))]
  const widths = header.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)))
  const line = (r: string[]) => r.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ')
  return [line(cells[0]!), widths.map((w) => '-'.repeat(w)).join('  '), ...cells.slice(1).map(line)].join('\n')
}

export function fixed(n: number | undefined, digits = 1): string {
  return n === undefined || Number.isNaN(n) ? '–' : n.toFixed(digits)
}

export function int(n: number | undefined): string {
  return n === undefined ? '–' : Math.round(n).toLocaleString('en-US')
}

export function writeJson(file: string, value: unknown): void {
  mkdirSync(path.dirname(file), { recursive: true })
  writeFileSync(file, `${JSON.stringify(value, null, 2)}\n`)
}

/** The plan of the placement candidate query on this database (spread, one zone, two excluded hosts). */
export async function candidatePlan(db: Kysely<Schema>, dialect: Dialect): Promise<string> {
  const engine = new PlacementEngine({ filters: DEFAULT_FILTERS, score: spreadScore, subsetSize: 3 })
  const compiled = engine.candidateQuery(db, { vcpus: 1, ramMb: 1024, az: 'az1', groupPolicy: 'anti-affinity', groupHostIds: new Set(['x', 'y']), subject: 'plan' }).compile()
  if (dialect === 'sqlite') {
    const r = await db.executeQuery<{ detail: string }>({ ...compiled, sql: `explain query plan ${compiled.sql}` })
    return r.rows.map((x) => x.detail).join('; ')
  }
  const r = await db.executeQuery<{ 'QUERY PLAN': string }>({ ...compiled, sql: `explain ${compiled.sql}` })
  return r.rows.map((x) => x['QUERY PLAN'].trim()).join('; ')
}

/** Counts of hosts and servers, for the report. */
export async function fleetSize(db: Kysely<Schema>): Promise<{ hosts: number; servers: number }> {
  const h = await db.selectFrom('hosts').select((eb) => eb.fn.countAll<number | string>().as('n')).executeTakeFirstOrThrow()
  const s = await db.selectFrom('servers').select((eb) => eb.fn.countAll<number | string>().as('n')).executeTakeFirstOrThrow()
  return { hosts: Number(h.n), servers: Number(s.n) }
}

/** Creates an empty PostgreSQL database next to `adminUrl`; returns its URL. */
export async function createPgDatabase(db: Kysely<unknown>, adminUrl: string, name: string): Promise<string> {
  await sql.raw(`create database ${name}`).execute(db)
  const url = new URL(adminUrl)
  url.pathname = `/${name}`
  return url.toString()
}

/** Percentile of sorted numbers. */
export function percentile(sorted: number[], p: number): number | undefined {
  if (sorted.length === 0) return undefined
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]
}

import { PostgresAdapter, type Compilable, type CompiledQuery, type Kysely } from 'kysely'
import type { Dialect } from './database.ts'
import type { Schema } from './schema.ts'

/**
 * Marks a parameter's place when a query is built: the builder gets these strings instead of
 * values, and the compiled parameters that carry one become the named slots. Values bound later
 * are never compared with it; only a constant written into a query could collide, and none
 * starts with a NUL byte.
 */
const PLACEHOLDER = '\u0000ecsd-parameter:'

/**
 * A query of fixed shape, built with Kysely's builder once and compiled once per SQL dialect;
 * each run only binds its parameters. Kysely builds and compiles a query from scratch on every
 * call (frozen node trees, a visitor pass), which cost ecsd about as much CPU as SQLite spent
 * executing the same statements; the hot paths run these instead. Only queries whose SQL text
 * does not depend on the values qualify: no `in` lists of varying length, no optional clauses.
 *
 * ```ts
 * const serverById = prepared((db, p: { id: string }) => db.selectFrom('servers').selectAll().where('id', '=', p.id))
 * const row = await serverById.first(tx.db, { id })
 * ```
 */
export class PreparedQuery<P extends object, R> {
  /** Compiled per dialect adapter class (SQLite's `?`, PostgreSQL's `$1`). */
  private readonly compiled = new Map<unknown, { query: CompiledQuery<R>; slots: Array<{ name: string } | { value: unknown }> }>()

  constructor(private readonly build: (db: Kysely<Schema>, params: P, dialect: Dialect) => Compilable<R>) {}

  /** Every row. `db` may be the database's Kysely instance or a transaction's. */
  async all(db: Kysely<Schema>, params: P): Promise<R[]> {
    return (await db.executeQuery(this.bind(db, params))).rows
  }

  /** The first row, or undefined. */
  async first(db: Kysely<Schema>, params: P): Promise<R | undefined> {
    return (await db.executeQuery(this.bind(db, params))).rows[0]
  }

  /** Runs an insert, update or delete; returns how many rows it changed. */
  async run(db: Kysely<Schema>, params: P): Promise<number> {
    return Number((await db.executeQuery(this.bind(db, params))).numAffectedRows ?? 0n)
  }

  private bind(db: Kysely<Schema>, params: P): CompiledQuery<R> {
    const adapter = db.getExecutor().adapter
    let entry = this.compiled.get(adapter.constructor)
    if (entry === undefined) {
      const names = new Proxy({}, { get: (_target, key) => `${PLACEHOLDER}${String(key)}` }) as P
      const query = this.build(db, names, adapter instanceof PostgresAdapter ? 'postgres' : 'sqlite').compile()
      const slots = query.parameters.map((value) => (typeof value === 'string' && value.startsWith(PLACEHOLDER) ? { name: value.slice(PLACEHOLDER.length) } : { value }))
      entry = { query, slots }
      this.compiled.set(adapter.constructor, entry)
    }
    const parameters = entry.slots.map((slot) => {
      if (!('name' in slot)) return slot.value
      const value = (params as Record<string, unknown>)[slot.name]
      if (value === undefined) throw new Error(`prepared query: no value for parameter "${slot.name}"`)
      return value
    })
    return { ...entry.query, parameters }
  }
}

/**
 * A `PreparedQuery`; see there. `build` gets the dialect it compiles for, for the clauses that
 * differ (`lockForUpdate`).
 */
export function prepared<P extends object, R>(build: (db: Kysely<Schema>, params: P, dialect: Dialect) => Compilable<R>): PreparedQuery<P, R> {
  return new PreparedQuery(build)
}

/**
 * The placeholders of `keys` as an object of its own keys, for an insert's `values()`, which
 * enumerates the object it is given (the parameters object a builder gets has no keys). List
 * every column: `satisfies Record<keyof Table, true>` on the key object makes a forgotten one a
 * compile error.
 */
export function placeholders<T extends object, K extends keyof T & string>(params: T, keys: Record<K, true>): Pick<T, K> {
  return Object.fromEntries(Object.keys(keys).map((k) => [k, params[k as K]])) as Pick<T, K>
}

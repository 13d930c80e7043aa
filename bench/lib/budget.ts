/**
 * The per-request CPU budget: a CPU profile of one measured phase, its samples sorted into the
 * parts of a request (authentication, validation, building SQL, running SQL, placement,
 * serialisation, logging, the HTTP stack, the rest of ecsd, GC) and divided by the phase's
 * request count. A sample belongs to the first frame, from the leaf up, that a rule names: SQL
 * that authentication runs counts as SQL, `JSON.stringify` called by fastify's serializer as
 * serialisation. Frames no rule names (native code, Node internals such as crypto) pass the
 * sample to their caller.
 */
import type { CpuProfile } from './profiler.ts'

/** The parts of a request, in the order the tables print them. */
export const BUDGET_PARTS = ['auth', 'validation', 'sql-build', 'sql-run', 'placement', 'app', 'serialise', 'logging', 'http', 'gc', 'other'] as const
export type BudgetPart = (typeof BUDGET_PARTS)[number]

/** What each part covers, for the tables' legend. */
export const BUDGET_LEGEND: Record<BudgetPart, string> = {
  auth: 'signature check, credential lookup (src/api/auth, src/services/identity; its SQL counts as SQL)',
  validation: 'schema validation (ajv, typebox, fastify validation)',
  'sql-build': 'Kysely building and compiling queries',
  'sql-run': 'executing SQL: the driver, SQLite itself (native time shows in the driver frame), pg protocol, src/store',
  placement: 'the placement engine (src/placement)',
  app: 'the rest of ecsd: routes, services, jobs',
  serialise: 'response views and JSON serialisation',
  logging: 'pino and the access log',
  http: 'fastify routing and hooks, Node http and sockets',
  gc: 'garbage collection',
  other: 'V8 and Node work no frame names ((program), microtask queue)',
}

/** A phase's budget: microseconds of CPU per request, by part. */
export interface Budget {
  requests: number
  /** Sampled time the process was not idle, per request. */
  busyUsPerRequest: number
  /** Share of the phase the process was busy (1 = a whole core). */
  busyShare: number
  parts: Record<BudgetPart, number>
  /** The functions with the most self time, µs per request. */
  top: Array<{ frame: string; usPerRequest: number }>
}

function classify(functionName: string, url: string): BudgetPart | 'idle' | undefined {
  if (functionName === '(idle)') return 'idle'
  if (functionName === '(garbage collector)') return 'gc'
  if (functionName === '(program)' || functionName === '(root)') return 'other'
  if (url === '') return /^validate\d*$/.test(functionName) ? 'validation' : undefined
  if (url.includes('/kysely/')) return /dialect\/(sqlite|postgres)\/.*-driver\.js$/.test(url) ? 'sql-run' : 'sql-build'
  if (/\/(better-sqlite3|pg|pg-protocol|pg-pool|pg-types)\//.test(url) || url.includes('/src/store/')) return 'sql-run'
  if (url.includes('/src/api/auth/') || url.includes('/src/services/identity/')) return 'auth'
  if (url.includes('/src/placement/')) return 'placement'
  if (url.includes('/src/logger.ts') || /\/(pino|pino-std-serializers|sonic-boom|thread-stream)\//.test(url)) return 'logging'
  if (url.includes('/src/api/huawei/views.ts') || url.includes('/fast-json-stringify/')) return 'serialise'
  if (/\/(ajv|ajv-formats|typebox|@fastify\/type-provider-typebox|@fastify\/ajv-compiler)\//.test(url) || /\/fastify\/lib\/(validation|schemas)\.js$/.test(url)) return 'validation'
  if (/\/fastify\/lib\/reply\.js$/.test(url) && /serializ/i.test(functionName)) return 'serialise'
  if (url.includes('/src/')) return 'app'
  if (/\/(fastify|find-my-way|avvio|@fastify\/[^/]+|light-my-request|fast-querystring|content-type|secure-json-parse|toad-cache|process-warning|abstract-logging|rfdc)\//.test(url)) return 'http'
  if (/^node:(_http_|net|internal\/(http|net|stream_base|streams|js_stream|timers))/.test(url) || /^node:(events|buffer)$/.test(url)) return 'http'
  return undefined
}

/**
 * Sorts a profile's samples into the budget's parts and divides by `requests` (the 2xx and
 * non-2xx responses of the profiled phase).
 */
export function budgetOf(profile: CpuProfile, requests: number): Budget {
  const parent = new Map<number, number>()
  const byId = new Map<number, CpuProfile['nodes'][number]>()
  for (const node of profile.nodes) {
    byId.set(node.id, node)
    for (const child of node.children ?? []) parent.set(child, node.id)
  }
  const partOf = new Map<number, BudgetPart | 'idle'>()
  const resolve = (id: number): BudgetPart | 'idle' => {
    const known = partOf.get(id)
    if (known !== undefined) return known
    const node = byId.get(id)!
    const own = classify(node.callFrame.functionName, node.callFrame.url)
    const up = parent.get(id)
    const part = own ?? (up === undefined ? 'other' : resolve(up))
    partOf.set(id, part)
    return part
  }
  const partUs = Object.fromEntries(BUDGET_PARTS.map((p) => [p, 0])) as Record<BudgetPart, number>
  const selfUs = new Map<number, number>()
  let idleUs = 0
  let totalUs = 0
  profile.samples.forEach((id, i) => {
    // timeDeltas[i] is the time since the previous sample: it belongs to the sample it leads to.
    const us = profile.timeDeltas[i + 1] ?? 0
    totalUs += us
    const part = resolve(id)
    if (part === 'idle') {
      idleUs += us
      return
    }
    partUs[part] += us
    selfUs.set(id, (selfUs.get(id) ?? 0) + us)
  })
  const n = Math.max(1, requests)
  const selfByFrame = new Map<string, number>()
  for (const [id, us] of selfUs) {
    const f = byId.get(id)!.callFrame
    const frame = `${f.functionName || '(anonymous)'} ${f.url.replace(/^.*\/node_modules\//, '').replace(/^.*\/src\//, 'src/')}:${f.lineNumber + 1}`
    selfByFrame.set(frame, (selfByFrame.get(frame) ?? 0) + us)
  }
  const busyUs = totalUs - idleUs
  return {
    requests,
    busyUsPerRequest: round(busyUs / n),
    busyShare: totalUs === 0 ? 0 : Number((busyUs / totalUs).toFixed(3)),
    parts: Object.fromEntries(BUDGET_PARTS.map((p) => [p, round(partUs[p] / n)])) as Record<BudgetPart, number>,
    top: [...selfByFrame.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, 15)
      .map(([frame, us]) => ({ frame, usPerRequest: round(us / n) })),
  }
}

function round(x: number): number {
  return Number(x.toFixed(1))
}

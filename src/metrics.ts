import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client'

/**
 * The process's Prometheus metrics, in a private registry (never the global one, so that two
 * apps in one process — as in tests — do not collide). Labels stay low-cardinality: route
 * patterns, never raw URLs or ids.
 */
export class Metrics {
  readonly registry = new Registry()

  /** Request latency by method, route pattern and status. */
  readonly httpDuration = new Histogram({
    name: 'ecsd_http_request_duration_seconds',
    help: 'HTTP request duration by method, route pattern and status code',
    labelNames: ['method', 'route', 'status_code'] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [this.registry],
  })

  /** Placement outcomes: a host found, or none (the Ecs.0319 answers). */
  readonly placements = new Counter({
    name: 'ecsd_placements_total',
    help: 'Placement decisions by result, counted when made (a request that fails later still made them)',
    labelNames: ['result'] as const,
    registers: [this.registry],
  })

  /** Write transactions run again after a conflict, by database error code. */
  readonly transactionRetries = new Counter({
    name: 'ecsd_transaction_retries_total',
    help: 'Write transactions retried after a transient conflict, by error code',
    labelNames: ['code'] as const,
    registers: [this.registry],
  })

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: 'ecsd_' })
  }
}

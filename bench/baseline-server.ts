/**
 * The baseline of `npm run bench`: one unauthenticated trivial route served by a fastify
 * instance built with the same options, logger and per-request hooks as ecsd's app
 * (src/app.ts) — request id, request timeout, body limit, one access-log line per request —
 * and nothing else: no authentication, no validation, no database. What it serves per second
 * is the practical ceiling of this HTTP stack on this machine; ecsd's routes are reported as a
 * fraction of it. It is a separate process, so nothing is added to the product's app.
 *
 *   node --import tsx bench/baseline-server.ts [--port N] [--log-level info]
 */
import { randomUUID } from 'node:crypto'
import { parseArgs } from 'node:util'
import Fastify, { LogController } from 'fastify'
import { BODY_LIMIT_BYTES } from '../src/app.ts'
import { loadConfig } from '../src/config.ts'
import { createLogger } from '../src/logger.ts'

const { values } = parseArgs({ options: { port: { type: 'string', default: '0' }, 'log-level': { type: 'string', default: 'info' } } })
const config = loadConfig({ logLevel: values['log-level'] }, {})
const logger = createLogger(config.logLevel)

// Kept in step with buildApp() in src/app.ts.
const app = Fastify({
  loggerInstance: logger,
  genReqId: () => randomUUID().replaceAll('-', ''),
  requestIdHeader: false,
  bodyLimit: BODY_LIMIT_BYTES,
  requestTimeout: config.requestTimeoutMs,
  logController: new LogController({ disableRequestLogging: true }),
  routerOptions: { ignoreTrailingSlash: false },
})
app.addHook('onRequest', async (req, reply) => {
  reply.header('x-request-id', req.id)
})
app.addHook('onResponse', async (req, reply) => {
  req.log.info({ method: req.method, url: req.url, status: reply.statusCode, ms: Math.round(reply.elapsedTime) }, 'request')
})
app.get('/ping', async () => ({ status: 'ok' }))

await app.listen({ host: '127.0.0.1', port: Number(values.port) })
const address = app.server.address()
process.stdout.write(`baseline listening on http://127.0.0.1:${typeof address === 'object' && address ? address.port : values.port}\n`)
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => void app.close().then(() => process.exit(0)))

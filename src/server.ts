import type { Logger } from 'pino'
import { buildApp, type App } from './app.ts'
import { ConfigError, readTlsFiles, sqliteFile, type Config } from './config.ts'
import { EcsError } from './domain/errors.ts'
import { createLogger, subsystem } from './logger.ts'
import { DEMO, seedDemo } from './services/demo.ts'
import { loadMasterKey, SecretBox } from './services/identity/secrets.ts'
import { createServices, type Services } from './services/index.ts'
import { Database } from './store/database.ts'

/** A running ecsd: the app, its services and where it listens. */
export interface RunningServer {
  app: App
  services: Services
  /** `https://…` when it serves TLS itself (`--tls-cert`/`--tls-key`), `http://…` otherwise. */
  url: string
  close(): Promise<void>
}

/**
 * Starts ecsd from a configuration: opens and migrates the store, seeds the demo on first
 * start, adds the faults of `ECSD_FAULTS`, starts the job runner (which takes over jobs left by a stopped process), and listens. `close()` stops accepting requests, lets job
 * steps in progress finish and closes the store.
 */
export async function startServer(config: Config, logger: Logger = createLogger(config.logLevel)): Promise<RunningServer> {
  // Unusable TLS files stop the start before the database is opened or migrated.
  const tls = config.tls === undefined ? undefined : readTlsFiles(config.tls)
  const database = Database.open({ url: config.databaseUrl, sqliteFile: sqliteFile(config), poolSize: config.databasePoolSize, logger: subsystem(logger, 'db') })
  await database.migrate()
  const box = new SecretBox(loadMasterKey({ value: config.masterKey, file: config.masterKeyFile }))
  const seeded = config.demo ? await seedDemo(database, box, { fleet: config.demoFleet }) : false
  if (seeded) logger.info('demo project, credential, fleet and flavors created')
  const services = createServices(config, database, logger, box)
  const sealed = await services.identity.sealPlaintextSecrets()
  if (sealed > 0) logger.info({ sealed }, 'credential secrets stored in plaintext were sealed with the master key')
  await services.identity.checkMasterKey()
  const configuredFaults = await services.faults.applyConfigured(config.faults).catch(async (err: unknown) => {
    await database.close()
    throw err instanceof EcsError ? new ConfigError(`ECSD_FAULTS: ${err.message}`) : err
  })
  if (config.faults.length > 0) logger.info({ configured: config.faults.length, added: configuredFaults }, 'injected faults of ECSD_FAULTS applied')
  services.jobs.start()
  services.hostMonitor.start()
  const app = buildApp(services, logger, tls)
  await app.listen({ host: config.host, port: config.port })
  const address = app.server.address()
  const port = typeof address === 'object' && address !== null ? address.port : config.port
  const url = `${tls === undefined ? 'http' : 'https'}://${config.host.includes(':') ? `[${config.host}]` : config.host}:${port}`
  return {
    app,
    services,
    url,
    async close() {
      // Node closes only the keep-alive connections idle at the moment the server stops
      // listening; one that finishes its last request later would hold the close open until
      // its keep-alive timeout. Sweep idle connections until the close completes.
      const sweep = setInterval(() => app.server.closeIdleConnections(), 50)
      try {
        await app.close()
      } finally {
        clearInterval(sweep)
      }
      await database.close()
    },
  }
}

/** The start-up banner: where to point the SDK, and the demo credentials when the demo exists. */
export async function banner(server: RunningServer): Promise<string> {
  const demo = await server.services.database.db
    .selectFrom('credentials')
    .select('access_key')
    .where('access_key', '=', DEMO.accessKey)
    .executeTakeFirst()
  const lines = [`ecsd listening on ${server.url}`]
  if (demo) {
    lines.push(
      '',
      'Demo credentials (for the Huawei Cloud SDK: BasicCredentials + EcsClient.withEndpoint):',
      `  endpoint    ${server.url}`,
      `  project id  ${DEMO.projectId}`,
      `  AK          ${DEMO.accessKey}`,
      `  SK          ${DEMO.secretKey}`,
      '',
      'Demo operator credential (admin routes, e.g. GET /admin/audit):',
      `  AK          ${DEMO.adminAccessKey}`,
      `  SK          ${DEMO.adminSecretKey}`,
      '',
      'Demo users (password sign-in: the openstack CLI, OS_AUTH_URL, project and user domain Default):',
      `  auth url    ${server.url}/v3`,
      `  project     ${DEMO.projectName}`,
      `  user        ${DEMO.userName} / ${DEMO.userPassword}`,
      `  admin user  ${DEMO.adminUserName} / ${DEMO.adminUserPassword}`,
      '',
    )
  }
  return lines.join('\n')
}

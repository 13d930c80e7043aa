import { createPrivateKey, X509Certificate, type KeyObject } from 'node:crypto'
import { existsSync, readFileSync } from 'node:fs'
import path from 'node:path'
import { FaultSpecError, readFaultSpec, type FaultSpec } from './domain/fault.ts'

/** Per-project quotas, reported by GET /v1/{project_id}/cloudservers/limits and enforced on writes. */
export interface Quotas {
  maxServerGroups: number
  maxServerGroupMembers: number
  maxTotalInstances: number
  maxTotalCores: number
  /** MiB */
  maxTotalRAMSize: number
}

/** The files `ecsd serve` reads its certificate and private key from to serve HTTPS. */
export interface TlsFiles {
  /** PEM: the server's certificate, followed by any intermediate certificates. */
  certFile: string
  /** PEM: the certificate's private key (not passphrase-protected). */
  keyFile: string
}

/** Which score orders placement candidates. */
export type PlacementScore = 'spread' | 'pack'

/** The one typed configuration of a process; built by `loadConfig`, never read from env elsewhere. */
export interface Config {
  host: string
  port: number
  dataDir: string
  /** `postgres://…` to run on PostgreSQL; undefined for the embedded SQLite file in `dataDir`. */
  databaseUrl: string | undefined
  /** PostgreSQL connections per process. */
  databasePoolSize: number
  /** Create the demo project, credentials, fleet and flavors on first start. */
  demo: boolean
  /** With the demo: its simulated hosts too (false: hosts come only from `ecsd hosts add` and their agents). */
  demoFleet: boolean
  /** How long the simulated host driver takes for boot/stop/start/delete. */
  driverLatencyMs: number
  /**
   * Where the simulated hosts keep disks: `shared` — a stopped server moves (add_member's
   * re-placement, a migration, a resize) without a driver step, as on Huawei's EVS; `local` —
   * every move is a driver step that takes `driverLatencyMs`.
   */
  simulatedDisks: 'shared' | 'local'
  /**
   * How long a replica owns a job it runs; a job whose owner stopped renewing (crashed) is taken
   * over by any replica after this long.
   */
  jobLeaseMs: number
  /** How often each replica looks for jobs whose lease expired. */
  jobSweepMs: number
  logLevel: string
  /** `ECSD_MASTER_KEY` (64 hex or base64 of 32 bytes); when absent the key file is used. */
  masterKey: string | undefined
  /** Where the generated master key lives (default `<dataDir>/master.key`, mode 0600). */
  masterKeyFile: string
  /** Lifetime of Identity v3 tokens. */
  tokenTtlMs: number
  /** Requests per credential per `rateLimitWindowMs`, per process; 0 turns the limit off. */
  rateLimit: number
  rateLimitWindowMs: number
  /** Longest time a request may take before its connection is closed. */
  requestTimeoutMs: number
  quotas: Quotas
  placement: { score: PlacementScore; subsetSize: number }
  /** The region id ecsd reports (`showFlavorCapacity`'s `region_id`). */
  region: string
  /** A host whose heartbeats stop for this long is declared down and evacuated. */
  hostDownAfterMs: number
  /** Hosts no agent has reported for heartbeat from inside the process (the simulated fleet). */
  simulatedHeartbeats: boolean
  /** Events of the event history are kept this many days at most… */
  eventRetentionDays: number
  /** …and this many at most (the oldest go first). */
  eventRetentionMax: number
  /** `ECSD_FAULTS`: faults of the simulated hosts added at start-up (see docs/operations.md). */
  faults: FaultSpec[]
  /**
   * `--tls-cert`/`--tls-key`: serve HTTPS with these files; undefined serves plain HTTP (on
   * 127.0.0.1, or behind something that terminates TLS). Their contents are read by
   * `readTlsFiles` when the server starts, so commands that never listen do not need them.
   */
  tls: TlsFiles | undefined
}

/** Values given on the command line; each wins over its `ECSD_*` environment variable. */
export interface ConfigFlags {
  host?: string | undefined
  port?: string | number | undefined
  dataDir?: string | undefined
  database?: string | undefined
  demo?: boolean | undefined
  demoFleet?: boolean | undefined
  driverLatencyMs?: string | number | undefined
  logLevel?: string | undefined
  tlsCert?: string | undefined
  tlsKey?: string | undefined
}

/** A configuration value that cannot be used; the message names the setting and the value. */
export class ConfigError extends Error {
  override name = 'ConfigError'
}

/** Quotas of every project unless configured: the reference's documented example values for groups. */
export const DEFAULT_QUOTAS: Quotas = {
  maxServerGroups: 10,
  maxServerGroupMembers: 16,
  maxTotalInstances: 100,
  maxTotalCores: 400,
  maxTotalRAMSize: 1_638_400,
}

/**
 * Every setting ecsd reads, by its environment variable: `loadConfig` and the commands that talk
 * to a server read only these, and a config file may hold only these.
 */
export const SETTING_NAMES = [
  'ECSD_HOST', 'ECSD_PORT', 'ECSD_DATA_DIR', 'ECSD_DATABASE_URL', 'ECSD_DATABASE_POOL_SIZE', 'ECSD_DEMO', 'ECSD_DEMO_FLEET',
  'ECSD_DRIVER_LATENCY_MS', 'ECSD_SIMULATED_DISKS', 'ECSD_JOB_LEASE_MS', 'ECSD_JOB_SWEEP_MS', 'ECSD_LOG_LEVEL',
  'ECSD_MASTER_KEY', 'ECSD_MASTER_KEY_FILE', 'ECSD_TOKEN_TTL_S', 'ECSD_RATE_LIMIT', 'ECSD_RATE_LIMIT_WINDOW_MS',
  'ECSD_REQUEST_TIMEOUT_MS', 'ECSD_QUOTA_SERVER_GROUPS', 'ECSD_QUOTA_SERVER_GROUP_MEMBERS', 'ECSD_QUOTA_INSTANCES',
  'ECSD_QUOTA_CORES', 'ECSD_QUOTA_RAM_MB', 'ECSD_PLACEMENT_SCORE', 'ECSD_PLACEMENT_SUBSET_SIZE', 'ECSD_REGION',
  'ECSD_HOST_DOWN_AFTER_S', 'ECSD_SIMULATED_HEARTBEATS', 'ECSD_FAULTS', 'ECSD_TLS_CERT', 'ECSD_TLS_KEY',
  'ECSD_EVENT_RETENTION_DAYS', 'ECSD_EVENT_RETENTION_MAX',
  // Clients of a server: `ecsd hosts … --endpoint`, `ecsd agent`.
  'ECSD_ENDPOINT', 'ECSD_ACCESS_KEY', 'ECSD_SECRET_KEY', 'ECSD_CA_FILE',
] as const

/** The environment variable of a setting. */
export type SettingName = (typeof SETTING_NAMES)[number]

/** Settings as read: text, as the environment has them; absent when not set. */
export type Settings = Partial<Record<SettingName, string>>

/** The config file read from the working directory when `--config` / `ECSD_CONFIG` names none. */
export const CONFIG_FILE = 'ecsd.config.json'

/**
 * The settings of a process: the environment over the config file — `ECSD_CONFIG` (what
 * `--config` sets), else `ecsd.config.json` in `dir` when there is one. An empty variable means
 * "not set", as shells and service managers commonly leave them.
 */
export function readSettings(rawEnv: NodeJS.ProcessEnv = process.env, dir: string = process.cwd()): Settings {
  const named = rawEnv.ECSD_CONFIG
  const file = named !== undefined && named !== '' ? named : CONFIG_FILE
  const fromFile = file === named || existsSync(path.resolve(dir, file)) ? configFile(file, path.resolve(dir, file)) : {}
  const fromEnv: Settings = {}
  for (const name of SETTING_NAMES) {
    const value = rawEnv[name]
    if (value !== undefined && value !== '') fromEnv[name] = value
  }
  return { ...fromFile, ...fromEnv }
}

/**
 * A config file's settings: a JSON object whose keys are settings' environment variables and
 * whose values are text, numbers or booleans (`ECSD_FAULTS` may be the array itself). A key that
 * is not a setting is refused, so a misspelt one is not silently ignored.
 */
function configFile(shown: string, file: string): Settings {
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch (err) {
    throw new ConfigError(`config file ${shown}: cannot read it (${(err as Error).message.replace(/, \w+ '.*'$/, '')})`)
  }
  let parsed: unknown
  try {
    parsed = JSON.parse(text)
  } catch (err) {
    throw new ConfigError(`config file ${shown} is not valid JSON (${(err as Error).message})`)
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new ConfigError(`config file ${shown} must be a JSON object of settings, e.g. {"ECSD_PORT": 9000}`)
  }
  const known: ReadonlySet<string> = new Set(SETTING_NAMES)
  const settings: Settings = {}
  for (const [key, value] of Object.entries(parsed)) {
    if (!known.has(key)) {
      const wanted = key.toUpperCase().replace(/^(ECSD_)?/, 'ECSD_')
      const [near] = SETTING_NAMES.filter((name) => editDistance(name, wanted) <= 2).sort((a, b) => editDistance(a, wanted) - editDistance(b, wanted))
      throw new ConfigError(`config file ${shown}: unknown setting "${key}"${near === undefined ? '' : ` (did you mean ${near}?)`}; its keys are the ECSD_* environment variables`)
    }
    const name = key as SettingName
    if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') {
      if (value !== '') settings[name] = String(value)
    } else if (name === 'ECSD_FAULTS' && Array.isArray(value)) {
      settings[name] = JSON.stringify(value)
    } else {
      throw new ConfigError(`config file ${shown}: ${key} must be text, a number or a boolean, got ${JSON.stringify(value)}`)
    }
  }
  return settings
}

/** Levenshtein distance, for the "did you mean" of a misspelt setting. */
function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j)
  for (let i = 1; i <= a.length; i++) {
    const row = [i]
    for (let j = 1; j <= b.length; j++) row.push(Math.min(previous[j]! + 1, row[j - 1]! + 1, previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1)))
    previous = row
  }
  return previous[b.length]!
}

/** Builds the configuration: flags > `ECSD_*` environment > config file (`readSettings`) > defaults. */
export function loadConfig(flags: ConfigFlags = {}, rawEnv: NodeJS.ProcessEnv = process.env): Config {
  const env = readSettings(rawEnv)
  const int = (name: SettingName, flag: string | number | undefined, fallback: number, min: number, max: number) => {
    const raw = flag ?? env[name]
    if (raw === undefined || raw === '') return fallback
    const value = typeof raw === 'number' ? raw : Number(raw)
    if (!Number.isInteger(value) || value < min || value > max) {
      throw new ConfigError(`${name} must be an integer from ${min} to ${max}, got "${raw}"`)
    }
    return value
  }
  const score = env.ECSD_PLACEMENT_SCORE ?? 'spread'
  if (score !== 'spread' && score !== 'pack') {
    throw new ConfigError(`ECSD_PLACEMENT_SCORE must be "spread" or "pack", got "${score}"`)
  }
  const disks = env.ECSD_SIMULATED_DISKS ?? 'shared'
  if (disks !== 'shared' && disks !== 'local') {
    throw new ConfigError(`ECSD_SIMULATED_DISKS must be "shared" or "local", got "${disks}"`)
  }
  const bool = (name: SettingName, fallback: boolean) => {
    const raw = env[name]
    if (raw === undefined) return fallback
    if (raw !== 'true' && raw !== 'false') throw new ConfigError(`${name} must be "true" or "false", got "${raw}"`)
    return raw === 'true'
  }
  const demoEnv = env.ECSD_DEMO
  if (demoEnv !== undefined && demoEnv !== 'true' && demoEnv !== 'false') {
    throw new ConfigError(`ECSD_DEMO must be "true" or "false", got "${demoEnv}"`)
  }
  return {
    host: flags.host ?? env.ECSD_HOST ?? '127.0.0.1',
    port: int('ECSD_PORT', flags.port, 8080, 0, 65535),
    dataDir: path.resolve(flags.dataDir ?? env.ECSD_DATA_DIR ?? './data'),
    databaseUrl: databaseUrl(flags.database ?? env.ECSD_DATABASE_URL),
    databasePoolSize: int('ECSD_DATABASE_POOL_SIZE', undefined, 10, 1, 1000),
    demo: flags.demo ?? demoEnv !== 'false',
    demoFleet: flags.demoFleet ?? bool('ECSD_DEMO_FLEET', true),
    driverLatencyMs: int('ECSD_DRIVER_LATENCY_MS', flags.driverLatencyMs, 200, 0, 600_000),
    simulatedDisks: disks,
    jobLeaseMs: int('ECSD_JOB_LEASE_MS', undefined, 10_000, 100, 3_600_000),
    jobSweepMs: int('ECSD_JOB_SWEEP_MS', undefined, 1_000, 10, 600_000),
    logLevel: flags.logLevel ?? env.ECSD_LOG_LEVEL ?? 'info',
    masterKey: env.ECSD_MASTER_KEY,
    masterKeyFile: path.resolve(env.ECSD_MASTER_KEY_FILE ?? path.join(flags.dataDir ?? env.ECSD_DATA_DIR ?? './data', 'master.key')),
    tokenTtlMs: int('ECSD_TOKEN_TTL_S', undefined, 3600, 60, 7 * 24 * 3600) * 1000,
    rateLimit: int('ECSD_RATE_LIMIT', undefined, 5000, 0, 100_000_000),
    rateLimitWindowMs: int('ECSD_RATE_LIMIT_WINDOW_MS', undefined, 1000, 100, 3_600_000),
    requestTimeoutMs: int('ECSD_REQUEST_TIMEOUT_MS', undefined, 30_000, 1000, 3_600_000),
    quotas: {
      maxServerGroups: int('ECSD_QUOTA_SERVER_GROUPS', undefined, DEFAULT_QUOTAS.maxServerGroups, 0, 1_000_000),
      maxServerGroupMembers: int('ECSD_QUOTA_SERVER_GROUP_MEMBERS', undefined, DEFAULT_QUOTAS.maxServerGroupMembers, 1, 1_000_000),
      maxTotalInstances: int('ECSD_QUOTA_INSTANCES', undefined, DEFAULT_QUOTAS.maxTotalInstances, 0, 100_000_000),
      maxTotalCores: int('ECSD_QUOTA_CORES', undefined, DEFAULT_QUOTAS.maxTotalCores, 0, 1_000_000_000),
      maxTotalRAMSize: int('ECSD_QUOTA_RAM_MB', undefined, DEFAULT_QUOTAS.maxTotalRAMSize, 0, 2_000_000_000),
    },
    placement: {
      score,
      subsetSize: int('ECSD_PLACEMENT_SUBSET_SIZE', undefined, 3, 1, 100),
    },
    region: env.ECSD_REGION ?? 'ecsd-1',
    hostDownAfterMs: int('ECSD_HOST_DOWN_AFTER_S', undefined, 30, 1, 86_400) * 1000,
    simulatedHeartbeats: bool('ECSD_SIMULATED_HEARTBEATS', true),
    eventRetentionDays: int('ECSD_EVENT_RETENTION_DAYS', undefined, 30, 1, 36_500),
    eventRetentionMax: int('ECSD_EVENT_RETENTION_MAX', undefined, 1_000_000, 1, 1_000_000_000),
    faults: faultsFrom(env.ECSD_FAULTS),
    tls: tlsFiles(flags.tlsCert ?? env.ECSD_TLS_CERT, flags.tlsKey ?? env.ECSD_TLS_KEY),
  }
}

/** `--tls-cert`/`--tls-key`: both (HTTPS) or neither (plain HTTP); one alone is a mistake, not a choice. */
function tlsFiles(cert: string | undefined, key: string | undefined): TlsFiles | undefined {
  if (cert === undefined && key === undefined) return undefined
  if (cert === undefined || key === undefined) {
    const [given, missing] = cert === undefined ? ['--tls-key / ECSD_TLS_KEY', '--tls-cert / ECSD_TLS_CERT'] : ['--tls-cert / ECSD_TLS_CERT', '--tls-key / ECSD_TLS_KEY']
    throw new ConfigError(`${given} is set but ${missing} is not: serving HTTPS needs both the certificate and its key`)
  }
  return { certFile: path.resolve(cert), keyFile: path.resolve(key) }
}

/** What the HTTPS server is given: the PEM contents of the TLS files, checked. */
export interface TlsMaterial {
  cert: Buffer
  key: Buffer
}

/**
 * Reads the TLS files and checks them before anything listens: each readable, the certificate a
 * PEM certificate, the key an unencrypted PEM private key, and the key the certificate's own —
 * each mistake a ConfigError naming the setting and the file, where the TLS stack would fail
 * later with an OpenSSL code.
 */
export function readTlsFiles(files: TlsFiles): TlsMaterial {
  const read = (setting: string, file: string) => {
    try {
      return readFileSync(file)
    } catch (err) {
      // Node's message ends with ", open '<file>'": the file is named already.
      throw new ConfigError(`${setting}: cannot read ${file} (${(err as Error).message.replace(/, \w+ '.*'$/, '')})`)
    }
  }
  const cert = read('--tls-cert / ECSD_TLS_CERT', files.certFile)
  const key = read('--tls-key / ECSD_TLS_KEY', files.keyFile)
  let certificate: X509Certificate
  try {
    certificate = new X509Certificate(cert)
  } catch {
    throw new ConfigError(`--tls-cert / ECSD_TLS_CERT: ${files.certFile} is not a PEM certificate (-----BEGIN CERTIFICATE-----)`)
  }
  let privateKey: KeyObject
  try {
    privateKey = createPrivateKey(key)
  } catch {
    throw new ConfigError(`--tls-key / ECSD_TLS_KEY: ${files.keyFile} is not an unencrypted PEM private key (-----BEGIN PRIVATE KEY-----)`)
  }
  if (!certificate.checkPrivateKey(privateKey)) {
    throw new ConfigError(`--tls-key / ECSD_TLS_KEY: ${files.keyFile} is not the private key of the certificate in ${files.certFile}`)
  }
  return { cert, key }
}

/** `ECSD_FAULTS`: a JSON array of `{host?, step, mode, probability?, reason?}`. */
function faultsFrom(value: string | undefined): FaultSpec[] {
  if (value === undefined) return []
  let parsed: unknown
  try {
    parsed = JSON.parse(value)
  } catch (err) {
    throw new ConfigError(`ECSD_FAULTS must be a JSON array of faults, but it is not valid JSON (${(err as Error).message})`)
  }
  if (!Array.isArray(parsed)) {
    throw new ConfigError('ECSD_FAULTS must be a JSON array of faults, e.g. [{"host":"az1-host-01","step":"start","mode":"fail"}]')
  }
  return parsed.map((entry: unknown, i) => {
    try {
      return readFaultSpec(entry)
    } catch (err) {
      if (err instanceof FaultSpecError) throw new ConfigError(`ECSD_FAULTS[${i}]: ${err.message}`)
      throw err
    }
  })
}

function databaseUrl(value: string | undefined): string | undefined {
  if (value === undefined) return undefined
  if (!/^postgres(ql)?:\/\/./.test(value)) {
    throw new ConfigError(`ECSD_DATABASE_URL / --database must be a postgres:// URL, got "${value.replace(/:[^:@/]*@/, ':***@')}"`)
  }
  return value
}

/** The SQLite file of a data directory. */
export function sqliteFile(config: Pick<Config, 'dataDir'>): string {
  return path.join(config.dataDir, 'ecsd.sqlite')
}

import type { Command } from 'commander'
import { loadConfig, sqliteFile, type ConfigFlags } from '../config.ts'
import type { IdentityService } from '../services/identity/index.ts'

type Flags = ConfigFlags & Record<string, unknown>

/** Runs `fn` with the identity service over the configured database, migrated, then closes it. */
async function withIdentity<T>(opts: Flags, fn: (identity: IdentityService) => Promise<T>): Promise<T> {
  const config = loadConfig({ ...opts, logLevel: 'warn' })
  // Loaded when a command runs, not when the command line is parsed.
  const [{ Database }, { IdentityService }, { loadMasterKey, SecretBox }] = await Promise.all([
    import('../store/database.ts'), import('../services/identity/index.ts'), import('../services/identity/secrets.ts'),
  ])
  const database = Database.open({ url: config.databaseUrl, sqliteFile: sqliteFile(config), poolSize: 2 })
  try {
    await database.migrate()
    const box = new SecretBox(loadMasterKey({ value: config.masterKey, file: config.masterKeyFile }))
    const identity = new IdentityService(database, box, config.tokenTtlMs)
    await identity.checkMasterKey()
    return await fn(identity)
  } finally {
    await database.close()
  }
}

function databaseOptions(cmd: Command): Command {
  return cmd
    .option('--data-dir <dir>', 'data directory (env ECSD_DATA_DIR, default ./data)')
    .option('--database <url>', 'postgres://… (env ECSD_DATABASE_URL)')
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = []
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer)
  return Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '')
}

function table(rows: Array<Record<string, string>>): string {
  if (rows.length === 0) return '(none)\n'
  const keys = Object.keys(rows[0]!)
  const width = (k: string) => Math.max(k.length, ...rows.map((r) => (r[k] ?? '').length))
  const line = (r: Record<string, string>) => keys.map((k) => (r[k] ?? '').padEnd(width(k))).join('  ').trimEnd()
  return `${[line(Object.fromEntries(keys.map((k) => [k, k.toUpperCase()]))), ...rows.map(line)].join('\n')}\n`
}

/**
 * `ecsd projects …`, `ecsd credentials …`, `ecsd users …`: operator commands that act on the
 * database directly (like `migrate`), for bootstrapping before any admin credential exists.
 * A secret key is printed once, at creation, and never again.
 */
export function registerIdentityCommands(program: Command): void {
  const projects = program.command('projects').description('manage projects (tenants)')
  databaseOptions(projects.command('create').description('create a project').requiredOption('--name <name>', 'project name'))
    .action(async (opts: Flags & { name: string }) => {
      const p = await withIdentity(opts, (identity) => identity.createProject(opts.name))
      process.stdout.write(`project ${p.id} (${p.name}) created\n`)
    })
  databaseOptions(projects.command('list').description('list projects')).action(async (opts: Flags) => {
    const list = await withIdentity(opts, (identity) => identity.listProjects())
    process.stdout.write(table(list.map((p) => ({ id: p.id, name: p.name, created: p.createdAt }))))
  })

  const credentials = program.command('credentials').description('manage AK/SK credentials')
  databaseOptions(
    credentials
      .command('create')
      .description('issue an AK/SK pair for a project; the SK is shown only now')
      .requiredOption('--project <id>', 'project id')
      .option('--admin', 'an operator credential (admin routes)')
      .option('--description <text>', 'what it is for'),
  ).action(async (opts: Flags & { project: string; admin?: boolean; description?: string }) => {
    const c = await withIdentity(opts, (identity) =>
      identity.createCredential(opts.project, { admin: opts.admin === true, ...(opts.description === undefined ? {} : { description: opts.description }) }),
    )
    process.stdout.write(`AK ${c.accessKey}\nSK ${c.secretKey}\nproject ${c.projectId}${c.admin ? ' (admin)' : ''}\nThe secret key is shown only now; store it safely.\n`)
  })
  databaseOptions(credentials.command('list').description('list credentials (never their secrets)').option('--project <id>', 'only this project'))
    .action(async (opts: Flags & { project?: string }) => {
      const list = await withIdentity(opts, (identity) => identity.listCredentials(opts.project))
      process.stdout.write(table(list.map((c) => ({ ak: c.accessKey, project: c.projectId, admin: c.admin ? 'yes' : 'no', status: c.revokedAt ? `revoked ${c.revokedAt}` : 'active', description: c.description }))))
    })
  databaseOptions(credentials.command('revoke').description('revoke a credential; every replica refuses it from its next request (PostgreSQL: at most 1 s later)').argument('<access-key>'))
    .action(async (accessKey: string, opts: Flags) => {
      await withIdentity(opts, (identity) => identity.revokeCredential(accessKey))
      process.stdout.write(`credential ${accessKey} revoked\n`)
    })

  const users = program.command('users').description('manage users who sign in for tokens (Identity v3)')
  databaseOptions(
    users
      .command('create')
      .description('create a user; the password is read from standard input unless --password is given')
      .requiredOption('--project <id>', 'project id')
      .requiredOption('--name <name>', 'user name')
      .option('--password <password>', 'the password (visible to other local users in the process list; prefer stdin)')
      .option('--admin', 'an operator user'),
  ).action(async (opts: Flags & { project: string; name: string; password?: string; admin?: boolean }) => {
    const password = opts.password ?? (await readStdin())
    const u = await withIdentity(opts, (identity) => identity.createUser(opts.project, opts.name, password, opts.admin === true))
    process.stdout.write(`user ${u.name} (${u.id}) created in project ${u.projectId}\n`)
  })
}

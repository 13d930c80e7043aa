import type { Command } from 'commander'
import { credentialBody } from '../api/admin/views.ts'
import { loadConfig, type ConfigFlags } from '../config.ts'
import type { IdentityService } from '../services/identity/index.ts'
import { databaseOptions, openDatabase } from './database.ts'
import { print, printJson, table } from './output.ts'

type Flags = ConfigFlags & { json?: boolean }

/** Runs `fn` with the identity service over the configured database, migrated, then closes it. */
async function withIdentity<T>(flags: Flags, fn: (identity: IdentityService) => Promise<T>): Promise<T> {
  const config = loadConfig({ dataDir: flags.dataDir, database: flags.database, logLevel: 'warn' })
  // Loaded when a command runs, not when the command line is parsed.
  const [{ IdentityService }, { loadMasterKey, SecretBox }] = await Promise.all([import('../services/identity/index.ts'), import('../services/identity/secrets.ts')])
  const database = await openDatabase(config, { migrate: true })
  try {
    const box = new SecretBox(loadMasterKey({ value: config.masterKey, file: config.masterKeyFile }))
    const identity = new IdentityService(database, box, config.tokenTtlMs)
    await identity.checkMasterKey()
    return await fn(identity)
  } finally {
    await database.close()
  }
}

/** An identity command: its database options and `--json`. */
function identityCommand(parent: Command, name: string, description: string): Command {
  return databaseOptions(parent.command(name).description(description)).option('--json', 'print the admin API\'s JSON instead of text')
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = []
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer)
  return Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '')
}

/**
 * `ecsd projects …`, `ecsd credentials …`, `ecsd users …`: operator commands that act on the
 * database directly (like `migrate`), for bootstrapping before any admin credential exists.
 * A secret key is printed once, at creation, and never again.
 */
export function registerIdentityCommands(program: Command): void {
  const projects = program.command('projects').description('manage projects (tenants)')
  identityCommand(projects, 'create', 'create a project').requiredOption('--name <name>', 'project name')
    .action(async (flags: Flags & { name: string }) => {
      const p = await withIdentity(flags, (identity) => identity.createProject(flags.name))
      if (flags.json) printJson({ project: { id: p.id, name: p.name, created_at: p.createdAt } })
      else print(`project ${p.id} (${p.name}) created`)
    })
  identityCommand(projects, 'list', 'list projects').action(async (flags: Flags) => {
    const list = await withIdentity(flags, (identity) => identity.listProjects())
    if (flags.json) printJson({ projects: list.map((p) => ({ id: p.id, name: p.name, created_at: p.createdAt })) })
    else print(table(['id', 'name', 'created'], list.map((p) => [p.id, p.name, p.createdAt]), '(no projects)'))
  })

  const credentials = program.command('credentials').description('manage AK/SK credentials')
  identityCommand(credentials, 'create', 'issue an AK/SK pair for a project; the SK is shown only now')
    .requiredOption('--project <id>', 'project id')
    .option('--admin', 'an operator credential (admin routes)')
    .option('--description <text>', 'what it is for')
    .action(async (flags: Flags & { project: string; admin?: boolean; description?: string }) => {
      const c = await withIdentity(flags, (identity) =>
        identity.createCredential(flags.project, { admin: flags.admin === true, ...(flags.description === undefined ? {} : { description: flags.description }) }),
      )
      if (flags.json) printJson({ credential: { ...credentialBody(c), secret: c.secretKey } })
      else print(`AK ${c.accessKey}\nSK ${c.secretKey}\nproject ${c.projectId}${c.admin ? ' (admin)' : ''}\nThe secret key is shown only now; store it safely.`)
    })
  identityCommand(credentials, 'list', 'list credentials (never their secrets)').option('--project <id>', 'only this project')
    .action(async (flags: Flags & { project?: string }) => {
      const list = await withIdentity(flags, (identity) => identity.listCredentials(flags.project))
      if (flags.json) printJson({ credentials: list.map(credentialBody) })
      else {
        print(table(
          ['access key', 'project', 'admin', 'status', 'description'],
          list.map((c) => [c.accessKey, c.projectId, c.admin ? 'yes' : 'no', c.revokedAt === null ? 'active' : `revoked ${c.revokedAt}`, c.description]),
          '(no credentials)',
        ))
      }
    })
  identityCommand(credentials, 'revoke', 'revoke a credential; every replica refuses it from its next request (PostgreSQL: at most 1 s later)')
    .argument('<access-key>', 'the credential\'s access key')
    .action(async (accessKey: string, flags: Flags) => {
      await withIdentity(flags, (identity) => identity.revokeCredential(accessKey))
      if (flags.json) printJson({ revoked: accessKey })
      else print(`credential ${accessKey} revoked`)
    })

  const users = program.command('users').description('manage users who sign in for tokens (Identity v3)')
  identityCommand(users, 'create', 'create a user; the password is read from standard input unless --password is given')
    .requiredOption('--project <id>', 'project id')
    .requiredOption('--name <name>', 'user name')
    .option('--password <password>', 'the password (visible to other local users in the process list; prefer stdin)')
    .option('--admin', 'an operator user')
    .action(async (flags: Flags & { project: string; name: string; password?: string; admin?: boolean }) => {
      const password = flags.password ?? (await readStdin())
      const u = await withIdentity(flags, (identity) => identity.createUser(flags.project, flags.name, password, flags.admin === true))
      if (flags.json) printJson({ user: { id: u.id, name: u.name, project_id: u.projectId } })
      else print(`user ${u.name} (${u.id}) created in project ${u.projectId}`)
    })
}

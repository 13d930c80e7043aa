import type { Database } from '../store/database.ts'
import { NEW_HOST_COLUMNS } from '../store/tables/hosts.ts'
import { hashPassword } from './identity/passwords.ts'
import type { SecretBox } from './identity/secrets.ts'
import { nowIso } from './time.ts'

/** The demo tenant and its credential, printed at start-up of the embedded default. */
export const DEMO = {
  projectId: '0123456789abcdef0123456789abcdef',
  projectName: 'demo',
  accessKey: 'ECSDDEMOAK0000000001',
  secretKey: 'ecsdDemoSecretKey000000000000000000000001',
  /** An operator credential of the demo project, for /admin routes such as the audit. */
  adminAccessKey: 'ECSDDEMOADMIN0000001',
  adminSecretKey: 'ecsdDemoAdminSecretKey00000000000000000001',
  /** A user of the demo project for password sign-in (Identity v3): the `openstack` CLI's login. */
  userName: 'demo',
  userPassword: 'ecsd-demo-password',
  /** An operator (admin) user of the demo project, for the OpenStack admin views. */
  adminUserName: 'demo-admin',
  adminUserPassword: 'ecsd-demo-admin-password',
} as const

/** The demo fleet: two zones of eight identical hosts. */
export const DEMO_FLEET = { zones: ['az1', 'az2'], hostsPerZone: 8, vcpus: 32, ramMb: 128 * 1024 } as const

/**
 * The demo flavor catalogue: KVM (CloudCompute) s6/c7/m6 and Xen (FusionCompute) s3 families.
 * `m6.4xlarge.8` takes a whole demo host's RAM, so resizing to it moves a server off any host
 * that runs something else; `s6.2xlarge.2` is sold out, to show how that is refused.
 */
export const DEMO_FLAVORS = [
  { id: 's6.small.1', vcpus: 1, ram_mb: 1024, virtualization: 'kvm', sell_status: 'normal' },
  { id: 's6.medium.2', vcpus: 1, ram_mb: 2048, virtualization: 'kvm', sell_status: 'normal' },
  { id: 's6.large.2', vcpus: 2, ram_mb: 4096, virtualization: 'kvm', sell_status: 'normal' },
  { id: 's6.xlarge.2', vcpus: 4, ram_mb: 8192, virtualization: 'kvm', sell_status: 'normal' },
  { id: 's6.2xlarge.2', vcpus: 8, ram_mb: 16384, virtualization: 'kvm', sell_status: 'sellout' },
  { id: 'c7.2xlarge.4', vcpus: 8, ram_mb: 32768, virtualization: 'kvm', sell_status: 'normal' },
  { id: 'm6.4xlarge.8', vcpus: 16, ram_mb: 131072, virtualization: 'kvm', sell_status: 'normal' },
  { id: 's3.small.1', vcpus: 1, ram_mb: 1024, virtualization: 'xen', sell_status: 'normal' },
  { id: 's3.large.2', vcpus: 2, ram_mb: 4096, virtualization: 'xen', sell_status: 'normal' },
] as const

/**
 * Creates the demo project, credentials, users, flavors and (unless `options.fleet` is false) its
 * simulated fleet, if the database has no project yet. Returns whether it did, so a restart never duplicates or resets anything.
 */
export async function seedDemo(database: Database, box: SecretBox, options: { fleet: boolean } = { fleet: true }): Promise<boolean> {
  // The passwords are hashed before the transaction (scrypt is slow on purpose, the write lock
  // should not be), and only when the demo may be needed: restarts skip the cost.
  if (await database.db.selectFrom('projects').select('id').limit(1).executeTakeFirst()) return false
  const [userHash, adminHash] = await Promise.all([hashPassword(DEMO.userPassword), hashPassword(DEMO.adminUserPassword)])
  return database.transaction(async ({ db }) => {
    const anyProject = await db.selectFrom('projects').select('id').limit(1).executeTakeFirst()
    if (anyProject) return false
    const now = nowIso()
    await db.insertInto('projects').values({ id: DEMO.projectId, name: DEMO.projectName, created_at: now }).execute()
    await db
      .insertInto('credentials')
      .values([
        { access_key: DEMO.accessKey, secret_key: box.seal(DEMO.secretKey, DEMO.accessKey), project_id: DEMO.projectId, created_at: now, admin: 0, description: 'demo', revoked_at: null },
        { access_key: DEMO.adminAccessKey, secret_key: box.seal(DEMO.adminSecretKey, DEMO.adminAccessKey), project_id: DEMO.projectId, created_at: now, admin: 1, description: 'demo operator', revoked_at: null },
      ])
      .execute()
    await db
      .insertInto('users')
      .values([
        { id: '0123456789abcdef0123456789ab0001', name: DEMO.userName, project_id: DEMO.projectId, password_hash: userHash, admin: 0, created_at: now },
        { id: '0123456789abcdef0123456789ab0002', name: DEMO.adminUserName, project_id: DEMO.projectId, password_hash: adminHash, admin: 1, created_at: now },
      ])
      .execute()
    await db
      .insertInto('flavors')
      .values(DEMO_FLAVORS.map((f) => ({ id: f.id, name: f.id, vcpus: f.vcpus, ram_mb: f.ram_mb, disk_gb: 0, virtualization: f.virtualization, sell_status: f.sell_status })))
      .execute()
    if (!options.fleet) return true
    const hosts = DEMO_FLEET.zones.flatMap((az) =>
      Array.from({ length: DEMO_FLEET.hostsPerZone }, (_, i) => ({
        id: crypto.randomUUID(),
        name: `${az}-host-${String(i + 1).padStart(2, '0')}`,
        az,
        vcpus: DEMO_FLEET.vcpus,
        ram_mb: DEMO_FLEET.ramMb,
        cpu_allocation_ratio: 1,
        ram_allocation_ratio: 1,
        free_vcpus: DEMO_FLEET.vcpus,
        free_ram_mb: DEMO_FLEET.ramMb,
        state: 'up',
        enabled: 1,
        created_at: now,
        ...NEW_HOST_COLUMNS,
      })),
    )
    await db.insertInto('hosts').values(hosts).execute()
    return true
  })
}

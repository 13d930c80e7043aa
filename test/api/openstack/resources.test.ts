/**
 * The small resources of the OpenStack Compute surface through `app.inject`, on both databases:
 * key pairs, flavors and their extra specs, availability zones, hypervisors (admins only) and
 * the Glance v2 image catalogue.
 */
import assert from 'node:assert/strict'
import { generateKeyPairSync } from 'node:crypto'
import { describe, test } from 'node:test'
import { DEMO } from '../../../src/services/demo.ts'
import { IMAGES } from '../../../src/services/images.ts'
import { buildTestApp, call, DIALECTS, snapshot, waitForIdle } from '../../helper.ts'
import { boot, fault, nova } from './nova.ts'

/** An OpenSSH public key line for an Ed25519 key, built from its raw public bytes. */
function opensshEd25519(): string {
  const { publicKey } = generateKeyPairSync('ed25519')
  const raw = Buffer.from((publicKey.export({ format: 'jwk' }) as { x: string }).x, 'base64url')
  const string = (b: Buffer) => Buffer.concat([Buffer.from([0, 0, 0, b.length]), b])
  return `ssh-ed25519 ${Buffer.concat([string(Buffer.from('ssh-ed25519')), string(raw)]).toString('base64')} me@laptop`
}

for (const dialect of DIALECTS) {
  describe(`OpenStack resources on ${dialect}`, () => {
    test('key pairs: generated (private key once) and imported, per microversion; duplicates 409; delete 202/204', async (t) => {
      const { app, database } = await buildTestApp(t, { dialect })
      const old = await nova(app, 'POST', '/os-keypairs', { body: { keypair: { name: 'gen' } } })
      assert.equal(old.statusCode, 200, '2.1 answers 200')
      const generated = (old.json() as { keypair: Record<string, string> }).keypair
      assert.deepEqual(Object.keys(generated).sort(), ['fingerprint', 'name', 'private_key', 'public_key', 'user_id'])
      assert.match(generated.public_key!, /^ssh-rsa AAAA/)
      assert.match(generated.private_key!, /^-----BEGIN RSA PRIVATE KEY-----/)
      assert.match(generated.fingerprint!, /^([0-9a-f]{2}:){15}[0-9a-f]{2}$/)

      const key = opensshEd25519()
      const imported = await nova(app, 'POST', '/os-keypairs', { version: '2.2', body: { keypair: { name: 'mine', public_key: key, type: 'ssh' } } })
      assert.equal(imported.statusCode, 201, '2.2 answers 201')
      const k = (imported.json() as { keypair: Record<string, string> }).keypair
      assert.equal(k.type, 'ssh')
      assert.equal(k.public_key, key)
      assert.equal('private_key' in k, false)

      const before = await snapshot(database)
      for (const [body, status] of [
        [{ keypair: { name: 'mine', public_key: key } }, 409],
        [{ keypair: { name: 'bad', public_key: 'ssh-rsa not-base64!' } }, 400],
        [{ keypair: { name: 'bad', public_key: 'hello' } }, 400],
        [{ keypair: { name: 'bad', public_key: `ssh-rsa ${key.split(' ')[1]}` } }, 400],
        [{ keypair: { name: 'bad/name' } }, 400],
        [{ keypair: { name: 'x', type: 'pgp' } }, 400],
        [{ keypair: {} }, 400],
      ] as const) {
        const res = await nova(app, 'POST', '/os-keypairs', { version: '2.2', body })
        assert.equal(res.statusCode, status, `${JSON.stringify(body)} → ${res.body}`)
      }
      assert.deepEqual(await snapshot(database), before)

      const list = await nova(app, 'GET', '/os-keypairs', { version: '2.2' })
      assert.deepEqual((list.json() as { keypairs: Array<{ keypair: { name: string; type: string } }> }).keypairs.map((e) => [e.keypair.name, e.keypair.type]), [['gen', 'ssh'], ['mine', 'ssh']])
      const paged = await nova(app, 'GET', '/os-keypairs?limit=1&marker=gen', { version: '2.35' })
      assert.deepEqual((paged.json() as { keypairs: Array<{ keypair: { name: string } }> }).keypairs.map((e) => e.keypair.name), ['mine'])
      const shown = (await nova(app, 'GET', '/os-keypairs/mine', { version: '2.2' })).json() as { keypair: Record<string, unknown> }
      assert.equal(shown.keypair.deleted, false)
      assert.equal(shown.keypair.user_id, DEMO.projectId)
      assert.equal(typeof shown.keypair.id, 'number')
      assert.match(String(shown.keypair.created_at), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}$/)

      // A server names its key pair; an unknown name is refused.
      const [server] = await boot(app, { key_name: 'mine' })
      assert.equal(((await nova(app, 'GET', `/servers/${server}`)).json() as { server: { key_name: string } }).server.key_name, 'mine')

      assert.equal((await nova(app, 'DELETE', '/os-keypairs/gen')).statusCode, 202, '2.1 answers 202')
      assert.equal((await nova(app, 'DELETE', '/os-keypairs/mine', { version: '2.2' })).statusCode, 204, '2.2 answers 204')
      const gone = await nova(app, 'GET', '/os-keypairs/mine')
      assert.equal(gone.statusCode, 404)
      assert.equal(fault(gone).name, 'itemNotFound')
      await waitForIdle(database)
    })

    test('flavors: list, detail per microversion, show, extra specs; unknown 404', async (t) => {
      const { app } = await buildTestApp(t, { dialect })
      const brief = (await nova(app, 'GET', '/flavors')).json() as { flavors: Array<{ id: string; name: string; links: unknown[] }> }
      assert.ok(brief.flavors.some((f) => f.id === 's6.small.1'))
      const detail = async (version: string) => ((await nova(app, 'GET', '/flavors/detail', { version })).json() as { flavors: Array<Record<string, unknown>> }).flavors.find((f) => f.id === 's6.large.2')!
      const v21 = await detail('2.1')
      assert.equal(v21.vcpus, 2)
      assert.equal(v21.ram, 4096)
      assert.equal('description' in v21, false)
      assert.equal('extra_specs' in v21, false)
      assert.equal((await detail('2.55')).description, null)
      assert.equal(((await detail('2.61')).extra_specs as Record<string, string>)['ecs:virtualization_env_types'], 'CloudCompute')
      const shown = await nova(app, 'GET', '/flavors/s3.small.1')
      assert.equal((shown.json() as { flavor: { id: string } }).flavor.id, 's3.small.1')
      const specs = await nova(app, 'GET', '/flavors/s3.small.1/os-extra_specs')
      assert.equal((specs.json() as { extra_specs: Record<string, string> }).extra_specs['ecs:virtualization_env_types'], 'FusionCompute')
      const one = await nova(app, 'GET', '/flavors/s3.small.1/os-extra_specs/ecs:generation')
      assert.deepEqual(one.json(), { 'ecs:generation': 's3' })
      for (const url of ['/flavors/nope', '/flavors/nope/os-extra_specs', '/flavors/s3.small.1/os-extra_specs/nope']) {
        const res = await nova(app, 'GET', url)
        assert.equal(res.statusCode, 404, url)
        assert.equal(fault(res).name, 'itemNotFound')
      }
    })

    test('availability zones for tenants without hosts; the detail and hypervisors for admins only', async (t) => {
      const { app, database } = await buildTestApp(t, { dialect })
      const zones = await nova(app, 'GET', '/os-availability-zone')
      assert.deepEqual(zones.json(), { availabilityZoneInfo: [{ zoneName: 'az1', zoneState: { available: true }, hosts: null }, { zoneName: 'az2', zoneState: { available: true }, hosts: null }] })
      for (const url of ['/os-availability-zone/detail', '/os-hypervisors', '/os-hypervisors/detail']) {
        const res = await nova(app, 'GET', url)
        assert.equal(res.statusCode, 403, url)
        assert.equal(fault(res).name, 'forbidden')
      }
      const detail = await nova(app, 'GET', '/os-availability-zone/detail', { admin: true })
      assert.equal(Object.keys((detail.json() as { availabilityZoneInfo: Array<{ hosts: object }> }).availabilityZoneInfo[0]!.hosts).length, 8)
      const [server] = await boot(app, { flavorRef: 's6.large.2' })
      const hypervisors = (await nova(app, 'GET', '/os-hypervisors/detail', { admin: true })).json() as { hypervisors: Array<Record<string, unknown>> }
      assert.equal(hypervisors.hypervisors.length, 16)
      const used = hypervisors.hypervisors.find((h) => h.running_vms === 1)!
      assert.equal(used.vcpus_used, 2)
      assert.equal(used.memory_mb_used, 4096)
      assert.equal(used.state, 'up')
      const one = await nova(app, 'GET', `/os-hypervisors/${String(used.id)}`, { admin: true })
      assert.equal((one.json() as { hypervisor: { hypervisor_hostname: string } }).hypervisor.hypervisor_hostname, used.hypervisor_hostname)
      assert.equal((await nova(app, 'GET', `/os-hypervisors/${crypto.randomUUID()}`, { admin: true })).statusCode, 404)
      assert.equal(typeof server, 'string')
      await waitForIdle(database)
    })

    test('limits: quotas and usage in the shape of the microversion', async (t) => {
      const { app, database } = await buildTestApp(t, { dialect, quotas: { maxTotalInstances: 7 } })
      await boot(app, { max_count: 2 })
      const limits = async (version: string) => ((await nova(app, 'GET', '/limits', { version })).json() as { limits: { rate: unknown[]; absolute: Record<string, number> } }).limits
      const old = await limits('2.1')
      assert.deepEqual(old.rate, [])
      assert.equal(old.absolute.maxTotalInstances, 7)
      assert.equal(old.absolute.totalInstancesUsed, 2)
      assert.equal(old.absolute.totalCoresUsed, 2)
      assert.equal(old.absolute.maxPersonality, 5)
      assert.equal(old.absolute.maxSecurityGroups, 10)
      const latest = await limits('latest')
      assert.equal('maxPersonality' in latest.absolute, false)
      assert.equal('maxSecurityGroups' in latest.absolute, false)
      await waitForIdle(database)
    })

    test('the Glance v2 image catalogue: versions, list with filters, show, 404, authentication', async (t) => {
      const { app } = await buildTestApp(t, { dialect })
      const versions = await app.inject({ method: 'GET', url: '/image' })
      assert.equal(versions.statusCode, 200)
      assert.match((versions.json() as { versions: Array<{ links: Array<{ href: string }> }> }).versions[0]!.links[0]!.href, /\/image\/v2\/$/)
      const list = await call(app, { method: 'GET', url: '/image/v2/images' })
      assert.deepEqual((list.json() as { images: Array<{ name: string }> }).images.map((i) => i.name), IMAGES.map((i) => i.name))
      const byName = await call(app, { method: 'GET', url: '/image/v2/images?name=demo-busybox' })
      const [busybox] = (byName.json() as { images: Array<{ id: string; status: string }> }).images
      assert.equal(busybox!.status, 'active')
      const shown = await call(app, { method: 'GET', url: `/image/v2/images/${busybox!.id}` })
      assert.equal((shown.json() as { name: string }).name, 'demo-busybox')
      assert.equal((await call(app, { method: 'GET', url: '/image/v2/images/demo-busybox' })).statusCode, 404)
      assert.equal((await app.inject({ method: 'GET', url: '/image/v2/images' })).statusCode, 401)
    })
  })
}

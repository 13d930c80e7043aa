import assert from 'node:assert/strict'
import { constants, privateDecrypt } from 'node:crypto'
import { describe, test } from 'node:test'
import { DEMO } from '../../../src/services/demo.ts'
import { IMAGES } from '../../../src/services/images.ts'
import { passwordMatches } from '../../../src/services/server-os.ts'
import type { Database } from '../../../src/store/database.ts'
import { DIALECTS, buildTestApp, call, createServers, showServer, stopServers, v1, waitForIdle, waitForJob } from '../../helper.ts'

/**
 * Reinstall and change of OS, passwords, consoles, crash dumps and monitoring registration,
 * through the HTTP API: what each writes is read back, refusals change nothing, and another
 * project's server answers like an unknown one.
 */

const OTHER = { projectId: '5e7a0c0ffee5e7a0c0ffee5e7a0c0ffe', accessKey: 'OSOTHERAK00000000001', secretKey: 'os-other-secret' }
const STRONG = 'Ecsd-pass-42'

type Res = Awaited<ReturnType<typeof call>>

function refused(res: Res, status: number, code: string, what: string): void {
  assert.equal(res.statusCode, status, `${what}: ${res.body}`)
  assert.equal((res.json() as { error: { code: string } }).error.code, code, `${what}: ${res.body}`)
}

/**
 * Opens a password blob with the private key. PKCS#1 v1.5 padding is undone here: Node refuses
 * it for private decryption (CVE-2023-46809), though it is what cloudbase-init uses and what
 * `openssl pkeyutl -decrypt` opens.
 */
function decryptBlob(privateKey: string, blob: string): string {
  const padded = privateDecrypt({ key: privateKey, padding: constants.RSA_NO_PADDING }, Buffer.from(blob, 'base64'))
  assert.deepEqual([padded[0], padded[1]], [0, 2], 'PKCS#1 v1.5 encryption padding')
  return padded.subarray(padded.indexOf(0, 2) + 1).toString('utf8')
}

async function options(database: Database, serverId: string) {
  return database.db.selectFrom('server_options').selectAll().where('server_id', '=', serverId).executeTakeFirst()
}

/** A server of a second project, and that project's credential. */
async function otherProjectServer(app: Parameters<typeof call>[0], services: Awaited<ReturnType<typeof buildTestApp>>['services'], database: Database): Promise<string> {
  await services.identity.createProject('os-other', OTHER.projectId)
  await services.identity.createCredential(OTHER.projectId, { accessKey: OTHER.accessKey, secretKey: OTHER.secretKey })
  const res = await call(app, { method: 'POST', url: v1('/cloudservers', OTHER.projectId), body: { server: { name: 'theirs', flavorRef: 's6.large.2', imageRef: 'img', vpcid: 'v', nics: [{ subnet_id: 's' }], root_volume: { volumetype: 'SSD' } } }, ...OTHER })
  assert.equal(res.statusCode, 200, res.body)
  await waitForIdle(database)
  return (res.json() as { serverIds: string[] }).serverIds[0]!
}

for (const dialect of DIALECTS) {
  describe(`server OS on ${dialect}`, () => {
    test('reinstall and change OS record their change and a finished job; passwords are stored hashed and encrypted for the key pair', async (t) => {
      const { app, database, services } = await buildTestApp(t, { dialect })
      const [running, stopped] = await createServers(app, { count: 2 })
      await stopServers(app, [stopped!])
      const key = await services.keypairs.create(DEMO.projectId, { name: 'ops', type: 'ssh', publicKey: undefined, userId: 'u' })

      refused(await call(app, { method: 'POST', url: v1(`/cloudservers/${running}/reinstallos`), body: { 'os-reinstall': { adminpass: STRONG } } }), 400, 'Ecs.0100', 'a running server without withStopServer')
      refused(await call(app, { method: 'POST', url: v1(`/cloudservers/${stopped}/changeos`), body: { 'os-change': { imageid: 'no-such-image', adminpass: STRONG } } }), 400, 'Ecs.0005', 'an unknown image')
      refused(await call(app, { method: 'POST', url: v1(`/cloudservers/${stopped}/reinstallos`), body: { 'os-reinstall': { adminpass: 'rootRoot-123' } } }), 400, 'Ecs.0011', 'a password with root in it')
      refused(await call(app, { method: 'POST', url: v1(`/cloudservers/${stopped}/reinstallos`), body: { 'os-reinstall': { keyname: 'ops' } } }), 400, 'Ecs.0005', 'a key pair without userid')
      refused(await call(app, { method: 'POST', url: v1(`/cloudservers/${stopped}/reinstallos`), body: { 'os-reinstall': { keyname: 'nope', userid: 'u' } } }), 400, 'Ecs.0005', 'an unknown key pair')
      assert.equal(await options(database, stopped!), undefined, 'refusals wrote nothing')

      const image = IMAGES[2]!.id
      const changed = await call(app, {
        method: 'POST', url: `/v2/${DEMO.projectId}/cloudservers/${stopped}/changeos`,
        body: { 'os-change': { imageid: image, keyname: 'ops', userid: 'u', adminpass: STRONG, isAutoPay: 'true', metadata: { user_data: 'IyEvYmluL3No', __system__encrypted: '0' } } },
      })
      assert.equal(changed.statusCode, 200, changed.body)
      const job = await waitForJob(app, (changed.json() as { job_id: string }).job_id)
      assert.equal(job.status, 'SUCCESS')
      assert.equal(job.job_type, 'changeOs')
      assert.equal((job.entities as { sub_jobs: unknown[] }).sub_jobs.length, 1)
      const shown = await showServer(app, stopped!)
      assert.deepEqual([shown.status, (shown.image as { id: string }).id, shown.key_name, shown['OS-EXT-SRV-ATTR:user_data']], ['SHUTOFF', image, 'ops', 'IyEvYmluL3No'])
      const stored = (await options(database, stopped!))!
      assert.ok(!JSON.stringify(stored).includes(STRONG), 'no password in clear')
      assert.ok(await passwordMatches(STRONG, stored.password_hash!))

      // The password blob opens with the key pair's private key, as cloudbase-init's does.
      const blob = await call(app, { method: 'GET', url: v1(`/cloudservers/${stopped}/os-server-password`) })
      const decrypt = (b64: string) => decryptBlob(key.privateKey!, b64)
      assert.equal(decrypt((blob.json() as { password: string }).password), STRONG)
      const reset = await call(app, { method: 'PUT', url: v1(`/cloudservers/${stopped}/os-reset-password`), body: { 'reset-password': { new_password: 'Another.pass9' } } })
      assert.equal(reset.statusCode, 204, reset.body)
      assert.equal(decrypt(((await call(app, { method: 'GET', url: v1(`/cloudservers/${stopped}/os-server-password`) })).json() as { password: string }).password), 'Another.pass9')
      assert.equal((await call(app, { method: 'DELETE', url: v1(`/cloudservers/${stopped}/os-server-password`) })).statusCode, 204)
      assert.deepEqual((await call(app, { method: 'GET', url: v1(`/cloudservers/${stopped}/os-server-password`) })).json(), { password: '' })
      assert.deepEqual((await call(app, { method: 'GET', url: v1(`/cloudservers/${stopped}/os-resetpwd-flag`) })).json(), { resetpwd_flag: 'True' })

      // withStopServer accepts a running server, which keeps running; a reinstall without a key forgets it.
      const reinstalled = await call(app, { method: 'POST', url: v1(`/cloudservers/${running}/reinstallos`), body: { 'os-reinstall': { adminpass: STRONG, mode: 'withStopServer' } } })
      assert.equal(reinstalled.statusCode, 200, reinstalled.body)
      assert.equal((await waitForJob(app, (reinstalled.json() as { job_id: string }).job_id)).status, 'SUCCESS')
      assert.equal((await showServer(app, running!)).status, 'ACTIVE')
      assert.equal((await options(database, running!))!.password_blob, '')
    })

    test('batch password reset is all or nothing; dry_run changes nothing; weak passwords are Ecs.0011', async (t) => {
      const { app, database } = await buildTestApp(t, { dialect })
      const ids = await createServers(app, { count: 2 })
      const batch = (body: unknown) => call(app, { method: 'PUT', url: v1('/cloudservers/os-reset-passwords'), body })
      refused(await batch({ new_password: 'short1A', servers: ids.map((id) => ({ id })) }), 400, 'Ecs.0011', 'too short')
      refused(await batch({ new_password: 'alllowercase', servers: ids.map((id) => ({ id })) }), 400, 'Ecs.0011', 'one kind of character')
      refused(await batch({ new_password: STRONG, servers: [...ids, '00000000-0000-4000-8000-000000000000'].map((id) => ({ id })) }), 404, 'Ecs.0114', 'an unknown server')
      refused(await batch({ servers: [{ id: ids[0] }] }), 400, 'Ecs.0005', 'no password')
      assert.equal((await batch({ dry_run: true, servers: ids.map((id) => ({ id })) })).statusCode, 202)
      assert.deepEqual(await database.db.selectFrom('server_options').select('server_id').execute(), [], 'nothing written')
      const done = await batch({ new_password: STRONG, servers: ids.map((id) => ({ id })) })
      assert.equal(done.statusCode, 200, done.body)
      assert.deepEqual(done.json(), { response: ids.map((id) => ({ id })) })
      for (const id of ids) assert.ok(await passwordMatches(STRONG, (await options(database, id))!.password_hash!))
    })
  })
}

describe('server OS', () => {
  test('console URLs are ecsd\'s own, open the serial console without a signature, expire with the serial console switched off', async (t) => {
    const { app } = await buildTestApp(t)
    const [id] = await createServers(app)
    const serial = await call(app, { method: 'POST', url: v1(`/cloudservers/${id}/actions/serial-console`) })
    assert.equal(serial.statusCode, 200, serial.body)
    const url = new URL((serial.json() as { serial_console: { url: string } }).serial_console.url)
    assert.equal(url.origin, 'http://127.0.0.1:8080')
    const page = await app.inject({ method: 'GET', url: url.pathname })
    assert.equal(page.statusCode, 200, page.body)
    assert.match(String(page.headers['content-type']), /^text\/plain/)
    assert.match(page.body, new RegExp(`${id}.*simulated host`))
    const token = url.pathname.split('/').pop()!
    const forged = `${token.slice(0, -2)}${token.endsWith('AA') ? 'BB' : 'AA'}`
    refused(await app.inject({ method: 'GET', url: `/console/${forged}` }), 404, 'Ecs.0005', 'a forged token')

    const remote = await call(app, { method: 'POST', url: v1(`/cloudservers/${id}/remote_console`), body: { remote_console: { protocol: 'vnc', type: 'novnc' } } })
    const console = (remote.json() as { remote_console: { protocol: string; type: string; url: string } }).remote_console
    assert.deepEqual([console.protocol, console.type], ['vnc', 'novnc'])
    assert.match((await app.inject({ method: 'GET', url: new URL(console.url).pathname })).body, /no VNC/)
    refused(await call(app, { method: 'POST', url: v1(`/cloudservers/${id}/remote_console`), body: { remote_console: { protocol: 'spice', type: 'novnc' } } }), 400, 'Ecs.0005', 'another protocol')

    const off = await call(app, { method: 'PUT', url: v1(`/cloudservers/${id}/serial-console-options`), body: { serial_console_options: { enabled: false } } })
    assert.deepEqual([off.statusCode, off.body], [200, ''])
    refused(await call(app, { method: 'POST', url: v1(`/cloudservers/${id}/actions/serial-console`) }), 400, 'Ecs.0100', 'serial console switched off')
    refused(await app.inject({ method: 'GET', url: url.pathname }), 400, 'Ecs.0100', 'a URL of a serial console switched off since')

    await stopServers(app, [id!])
    refused(await call(app, { method: 'POST', url: v1(`/cloudservers/${id}/remote_console`), body: { remote_console: { protocol: 'vnc', type: 'novnc' } } }), 400, 'Ecs.0100', 'remote console of a stopped server')
  })

  test('crash dump needs a running server and is recorded; monitor registration works without a project id in the path; other projects\' servers are unknown', async (t) => {
    const { app, database, services } = await buildTestApp(t)
    const [id] = await createServers(app)
    const dump = await call(app, { method: 'POST', url: v1(`/cloudservers/${id}/actions/trigger-crash-dump`) })
    assert.equal(dump.statusCode, 202, dump.body)
    const events = await database.db.selectFrom('events').select(['reason', 'detail']).where('server_id', '=', id!).where('reason', '=', 'trigger-crash-dump').execute()
    assert.equal(events.length, 1)
    refused(await call(app, { method: 'POST', url: v1(`/cloudservers/${id}/actions/trigger-crash-dump`), body: { force: true } }), 400, 'Ecs.0005', 'a body')

    refused(await call(app, { method: 'POST', url: `/v1.0/servers/${id}/action`, body: { monitorMetrics: 'cpu' } }), 400, 'Ecs.0005', 'a metric other than ""')
    const monitored = await call(app, { method: 'POST', url: `/v1.0/servers/${id}/action`, body: { monitorMetrics: '' } })
    assert.deepEqual([monitored.statusCode, monitored.body], [200, ''])
    assert.equal((await options(database, id!))!.monitored, 1)

    const theirs = await otherProjectServer(app, services, database)
    const unknown = [
      { method: 'POST', url: `/v1.0/servers/${theirs}/action`, body: { monitorMetrics: '' } },
      { method: 'POST', url: v1(`/cloudservers/${theirs}/actions/trigger-crash-dump`) },
      { method: 'POST', url: v1(`/cloudservers/${theirs}/reinstallos`), body: { 'os-reinstall': { mode: 'withStopServer' } } },
      { method: 'PUT', url: v1(`/cloudservers/${theirs}/os-reset-password`), body: { 'reset-password': { new_password: STRONG } } },
      { method: 'GET', url: v1(`/cloudservers/${theirs}/os-server-password`) },
      { method: 'POST', url: v1(`/cloudservers/${theirs}/actions/serial-console`) },
      { method: 'PUT', url: v1(`/cloudservers/${theirs}/serial-console-options`), body: { serial_console_options: { enabled: false } } },
    ] as const
    for (const c of unknown) refused(await call(app, c), 404, 'Ecs.0114', `${c.method} ${c.url}`)
    assert.equal(await options(database, theirs), undefined)

    await stopServers(app, [id!])
    refused(await call(app, { method: 'POST', url: v1(`/cloudservers/${id}/actions/trigger-crash-dump`) }), 400, 'Ecs.0100', 'a stopped server')
  })

  test('a create hashes its adminPass and refuses a weak one, creating nothing', async (t) => {
    const { app, database } = await buildTestApp(t)
    const weak = await call(app, { method: 'POST', url: v1('/cloudservers'), body: { server: { name: 'w', flavorRef: 's6.large.2', imageRef: 'img', vpcid: 'v', nics: [{ subnet_id: 's' }], root_volume: { volumetype: 'SSD' }, adminPass: 'password' } } })
    refused(weak, 400, 'Ecs.0011', 'a weak adminPass')
    assert.deepEqual(await database.db.selectFrom('servers').select('id').execute(), [])
    const [id] = await createServers(app, { adminPass: STRONG })
    assert.ok(await passwordMatches(STRONG, (await options(database, id!))!.password_hash!))
  })
})

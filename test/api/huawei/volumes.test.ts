import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import type { App } from '../../../src/app.ts'
import { MAX_DISKS_PER_SERVER } from '../../../src/services/volumes.ts'
import type { Database } from '../../../src/store/database.ts'
import { buildTestApp, call, createBody, createServers, DIALECTS, showServer, stopServers, v1, waitForJob } from '../../helper.ts'

interface BlockDeviceWire {
  id: string
  volumeId: string
  serverId: string
  device: string
  bootIndex: number
  size: number
  bus: string
  pciAddress: string
}
interface BlockDevicesWire {
  attachableQuantity: { free_scsi: number; free_blk: number; free_disk: number }
  volumeAttachments: BlockDeviceWire[]
}
interface JobWire {
  status: string
  job_type: string
  entities: { sub_jobs: Array<{ status: string; entities: { server_id: string } }> }
}

async function blockDevices(app: App, serverId: string): Promise<BlockDevicesWire> {
  const res = await call(app, { method: 'GET', url: v1(`/cloudservers/${serverId}/block_device`) })
  assert.equal(res.statusCode, 200, res.body)
  return res.json() as BlockDevicesWire
}

/** The data disk of a server at `device`. */
async function volumeAt(app: App, serverId: string, device: string): Promise<string> {
  const found = (await blockDevices(app, serverId)).volumeAttachments.find((d) => d.device === device)
  assert.ok(found, `${serverId} has ${device}`)
  return found.volumeId
}

/** Sends a change that must be accepted; waits for its job, which must have succeeded. */
async function accepted(app: App, req: Parameters<typeof call>[1]): Promise<JobWire> {
  const res = await call(app, req)
  assert.equal(res.statusCode, 200, `${req.method} ${req.url} → ${res.body}`)
  const job = (await waitForJob(app, (res.json() as { job_id: string }).job_id)) as unknown as JobWire
  assert.equal(job.status, 'SUCCESS', JSON.stringify(job))
  return job
}

/** Sends a request that must be refused with `status` and `code`. */
async function refused(app: App, req: Parameters<typeof call>[1], status: number, code: string): Promise<void> {
  const res = await call(app, req)
  assert.equal(res.statusCode, status, `${req.method} ${req.url} → ${res.body}`)
  assert.equal((res.json() as { error: { code: string } }).error.code, code, res.body)
}

const attach = (serverId: string, volumeAttachment: Record<string, unknown>, dryRun?: boolean) => ({
  method: 'POST' as const, url: v1(`/cloudservers/${serverId}/attachvolume`), body: { volumeAttachment, ...(dryRun === undefined ? {} : { dry_run: dryRun }) },
})
const detach = (serverId: string, volumeId: string) => ({ method: 'DELETE' as const, url: v1(`/cloudservers/${serverId}/detachvolume/${volumeId}?delete_flag=0`) })

async function tableSizes(database: Database) {
  const volumes = await database.db.selectFrom('volumes').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow()
  const attachments = await database.db.selectFrom('volume_attachments').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow()
  return { volumes: Number(volumes.n), attachments: Number(attachments.n) }
}

describe('volumes made with servers', () => {
  test('a create gives each server its system disk and data disks; every view shows them; bad volumes refuse the whole create', async (t) => {
    const { app, database } = await buildTestApp(t)
    const [kvm] = await createServers(app, {
      availability_zone: 'az1',
      root_volume: { volumetype: 'SSD', size: 50 },
      data_volumes: [{ volumetype: 'SAS', size: 20 }, { volumetype: 'SSD', size: 30, multiattach: true, 'hw:passthrough': true }, { volumetype: 'SSD', size: 10, delete_on_termination: false }],
    })
    const devices = await blockDevices(app, kvm!)
    assert.deepEqual(devices.attachableQuantity, { free_scsi: MAX_DISKS_PER_SERVER - 4, free_blk: MAX_DISKS_PER_SERVER - 4, free_disk: MAX_DISKS_PER_SERVER - 4 })
    assert.deepEqual(devices.volumeAttachments.map((d) => [d.device, d.bootIndex, d.size, d.bus, d.serverId, d.id === d.volumeId]), [
      ['/dev/vda', 0, 50, 'virtio', kvm, true], ['/dev/vdb', -1, 20, 'virtio', kvm, true], ['/dev/vdc', -1, 30, 'scsi', kvm, true], ['/dev/vdd', -1, 10, 'virtio', kvm, true],
    ])
    assert.equal(devices.volumeAttachments[0]!.pciAddress, '0000:02:01.0')

    const server = await showServer(app, kvm!)
    assert.deepEqual(server['os-extended-volumes:volumes_attached'], devices.volumeAttachments.map((d, i) => ({
      id: d.volumeId, device: d.device, bootIndex: i === 0 ? '0' : '', delete_on_termination: String(i !== 3),
    })))
    const one = await call(app, { method: 'GET', url: v1(`/cloudservers/${kvm}/block_device/${devices.volumeAttachments[1]!.volumeId}`) })
    assert.deepEqual(one.json(), { volumeAttachment: devices.volumeAttachments[1] })
    const attachments = await call(app, { method: 'GET', url: v1(`/cloudservers/${kvm}/os-volume_attachments`) })
    assert.deepEqual(attachments.json(), { volumeAttachments: devices.volumeAttachments.map((d) => ({ id: d.id, volumeId: d.volumeId, serverId: d.serverId, device: d.device })) })
    const quota = await call(app, { method: 'GET', url: v1(`/cloudservers/${kvm}/appendvolumequota`) })
    assert.deepEqual(quota.json(), { free_scsi: MAX_DISKS_PER_SERVER - 4, free_blk: MAX_DISKS_PER_SERVER - 4, count: MAX_DISKS_PER_SERVER - 4 })

    // Without a size the system disk is 40 GB; Xen names its disks /dev/sdX.
    const [xen] = await createServers(app, { flavorRef: 's3.small.1', data_volumes: [{ volumetype: 'SSD', size: 10 }] })
    assert.deepEqual((await blockDevices(app, xen!)).volumeAttachments.map((d) => [d.device, d.size, d.bus]), [['/dev/sda', 40, 'scsi'], ['/dev/sdb', 10, 'scsi']])

    const before = await tableSizes(database)
    for (const server of [
      { root_volume: { volumetype: 'SSD', size: 39 } },
      { root_volume: { volumetype: 'SSD', size: 1025 } },
      { root_volume: { volumetype: 'floppy' } },
      { root_volume: { volumetype: 'SSD', colour: 'red' } },
      { data_volumes: [{ volumetype: 'SSD', size: 9 }] },
      { data_volumes: [{ volumetype: 'SSD' }] },
      { data_volumes: Array.from({ length: MAX_DISKS_PER_SERVER }, () => ({ volumetype: 'SSD', size: 10 })) },
    ]) {
      await refused(app, { method: 'POST', url: v1('/cloudservers'), body: createBody(server) }, 400, 'Ecs.0005')
    }
    assert.deepEqual(await tableSizes(database), before)
  })
})

describe('attach and detach', () => {
  test('a detached disk stays available and attaches to another server of its zone; refusals change nothing', async (t) => {
    const { app, database } = await buildTestApp(t)
    const [a, b] = await createServers(app, { count: 2, availability_zone: 'az1', data_volumes: [{ volumetype: 'SSD', size: 10 }] })
    const [far] = await createServers(app, { availability_zone: 'az2' })
    const disk = await volumeAt(app, a!, '/dev/vdb')
    const system = await volumeAt(app, a!, '/dev/vda')

    const before = await database.db.selectFrom('volume_attachments').selectAll().orderBy('server_id').orderBy('device').execute()
    await refused(app, attach(b!, { volumeId: disk }), 400, 'Ecs.0103')
    await refused(app, attach(b!, { volumeId: 'no-such-volume' }), 404, 'Ecs.0005')
    await refused(app, attach('no-such-server', { volumeId: disk }), 404, 'Ecs.0114')
    await refused(app, attach(b!, {}), 400, 'Ecs.0005')
    await refused(app, detach(a!, system), 400, 'Ecs.0100')
    await refused(app, detach(b!, disk), 400, 'Ecs.0111')
    await refused(app, { method: 'DELETE', url: v1(`/cloudservers/${a}/detachvolume/${disk}?delete_flag=2`) }, 400, 'Ecs.0005')
    assert.deepEqual(await database.db.selectFrom('volume_attachments').selectAll().orderBy('server_id').orderBy('device').execute(), before)

    const detached = await accepted(app, detach(a!, disk))
    assert.equal(detached.job_type, 'detachVolume')
    assert.deepEqual(detached.entities.sub_jobs.map((s) => [s.status, s.entities.server_id]), [['SUCCESS', a]])
    assert.deepEqual((await blockDevices(app, a!)).volumeAttachments.map((d) => d.device), ['/dev/vda'])
    await refused(app, detach(a!, disk), 400, 'Ecs.0111')

    // Devices: the server's naming, free, and only a stopped server's empty system slot takes a system disk.
    await refused(app, attach(far!, { volumeId: disk }), 400, 'Ecs.0005')
    await refused(app, attach(b!, { volumeId: disk, device: '/dev/sdc' }), 400, 'Ecs.0005')
    await refused(app, attach(b!, { volumeId: disk, device: '/dev/vdb' }), 400, 'Ecs.0005')
    await refused(app, attach(b!, { volumeId: disk, device: '/dev/vda' }), 400, 'Ecs.0005')
    const dry = await call(app, attach(b!, { volumeId: disk, device: '/dev/vdf' }, true))
    assert.equal(dry.statusCode, 202, dry.body)
    assert.equal((await blockDevices(app, b!)).volumeAttachments.length, 2)

    const attached = await accepted(app, attach(b!, { volumeId: disk, device: '/dev/vdf' }))
    assert.equal(attached.job_type, 'attachVolume')
    assert.deepEqual((await blockDevices(app, b!)).volumeAttachments.map((d) => [d.device, d.volumeId]).slice(2), [['/dev/vdf', disk]])
    // Attached later, it is not released with its server unless asked.
    const view = (await showServer(app, b!))['os-extended-volumes:volumes_attached'] as Array<{ id: string; delete_on_termination: string }>
    assert.equal(view.find((v) => v.id === disk)!.delete_on_termination, 'false')

    // A stopped server gives up its system disk, and takes it back at the system device.
    await stopServers(app, [a!])
    await accepted(app, detach(a!, system))
    assert.deepEqual((await blockDevices(app, a!)).volumeAttachments, [])
    await refused(app, attach(a!, { volumeId: disk, device: '/dev/vda' }), 400, 'Ecs.0103')
    await accepted(app, attach(a!, { volumeId: system, device: '/dev/vda' }))
    assert.deepEqual((await blockDevices(app, a!)).volumeAttachments.map((d) => [d.device, d.bootIndex]), [['/dev/vda', 0]])
  })

  test('shared disks attach to several servers at once; the release policy of a data disk changes, not the system or a shared disk\'s', async (t) => {
    const { app } = await buildTestApp(t)
    const [owner] = await createServers(app, { availability_zone: 'az1', data_volumes: [{ volumetype: 'SSD', size: 10, multiattach: true }, { volumetype: 'SSD', size: 10 }] })
    const [b, c] = await createServers(app, { count: 2, availability_zone: 'az1' })
    const shared = await volumeAt(app, owner!, '/dev/vdb')
    const plain = await volumeAt(app, owner!, '/dev/vdc')
    const system = await volumeAt(app, owner!, '/dev/vda')

    const batchAttach = (volumeId: string, serverinfo: unknown[]) => ({ method: 'POST' as const, url: v1(`/batchaction/attachvolumes/${volumeId}`), body: { serverinfo } })
    await refused(app, batchAttach(plain, [{ server_id: b }]), 400, 'Ecs.0005')
    await refused(app, batchAttach(shared, [{ server_id: b }, { server_id: b }]), 400, 'Ecs.0005')
    await refused(app, batchAttach(shared, [{ server_id: b }, { server_id: owner }]), 400, 'Ecs.0103')
    await refused(app, batchAttach(shared, [{ server_id: b }, { server_id: 'no-such-server' }]), 404, 'Ecs.0114')
    assert.equal((await blockDevices(app, b!)).volumeAttachments.length, 1)

    const job = await accepted(app, batchAttach(shared, [{ server_id: b, device: '/dev/vdd' }, { server_id: c }]))
    assert.deepEqual(job.entities.sub_jobs.map((s) => s.entities.server_id), [b, c])
    assert.deepEqual((await blockDevices(app, b!)).volumeAttachments.map((d) => [d.device, d.volumeId]), [['/dev/vda', (await blockDevices(app, b!)).volumeAttachments[0]!.volumeId], ['/dev/vdd', shared]])
    assert.equal(await volumeAt(app, c!, '/dev/vdb'), shared)

    const update = (serverId: string, volumeId: string, value: unknown) => ({
      method: 'PUT' as const, url: v1(`/cloudservers/${serverId}/block_device/${volumeId}`), body: { block_device: { delete_on_termination: value } },
    })
    await refused(app, update(owner!, system, false), 400, 'Ecs.0617')
    await refused(app, update(owner!, shared, false), 400, 'Ecs.0617')
    await refused(app, update(b!, plain, false), 404, 'Ecs.0111')
    await refused(app, update(owner!, plain, 'no'), 400, 'Ecs.0005')
    const res = await call(app, update(owner!, plain, false))
    assert.equal(res.statusCode, 200, res.body)
    assert.equal(res.body, '')
    const view = (await showServer(app, owner!))['os-extended-volumes:volumes_attached'] as Array<{ id: string; delete_on_termination: string }>
    assert.equal(view.find((v) => v.id === plain)!.delete_on_termination, 'false')

    await refused(app, { method: 'POST', url: v1(`/batchaction/detachvolumes/${shared}`), body: { serverinfo: [b, c, b] } }, 400, 'Ecs.0005')
    const detached = await accepted(app, { method: 'POST', url: v1(`/batchaction/detachvolumes/${shared}`), body: { serverinfo: [c, b] } })
    assert.deepEqual(detached.entities.sub_jobs.map((s) => s.entities.server_id), [c, b])
    assert.equal((await blockDevices(app, b!)).volumeAttachments.length, 1)
    assert.equal(await volumeAt(app, owner!, '/dev/vdb'), shared)
  })

  test('a server with all the disks it may have takes no more', async (t) => {
    const { app } = await buildTestApp(t)
    const [full] = await createServers(app, { availability_zone: 'az1', data_volumes: Array.from({ length: MAX_DISKS_PER_SERVER - 1 }, () => ({ volumetype: 'SSD', size: 10 })) })
    const [other] = await createServers(app, { availability_zone: 'az1', data_volumes: [{ volumetype: 'SSD', size: 10 }] })
    const devices = await blockDevices(app, full!)
    assert.equal(devices.volumeAttachments.length, MAX_DISKS_PER_SERVER)
    assert.deepEqual(devices.attachableQuantity, { free_scsi: 0, free_blk: 0, free_disk: 0 })
    assert.equal((await call(app, { method: 'GET', url: v1(`/cloudservers/${full}/appendvolumequota`) })).json<{ count: number }>().count, 0)
    await refused(app, attach(full!, { count: 1 }, true), 400, 'Ecs.0005')
    const disk = await volumeAt(app, other!, '/dev/vdb')
    await accepted(app, detach(other!, disk))
    await refused(app, attach(full!, { volumeId: disk }), 400, 'Ecs.0005')
    assert.equal((await call(app, attach(other!, { count: 2 }, true))).statusCode, 202)
  })
})

for (const dialect of DIALECTS) {
  describe(`volumes on ${dialect}`, () => {
    test('deleting a server releases its disks: delete_on_termination ones go, the others stay available; one volume never attaches twice', async (t) => {
      const { app, database } = await buildTestApp(t, { dialect })
      const [doomed, keeper] = await createServers(app, {
        count: 2, availability_zone: 'az1',
        data_volumes: [{ volumetype: 'SSD', size: 10 }, { volumetype: 'SSD', size: 10, delete_on_termination: false }, { volumetype: 'SSD', size: 10, multiattach: true }],
      })
      const [root, gone, kept, shared] = (await blockDevices(app, doomed!)).volumeAttachments.map((d) => d.volumeId)
      await accepted(app, { method: 'POST', url: v1(`/batchaction/attachvolumes/${shared}`), body: { serverinfo: [{ server_id: keeper }] } })

      // Two attaches of one free disk at once: exactly one wins.
      const keeperDisk = await volumeAt(app, keeper!, '/dev/vdc')
      await accepted(app, detach(keeper!, keeperDisk))
      const racing = await Promise.all([call(app, attach(keeper!, { volumeId: keeperDisk })), call(app, attach(doomed!, { volumeId: keeperDisk }))])
      assert.deepEqual(racing.map((r) => r.statusCode).sort(), [200, 400], racing.map((r) => r.body).join(' / '))
      await Promise.all(racing.filter((r) => r.statusCode === 200).map((r) => waitForJob(app, (r.json() as { job_id: string }).job_id)))
      await assert.rejects(
        database.db.insertInto('volume_attachments').values({ server_id: keeper!, volume_id: kept!, device: '/dev/vda', boot_index: null, delete_on_termination: 0, pci_address: '', created_at: '' }).execute(),
        'the database keeps one disk per device of a server',
      )

      await accepted(app, { method: 'POST', url: v1('/cloudservers/delete'), body: { servers: [{ id: doomed }] } })
      const left = new Set((await database.db.selectFrom('volumes').select('id').execute()).map((v) => v.id))
      assert.ok(!left.has(root!) && !left.has(gone!), 'delete_on_termination disks went with the server')
      assert.ok(left.has(kept!) && left.has(shared!), 'the kept disk and the disk another server shares stay')
      assert.ok(left.has(keeperDisk), 'a disk attached after the create stays, whichever server won it')
      assert.equal(await volumeAt(app, keeper!, '/dev/vde'), shared)
      await accepted(app, attach(keeper!, { volumeId: kept }))
    })
  })
}

import type { Kysely } from 'kysely'
import {
  blockDeviceNotUpdatable, deviceUnusable, invalidParameter, serverBusy, serverWrongStatus, systemDiskNeedsStop,
  tooManyDisks, volumeInOtherZone, volumeNotAttached, volumeNotAvailable, volumeNotFound,
} from '../domain/errors.ts'
import { lockForUpdate, type Database, type Tx } from '../store/database.ts'
import { prepared } from '../store/prepared.ts'
import type { Schema } from '../store/schema.ts'
import type { VolumeAttachmentTable, VolumeTable } from '../store/tables/volumes.ts'
import { findImage } from './images.ts'
import { recordJob, type JobRunner } from './jobs.ts'
import type { CreateResources, CreatedServer } from './server-resources.ts'
import { newTimeOrderedId, nowIso } from './time.ts'
import { findProjectServer, lockProjectServers } from './servers.ts'

/** The disk types `volumetype` takes (the SDK's enum of `PostPaidServerRootVolume` and `PostPaidServerDataVolume`). */
export const VOLUME_TYPES = ['SATA', 'SAS', 'SSD', 'GPSSD', 'co-p1', 'uh-l1', 'ESSD', 'GPSSD2', 'ESSD2'] as const

/** The smallest system disk, GB, as EVS documents it (and the size of one when the image needs less). */
export const ROOT_VOLUME_MIN_GB = 40
/** The largest system disk, GB, as EVS documents it. */
export const ROOT_VOLUME_MAX_GB = 1024
/** The smallest data disk, GB, as EVS documents it. */
export const DATA_VOLUME_MIN_GB = 10
/** The largest data disk, GB, as EVS documents it. */
export const DATA_VOLUME_MAX_GB = 32768

/**
 * Disks per server, system disk included. Huawei's limit depends on the flavor family (24 for
 * KVM servers, 60 on some SCSI flavors); ecsd keeps the common 24 for every server and every
 * bus, so `free_blk`, `free_scsi`, `free_disk` and the appendable `count` are one number.
 */
export const MAX_DISKS_PER_SERVER = 24

/** Servers a shared disk attaches to at most (EVS: 16). */
export const MAX_SHARED_ATTACHMENTS = 16

/** A volume attached to a server as its views show it. */
export interface ServerVolume {
  volumeId: string
  device: string
  /** 0 for the system disk, null for a data disk. */
  bootIndex: number | null
  deleteOnTermination: boolean
  sizeGb: number
}

/** A volume attached to a server as the block-device routes show it. */
export interface BlockDevice extends ServerVolume {
  serverId: string
  bus: string
  pciAddress: string
  multiattach: boolean
}

/** A server's block devices and how many more disks it takes. */
export interface BlockDevices {
  devices: BlockDevice[]
  free: number
}

/** One server a volume is attached to, and the device the request wants (or the first free one). */
export interface AttachTarget {
  serverId: string
  device: string | undefined
}

/** The device name prefix of a server's disks: Xen names them `/dev/sdX`, KVM `/dev/vdX`. */
function devicePrefix(virtualization: string): string {
  return virtualization === 'xen' ? '/dev/sd' : '/dev/vd'
}

/** The position of a device letter (`a` = 0, the system disk), or undefined when the name does not fit the server. */
function deviceSlot(virtualization: string, device: string): number | undefined {
  const prefix = devicePrefix(virtualization)
  if (!device.startsWith(prefix) || device.length !== prefix.length + 1) return undefined
  const slot = device.charCodeAt(prefix.length) - 'a'.charCodeAt(0)
  return slot >= 0 && slot < 26 ? slot : undefined
}

function deviceAt(virtualization: string, slot: number): string {
  return `${devicePrefix(virtualization)}${String.fromCharCode('a'.charCodeAt(0) + slot)}`
}

/** The guest PCI address of the disk in a device slot, as the real cloud numbers them (`0000:02:01.0` for the system disk). */
function pciAddressOf(slot: number): string {
  return `0000:02:${(slot + 1).toString(16).padStart(2, '0')}.0`
}

/** The bus of a new disk: Xen's paravirtual disks are reported as SCSI, KVM's as virtio-blk unless passed through. */
function busOf(virtualization: string, passthrough: unknown): 'virtio' | 'scsi' {
  return virtualization === 'xen' || passthrough === true || passthrough === 'true' ? 'scsi' : 'virtio'
}

/** Devices first by system disk, then by name (`/dev/vdb` before `/dev/vdc`). */
function byDevice(a: { bootIndex: number | null; device: string }, b: { bootIndex: number | null; device: string }): number {
  if ((a.bootIndex === 0) !== (b.bootIndex === 0)) return a.bootIndex === 0 ? -1 : 1
  return a.device.length - b.device.length || (a.device < b.device ? -1 : a.device > b.device ? 1 : 0)
}

/**
 * Creates the system disk of each new server (the image's minimum size, at least 40 GB, unless
 * `root_volume.size` says more) and one volume per `data_volumes` entry, attached as
 * `/dev/vdb`, `/dev/vdc`, … (`/dev/sdX` on Xen) in request order. Every disk made with its
 * server goes with it by default; a data disk's `delete_on_termination: false` keeps it.
 */
export async function createVolumesAtCreate(db: Kysely<Schema>, servers: CreatedServer[], resources: CreateResources): Promise<void> {
  if (servers.length === 0) return
  const root = resources.rootVolume
  const data = resources.dataVolumes
  if (data.length > MAX_DISKS_PER_SERVER - 1) throw invalidParameter(`data_volumes has ${data.length} disks; a server has room for ${MAX_DISKS_PER_SERVER - 1} beside its system disk`)
  const volumes: VolumeTable[] = []
  const attachments: VolumeAttachmentTable[] = []
  for (const server of servers) {
    const minDisk = findImage(server.imageRef)?.minDiskGb ?? 0
    const rootSize = root.size ?? Math.max(ROOT_VOLUME_MIN_GB, minDisk)
    if (rootSize < minDisk) throw invalidParameter(`root_volume.size ${rootSize} GB is smaller than the ${minDisk} GB image ${server.imageRef} needs`)
    const disks = [
      { size: rootSize, type: root.volumetype, passthrough: root['hw:passthrough'], multiattach: false, deleteOnTermination: true },
      ...data.map((d) => ({
        size: Number(d.size),
        type: String(d.volumetype),
        passthrough: d['hw:passthrough'],
        multiattach: d.multiattach === true || d.shareable === true,
        deleteOnTermination: d.delete_on_termination !== false,
      })),
    ]
    for (const [slot, disk] of disks.entries()) {
      const id = newTimeOrderedId()
      volumes.push({
        id, project_id: server.projectId, az: server.az, name: `${server.name}-volume-${String(slot).padStart(4, '0')}`, size_gb: disk.size,
        volume_type: disk.type, bus: busOf(server.virtualization, disk.passthrough), multiattach: disk.multiattach ? 1 : 0, bootable: slot === 0 ? 1 : 0,
        created_at: server.createdAt,
      })
      attachments.push({
        server_id: server.id, volume_id: id, device: deviceAt(server.virtualization, slot), boot_index: slot === 0 ? 0 : null,
        delete_on_termination: disk.deleteOnTermination ? 1 : 0, pci_address: pciAddressOf(slot), created_at: server.createdAt,
      })
    }
  }
  await db.insertInto('volumes').values(volumes).execute()
  await db.insertInto('volume_attachments').values(attachments).execute()
}

/** The volumes attached to servers, system disk first; one query whatever the number of servers. */
export async function loadVolumes(db: Kysely<Schema>, serverIds: string[]): Promise<Map<string, ServerVolume[]>> {
  const byServer = new Map<string, ServerVolume[]>()
  if (serverIds.length === 0) return byServer
  // One server (show, the hot read) by a prepared statement; a page of them by one query.
  const rows = serverIds.length === 1 ? await VOLUMES_OF_ONE.all(db, { serverId: serverIds[0]! }) : await attachedVolumes(db).where('a.server_id', 'in', serverIds).execute()
  for (const r of rows) {
    let list = byServer.get(r.server_id)
    if (!list) byServer.set(r.server_id, (list = []))
    list.push({ volumeId: r.volume_id, device: r.device, bootIndex: r.boot_index, deleteOnTermination: r.delete_on_termination === 1, sizeGb: r.size_gb })
  }
  for (const list of byServer.values()) list.sort(byDevice)
  return byServer
}

function attachedVolumes(db: Kysely<Schema>) {
  return db
    .selectFrom('volume_attachments as a')
    .innerJoin('volumes as v', 'v.id', 'a.volume_id')
    .select(['a.server_id', 'a.volume_id', 'a.device', 'a.boot_index', 'a.delete_on_termination', 'v.size_gb'])
}

const VOLUMES_OF_ONE = prepared((db, p: { serverId: string }) => attachedVolumes(db).where('a.server_id', '=', p.serverId))

/**
 * What deleting a server for good does to its disks, in the deleting job's transaction (the
 * server row already locked, as every writer locks a server before its volumes): the
 * attachments go; volumes marked delete_on_termination go too unless another server still has
 * them (a shared disk); the rest stay in the project, available.
 */
export async function releaseVolumesOfDeletedServer(tx: Tx, serverId: string): Promise<void> {
  const { db } = tx
  const attached = await db.selectFrom('volume_attachments').select(['volume_id', 'delete_on_termination']).where('server_id', '=', serverId).execute()
  if (attached.length === 0) return
  await db.deleteFrom('volume_attachments').where('server_id', '=', serverId).execute()
  const doomed = attached.filter((a) => a.delete_on_termination === 1).map((a) => a.volume_id).sort()
  if (doomed.length === 0) return
  // Locked first: a concurrent attach of a shared disk locks it before adding its attachment.
  await lockForUpdate(db.selectFrom('volumes').select('id').where('id', 'in', doomed).orderBy('id'), tx.dialect).execute()
  await db
    .deleteFrom('volumes')
    .where('id', 'in', doomed)
    .where(({ not, exists, selectFrom }) => not(exists(selectFrom('volume_attachments').select('volume_attachments.volume_id').whereRef('volume_attachments.volume_id', '=', 'volumes.id'))))
    .execute()
}

const SERVER_COLUMNS = ['id', 'status', 'task_state', 'in_recycle_bin', 'az', 'virtualization'] as const

type VolumeServer = Pick<Schema['servers'], (typeof SERVER_COLUMNS)[number]>

/** Statuses a disk attaches to or detaches from (Nova's, less the ones ecsd has no use for). */
const DISK_CHANGE_STATUSES = new Set(['ACTIVE', 'SHUTOFF'])

/** Dependencies of the volume use cases. */
export interface VolumeServiceDeps {
  database: Database
  jobs: JobRunner
}

/**
 * Attaching and detaching volumes, and the block-device reads. Every change is a record change
 * made in the request's transaction, with its job recorded as already done (one sub-job per
 * server). Writers lock the servers (in id order), then the volume, so that two changes of one
 * volume or one server's devices are serialised and a refused request changes nothing.
 */
export class VolumeService {
  constructor(private readonly deps: VolumeServiceDeps) {}

  /**
   * Attaches an available volume (or a shared one with room) to a server of its zone, as the
   * device asked for or the first free data device; returns the job, or undefined for a dry
   * run, which only checks (without a volume id it checks that `count` more disks fit).
   */
  async attach(projectId: string, serverId: string, request: { volumeId: string | undefined; device: string | undefined; count: number; dryRun: boolean }): Promise<string | undefined> {
    return this.deps.database.transaction(async (tx) => {
      const [server] = await lockProjectServers(tx.db, tx.dialect, projectId, [serverId])
      assertDiskChangeAllowed(server!)
      if (request.volumeId === undefined) {
        if (!request.dryRun) throw invalidParameter('volumeAttachment.volumeId is required (only a dry run may leave it out)')
        const attached = await attachmentCount(tx.db, serverId)
        if (attached + request.count > MAX_DISKS_PER_SERVER) throw tooManyDisks(serverId, attached, request.count, MAX_DISKS_PER_SERVER)
        return undefined
      }
      const volume = await lockVolume(tx, projectId, request.volumeId)
      const holders = await holdersOf(tx.db, volume.id)
      assertVolumeTakes(volume, holders, 1)
      const row = await planAttachment(tx.db, server!, volume, holders, request.device)
      if (request.dryRun) return undefined
      await tx.db.insertInto('volume_attachments').values(row).execute()
      return (await recordJob(tx, this.deps.jobs, { projectId, operation: 'attachVolume', work: [], alreadyDone: [serverId] })).jobId
    })
  }

  /** Attaches a shared volume to several servers at once; all of them or none. */
  async attachShared(projectId: string, volumeId: string, targets: AttachTarget[]): Promise<string> {
    const serverIds = targets.map((t) => t.serverId)
    assertDistinct(serverIds)
    return this.deps.database.transaction(async (tx) => {
      const servers = await lockProjectServers(tx.db, tx.dialect, projectId, serverIds)
      const volume = await lockVolume(tx, projectId, volumeId)
      if (volume.multiattach !== 1) throw invalidParameter(`volume ${volumeId} is not a shared disk; attach it to one ECS with POST /v1/{project_id}/cloudservers/{server_id}/attachvolume`)
      const holders = await holdersOf(tx.db, volume.id)
      assertVolumeTakes(volume, holders, targets.length)
      const rows: VolumeAttachmentTable[] = []
      for (const [i, target] of targets.entries()) {
        assertDiskChangeAllowed(servers[i]!)
        rows.push(await planAttachment(tx.db, servers[i]!, volume, holders, target.device))
      }
      await tx.db.insertInto('volume_attachments').values(rows).execute()
      return (await recordJob(tx, this.deps.jobs, { projectId, operation: 'attachVolume', work: [], alreadyDone: serverIds })).jobId
    })
  }

  /**
   * Detaches a volume from servers (one for detachServerVolume, several for the batch); the
   * volume stays in the project, available once no server has it. A running server gives up
   * data disks only; its system disk needs it stopped.
   */
  async detach(projectId: string, volumeId: string, serverIds: string[]): Promise<string> {
    assertDistinct(serverIds)
    return this.deps.database.transaction(async (tx) => {
      const servers = await lockProjectServers(tx.db, tx.dialect, projectId, serverIds)
      const volume = await lockVolume(tx, projectId, volumeId)
      const holders = new Map((await holdersOf(tx.db, volume.id)).map((h) => [h.server_id, h]))
      for (const server of servers) {
        assertDiskChangeAllowed(server)
        const attachment = holders.get(server.id)
        if (!attachment) throw volumeNotAttached(server.id, volumeId, 400)
        if (attachment.boot_index === 0 && server.status !== 'SHUTOFF') throw systemDiskNeedsStop(server.id, server.status, 'detaching')
      }
      await tx.db.deleteFrom('volume_attachments').where('volume_id', '=', volumeId).where('server_id', 'in', serverIds).execute()
      return (await recordJob(tx, this.deps.jobs, { projectId, operation: 'detachVolume', work: [], alreadyDone: serverIds })).jobId
    })
  }

  /**
   * Sets whether a data disk goes with its server. The system disk always does and a shared
   * disk never does: both refuse with `Ecs.0617`.
   */
  async updateDeleteOnTermination(projectId: string, serverId: string, volumeId: string, deleteOnTermination: boolean): Promise<void> {
    await this.deps.database.transaction(async (tx) => {
      await lockProjectServers(tx.db, tx.dialect, projectId, [serverId])
      const device = (await blockDevices(tx.db, serverId, volumeId))[0]
      if (!device) throw volumeNotAttached(serverId, volumeId, 404)
      if (device.bootIndex === 0) throw blockDeviceNotUpdatable(volumeId, 'the system disk')
      if (device.multiattach) throw blockDeviceNotUpdatable(volumeId, 'a shared disk')
      await tx.db
        .updateTable('volume_attachments')
        .set({ delete_on_termination: deleteOnTermination ? 1 : 0 })
        .where('server_id', '=', serverId)
        .where('volume_id', '=', volumeId)
        .execute()
    })
  }

  /** A server's block devices, system disk first, and how many more it takes. */
  async list(projectId: string, serverId: string): Promise<BlockDevices> {
    const { db } = this.deps.database
    await findProjectServer(db, projectId, serverId)
    const devices = await blockDevices(db, serverId, undefined)
    return { devices, free: Math.max(0, MAX_DISKS_PER_SERVER - devices.length) }
  }

  /** One block device of a server; 404 `Ecs.0111` when the volume is not attached to it. */
  async show(projectId: string, serverId: string, volumeId: string): Promise<BlockDevice> {
    const { db } = this.deps.database
    await findProjectServer(db, projectId, serverId)
    const device = (await blockDevices(db, serverId, volumeId))[0]
    if (!device) throw volumeNotAttached(serverId, volumeId, 404)
    return device
  }
}

function assertDiskChangeAllowed(server: VolumeServer): void {
  if (server.task_state !== null) throw serverBusy(server.id, server.status, server.task_state)
  if (!DISK_CHANGE_STATUSES.has(server.status)) throw serverWrongStatus(server.id, server.status, 'attaching or detaching a disk', 'ACTIVE or SHUTOFF')
}

function assertDistinct(serverIds: string[]): void {
  const twice = serverIds.find((id, i) => serverIds.indexOf(id) !== i)
  if (twice !== undefined) throw invalidParameter(`serverinfo names ECS ${twice} twice`)
}

async function lockVolume(tx: Tx, projectId: string, volumeId: string): Promise<VolumeTable> {
  const volume = await lockForUpdate(tx.db.selectFrom('volumes').selectAll().where('id', '=', volumeId).where('project_id', '=', projectId), tx.dialect).executeTakeFirst()
  if (!volume) throw volumeNotFound(volumeId)
  return volume
}

/** The servers a volume is attached to. */
function holdersOf(db: Kysely<Schema>, volumeId: string) {
  return db.selectFrom('volume_attachments').select(['server_id', 'boot_index']).where('volume_id', '=', volumeId).execute()
}

async function attachmentCount(db: Kysely<Schema>, serverId: string): Promise<number> {
  const row = await db.selectFrom('volume_attachments').select((eb) => eb.fn.countAll<number | string | bigint>().as('n')).where('server_id', '=', serverId).executeTakeFirstOrThrow()
  return Number(row.n)
}

/** A volume can take `adding` more servers: it is free, or shared with room left. */
function assertVolumeTakes(volume: VolumeTable, holders: Array<{ server_id: string }>, adding: number): void {
  if (holders.length === 0 && adding === 1) return
  if (volume.multiattach !== 1) {
    throw volumeNotAvailable(volume.id, `is in use (attached to ECS ${holders[0]!.server_id}) and is not a shared disk; detach it first`)
  }
  if (holders.length + adding > MAX_SHARED_ATTACHMENTS) {
    throw volumeNotAvailable(volume.id, `is a shared disk attached to ${holders.length} ECSs and cannot take ${adding} more: a shared disk attaches to at most ${MAX_SHARED_ATTACHMENTS}`)
  }
}

/**
 * The attachment of a volume to a server: same zone, not already there, room for one more disk,
 * and a device of the server's naming that is free. The system disk's device (`/dev/vda`,
 * `/dev/sda`) takes only a system disk, on a stopped server that has none.
 */
async function planAttachment(
  db: Kysely<Schema>, server: VolumeServer, volume: VolumeTable, holders: Array<{ server_id: string }>, requested: string | undefined,
): Promise<VolumeAttachmentTable> {
  if (volume.az !== server.az) throw volumeInOtherZone(volume.id, volume.az, server.id, server.az)
  if (holders.some((h) => h.server_id === server.id)) throw volumeNotAvailable(volume.id, `is already attached to ECS ${server.id}`)
  const taken = await db.selectFrom('volume_attachments').select('device').where('server_id', '=', server.id).execute()
  if (taken.length >= MAX_DISKS_PER_SERVER) throw tooManyDisks(server.id, taken.length, 1, MAX_DISKS_PER_SERVER)
  const used = new Set(taken.map((t) => deviceSlot(server.virtualization, t.device)))
  let slot: number
  if (requested === undefined) {
    slot = 1
    while (used.has(slot)) slot++
  } else {
    const asked = deviceSlot(server.virtualization, requested)
    if (asked === undefined) {
      throw deviceUnusable(server.id, requested, `a ${server.virtualization === 'xen' ? 'Xen' : 'KVM'} ECS names its disks ${devicePrefix(server.virtualization)}a to ${devicePrefix(server.virtualization)}z`)
    }
    if (used.has(asked)) throw deviceUnusable(server.id, requested, 'another disk of the ECS has it')
    if (asked === 0) {
      if (volume.bootable !== 1) throw deviceUnusable(server.id, requested, `it is the system disk's device, and volume ${volume.id} is a data disk`)
      if (server.status !== 'SHUTOFF') throw systemDiskNeedsStop(server.id, server.status, 'attaching')
    }
    slot = asked
  }
  return {
    server_id: server.id, volume_id: volume.id, device: deviceAt(server.virtualization, slot), boot_index: slot === 0 ? 0 : null,
    delete_on_termination: 0, pci_address: pciAddressOf(slot), created_at: nowIso(),
  }
}

/** A server's block devices (or the one of `volumeId`), system disk first. */
async function blockDevices(db: Kysely<Schema>, serverId: string, volumeId: string | undefined): Promise<BlockDevice[]> {
  let query = db
    .selectFrom('volume_attachments as a')
    .innerJoin('volumes as v', 'v.id', 'a.volume_id')
    .select(['a.server_id', 'a.volume_id', 'a.device', 'a.boot_index', 'a.delete_on_termination', 'a.pci_address', 'v.size_gb', 'v.bus', 'v.multiattach'])
    .where('a.server_id', '=', serverId)
  if (volumeId !== undefined) query = query.where('a.volume_id', '=', volumeId)
  const rows = await query.execute()
  return rows
    .map((r) => ({
      serverId: r.server_id, volumeId: r.volume_id, device: r.device, bootIndex: r.boot_index, deleteOnTermination: r.delete_on_termination === 1,
      sizeGb: r.size_gb, bus: r.bus, pciAddress: r.pci_address, multiattach: r.multiattach === 1,
    }))
    .sort(byDevice)
}

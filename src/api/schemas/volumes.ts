import { Type } from 'typebox'
import {
  DATA_VOLUME_MAX_GB, DATA_VOLUME_MIN_GB, MAX_DISKS_PER_SERVER, MAX_SHARED_ATTACHMENTS, ROOT_VOLUME_MAX_GB, ROOT_VOLUME_MIN_GB, VOLUME_TYPES,
} from '../../services/volumes.ts'
import { Open } from './responses.ts'

/** Fields ecsd accepts for compatibility but does not interpret are only shape-checked. */
const Opaque = Type.Object({}, { additionalProperties: true })

const VolumeId = Type.String({ minLength: 1, maxLength: 64 })
const ServerId = Type.String({ minLength: 1, maxLength: 64 })
const Device = Type.String({ minLength: 1, maxLength: 32 })

/** What the SDK's root and data volume models share beyond type and size, none of it interpreted. */
const volumeExtras = {
  iops: Type.Optional(Type.Integer({ minimum: 0 })),
  throughput: Type.Optional(Type.Integer({ minimum: 0 })),
  'hw:passthrough': Type.Optional(Type.Boolean()),
  cluster_type: Type.Optional(Type.String({ maxLength: 64 })),
  cluster_id: Type.Optional(Type.String({ maxLength: 64 })),
  extendparam: Type.Optional(Opaque),
  metadata: Type.Optional(Opaque),
}

/** `root_volume` of a create (`PostPaidServerRootVolume`, `PrePaidServerRootVolume`): the system disk. */
export const RootVolume = Type.Object(
  {
    volumetype: Type.Enum([...VOLUME_TYPES]),
    size: Type.Optional(Type.Integer({ minimum: ROOT_VOLUME_MIN_GB, maximum: ROOT_VOLUME_MAX_GB })),
    ...volumeExtras,
  },
  { additionalProperties: false },
)

/** One `data_volumes` entry of a create (`PostPaidServerDataVolume`, `PrePaidServerDataVolume`). */
export const DataVolume = Type.Object(
  {
    volumetype: Type.Enum([...VOLUME_TYPES]),
    size: Type.Integer({ minimum: DATA_VOLUME_MIN_GB, maximum: DATA_VOLUME_MAX_GB }),
    shareable: Type.Optional(Type.Boolean()),
    multiattach: Type.Optional(Type.Boolean()),
    data_image_id: Type.Optional(Type.String({ maxLength: 64 })),
    delete_on_termination: Type.Optional(Type.Boolean()),
    ...volumeExtras,
  },
  { additionalProperties: false },
)

/** `data_volumes` of a create: as many as a server has room for beside its system disk. */
export const DataVolumes = Type.Array(DataVolume, { maxItems: MAX_DISKS_PER_SERVER - 1 })

/** Path parameters of the routes of one volume of one server. */
export const ServerVolumeParams = Type.Object(
  { project_id: Type.String(), server_id: Type.String(), volume_id: Type.String() },
  { additionalProperties: false },
)

/** Path parameters of the batch routes of one volume. */
export const VolumeParams = Type.Object({ project_id: Type.String(), volume_id: Type.String() }, { additionalProperties: false })

/** `POST …/cloudservers/{server_id}/attachvolume` (`AttachServerVolumeRequestBody`). */
export const AttachVolumeBody = Type.Object(
  {
    volumeAttachment: Type.Object(
      {
        volumeId: Type.Optional(VolumeId),
        device: Type.Optional(Device),
        volume_type: Type.Optional(Type.String({ maxLength: 64 })),
        count: Type.Optional(Type.Integer({ minimum: 1, maximum: MAX_DISKS_PER_SERVER })),
        'hw:passthrough': Type.Optional(Type.Enum(['true', 'false'])),
      },
      { additionalProperties: false },
    ),
    dry_run: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
)

/** `DELETE …/detachvolume/{volume_id}` query: `delete_flag` 1 forces the detach. */
export const DetachVolumeQuery = Type.Object(
  { delete_flag: Type.Optional(Type.Enum(['0', '1'])) },
  { additionalProperties: false },
)

/** `POST /v1/{project_id}/batchaction/detachvolumes/{volume_id}` (`VolumeBatchDetachRequest`). */
export const BatchDetachVolumesBody = Type.Object(
  { serverinfo: Type.Array(ServerId, { minItems: 1, maxItems: MAX_SHARED_ATTACHMENTS }) },
  { additionalProperties: false },
)

/** `POST /v1/{project_id}/batchaction/attachvolumes/{volume_id}` (`BatchAttachSharableVolumesRequestBody`). */
export const BatchAttachVolumesBody = Type.Object(
  {
    serverinfo: Type.Array(
      Type.Object({ server_id: ServerId, device: Type.Optional(Device) }, { additionalProperties: false }),
      { minItems: 1, maxItems: MAX_SHARED_ATTACHMENTS },
    ),
  },
  { additionalProperties: false },
)

/** `PUT …/block_device/{volume_id}` (`UpdateServerBlockDeviceReq`). */
export const UpdateBlockDeviceBody = Type.Object(
  { block_device: Type.Object({ delete_on_termination: Type.Boolean() }, { additionalProperties: false }) },
  { additionalProperties: false },
)

/** A volume attached to a server as the block-device routes show it (`ServerBlockDevice`). */
const BlockDevice = Open({
  id: Type.String({ description: 'The attachment id: the volume id' }),
  volumeId: Type.String(),
  serverId: Type.String(),
  device: Type.String(),
  bootIndex: Type.Integer({ description: '0 for the system disk, -1 for a data disk' }),
  size: Type.Integer({ description: 'GB' }),
  bus: Type.String({ description: 'virtio or scsi' }),
  pciAddress: Type.String(),
})

const freeCounts = {
  free_scsi: Type.Integer({ minimum: 0 }),
  free_blk: Type.Integer({ minimum: 0 }),
}

/** `GET …/block_device`. */
export const BlockDevicesResponse = Open({
  attachableQuantity: Open({ ...freeCounts, free_disk: Type.Integer({ minimum: 0 }) }),
  volumeAttachments: Type.Array(BlockDevice),
})

/** `GET …/block_device/{volume_id}`. */
export const BlockDeviceResponse = Open({ volumeAttachment: BlockDevice })

/** `GET …/os-volume_attachments`. */
export const VolumeAttachmentsResponse = Open({
  volumeAttachments: Type.Array(Open({ id: Type.String(), volumeId: Type.String(), serverId: Type.String(), device: Type.String() })),
})

/** `GET …/appendvolumequota`: how many more disks the server takes. */
export const AppendableVolumeQuotaResponse = Open({ ...freeCounts, count: Type.Integer({ minimum: 0 }) })

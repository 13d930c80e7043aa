/**
 * A disk (EVS volume) of a project. ecsd has no volume API of its own: volumes come into being
 * with the servers created with them and live on after a detach, `available` to another server
 * of the project in the same zone. A volume is in use exactly while it has attachments.
 */
export interface VolumeTable {
  id: string
  project_id: string
  /** The availability zone of the server it was created with; it attaches only in this zone. */
  az: string
  name: string
  size_gb: number
  /** `volumetype` as given at create: SATA, SAS, SSD, GPSSD, co-p1, uh-l1, ESSD, GPSSD2, ESSD2. */
  volume_type: string
  /** 'virtio' | 'scsi': the device type, fixed when the disk is made (`hw:passthrough`, Xen). */
  bus: string
  /** 0 | 1: a shared disk, which attaches to several servers at once. */
  multiattach: number
  /** 0 | 1: made as a system disk (from the image); only such a volume can become a system disk again. */
  bootable: number
  created_at: string
}

/**
 * A volume attached to a server. (server, volume) and (server, device) are unique; a volume that
 * is not shared has one attachment at most (the service checks that under the volume's lock).
 */
export interface VolumeAttachmentTable {
  server_id: string
  volume_id: string
  /** `/dev/vdX` (KVM) or `/dev/sdX` (Xen); the letter `a` is the system disk. */
  device: string
  /** 0 for the system disk; null for a data disk. */
  boot_index: number | null
  /** 0 | 1: the volume is deleted when the server is deleted for good. */
  delete_on_termination: number
  /** The disk's PCI address in the guest, derived from its device letter. */
  pci_address: string
  created_at: string
}

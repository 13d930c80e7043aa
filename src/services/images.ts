/**
 * The read-only image catalogue served as a Glance v2 API, so that OpenStack clients can resolve
 * `--image NAME` for a server create. ecsd boots no real image from it (the simulated hosts
 * ignore images; the host agents' QEMU driver boots its own demo disk); the v1 API keeps
 * accepting any image id, as before.
 */

/** One image, with the Glance v2 fields clients read. */
export interface CatalogImage {
  id: string
  name: string
  diskFormat: 'qcow2' | 'raw'
  minDiskGb: number
  minRamMb: number
  sizeBytes: number
  osDistro: string
  createdAt: string
}

/** The demo images. Ids are fixed, so scripts and tests can name them. */
export const IMAGES: readonly CatalogImage[] = [
  { id: '3b7a1c0e-5d2f-4e8a-9c61-0d4b7e2a9f01', name: 'demo-busybox', diskFormat: 'qcow2', minDiskGb: 0, minRamMb: 64, sizeBytes: 2_097_152, osDistro: 'busybox', createdAt: '2025-01-01T00:00:00Z' },
  { id: '6e0f4a2b-8c3d-4f1e-a7b5-2c9d0e1f3a02', name: 'cirros-0.6.2', diskFormat: 'qcow2', minDiskGb: 1, minRamMb: 128, sizeBytes: 21_430_272, osDistro: 'cirros', createdAt: '2025-01-01T00:00:00Z' },
  { id: '9a1d2e3f-4b5c-4d6e-8f70-1a2b3c4d5e03', name: 'ubuntu-22.04', diskFormat: 'qcow2', minDiskGb: 10, minRamMb: 512, sizeBytes: 687_865_856, osDistro: 'ubuntu', createdAt: '2025-01-01T00:00:00Z' },
]

/** An image by id, or undefined. */
export function findImage(id: string): CatalogImage | undefined {
  return IMAGES.find((i) => i.id === id)
}

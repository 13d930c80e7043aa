import type { HostFilter } from '../types.ts'

/** Keeps hosts whose free vCPU and RAM (after allocation ratios) fit the request. */
export const capacityFilter: HostFilter = {
  name: 'Capacity',
  where: (eb, req) => eb.and([eb('free_vcpus', '>=', req.vcpus), eb('free_ram_mb', '>=', req.ramMb)]),
  passes: (host, req) => host.free_vcpus >= req.vcpus && host.free_ram_mb >= req.ramMb,
  describe: (req) => `Capacity(${req.vcpus} vCPU, ${req.ramMb} MiB)`,
}

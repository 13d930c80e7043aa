import type { HostFilter } from '../types.ts'

/** Keeps hosts of the requested availability zone; a request without one accepts every zone. */
export const availabilityZoneFilter: HostFilter = {
  name: 'AvailabilityZone',
  where: (eb, req) => (req.az === undefined ? undefined : eb('az', '=', req.az)),
  passes: (host, req) => req.az === undefined || host.az === req.az,
  describe: (req) => `AvailabilityZone(${req.az ?? 'any'})`,
}

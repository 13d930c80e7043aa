import type { HostFilter } from '../types.ts'

/**
 * A named target (a dedicated host a migration or create names): only that host is a candidate,
 * and it still has to pass every other filter — naming a host never bypasses capacity or
 * anti-affinity (Nova's old `force_hosts` did, and broke groups).
 */
export const requestedHostFilter: HostFilter = {
  name: 'RequestedHost',
  where: (eb, req) => (req.requestedHostId === undefined ? undefined : eb('id', '=', req.requestedHostId)),
  passes: (host, req) => req.requestedHostId === undefined || host.id === req.requestedHostId,
  describe: (req) => (req.requestedHostId === undefined ? undefined : `RequestedHost(${req.requestedHostId})`),
}

/** Hosts a server must leave: a redeploy never lands where the server already is. */
export const differentHostFilter: HostFilter = {
  name: 'DifferentHost',
  where: (eb, req) => (req.avoidHostIds === undefined || req.avoidHostIds.size === 0 ? undefined : eb('id', 'not in', [...req.avoidHostIds])),
  passes: (host, req) => req.avoidHostIds === undefined || !req.avoidHostIds.has(host.id),
  describe: (req) => (req.avoidHostIds === undefined || req.avoidHostIds.size === 0 ? undefined : `DifferentHost(not the ${req.avoidHostIds.size === 1 ? 'current host' : `${req.avoidHostIds.size} current hosts`})`),
}

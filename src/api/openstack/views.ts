import type { FastifyRequest } from 'fastify'
import { vmStateOf } from '../../domain/server.ts'
import type { NovaGroupView } from '../../services/nova-groups.ts'
import { defaultNetworkId, type NovaInterface, type NovaServer } from '../../services/nova-servers.ts'
import { hostIdHash, seconds } from '../huawei/views.ts'
import { publicBase } from '../identity/routes.ts'
import { links } from './common.ts'
import { atLeast, type Microversion } from './microversion.ts'

/**
 * Response bodies of the OpenStack Compute (v2.1) API, in the shape of the requested
 * microversion; field order follows Nova's api_samples.
 */

/** A server group: `policies` + `metadata` before 2.64, `policy` + `rules` from 2.64, owner from 2.13. */
export function serverGroupView(g: NovaGroupView, v: Microversion) {
  const policy = atLeast(v, 2, 64)
    ? { policy: g.policy, rules: g.maxServerPerHost === undefined ? {} : { max_server_per_host: g.maxServerPerHost } }
    : { policies: [g.policy] }
  return {
    id: g.id,
    name: g.name,
    ...policy,
    members: g.members,
    ...(atLeast(v, 2, 64) ? {} : { metadata: {} }),
    ...(atLeast(v, 2, 13) ? { project_id: g.projectId, user_id: g.userId ?? '' } : {}),
  }
}

/** Nova's timestamps: second precision, UTC, `Z`. */
function novaTime(iso: string): string {
  return seconds(iso)
}

/** A server's `addresses`: its ports by network (the project's own network is `private`). */
function addresses(s: NovaServer) {
  const out: Record<string, Array<{ version: number; addr: string; 'OS-EXT-IPS:type': string; 'OS-EXT-IPS-MAC:mac_addr': string }>> = {}
  for (const p of s.interfaces) {
    const net = p.netId === defaultNetworkId(s.projectId) ? 'private' : p.netId
    ;(out[net] ??= []).push({ version: 4, addr: p.ipAddress, 'OS-EXT-IPS:type': 'fixed', 'OS-EXT-IPS-MAC:mac_addr': p.macAddr })
  }
  return out
}

/** What a server view needs beside the server: the microversion, the caller, where links point. */
export interface ServerViewContext {
  v: Microversion
  admin: boolean
  req: FastifyRequest
  /** The flavor's extra specs (embedded in the server's flavor from 2.47). */
  extraSpecs: (flavorId: string) => Record<string, string>
}

/**
 * A server as show and list-detail return it. Admins see the `OS-EXT-SRV-ATTR:*` host fields
 * (and from 2.16 `host_status`), as Nova's default policy has it; a server placement never took
 * has no host, an empty `hostId` and its `fault`.
 */
export function serverView(s: NovaServer, c: ServerViewContext) {
  const { v, admin, req } = c
  const running = s.status === 'ACTIVE' || s.status === 'BUILD'
  const flavor = atLeast(v, 2, 47)
    ? { vcpus: s.flavor.vcpus, ram: s.flavor.ramMb, disk: s.flavor.diskGb, ephemeral: 0, swap: 0, original_name: s.flavor.name, extra_specs: c.extraSpecs(s.flavor.id) }
    : { id: s.flavor.id, links: [{ rel: 'bookmark', href: `${publicBase(req)}/${s.projectId}/flavors/${s.flavor.id}` }] }
  const hostAttributes = admin
    ? {
        'OS-EXT-SRV-ATTR:host': s.hostName,
        'OS-EXT-SRV-ATTR:hypervisor_hostname': s.hostName,
        'OS-EXT-SRV-ATTR:instance_name': `instance-${s.id.slice(0, 8)}`,
        ...(atLeast(v, 2, 3)
          ? {
              'OS-EXT-SRV-ATTR:hostname': s.name.toLowerCase().replace(/[^a-z0-9-]/g, '-'),
              'OS-EXT-SRV-ATTR:reservation_id': s.reservationId,
              'OS-EXT-SRV-ATTR:launch_index': s.launchIndex,
              'OS-EXT-SRV-ATTR:kernel_id': '',
              'OS-EXT-SRV-ATTR:ramdisk_id': '',
              'OS-EXT-SRV-ATTR:root_device_name': '/dev/vda',
              'OS-EXT-SRV-ATTR:user_data': null,
            }
          : {}),
      }
    : {}
  return {
    id: s.id,
    name: s.name,
    status: s.status,
    tenant_id: s.projectId,
    user_id: s.userId,
    metadata: s.metadata,
    hostId: s.hostName === null ? '' : hostIdHash(s.projectId, s.hostName),
    image: s.imageRef === '' ? '' : { id: s.imageRef, links: [{ rel: 'bookmark', href: `${publicBase(req)}/${s.projectId}/images/${s.imageRef}` }] },
    flavor,
    created: novaTime(s.createdAt),
    updated: novaTime(s.updatedAt),
    addresses: addresses(s),
    accessIPv4: '',
    accessIPv6: '',
    links: links(req, s.projectId, `servers/${s.id}`),
    'OS-DCF:diskConfig': 'MANUAL',
    ...(running ? { progress: s.status === 'BUILD' ? 0 : 100 } : {}),
    'OS-EXT-AZ:availability_zone': s.az ?? '',
    config_drive: '',
    key_name: s.keyName,
    'OS-SRV-USG:launched_at': s.launchedAt === null ? null : s.launchedAt.replace('Z', '').replace(/(\.\d{3})$/, '$1000'),
    'OS-SRV-USG:terminated_at': null,
    ...(s.securityGroups.length > 0 ? { security_groups: s.securityGroups.map((name) => ({ name })) } : {}),
    'OS-EXT-STS:task_state': s.taskState,
    'OS-EXT-STS:vm_state': vmStateOf(s.status, s.powerState),
    'OS-EXT-STS:power_state': s.powerState,
    'os-extended-volumes:volumes_attached': [],
    ...hostAttributes,
    ...(atLeast(v, 2, 9) ? { locked: false } : {}),
    ...(atLeast(v, 2, 16) && admin ? { host_status: s.hostName === null ? '' : 'UP' } : {}),
    ...(atLeast(v, 2, 19) ? { description: s.description } : {}),
    ...(atLeast(v, 2, 26) ? { tags: [] } : {}),
    ...(atLeast(v, 2, 63) ? { trusted_image_certificates: null } : {}),
    ...(atLeast(v, 2, 71) ? { server_groups: s.groupId === null ? [] : [s.groupId] } : {}),
    ...(s.fault === null || s.status !== 'ERROR'
      ? {}
      : { fault: { code: 500, created: novaTime(s.fault.created), message: s.fault.message, ...(admin && s.fault.details !== undefined ? { details: s.fault.details } : {}) } }),
  }
}

/** A server in the brief list: id, name, links. */
export function serverSummary(s: NovaServer, req: FastifyRequest) {
  return { id: s.id, name: s.name, links: links(req, s.projectId, `servers/${s.id}`) }
}

/** A port of a server (`interfaceAttachment`); its `tag` from 2.70 (ecsd keeps none). */
export function interfaceView(p: NovaInterface, v: Microversion) {
  return {
    port_state: 'ACTIVE',
    fixed_ips: [{ subnet_id: p.subnetId, ip_address: p.ipAddress }],
    port_id: p.portId,
    net_id: p.netId,
    mac_addr: p.macAddr,
    ...(atLeast(v, 2, 70) ? { tag: null } : {}),
  }
}

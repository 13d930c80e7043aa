import { createHash } from 'node:crypto'
import type { Quotas } from '../../config.ts'
import { vmStateOf, virtualizationEnvType, type ServerStatus, type Virtualization } from '../../domain/server.ts'
import type { ProjectLimits } from '../../services/catalogue.ts'
import type { GroupView } from '../../services/groups.ts'
import type { JobView } from '../../services/jobs.ts'
import type { ServerNic } from '../../services/nics.ts'
import type { ServerDetails } from '../../services/server-resources.ts'
import type { ServerRecord } from '../../services/servers.ts'
import type { Schema } from '../../store/schema.ts'
import type { JobTable } from '../../store/tables/jobs.ts'

/**
 * Response bodies of the Huawei v1 API, built from service records. Field names, nesting and
 * value types (strings where the API uses strings, e.g. flavor vcpus) follow the API reference
 * and the official SDK's models.
 */

/** The API's second-precision UTC timestamps: `2019-05-22T03:30:52Z`. */
export function seconds(iso: string): string {
  return iso.replace(/\.\d{3}Z$/, 'Z')
}

/** An ECS group as create/show/list return it. */
export function groupBody(g: GroupView) {
  return {
    id: g.id, name: g.name, policies: [g.policy], members: g.members, metadata: {},
    // Only for groups that spread over fault domains, in the shape Huawei's show-group answer
    // has (golangsdk's FaultDomainInfo); other groups keep exactly the SDK's documented fields.
    ...(g.faultDomains === undefined ? {} : { fault_domain: { fault_domain_names: g.faultDomains } }),
  }
}

/** `hostId` as Nova derives it: sha224 of project id + host name, so it differs per project. */
export function hostIdHash(projectId: string, hostName: string): string {
  return createHash('sha224').update(projectId + hostName).digest('hex')
}

/** A server as show and list-detail return it (`ServerDetail` of the SDK). */
export function serverBody(r: ServerRecord) {
  const s = r.server
  const details = r.details ?? NO_DETAILS
  const { attributes } = details
  const status = s.status as ServerStatus
  const virtualization = s.virtualization as Virtualization
  const metadata = JSON.parse(s.metadata) as Record<string, string>
  return {
    id: s.id,
    name: s.name,
    status,
    progress: status === 'BUILD' ? 0 : 100,
    created: seconds(s.created_at),
    updated: seconds(s.updated_at),
    tenant_id: s.project_id,
    user_id: s.project_id,
    description: attributes.description,
    flavor: { id: s.flavor_id, name: r.flavorName, disk: String(r.diskGb), vcpus: String(s.vcpus), ram: String(s.ram_mb) },
    image: { id: s.image_ref },
    metadata: {
      ...metadata,
      charging_mode: attributes.chargingMode === 'prePaid' ? '1' : '0',
      vpc_id: s.vpc_id,
      'metering.image_id': s.image_ref,
      'metering.imagetype': 'gold',
      'metering.resourcespeccode': `${s.flavor_id}.linux`,
      image_name: s.image_ref,
      os_type: 'Linux',
      virtual_env_type: virtualizationEnvType(virtualization),
    },
    hostId: hostIdHash(s.project_id, r.hostName),
    host_status: 'UP',
    'OS-EXT-SRV-ATTR:host': r.hostName,
    'OS-EXT-SRV-ATTR:hypervisor_hostname': r.hostName,
    'OS-EXT-SRV-ATTR:instance_name': `instance-${s.id.slice(0, 8)}`,
    'OS-EXT-SRV-ATTR:hostname': attributes.hostname ?? s.name.toLowerCase().replace(/[^a-z0-9-]/g, '-'),
    'OS-EXT-SRV-ATTR:reservation_id': '',
    'OS-EXT-SRV-ATTR:launch_index': 0,
    'OS-EXT-SRV-ATTR:kernel_id': '',
    'OS-EXT-SRV-ATTR:ramdisk_id': '',
    'OS-EXT-SRV-ATTR:root_device_name': virtualization === 'xen' ? '/dev/sda' : '/dev/vda',
    'OS-EXT-SRV-ATTR:user_data': attributes.userData ?? '',
    'OS-EXT-AZ:availability_zone': s.az,
    'OS-EXT-STS:vm_state': vmStateOf(status, s.power_state),
    'OS-EXT-STS:task_state': s.task_state,
    'OS-EXT-STS:power_state': s.power_state,
    'OS-SRV-USG:launched_at': s.launched_at === null ? '' : s.launched_at.replace('T', ' ').replace('Z', '').slice(0, 23),
    'OS-SRV-USG:terminated_at': '',
    'OS-DCF:diskConfig': 'MANUAL',
    'os:scheduler_hints': r.groupId === null ? {} : { group: [r.groupId] },
    hypervisor: { hypervisor_type: virtualization, csd_hypervisor: '' },
    addresses: addressesBody(s.vpc_id, details.nics),
    key_name: attributes.keyName ?? '',
    locked: false,
    config_drive: '',
    security_groups: [],
    tags: attributes.tags.map((t) => (t.value === '' ? t.key : `${t.key}=${t.value}`)),
    sys_tags: [{ key: '_sys_enterprise_project_id', value: '0' }],
    enterprise_project_id: '0',
    'os-extended-volumes:volumes_attached': details.volumes.map((v) => ({
      id: v.volumeId, delete_on_termination: String(v.deleteOnTermination), device: v.device, bootIndex: v.bootIndex === null ? '' : String(v.bootIndex),
    })),
    accessIPv4: '',
    accessIPv6: '',
    auto_terminate_time: attributes.autoTerminateTime ?? '',
    ...(s.fault === null ? {} : { fault: faultBody(s.fault) }),
  }
}

/** The details of a record read without them: nothing beyond the defaults. */
const NO_DETAILS: ServerDetails = {
  attributes: { tags: [], description: '', hostname: null, keyName: null, userData: null, chargingMode: 'postPaid', autoTerminateTime: null },
  nics: [],
  volumes: [],
}

/**
 * A server's `addresses`: its NICs' fixed addresses, primary first, grouped under the VPC as the
 * real API groups them (a server made through the OpenStack API has no VPC: its network then).
 */
function addressesBody(vpcId: string, nics: ServerNic[]) {
  const out: Record<string, Array<Record<string, unknown>>> = {}
  for (const n of nics) {
    ;(out[vpcId === '' ? n.netId : vpcId] ??= []).push({
      version: n.ipAddress.includes(':') ? '6' : '4', addr: n.ipAddress, primary: n.primary, 'OS-EXT-IPS:type': 'fixed', 'OS-EXT-IPS-MAC:mac_addr': n.macAddr, 'OS-EXT-IPS:port_id': n.portId,
    })
  }
  return out
}

/** A server's `fault`: what left it in ERROR. */
function faultBody(stored: string) {
  const f = JSON.parse(stored) as { code: string; message: string; created: string }
  return { code: 500, message: f.message, created: seconds(f.created), details: f.code }
}

function subJobBody(j: JobTable) {
  return {
    status: j.status,
    entities: { server_id: j.server_id ?? '' },
    job_id: j.id,
    job_type: j.type,
    begin_time: j.begin_time,
    end_time: j.end_time ?? '',
    error_code: j.error_code,
    fail_reason: j.fail_reason,
  }
}

/** A job with its sub-jobs in request order, as `GET /jobs/{job_id}` returns it. */
export function jobBody({ job, subJobs }: JobView) {
  const order = JSON.parse(job.server_ids ?? '[]') as string[]
  const rank = (j: JobTable) => order.indexOf(j.server_id ?? '')
  const subs = [...subJobs].sort((a, b) => rank(a) - rank(b))
  return {
    status: job.status,
    entities: { sub_jobs_total: subs.length, sub_jobs: subs.map(subJobBody) },
    job_id: job.id,
    job_type: job.type,
    begin_time: job.begin_time,
    end_time: job.end_time ?? '',
    error_code: job.error_code,
    fail_reason: job.fail_reason,
  }
}

/** A flavor as the flavor list returns it, with the extra specs clients read. */
export function flavorBody(f: Schema['flavors'], zones: string[]) {
  const { extra, ...flavor } = flavorFields(f, zones)
  return { ...flavor, os_extra_specs: extra }
}

/**
 * A flavor as `listResizeFlavors` returns it: the same fields, but its extra specs are named
 * `extra_specs` there, and it carries the reserved `instance_quota`.
 */
export function resizeFlavorBody(f: Schema['flavors'], zones: string[]) {
  const { extra, ...flavor } = flavorFields(f, zones)
  return { ...flavor, extra_specs: extra, instance_quota: {} }
}

function flavorFields(f: Schema['flavors'], zones: string[]) {
  const [family = '', , ] = f.id.split('.')
  return {
    id: f.id,
    name: f.name,
    vcpus: String(f.vcpus),
    ram: f.ram_mb,
    disk: String(f.disk_gb),
    swap: '',
    links: [],
    'OS-FLV-EXT-DATA:ephemeral': 0,
    rxtx_factor: 1,
    'OS-FLV-DISABLED:disabled': false,
    rxtx_quota: '',
    rxtx_cap: '',
    'os-flavor-access:is_public': true,
    extra: {
      'ecs:virtualization_env_types': virtualizationEnvType(f.virtualization as Virtualization),
      'ecs:generation': family,
      'ecs:performancetype': f.id.startsWith('c') ? 'computingv3' : 'normal',
      'cond:operation:status': f.sell_status,
      'cond:operation:az': zones.map((z) => `${z}(${f.sell_status})`).join(','),
    },
  }
}

/** The `absolute` quotas and usage of `GET /cloudservers/limits`. */
export function limitsBody(l: ProjectLimits) {
  const q: Quotas = l.quotas
  return {
    absolute: {
      maxImageMeta: 128,
      maxPersonality: 5,
      maxPersonalitySize: 10240,
      maxSecurityGroupRules: 20,
      maxSecurityGroups: 10,
      maxServerMeta: 128,
      maxTotalFloatingIps: 10,
      maxTotalKeypairs: 100,
      maxServerGroups: q.maxServerGroups,
      maxServerGroupMembers: q.maxServerGroupMembers,
      maxTotalInstances: q.maxTotalInstances,
      maxTotalCores: q.maxTotalCores,
      maxTotalRAMSize: q.maxTotalRAMSize,
      totalInstancesUsed: l.instancesUsed,
      totalCoresUsed: l.coresUsed,
      totalRAMUsed: l.ramUsedMb,
      totalServerGroupsUsed: l.serverGroupsUsed,
      totalFloatingIpsUsed: 0,
      totalSecurityGroupsUsed: 0,
      maxTotalSpotInstances: 0,
      maxTotalSpotCores: 0,
      maxTotalSpotRAMSize: 0,
      totalSpotInstancesUsed: 0,
      totalSpotCoresUsed: 0,
      totalSpotRAMUsed: 0,
      limit_by_flavor: [],
    },
  }
}

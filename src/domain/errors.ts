/**
 * The error catalogue: every failure a client can see has one entry here, with a stable code,
 * an HTTP status and an actionable message. Services throw these; only the HTTP edge
 * (`src/api/errors.ts`) turns them into response bodies.
 *
 * Codes follow the Huawei ECS error-code table where it has a fitting entry; where it has none,
 * the choice is recorded in docs/compatibility.md.
 */

/**
 * How a failure reads on the OpenStack Compute (v2.1) surface where Nova words it or answers it
 * differently from the Huawei API; what is absent is taken from the error itself.
 */
export interface NovaRendering {
  status?: number
  message?: string
}

/**
 * A failure of an ECS operation, answered as `{"error":{"code","message"}}` on the Huawei API and
 * as a Nova fault (`{"itemNotFound":{"code","message"}}`, with `nova`'s status and wording when
 * given) on the OpenStack Compute API.
 */
export class EcsError extends Error {
  override name = 'EcsError'
  constructor(
    readonly code: string,
    readonly status: number,
    message: string,
    readonly nova?: NovaRendering,
  ) {
    super(message)
  }
}

/**
 * A failure decided at the API gateway (authentication, unknown API), answered in the gateway's
 * flat shape `{"error_code","error_msg","request_id"}`.
 */
export class GatewayError extends Error {
  override name = 'GatewayError'
  constructor(
    readonly code: string,
    readonly status: number,
    message: string,
  ) {
    super(message)
  }
}

/** A request field that cannot be used; `detail` names it and says why. */
export const invalidParameter = (detail: string) =>
  new EcsError('Ecs.0005', 400, `Invalid parameter values: ${detail}`)

/** A POST that needs a body arrived without one. */
export const emptyBody = () =>
  new EcsError('Common.0002', 400, 'The request body cannot be left blank: send a JSON object.')

/** No such server in the caller's project (another project's servers included). */
export const serverNotFound = (serverId: string) =>
  new EcsError('Ecs.0114', 404, `The ECS ${serverId} does not exist in this project.`, { message: `Instance ${serverId} could not be found.` })

/** No such ECS group in the caller's project (another project's groups included). */
export const groupNotFound = (groupId: string) =>
  new EcsError('Ecs.0313', 404, `The ECS group ${groupId} does not exist in this project.`, { message: `Instance group ${groupId} could not be found.` })

/** A create named a flavor the catalogue does not have. */
export const flavorNotFound = (flavorId: string) =>
  new EcsError(
    'Ecs.0029',
    400,
    `The flavor ${flavorId} does not exist. List flavors with GET /v1/{project_id}/cloudservers/flavors.`,
    { message: `Flavor ${flavorId} could not be found.` },
  )

/** No such job in the caller's project. */
export const jobNotFound = (jobId: string) =>
  new EcsError('Common.0011', 404, `Failed to query system tasks: job ${jobId} does not exist in this project.`)

/** add_member of a server that is not SHUTOFF. */
export const serverNotStopped = (serverId: string, status: string) =>
  new EcsError(
    'Ecs.0100',
    400,
    `The ECS status does not meet requirements: ECS ${serverId} is ${status}, and only a stopped (SHUTOFF) ECS can be added to an ECS group. Stop it (os-stop), wait for the job, and retry.`,
  )

/** An operation on a server while a job is still working on it. */
export const serverBusy = (serverId: string, status: string, taskState: string) =>
  new EcsError(
    'Ecs.0100',
    400,
    `The ECS status does not meet requirements: ECS ${serverId} is ${status} with task "${taskState}" in progress. Wait for its job to finish and retry.`,
  )

/** start/stop of a server whose status does not allow it (e.g. ERROR). */
export const serverWrongStatus = (serverId: string, status: string, operation: string, required: string) =>
  new EcsError(
    'Ecs.0100',
    400,
    `The ECS status does not meet requirements: ECS ${serverId} is ${status}; ${operation} needs it ${required}.`,
  )

/** A Xen server offered to an ECS group, which takes only KVM servers. */
export const serverNotKvm = (serverId: string, flavorId: string) =>
  new EcsError(
    'Ecs.0005',
    400,
    `Invalid parameter values: only KVM ECSs can be added to an ECS group, and ECS ${serverId} is a Xen ECS (flavor ${flavorId}, virtualization FusionCompute).`,
  )

/** add_member to a group whose policy is not anti-affinity. */
export const groupPolicyNotSupported = (groupId: string, policy: string) =>
  new EcsError(
    'Ecs.0005',
    400,
    `Invalid parameter values: ECS group ${groupId} has policy "${policy}"; only anti-affinity ECS groups accept members.`,
  )

/** add_member of a server that already belongs to another group. */
export const serverInOtherGroup = (serverId: string, otherGroupId: string) =>
  new EcsError(
    'Ecs.0005',
    400,
    `Invalid parameter values: ECS ${serverId} already belongs to ECS group ${otherGroupId}; an ECS can belong to one group at most. Remove it from that group first.`,
  )

/** A group already has `maxServerGroupMembers` members. */
export const groupMemberQuota = (groupId: string, limit: number) =>
  new EcsError(
    'Ecs.0022',
    400,
    `Insufficient ECS group quota: ECS group ${groupId} already has the maximum of ${limit} members (maxServerGroupMembers).`,
    { status: 403, message: 'Quota exceeded, too many servers in group' },
  )

/** A project already has `maxServerGroups` groups. */
export const groupQuota = (limit: number) =>
  new EcsError(
    'Ecs.0022',
    400,
    `Insufficient ECS group quota: this project already has the maximum of ${limit} ECS groups (maxServerGroups). Delete a group or raise the quota.`,
    { status: 403, message: 'Quota exceeded, too many server groups.' },
  )

/** A create would take the project past an instance, core or RAM quota. */
export const instanceQuota = (resource: string, requested: number, used: number, limit: number) =>
  new EcsError(
    'Ecs.0001',
    400,
    `Insufficient ECS quota: ${resource} would reach ${used + requested} (in use ${used}, requested ${requested}), above the quota of ${limit}.`,
    { status: 403, message: `Quota exceeded for ${resource}: Requested ${requested}, but already used ${used} of ${limit} ${resource}` },
  )

/**
 * `Ecs.0319` from placement: no host can take `subject`. The subject and the per-filter funnel
 * are kept apart from the message, for the event history.
 */
export class NoValidHostError extends EcsError {
  constructor(
    readonly subject: string,
    readonly diagnosis: string,
  ) {
    super('Ecs.0319', 400, `Insufficient resources for this flavor: no host can take ${subject}. Filter results: ${diagnosis}.`)
  }
}

/** Placement found no host; `diagnosis` is the per-filter funnel. */
export const noValidHost = (what: string, diagnosis: string) => new NoValidHostError(what, diagnosis)

/** Every attempt to claim capacity lost the race for it to concurrent requests. */
export const capacityContended = (hostId: string) =>
  new EcsError('Ecs.0319', 400, `Insufficient resources for this flavor: host ${hostId} was filled by concurrent requests on every attempt to claim room on it; retry the request.`)

/** A batch start/stop/delete names more servers than one request may. */
export const tooManyServersInBatch = (count: number, limit: number) =>
  new EcsError(
    'Ecs.0118',
    400,
    `The number of ECSs exceeds the maximum allowed limit: ${count} given, at most ${limit} per request.`,
  )

/** A create asks for more servers than one request may. */
export const createCountExceeded = (count: number, limit: number) =>
  new EcsError(
    'Ecs.0913',
    400,
    `The number of ECSs to be created exceeds the maximum allowed limit: count ${count}, at most ${limit} per request.`,
  )

/** A resize to the flavor the server already has. */
export const sameFlavor = (serverId: string, flavorId: string) =>
  new EcsError('Ecs.0005', 400, `Invalid parameter values: ECS ${serverId} already has flavor ${flavorId}; choose another flavorRef (GET /v1/{project_id}/cloudservers/resize_flavors?instance_uuid=${serverId} lists them).`)

/** A resize between flavor families that cannot be converted (KVM and Xen). */
export const flavorNotResizable = (serverId: string, from: string, to: string, why: string) =>
  new EcsError('Ecs.0005', 400, `Invalid parameter values: ECS ${serverId} cannot be resized from ${from} to ${to}: ${why}. GET /v1/{project_id}/cloudservers/resize_flavors?instance_uuid=${serverId} lists the flavors it can take.`)

/** A flavor that is no longer sold (`cond:operation:status` sellout or abandon). */
export const flavorNotSold = (flavorId: string, sellStatus: string) =>
  new EcsError('Ecs.0005', 400, `Invalid parameter values: flavor ${flavorId} is not on sale (cond:operation:status=${sellStatus}); choose a flavor whose status is normal.`)

/** An operation that needs a stopped server (resize without mode=withStopServer, migrate). */
export const serverMustBeStopped = (serverId: string, status: string, operation: string, hint: string) =>
  new EcsError('Ecs.0100', 400, `The ECS status does not meet requirements: ECS ${serverId} is ${status}; ${operation} needs it stopped (SHUTOFF). ${hint}`)

/** migrateServer of a server in the shared pool without a dedicated host to go to. */
export const migrateNeedsDedicatedHost = (serverId: string) =>
  new EcsError('Ecs.0005', 400, `Invalid parameter values: ECS ${serverId} runs in the shared pool; migrate moves servers to, between and off dedicated hosts, so name the target in migrate.dedicated_host_id. To move a server to another shared host, use actions/redeploy.`)

/** A dedicated host id that is not a dedicated host of the caller's project. */
export const dedicatedHostNotFound = (hostId: string) =>
  new EcsError('Ecs.0005', 400, `Invalid parameter values: dedicated_host_id ${hostId} is not a dedicated host of this project.`)

/** migrateServer to the dedicated host the server already runs on. */
export const sameDedicatedHost = (serverId: string, hostId: string) =>
  new EcsError('Ecs.0221', 400, `ECS ${serverId} already runs on dedicated host ${hostId}; name another dedicated host, or send {"migrate": null} to move it to the shared pool.`)

/** A dedicated host combined with a group hint at creation, which the API does not support. */
export const dedicatedHostWithGroup = () =>
  new EcsError('Ecs.0005', 400, 'Invalid parameter values: os:scheduler_hints.group cannot be combined with a dedicated host (dedicated_host_id or tenancy "dedicated"); create the server on the dedicated host, then add it to the group.')

/** A recycle-bin operation on a server that is not in the recycle bin. */
export const serverNotInRecycleBin = (serverId: string) =>
  new EcsError('Ecs.0100', 400, `The ECS status does not meet requirements: ECS ${serverId} is not in the recycle bin.`)

/** A server operation on a server that sits in the recycle bin. */
export const serverInRecycleBin = (serverId: string) =>
  new EcsError('Ecs.0100', 400, `The ECS status does not meet requirements: ECS ${serverId} is in the recycle bin; revert it first (POST /v1/{project_id}/recycle-bin/cloudservers/${serverId}/actions/revert).`)

/** Turning the recycle bin off while it holds servers. */
export const recycleBinNotEmpty = (count: number) =>
  new EcsError('Ecs.0005', 400, `Invalid parameter values: the recycle bin still holds ${count} ECS${count === 1 ? '' : 's'}; revert or delete them (DELETE /v1/{project_id}/recycle-bin/cloudservers/{server_id}) before switching it off.`)

/** A batch resize that mixes zones or source flavors, which the API refuses. */
export const batchResizeMismatch = (detail: string) =>
  new EcsError('Ecs.0005', 400, `Invalid parameter values: every ECS of a batch resize must have the same availability zone and the same current flavor; ${detail}.`)

/** An operator named a host that does not exist. */
export const hostNotFound = (name: string) =>
  new EcsError('Ecs.0005', 404, `Host ${name} does not exist. List hosts with GET /admin/hosts (ecsd hosts list).`)

/** An operator added a host under a name that is taken. */
export const hostExists = (name: string) =>
  new EcsError('Ecs.0005', 409, `Host ${name} already exists; choose another name.`)

/** An operator removed a host that still has servers or moves. */
export const hostNotEmpty = (name: string, what: string) =>
  new EcsError('Ecs.0005', 409, `Host ${name} is not empty: ${what}. Drain it first (ecsd hosts drain ${name}), and revert or delete the recycle-bin servers that last ran on it.`)

/** An operator planned maintenance of a host whose earlier window still has events to carry out. */
export const maintenanceWindowOpen = (name: string, reason: string) =>
  new EcsError('Ecs.0005', 409, `Host ${name} already has a maintenance window whose events are not all done (${reason}). Wait for them, or enable the host to call that window off, then plan again.`)

/** No such scheduled event in the caller's project (another project's events included). */
export const scheduledEventNotFound = (eventId: string) =>
  new EcsError('Ecs.0005', 404, `Invalid parameter values: the scheduled event ${eventId} does not exist in this project. List events with GET /v3/{project_id}/instance-scheduled-events.`)

/** accept or update of an event in a state that no longer takes the tenant's answer. */
export const scheduledEventWrongState = (eventId: string, state: string, operation: string, allowed: string) =>
  new EcsError('Ecs.0005', 400, `Invalid parameter values: the scheduled event ${eventId} is ${state}; ${operation} needs it ${allowed}.`)

/** A requested start outside the event's window: from now until its `not_before_deadline`. */
export const notBeforeOutsideWindow = (eventId: string, notBefore: string, now: string, deadline: string) =>
  new EcsError('Ecs.0005', 400, deadline < now
    ? `Invalid parameter values: not_before ${notBefore} cannot be chosen: the window of scheduled event ${eventId} closed at its not_before_deadline ${deadline}, and the event is carried out as soon as possible.`
    : `Invalid parameter values: not_before ${notBefore} is outside the window of scheduled event ${eventId}, which may start from now (${now}) until its not_before_deadline ${deadline}.`)

/** A host agent's credential used for another host than its own. */
export const hostAgentForbidden = (name: string) =>
  new EcsError('Ecs.0003', 403, `You do not have permission to perform this operation: this credential belongs to another host's agent than ${name}.`)

/** An operator route called with a tenant credential. */
export const adminOnly = (what: string) =>
  new EcsError('Ecs.0003', 403, `You do not have permission to perform this operation: ${what} needs an operator (admin) credential.`)

/** A genuine internal fault; the answer hides its details. */
export const internalError = () =>
  new EcsError('Common.0001', 500, 'A system exception occurred. Retry later; the request id identifies this failure in the logs.')

/** Authentication failed at the gateway; `reason` says which check. */
export const signatureRejected = (reason: string) =>
  new GatewayError('APIGW.0301', 401, `Incorrect IAM authentication information: ${reason}`)

/** No route for this method and path. */
export const apiNotFound = (method: string, path: string) =>
  new GatewayError(
    'APIGW.0101',
    404,
    `The API does not exist or has not been published in the environment: ${method} ${path}`,
  )

/** A host agent did not answer a read of a server's console in time (it may be busy, restarting or cut off). */
export const consoleUnavailable = (serverId: string, hostName: string, why: string) =>
  new EcsError('Ecs.0707', 503, `The serial console of ECS ${serverId} cannot be read now: the agent of host ${hostName} ${why}. Retry in a few seconds.`)

// ---- OpenStack Compute (v2.1) only: failures the Huawei API cannot produce -------------------

/** An `OpenStack-API-Version` / `X-OpenStack-Nova-API-Version` value that is not `X.Y` or `latest`. */
export const microversionMalformed = (value: string) =>
  new EcsError('Ecs.0005', 400, `API Version String ${value} is of invalid format. Must be of format MajorNum.MinorNum.`)

/** A microversion outside the range ecsd serves. */
export const microversionNotSupported = (version: string, min: string, max: string) =>
  new EcsError('Ecs.0005', 406, `Version ${version} is not supported by the API. Minimum is ${min} and maximum is ${max}.`)

/** A request body that does not match the schema of the requested microversion. */
export const novaInvalidInput = (detail: string) =>
  new EcsError('Ecs.0005', 400, `Invalid input for this request: ${detail}`)

/** `rules` given with a policy other than anti-affinity (microversion 2.64+). */
export const rulesNeedAntiAffinity = () =>
  new EcsError('Ecs.0005', 400, 'Only anti-affinity policy supports rules.')

/** A caller without the role an OpenStack policy rule needs (admin-only APIs). */
export const policyForbidden = (rule: string) =>
  new EcsError('Ecs.0003', 403, `Policy doesn't allow ${rule} to be performed.`)

/** No such flavor, on the flavor routes (a create naming one answers 400 instead). */
export const novaFlavorNotFound = (flavorId: string) =>
  new EcsError('Ecs.0029', 404, `Flavor ${flavorId} could not be found.`)

/** An image id or name the image catalogue does not have. */
export const imageNotFound = (image: string, status: 400 | 404) =>
  new EcsError('Ecs.0005', status, `Image ${image} could not be found.`)

/** A keypair name already used in the project. */
export const keypairExists = (name: string) =>
  new EcsError('Ecs.0005', 409, `Key pair '${name}' already exists.`)

/** No keypair of this name in the project. */
export const keypairNotFound = (name: string) =>
  new EcsError('Ecs.0005', 404, `Keypair ${name} not found for this project.`)

/** A public key that is not an OpenSSH public key line. */
export const keypairInvalid = (detail: string) =>
  new EcsError('Ecs.0005', 400, `Keypair data is invalid: ${detail}`)

/** A port that is not attached to the server. */
export const interfaceNotFound = (serverId: string, portId: string) =>
  new EcsError('Ecs.0005', 404, `Port ${portId} is not attached to instance ${serverId}.`)

/** removeSecurityGroup of a group the server does not have. */
export const securityGroupNotOnServer = (name: string, serverId: string) =>
  new EcsError('Ecs.0005', 400, `Security group ${name} not associated with the instance ${serverId}`)

/** addSecurityGroup of a group the server already has. */
export const securityGroupAlreadyOnServer = (name: string, serverId: string) =>
  new EcsError('Ecs.0005', 400, `Security group ${name} is already associated with the instance ${serverId}`)

/** No hypervisor of this id (admin API). */
export const hypervisorNotFound = (id: string) =>
  new EcsError('Ecs.0005', 404, `Hypervisor with ID '${id}' could not be found.`)

/** A server action the OpenStack surface names but ecsd does not carry out. */
export const actionNotSupported = (action: string, why: string) =>
  new EcsError('Ecs.0005', 400, `The ${action} action is not supported: ${why}`)

// ---- Tags, metadata, names, metadata options, auto-terminate time ----------------------------

/** A tag change or create that would leave a server with more tags than it may have. */
export const tooManyTags = (serverId: string, count: number, limit: number) =>
  new EcsError('Ecs.0905', 400, `The number of tags exceeds the maximum allowed limit: ECS ${serverId} would have ${count} tags, at most ${limit} per ECS. Delete tags first (action "delete").`)

/** A tag key or value outside the charset or length the API allows. */
export const invalidTag = (part: 'key' | 'value', text: string, rule: string) =>
  new EcsError(part === 'key' ? 'Ecs.0906' : 'Ecs.0907', 400, `Invalid tag ${part} ${JSON.stringify(text)}: ${rule}.`)

/** The same tag key twice in one request. */
export const duplicateTagKey = (key: string) =>
  new EcsError('Ecs.0908', 400, `Duplicate tag key ${JSON.stringify(key)}: a key may appear once per request, and an ECS has one value per key.`)

/** deleteServerMetadata of a key the server's metadata does not have. */
export const metadataKeyNotFound = (serverId: string, key: string) =>
  new EcsError('Ecs.0005', 404, `Invalid parameter values: ECS ${serverId} has no metadata key ${JSON.stringify(key)}; GET /v1/{project_id}/cloudservers/${serverId} shows its metadata.`)

// ---- Reinstall and change OS, passwords, consoles, crash dumps, monitoring --------------------

/** A new password that breaks the password rules; `rule` says which. */
export const weakPassword = (rule: string) =>
  new EcsError('Ecs.0011', 400, `The password does not meet the requirements: ${rule}. A password has 8 to 26 characters, at least three of upper-case letters, lower-case letters, digits and the special characters !@%-_=+[]:./?, and does not contain root or Administrator (nor their reverse).`)

/** A serial console asked for (or opened) while the server's serial console is switched off. */
export const serialConsoleDisabled = (serverId: string) =>
  new EcsError('Ecs.0100', 400, `The ECS status does not meet requirements: the serial console of ECS ${serverId} is disabled. Enable it with PUT /v1/{project_id}/cloudservers/${serverId}/serial-console-options {"serial_console_options": {"enabled": true}} and ask for a new URL.`)

/** A console URL whose token is forged, damaged or expired. */
export const consoleUrlInvalid = (validMinutes: number) =>
  new EcsError('Ecs.0005', 404, `This console URL is not valid: it is damaged or older than ${validMinutes} minutes. Ask for a new one (POST /v1/{project_id}/cloudservers/{server_id}/remote_console or …/actions/serial-console).`)

// ---- NICs, virtual IPs, VPC changes ----------------------------------------------------------

/** A requested address that a NIC or a virtual IP of the subnet already has. */
export const ipAddressInUse = (ipAddress: string, subnetId: string) =>
  new EcsError('Ecs.0010', 400, `The private IP address ${ipAddress} is already used in subnet ${subnetId}; name a free address, or leave ip_address out to have one assigned.`, {
    status: 409, message: `Fixed IP address ${ipAddress} is already in use.`,
  })

/** A subnet with no free address left. */
export const subnetExhausted = (subnetId: string) =>
  new EcsError('Ecs.0012', 400, `Insufficient IP addresses in subnet ${subnetId}: every address is in use. Free one (delete a NIC) or use another subnet.`, {
    message: `No fixed IP addresses available for network: ${subnetId}`,
  })

/** A server (`undefined`: one being created) would have more NICs than its flavor allows. */
export const tooManyNics = (serverId: string | undefined, wanted: number, limit: number) =>
  new EcsError('Ecs.0050', 400, serverId === undefined
    ? `The number of NICs exceeds the limit: nics names ${wanted} NICs, and the flavor allows at most ${limit}.`
    : `The number of NICs exceeds the limit: ECS ${serverId} would have ${wanted} NICs, and its flavor allows at most ${limit} (GET /v1/{project_id}/cloudservers/${serverId}/os-interface_extension shows free_nic).`)

/** A port that is already a NIC of a server. */
export const portInUse = (portId: string) =>
  new EcsError('Ecs.0919', 400, `The port ${portId} is already attached to an ECS; detach it first or name a subnet_id to get a new NIC.`, { status: 409, message: `Port ${portId} is still in use.` })

/** batchDeleteServerNics naming the primary NIC. */
export const primaryNicNotDeletable = (serverId: string, portId: string) =>
  new EcsError('Ecs.0005', 400, `Invalid parameter values: NIC ${portId} is the primary NIC of ECS ${serverId} and cannot be deleted; only extension NICs can.`)

/** No NIC of this id in the caller's project (another project's NICs included). */
export const nicNotFound = (portId: string) =>
  new EcsError('Ecs.0005', 404, `Invalid parameter values: the NIC ${portId} does not exist in this project. GET /v1/{project_id}/cloudservers/{server_id}/os-interface lists a server's NICs.`)

// ---- Volumes and block devices -------------------------------------------------------------

/** No volume of this id in the caller's project (another project's volumes included). */
export const volumeNotFound = (volumeId: string) =>
  new EcsError('Ecs.0005', 404, `Invalid parameter values: the volume ${volumeId} does not exist in this project. GET /v1/{project_id}/cloudservers/{server_id}/block_device lists the volumes of a server.`)

/** An attach of a volume that cannot take another server (attached, not shared, or shared with the most servers it may have). */
export const volumeNotAvailable = (volumeId: string, why: string) =>
  new EcsError('Ecs.0103', 400, `The disk is unavailable: volume ${volumeId} ${why}.`)

/** A detach or block-device read of a volume that is not attached to the server. */
export const volumeNotAttached = (serverId: string, volumeId: string, status: 400 | 404) =>
  new EcsError('Ecs.0111', status, `The disk is not attached to the ECS: volume ${volumeId} is not attached to ECS ${serverId}. GET /v1/{project_id}/cloudservers/${serverId}/block_device lists its volumes.`)

/** An attach of a volume of another availability zone than the server's. */
export const volumeInOtherZone = (volumeId: string, volumeZone: string, serverId: string, serverZone: string) =>
  new EcsError('Ecs.0005', 400, `Invalid parameter values: volume ${volumeId} is in availability zone ${volumeZone} and ECS ${serverId} in ${serverZone}; a disk attaches only to ECSs of its own zone.`)

/** An attach past the number of disks a server may have. */
export const tooManyDisks = (serverId: string, attached: number, adding: number, limit: number) =>
  new EcsError('Ecs.0005', 400, `Invalid parameter values: ECS ${serverId} has ${attached} disks and cannot take ${adding} more: an ECS has at most ${limit} disks (system disk included). Detach a disk first.`)

/** A device name the server cannot use (wrong naming for its virtualization, or already taken). */
export const deviceUnusable = (serverId: string, device: string, why: string) =>
  new EcsError('Ecs.0005', 400, `Invalid parameter values: device ${device} cannot be used on ECS ${serverId}: ${why}.`)

/** A change the system disk (or the disk of a running server) does not allow. */
export const systemDiskNeedsStop = (serverId: string, status: string, operation: string) =>
  new EcsError('Ecs.0100', 400, `The ECS status does not meet requirements: ECS ${serverId} is ${status}; ${operation} the system disk needs it stopped (SHUTOFF). Stop it (os-stop), wait for the job, and retry.`)

/** updateServerBlockDevice of a disk whose release policy cannot be changed (the system disk, a shared disk). */
export const blockDeviceNotUpdatable = (volumeId: string, why: string) =>
  new EcsError('Ecs.0617', 400, `The disk attachment cannot be modified: volume ${volumeId} is ${why}, whose delete_on_termination cannot be changed.`)

// ---- Availability zones, sell policies, charge mode, cloud-server lists, launch templates -------

/** No launch template of this id in the caller's project (another project's templates included). */
export const launchTemplateNotFound = (templateId: string) =>
  new EcsError('Ecs.0005', 404, `The launch template ${templateId} does not exist in this project.`)

/** A launch template name the project already uses. */
export const launchTemplateNameTaken = (name: string) =>
  new EcsError('Ecs.0005', 409, `Invalid parameter values: the project already has a launch template named "${name}"; template names are unique per project.`)

/** changeServerChargeMode of a server that is already yearly/monthly. */
export const serverAlreadyPrePaid = (serverId: string) =>
  new EcsError('Ecs.0005', 400, `Invalid parameter values: ECS ${serverId} is already billed yearly/monthly (prePaid); only pay-per-use ECSs can be changed to prePaid.`)

import { Type } from 'typebox'
import { Open } from './responses.ts'

/**
 * Requests and answers of a server's NICs, virtual IPs and VPC change. Field names and types are
 * the SDK models'; addresses and subnets are checked by `src/services/nics.ts`, which answers
 * them with their own codes. Fields ecsd accepts but does not simulate (security groups, IPv6
 * bandwidth) are shape-checked only.
 */

const Id = Type.String({ minLength: 1, maxLength: 255 })
const SecurityGroups = Type.Array(Type.Object({ id: Type.String({ maxLength: 255 }) }, { additionalProperties: false }), { maxItems: 10 })

/** Path parameters of `…/cloudservers/{server_id}/os-interface/{port_id}…`. */
export const PortParams = Type.Object({ project_id: Type.String(), server_id: Type.String(), port_id: Type.String() }, { additionalProperties: false })

/** Path parameters of `PUT /v1/{project_id}/cloudservers/nics/{nic_id}`. */
export const NicParams = Type.Object({ project_id: Type.String(), nic_id: Type.String() }, { additionalProperties: false })

/** `POST …/{server_id}/nics` (`BatchAddServerNicsRequestBody`). */
export const BatchAddServerNicsBody = Type.Object(
  {
    nics: Type.Array(
      Type.Object(
        {
          subnet_id: Type.Optional(Id),
          port_id: Type.Optional(Id),
          security_groups: Type.Optional(SecurityGroups),
          ip_address: Type.Optional(Type.String({ maxLength: 64 })),
          ipv6_enable: Type.Optional(Type.Boolean()),
          ipv6_bandwidth: Type.Optional(Type.Object({ id: Type.Optional(Type.String({ maxLength: 255 })) }, { additionalProperties: false })),
        },
        { additionalProperties: false },
      ),
      { minItems: 1, maxItems: 12 },
    ),
  },
  { additionalProperties: false },
)

/** `POST …/{server_id}/nics/delete` (`BatchDeleteServerNicsRequestBody`). */
export const BatchDeleteServerNicsBody = Type.Object(
  { nics: Type.Array(Type.Object({ id: Id }, { additionalProperties: false }), { minItems: 1, maxItems: 12 }) },
  { additionalProperties: false },
)

/**
 * `PUT …/{server_id}/os-interface/{port_id}` (`UpdateNicInfoRequestBody`): the SDK types the body
 * as a whole `InterfaceAttachment`; only `delete_on_termination` can change, the rest is ignored.
 */
export const UpdateServerInterfaceBody = Type.Object(
  {
    interface_attachment: Type.Object(
      {
        fixed_ips: Type.Optional(Type.Array(Type.Object({ ip_address: Type.Optional(Type.String()), subnet_id: Type.Optional(Type.String()) }, { additionalProperties: false }), { maxItems: 16 })),
        mac_addr: Type.Optional(Type.String()),
        net_id: Type.Optional(Type.String()),
        port_id: Type.Optional(Type.String()),
        port_state: Type.Optional(Type.String()),
        delete_on_termination: Type.Optional(Type.Boolean()),
        driver_mode: Type.Optional(Type.String()),
        min_rate: Type.Optional(Type.Number()),
        multiqueue_num: Type.Optional(Type.Number()),
        pci_address: Type.Optional(Type.String()),
      },
      { additionalProperties: false },
    ),
  },
  { additionalProperties: false },
)

/** `POST …/os-interface/{port_id}/change-network-interface` (`ChangeServerNetworkInterfaceRequestBody`). */
export const ChangeServerNetworkInterfaceBody = Type.Object(
  {
    subnet_id: Type.Optional(Id),
    ip_address: Type.Optional(Type.String({ maxLength: 64 })),
    ipv6_address: Type.Optional(Type.String({ maxLength: 64 })),
  },
  { additionalProperties: false },
)

/**
 * `PUT /v1/{project_id}/cloudservers/nics/{nic_id}`: associateServerVirtualIp, or, with both
 * fields `""`, disassociateServerVirtualIp.
 */
export const ServerVirtualIpBody = Type.Object(
  {
    nic: Type.Object(
      { subnet_id: Type.String({ maxLength: 255 }), ip_address: Type.String({ maxLength: 64 }), reverse_binding: Type.Optional(Type.Boolean()) },
      { additionalProperties: false },
    ),
  },
  { additionalProperties: false },
)

/** `POST …/{server_id}/changevpc` (`ChangeVpcRequestBody`). */
export const ChangeVpcBody = Type.Object(
  {
    vpc_id: Id,
    nic: Type.Object(
      { port_id: Type.Optional(Id), subnet_id: Type.Optional(Id), security_groups: Type.Optional(SecurityGroups), ip_address: Type.Optional(Type.String({ maxLength: 64 })) },
      { additionalProperties: false },
    ),
  },
  { additionalProperties: false },
)

const interfaceFields = {
  port_state: Type.String({ description: 'ACTIVE while the server runs, DOWN otherwise' }),
  fixed_ips: Type.Array(Open({ subnet_id: Type.String(), ip_address: Type.String() })),
  net_id: Type.String(),
  port_id: Type.String(),
  mac_addr: Type.String(),
  delete_on_termination: Type.Boolean(),
  driver_mode: Type.String(),
  min_rate: Type.Number(),
  multiqueue_num: Type.Number(),
  pci_address: Type.String(),
}

/** `GET …/{server_id}/os-interface` (`ListServerInterfacesResponse`). */
export const ListServerInterfacesResponse = Open({
  attachableQuantity: Open({ free_nic: Type.Integer() }),
  interfaceAttachments: Type.Array(Open(interfaceFields)),
})

/** `GET …/{server_id}/os-interface_extension` (`ShowServerAttachableNicNumResponse`). */
export const ShowServerAttachableNicNumResponse = Open({
  attachableQuantity: Open({ free_efi_nic: Type.Integer(), free_scsi: Type.Integer(), free_blk: Type.Integer(), free_disk: Type.Integer(), free_nic: Type.Integer() }),
  interfaceAttachments: Type.Array(Open({ ...interfaceFields, preserve_on_delete: Type.Boolean() })),
})

/** `POST …/change-network-interface` (`ChangeServerNetworkInterfaceResponse`). */
export const ChangeServerNetworkInterfaceResponse = Open({ id: Type.String(), subnet_id: Type.String(), ip_address: Type.String() })

/** `PUT …/cloudservers/nics/{nic_id}` (`AssociateServerVirtualIpResponse`, `DisassociateServerVirtualIpResponse`). */
export const ServerVirtualIpResponse = Open({ port_id: Type.String({ description: 'The NIC' }) })

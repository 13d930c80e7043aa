import { subnetCidr } from '../../../src/services/nics.ts'
import { call, v1 } from '../../helper.ts'
import type { RouteArea } from './routes.ts'

/** Routes of NICs, virtual IPs, VPC changes. */
export const area: RouteArea = {
  routes: [
    { method: 'POST', path: (i) => `/cloudservers/${i.server}/nics`, body: () => ({ nics: [{ subnet_id: 'subnet-fuzz', security_groups: [{ id: 'sg' }] }] }) },
    { method: 'POST', path: (i) => `/cloudservers/${i.server}/nics/delete`, body: (i) => ({ nics: [{ id: i.port }] }) },
    { method: 'GET', path: (i) => `/cloudservers/${i.server}/os-interface` },
    { method: 'GET', path: (i) => `/cloudservers/${i.server}/os-interface_extension` },
    { method: 'PUT', path: (i) => `/cloudservers/${i.server}/os-interface/${i.port}`, body: () => ({ interface_attachment: { delete_on_termination: false } }) },
    { method: 'POST', path: (i) => `/cloudservers/${i.server}/os-interface/${i.port}/change-network-interface`, body: () => ({ subnet_id: 'subnet-1', ip_address: '' }) },
    { method: 'PUT', path: (i) => `/cloudservers/nics/${i.port}`, body: () => ({ nic: { subnet_id: 'subnet-1', ip_address: subnetCidr('subnet-1').replace(/0\.0\/16$/, '0.77'), reverse_binding: true } }) },
    { method: 'PUT', path: (i) => `/cloudservers/nics/${i.port}`, body: () => ({ nic: { subnet_id: '', ip_address: '' } }) },
    { method: 'POST', path: (i) => `/cloudservers/${i.server}/changevpc`, body: () => ({ vpc_id: 'vpc-fuzz', nic: { subnet_id: 'subnet-fuzz', ip_address: subnetCidr('subnet-fuzz').replace(/0\.0\/16$/, '1.3') } }) },
  ],
  /** The primary NIC of the fixture server. */
  setup: async ({ app, server }) => {
    const list = (await call(app, { method: 'GET', url: v1(`/cloudservers/${server}/os-interface`) })).json<{ interfaceAttachments: Array<{ port_id: string }> }>()
    const port = list.interfaceAttachments[0]?.port_id
    if (port === undefined) throw new Error('fuzz fixture: the server has no NIC')
    return { port }
  },
}

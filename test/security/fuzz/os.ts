import { IMAGES } from '../../../src/services/images.ts'
import type { RouteArea } from './routes.ts'

const PASSWORD = 'Ecsd-pass-42'

/**
 * Routes of reinstall and change OS, passwords, consoles, crash dumps, monitoring. The console
 * page (`GET /console/{token}`) is not here: it lives outside every versioned prefix, and its
 * one input, the token, is opened by authenticated decryption before anything is read.
 */
export const area: RouteArea = {
  routes: [
    { method: 'POST', path: (i) => `/cloudservers/${i.server}/reinstallos`, body: () => ({ 'os-reinstall': { adminpass: PASSWORD, mode: 'withStopServer' } }) },
    { method: 'POST', path: (i) => `/cloudservers/${i.server}/reinstallos`, body: () => ({ 'os-reinstall': { adminpass: PASSWORD, metadata: { user_data: 'IyEvYmluL3No' } } }), version: 'v2' },
    { method: 'POST', path: (i) => `/cloudservers/${i.server}/changeos`, body: () => ({ 'os-change': { imageid: IMAGES[1]!.id, adminpass: PASSWORD, mode: 'withStopServer' } }) },
    { method: 'POST', path: (i) => `/cloudservers/${i.server}/changeos`, body: () => ({ 'os-change': { imageid: IMAGES[2]!.id, adminpass: PASSWORD, mode: 'withStopServer', metadata: { user_data: 'IyEvYmluL3No' } } }), version: 'v2' },
    { method: 'PUT', path: (i) => `/cloudservers/${i.server}/os-reset-password`, body: () => ({ 'reset-password': { new_password: PASSWORD, is_check_password: true } }) },
    { method: 'PUT', path: () => '/cloudservers/os-reset-passwords', body: (i) => ({ new_password: PASSWORD, dry_run: false, servers: [{ id: i.server }] }) },
    { method: 'GET', path: (i) => `/cloudservers/${i.server}/os-resetpwd-flag` },
    { method: 'GET', path: (i) => `/cloudservers/${i.server}/os-server-password` },
    { method: 'DELETE', path: (i) => `/cloudservers/${i.server}/os-server-password` },
    { method: 'POST', path: (i) => `/cloudservers/${i.server}/remote_console`, body: () => ({ remote_console: { protocol: 'vnc', type: 'novnc' } }) },
    { method: 'POST', path: (i) => `/cloudservers/${i.server}/actions/serial-console` },
    { method: 'PUT', path: (i) => `/cloudservers/${i.server}/serial-console-options`, body: () => ({ serial_console_options: { enabled: true } }) },
    { method: 'POST', path: (i) => `/cloudservers/${i.server}/actions/trigger-crash-dump` },
    { method: 'POST', path: (i) => `/servers/${i.server}/action`, body: () => ({ monitorMetrics: '' }), version: 'v1.0' },
  ],
}

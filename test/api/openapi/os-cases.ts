import { IMAGES } from '../../../src/services/images.ts'
import { v1, waitForJob } from '../../helper.ts'
import { P, type Case } from './world.ts'

const PASSWORD = 'Ecsd-pass-42'

/** Cases of the operations on reinstall and change OS, passwords, consoles, crash dumps, monitoring. */
export const osCases: Record<string, Case> = {
  'POST /v1/{project_id}/cloudservers/{server_id}/reinstallos': async (w, send) => {
    const a = await send({ method: 'POST', url: v1(`/cloudservers/${await w.stoppedServer()}/reinstallos`), body: { 'os-reinstall': { adminpass: PASSWORD } } })
    await waitForJob(w.app, (JSON.parse(a.body) as { job_id: string }).job_id)
  },
  'POST /v2/{project_id}/cloudservers/{server_id}/reinstallos': async (w, send) => {
    const body = { 'os-reinstall': { adminpass: PASSWORD, mode: 'withStopServer', metadata: { user_data: 'IyEvYmluL3No' } } }
    const a = await send({ method: 'POST', url: `/v2/${P}/cloudservers/${await w.server()}/reinstallos`, body })
    await waitForJob(w.app, (JSON.parse(a.body) as { job_id: string }).job_id)
  },
  'POST /v1/{project_id}/cloudservers/{server_id}/changeos': async (w, send) => {
    const a = await send({ method: 'POST', url: v1(`/cloudservers/${await w.stoppedServer()}/changeos`), body: { 'os-change': { imageid: IMAGES[1]!.id, adminpass: PASSWORD } } })
    await waitForJob(w.app, (JSON.parse(a.body) as { job_id: string }).job_id)
  },
  'POST /v2/{project_id}/cloudservers/{server_id}/changeos': async (w, send) => {
    const body = { 'os-change': { imageid: IMAGES[2]!.id, adminpass: PASSWORD, isAutoPay: 'true', metadata: { user_data: 'IyEvYmluL3No' } } }
    const a = await send({ method: 'POST', url: `/v2/${P}/cloudservers/${await w.stoppedServer()}/changeos`, body })
    await waitForJob(w.app, (JSON.parse(a.body) as { job_id: string }).job_id)
  },
  'PUT /v1/{project_id}/cloudservers/{server_id}/os-reset-password': async (w, send) => {
    await send({ method: 'PUT', url: v1(`/cloudservers/${await w.sharedServer()}/os-reset-password`), body: { 'reset-password': { new_password: PASSWORD, is_check_password: true } } })
  },
  'PUT /v1/{project_id}/cloudservers/os-reset-passwords': async (w, send) => {
    const servers = [{ id: await w.sharedServer() }]
    await send({ method: 'PUT', url: v1('/cloudservers/os-reset-passwords'), body: { new_password: PASSWORD, servers } })
    await send({ method: 'PUT', url: v1('/cloudservers/os-reset-passwords'), body: { dry_run: true, servers } })
  },
  'GET /v1/{project_id}/cloudservers/{server_id}/os-resetpwd-flag': async (w, send) => {
    await send({ method: 'GET', url: v1(`/cloudservers/${await w.sharedServer()}/os-resetpwd-flag`) })
  },
  'GET /v1/{project_id}/cloudservers/{server_id}/os-server-password': async (w, send) => {
    await send({ method: 'GET', url: v1(`/cloudservers/${await w.sharedServer()}/os-server-password`) })
  },
  'DELETE /v1/{project_id}/cloudservers/{server_id}/os-server-password': async (w, send) => {
    await send({ method: 'DELETE', url: v1(`/cloudservers/${await w.sharedServer()}/os-server-password`) })
  },
  'POST /v1/{project_id}/cloudservers/{server_id}/remote_console': async (w, send) => {
    await send({ method: 'POST', url: v1(`/cloudservers/${await w.sharedServer()}/remote_console`), body: { remote_console: { protocol: 'vnc', type: 'novnc' } } })
  },
  'POST /v1/{project_id}/cloudservers/{server_id}/actions/serial-console': async (w, send) => {
    await send({ method: 'POST', url: v1(`/cloudservers/${await w.sharedServer()}/actions/serial-console`) })
  },
  'PUT /v1/{project_id}/cloudservers/{server_id}/serial-console-options': async (w, send) => {
    const id = await w.server()
    await send({ method: 'PUT', url: v1(`/cloudservers/${id}/serial-console-options`), body: { serial_console_options: { enabled: false } } })
    await send({ method: 'PUT', url: v1(`/cloudservers/${id}/serial-console-options`), body: { serial_console_options: { enabled: true } } })
  },
  'POST /v1/{project_id}/cloudservers/{server_id}/actions/trigger-crash-dump': async (w, send) => {
    await send({ method: 'POST', url: v1(`/cloudservers/${await w.sharedServer()}/actions/trigger-crash-dump`) })
  },
  'POST /v1.0/servers/{server_id}/action': async (w, send) => {
    await send({ method: 'POST', url: `/v1.0/servers/${await w.sharedServer()}/action`, body: { monitorMetrics: '' } })
  },
  'GET /console/{token}': async (w, send) => {
    const issued = await w.ok<{ serial_console: { url: string } }>({ method: 'POST', url: v1(`/cloudservers/${await w.sharedServer()}/actions/serial-console`) })
    await send({ method: 'GET', url: new URL(issued.serial_console.url).pathname, as: 'anonymous' })
  },
}

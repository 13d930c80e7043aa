/** What the OpenStack Compute API suites share: signed calls with a microversion, and waits. */
import type { App } from '../../../src/app.ts'
import { DEMO } from '../../../src/services/demo.ts'
import { IMAGES } from '../../../src/services/images.ts'
import { call } from '../../helper.ts'

/** The demo image every create uses. */
export const IMAGE = IMAGES[0]!.id

/** Every microversion at which a shape ecsd serves changes, and `latest`. */
export const BOUNDARIES = ['2.1', '2.13', '2.15', '2.37', '2.63', '2.64', '2.71', 'latest'] as const

/** A call options bag: body, microversion, admin credential. */
export interface NovaCall {
  body?: unknown
  /** Sent as `OpenStack-API-Version: compute X`; none: the client sends no version (2.1). */
  version?: string
  admin?: boolean
  headers?: Record<string, string>
}

/** A call to `/v2.1/{demo project}` + path, signed by the demo (or demo operator) credential. */
export function nova(app: App, method: 'GET' | 'POST' | 'DELETE' | 'PUT', path: string, c: NovaCall = {}) {
  return call(app, {
    method,
    url: path.startsWith('/') && !path.startsWith('/v2.1') ? `/v2.1/${DEMO.projectId}${path}` : path,
    ...(c.body === undefined ? {} : { body: c.body }),
    headers: { ...(c.version === undefined ? {} : { 'OpenStack-API-Version': `compute ${c.version}` }), ...c.headers },
    ...(c.admin ? { accessKey: DEMO.adminAccessKey, secretKey: DEMO.adminSecretKey } : {}),
  })
}

/** The body of a Nova fault: its name and `{code, message}`. */
export function fault(res: { json(): unknown }): { name: string; code: number; message: string } {
  const body = res.json() as Record<string, { code: number; message: string }>
  const [name, inner] = Object.entries(body)[0]!
  return { name, ...inner }
}

/** A server as the detail views return it, loosely typed. */
export type ServerJson = Record<string, unknown> & { id: string; status: string; name: string }

/** Shows a server as admin (so its host is visible). */
export async function showServer(app: App, id: string, version = '2.71'): Promise<ServerJson> {
  const res = await nova(app, 'GET', `/servers/${id}`, { version, admin: true })
  if (res.statusCode !== 200) throw new Error(`show ${id}: ${res.statusCode} ${res.body}`)
  return (res.json() as { server: ServerJson }).server
}

/** Waits until every server has left BUILD (and any task); returns them as admin sees them. */
export async function waitForServers(app: App, ids: string[], timeoutMs = 20_000): Promise<ServerJson[]> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const servers = await Promise.all(ids.map((id) => showServer(app, id)))
    if (servers.every((s) => s.status !== 'BUILD' && s['OS-EXT-STS:task_state'] === null)) return servers
    if (Date.now() > deadline) throw new Error(`servers still busy after ${timeoutMs} ms: ${servers.map((s) => `${s.id} ${s.status}`).join(', ')}`)
    await new Promise((r) => setTimeout(r, 5))
  }
}

/** Waits until a server is gone (its delete job ended). */
export async function waitForGone(app: App, id: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const res = await nova(app, 'GET', `/servers/${id}`)
    if (res.statusCode === 404) return
    if (Date.now() > deadline) throw new Error(`server ${id} still there after ${timeoutMs} ms`)
    await new Promise((r) => setTimeout(r, 5))
  }
}

/** Creates a group at 2.64 and returns its id. */
export async function createNovaGroup(app: App, policy: string, rules?: Record<string, unknown>, name = policy): Promise<string> {
  const res = await nova(app, 'POST', '/os-server-groups', { version: '2.64', body: { server_group: { name, policy, ...(rules ? { rules } : {}) } } })
  if (res.statusCode !== 200) throw new Error(`create group: ${res.statusCode} ${res.body}`)
  return (res.json() as { server_group: { id: string } }).server_group.id
}

/** Boots servers (at 2.71) and returns the ids of the reservation, in launch order. */
export async function boot(app: App, server: Record<string, unknown>, hints?: Record<string, unknown>): Promise<string[]> {
  const res = await nova(app, 'POST', '/servers', {
    version: '2.71',
    body: { server: { name: 'vm', flavorRef: 's6.small.1', imageRef: IMAGE, networks: 'auto', return_reservation_id: true, ...server }, ...(hints ? { 'os:scheduler_hints': hints } : {}) },
  })
  if (res.statusCode !== 202) throw new Error(`boot: ${res.statusCode} ${res.body}`)
  const reservation = (res.json() as { reservation_id: string }).reservation_id
  const list = await nova(app, 'GET', `/servers/detail?reservation_id=${reservation}`, { version: '2.71' })
  const servers = (list.json() as { servers: ServerJson[] }).servers
  return servers.sort((a, b) => Number(a['OS-EXT-SRV-ATTR:launch_index'] ?? 0) - Number(b['OS-EXT-SRV-ATTR:launch_index'] ?? 0) || a.name.localeCompare(b.name, 'en', { numeric: true })).map((s) => s.id)
}

import assert from 'node:assert/strict'
import { test } from 'node:test'
import { COMPILED_SERIALIZER_ROUTES } from '../../src/app.ts'
import { DEMO } from '../../src/services/demo.ts'
import { IMAGES } from '../../src/services/images.ts'
import { createBody, createServers, showServer, stopServers, v1, waitForIdle, waitForJob } from '../helper.ts'
import { IMAGE } from './openstack/nova.ts'
import { attributeCases } from './openapi/attribute-cases.ts'
import { catalogueCases } from './openapi/catalogue-cases.ts'
import { nicCases } from './openapi/nic-cases.ts'
import { osCases } from './openapi/os-cases.ts'
import { volumeCases } from './openapi/volume-cases.ts'
import {
  at, HOUR_MS, operationsOf, P, TENANT, World, type Answer, type Case, type Method, type Probe,
} from './openapi/world.ts'

/**
 * The acceptance test of /openapi.json: every operation the document lists is called for real
 * (signed as the SDK signs, with a token as OpenStack clients send one, or with a host agent's
 * credential), and every answer must have a documented status whose schema its body validates
 * against. The cases are a table keyed by `METHOD path-template`, and the table must list exactly
 * the document's operations: a route added without a case, or a case left behind by a removed
 * route, fails here.
 */

/** The OpenStack Compute resources, once for each of the two path forms (with and without the project). */
function computeCases(): Record<string, Case> {
  const cases: Record<string, Case> = {}
  for (const [key, base] of [['/v2.1', '/v2.1'], ['/v2.1/{project_id}', `/v2.1/${P}`]] as const) {
    const op = (method: Method, path: string, c: Case) => {
      cases[`${method} ${key}${path}`] = c
    }
    // Shapes change with the microversion: reads are checked at the base version, at 2.47 (the
    // embedded flavor) and at the newest, as a user and as an operator.
    const reads = async (send: (p: Probe) => Promise<Answer>, url: string, admin = false) => {
      for (const version of [undefined, '2.47', 'latest']) {
        await send({ method: 'GET', url, as: 'user', ...(version === undefined ? {} : { version }) })
        if (admin) await send({ method: 'GET', url, as: 'adminUser', ...(version === undefined ? {} : { version }) })
      }
    }

    op('POST', '/os-server-groups', async (w, send) => {
      await send({ method: 'POST', url: `${base}/os-server-groups`, as: 'user', body: { server_group: { name: w.unique('g'), policies: ['anti-affinity'] } } })
      await send({ method: 'POST', url: `${base}/os-server-groups`, as: 'user', version: '2.64', body: { server_group: { name: w.unique('g'), policy: 'anti-affinity', rules: { max_server_per_host: 1 } } } })
    })
    op('GET', '/os-server-groups', async (w, send) => {
      await w.sharedGroup()
      await reads(send, `${base}/os-server-groups`)
      await send({ method: 'GET', url: `${base}/os-server-groups?all_projects=1&limit=5`, as: 'adminUser', version: 'latest' })
    })
    op('GET', '/os-server-groups/{id}', async (w, send) => {
      await reads(send, `${base}/os-server-groups/${await w.sharedGroup()}`, true)
    })
    op('DELETE', '/os-server-groups/{id}', async (w, send) => {
      await send({ method: 'DELETE', url: `${base}/os-server-groups/${await w.group()}`, as: 'user' })
    })
    op('POST', '/servers', async (w, send) => {
      await send({ method: 'POST', url: `${base}/servers`, as: 'user', body: { server: { name: w.unique('nova'), flavorRef: 's6.small.1', imageRef: IMAGE } } })
      await send({
        method: 'POST', url: `${base}/servers`, as: 'user', version: '2.71',
        body: { server: { name: w.unique('nova'), flavorRef: 's6.small.1', imageRef: IMAGE, networks: 'auto', return_reservation_id: true } },
      })
      await waitForIdle(w.database)
    })
    op('GET', '/servers', async (w, send) => {
      await w.sharedNovaServer()
      await reads(send, `${base}/servers`, true)
      await send({ method: 'GET', url: `${base}/servers?limit=1`, as: 'user' })
    })
    op('GET', '/servers/detail', async (w, send) => {
      await w.sharedNovaServer()
      await w.unplacedServers()
      await reads(send, `${base}/servers/detail`, true)
      await send({ method: 'GET', url: `${base}/servers/detail?limit=1&all_tenants=1`, as: 'adminUser', version: 'latest' })
    })
    op('GET', '/servers/{server_id}', async (w, send) => {
      await reads(send, `${base}/servers/${await w.sharedNovaServer()}`, true)
      const reservation = await w.unplacedServers()
      const unplaced = await w.ok<{ servers: Array<{ id: string }> }>({ method: 'GET', url: `${base}/servers?reservation_id=${reservation}`, as: 'user' })
      assert.equal(unplaced.servers.length, 2)
      await reads(send, `${base}/servers/${unplaced.servers[0]!.id}`, true)
    })
    op('DELETE', '/servers/{server_id}', async (w, send) => {
      await send({ method: 'DELETE', url: `${base}/servers/${await w.novaServer()}`, as: 'user' })
      await waitForIdle(w.database)
    })
    op('POST', '/servers/{server_id}/action', async (w, send) => {
      await send({ method: 'POST', url: `${base}/servers/${await w.novaServer()}/action`, as: 'user', body: { 'os-stop': null } })
      await waitForIdle(w.database)
    })
    op('GET', '/servers/{server_id}/os-security-groups', async (w, send) => {
      await send({ method: 'GET', url: `${base}/servers/${await w.sharedNovaServer()}/os-security-groups`, as: 'user' })
    })
    op('GET', '/servers/{server_id}/os-interface', async (w, send) => {
      await reads(send, `${base}/servers/${await w.sharedNovaServer()}/os-interface`)
    })
    op('POST', '/servers/{server_id}/os-interface', async (w, send) => {
      const id = await w.novaServer()
      const ip = base === '/v2.1' ? '10.1.2.3' : '10.1.2.4'
      await send({ method: 'POST', url: `${base}/servers/${id}/os-interface`, as: 'user', body: { interfaceAttachment: { fixed_ips: [{ ip_address: ip }] } } })
      await send({ method: 'POST', url: `${base}/servers/${id}/os-interface`, as: 'user', version: 'latest', body: { interfaceAttachment: {} } })
    })
    op('GET', '/servers/{server_id}/os-interface/{port_id}', async (w, send) => {
      const id = await w.sharedNovaServer()
      const ports = await w.ok<{ interfaceAttachments: Array<{ port_id: string }> }>({ method: 'GET', url: `${base}/servers/${id}/os-interface`, as: 'user' })
      await reads(send, `${base}/servers/${id}/os-interface/${ports.interfaceAttachments[0]!.port_id}`)
    })
    op('DELETE', '/servers/{server_id}/os-interface/{port_id}', async (w, send) => {
      const id = await w.novaServer()
      const attached = await w.ok<{ interfaceAttachment: { port_id: string } }>({ method: 'POST', url: `${base}/servers/${id}/os-interface`, as: 'user', body: { interfaceAttachment: {} } })
      await send({ method: 'DELETE', url: `${base}/servers/${id}/os-interface/${attached.interfaceAttachment.port_id}`, as: 'user' })
    })
    op('GET', '/flavors', async (_w, send) => reads(send, `${base}/flavors`))
    op('GET', '/flavors/detail', async (_w, send) => reads(send, `${base}/flavors/detail`))
    op('GET', '/flavors/{flavor_id}', async (_w, send) => reads(send, `${base}/flavors/s6.large.2`))
    op('GET', '/flavors/{flavor_id}/os-extra_specs', async (_w, send) => reads(send, `${base}/flavors/s3.small.1/os-extra_specs`))
    op('GET', '/flavors/{flavor_id}/os-extra_specs/{key}', async (_w, send) => reads(send, `${base}/flavors/s3.small.1/os-extra_specs/ecs:generation`))
    op('POST', '/os-keypairs', async (w, send) => {
      await send({ method: 'POST', url: `${base}/os-keypairs`, as: 'user', body: { keypair: { name: w.unique('generated') } } })
      await send({ method: 'POST', url: `${base}/os-keypairs`, as: 'user', version: '2.10', body: { keypair: { name: w.unique('typed'), type: 'ssh' } } })
    })
    op('GET', '/os-keypairs', async (w, send) => {
      await w.once('keypair', () => w.ok({ method: 'POST', url: `/v2.1/os-keypairs`, as: 'user', body: { keypair: { name: 'shared' } } }))
      await reads(send, `${base}/os-keypairs`)
    })
    op('GET', '/os-keypairs/{name}', async (w, send) => {
      await w.once('keypair', () => w.ok({ method: 'POST', url: `/v2.1/os-keypairs`, as: 'user', body: { keypair: { name: 'shared' } } }))
      await reads(send, `${base}/os-keypairs/shared`)
    })
    op('DELETE', '/os-keypairs/{name}', async (w, send) => {
      for (const version of [undefined, '2.2']) {
        const name = w.unique('doomed')
        await w.ok({ method: 'POST', url: `${base}/os-keypairs`, as: 'user', body: { keypair: { name } } })
        await send({ method: 'DELETE', url: `${base}/os-keypairs/${name}`, as: 'user', ...(version === undefined ? {} : { version }) })
      }
    })
    op('GET', '/limits', async (_w, send) => reads(send, `${base}/limits`))
    op('GET', '/os-availability-zone', async (_w, send) => reads(send, `${base}/os-availability-zone`))
    op('GET', '/os-availability-zone/detail', async (_w, send) => {
      for (const version of [undefined, 'latest']) await send({ method: 'GET', url: `${base}/os-availability-zone/detail`, as: 'adminUser', ...(version === undefined ? {} : { version }) })
    })
    for (const [path, url] of [['/os-hypervisors', '/os-hypervisors'], ['/os-hypervisors/detail', '/os-hypervisors/detail'], ['/os-hypervisors/{id}', '/os-hypervisors/az1-host-01']] as const) {
      op('GET', path, async (_w, send) => {
        for (const version of [undefined, '2.28', 'latest']) await send({ method: 'GET', url: `${base}${url}`, as: 'adminUser', ...(version === undefined ? {} : { version }) })
      })
    }
  }
  return cases
}

/** Every operation of the document and how to call it. */
const CASES: Record<string, Case> = {
  ...attributeCases,
  ...osCases,
  ...nicCases,
  ...volumeCases,
  ...catalogueCases,
  // ---- Huawei ECS: server groups ----------------------------------------------------------
  'POST /v1/{project_id}/cloudservers/os-server-groups': async (w, send) => {
    await send({ method: 'POST', url: v1('/cloudservers/os-server-groups'), body: { server_group: { name: w.unique('g'), policies: ['anti-affinity'] } } })
    await send({ method: 'POST', url: v1('/cloudservers/os-server-groups'), body: { server_group: { name: w.unique('g'), policies: ['anti-affinity'], fault_domain: { spread: true } } } })
  },
  'GET /v1/{project_id}/cloudservers/os-server-groups': async (w, send) => {
    await w.sharedGroup()
    await send({ method: 'GET', url: v1('/cloudservers/os-server-groups') })
    await send({ method: 'GET', url: v1('/cloudservers/os-server-groups?limit=1') })
  },
  'GET /v1/{project_id}/cloudservers/os-server-groups/{server_group_id}': async (w, send) => {
    await send({ method: 'GET', url: v1(`/cloudservers/os-server-groups/${await w.sharedGroup()}`) })
  },
  'DELETE /v1/{project_id}/cloudservers/os-server-groups/{server_group_id}': async (w, send) => {
    await send({ method: 'DELETE', url: v1(`/cloudservers/os-server-groups/${await w.group()}`) })
  },
  'POST /v1/{project_id}/cloudservers/os-server-groups/{server_group_id}/action': async (w, send) => {
    const [group, server] = await Promise.all([w.group(), w.stoppedServer()])
    await send({ method: 'POST', url: v1(`/cloudservers/os-server-groups/${group}/action`), body: { add_member: { instance_uuid: server } } })
    await waitForIdle(w.database)
    await send({ method: 'POST', url: v1(`/cloudservers/os-server-groups/${group}/action`), body: { remove_member: { instance_uuid: server } } })
  },

  // ---- Huawei ECS: servers, jobs, flavors, limits -----------------------------------------
  'POST /v1/{project_id}/cloudservers': async (w, send) => {
    const created = JSON.parse((await send({ method: 'POST', url: v1('/cloudservers'), body: createBody({ name: w.unique('web'), count: 2 }) })).body) as { job_id: string }
    await waitForJob(w.app, created.job_id)
    await send({ method: 'POST', url: v1('/cloudservers'), body: { ...createBody({ name: w.unique('web') }), dry_run: true } })
  },
  'GET /v1/{project_id}/cloudservers/detail': async (w, send) => {
    await w.sharedServer()
    await send({ method: 'GET', url: v1('/cloudservers/detail') })
    await send({ method: 'GET', url: v1('/cloudservers/detail?limit=1&offset=2&status=ACTIVE') })
  },
  'GET /v1/{project_id}/cloudservers/flavors': async (_w, send) => {
    await send({ method: 'GET', url: v1('/cloudservers/flavors') })
    await send({ method: 'GET', url: v1('/cloudservers/flavors?availability_zone=az1') })
  },
  'GET /v1/{project_id}/cloudservers/limits': async (_w, send) => {
    await send({ method: 'GET', url: v1('/cloudservers/limits') })
  },
  'GET /v1/{project_id}/cloudservers/{server_id}': async (w, send) => {
    await send({ method: 'GET', url: v1(`/cloudservers/${await w.sharedServer()}`) })
    await send({ method: 'GET', url: v1(`/cloudservers/${await w.sharedServer()}`), as: 'user' })
  },
  'POST /v1/{project_id}/cloudservers/action': async (w, send) => {
    const id = await w.server()
    for (const body of [{ 'os-stop': { servers: [{ id }] } }, { 'os-start': { servers: [{ id }] } }, { reboot: { servers: [{ id }], type: 'SOFT' } }]) {
      const accepted = JSON.parse((await send({ method: 'POST', url: v1('/cloudservers/action'), body })).body) as { job_id: string }
      await waitForJob(w.app, accepted.job_id)
    }
  },
  'POST /v1/{project_id}/cloudservers/delete': async (w, send) => {
    await send({ method: 'POST', url: v1('/cloudservers/delete'), body: { servers: [{ id: await w.server() }] } })
    await waitForIdle(w.database)
  },
  'GET /v1/{project_id}/jobs/{job_id}': async (w, send) => {
    const created = await w.ok<{ job_id: string }>({ method: 'POST', url: v1('/cloudservers'), body: createBody({ name: w.unique('job'), count: 2 }) })
    await send({ method: 'GET', url: v1(`/jobs/${created.job_id}`) })
    await waitForJob(w.app, created.job_id)
    await send({ method: 'GET', url: v1(`/jobs/${created.job_id}`) })
  },

  // ---- Huawei ECS: resize, migrate, redeploy ------------------------------------------------
  'POST /v1/{project_id}/cloudservers/{server_id}/resize': async (w, send) => {
    const id = await w.stoppedServer()
    await send({ method: 'POST', url: v1(`/cloudservers/${id}/resize`), body: { resize: { flavorRef: 's6.xlarge.2' }, dry_run: true } })
    await send({ method: 'POST', url: v1(`/cloudservers/${id}/resize`), body: { resize: { flavorRef: 's6.xlarge.2' } } })
    await waitForIdle(w.database)
  },
  'POST /v1/{project_id}/cloudservers/batch-resize': async (w, send) => {
    const ids = await createServers(w.app, { name: w.unique('batch'), count: 2, availability_zone: 'az1' })
    await stopServers(w.app, ids)
    await send({ method: 'POST', url: v1('/cloudservers/batch-resize'), body: { resize: { flavorRef: 's6.xlarge.2', servers: ids.map((id) => ({ id })) } } })
    await waitForIdle(w.database)
  },
  'POST /v1/{project_id}/cloudservers/{server_id}/migrate': async (w, send) => {
    const [host, id] = await Promise.all([w.dedicatedHost(), w.stoppedServer({ availability_zone: 'az2' })])
    await send({ method: 'POST', url: v1(`/cloudservers/${id}/migrate`), body: { migrate: { dedicated_host_id: host } } })
    await waitForIdle(w.database)
    await send({ method: 'POST', url: v1(`/cloudservers/${id}/migrate`), body: { migrate: null } })
    await waitForIdle(w.database)
  },
  'POST /v1/{project_id}/cloudservers/{server_id}/actions/redeploy': async (w, send) => {
    await send({ method: 'POST', url: v1(`/cloudservers/${await w.server()}/actions/redeploy`) })
    await waitForIdle(w.database)
  },
  'GET /v1/{project_id}/cloudservers/resize_flavors': async (w, send) => {
    await send({ method: 'GET', url: v1(`/cloudservers/resize_flavors?instance_uuid=${await w.sharedServer()}`) })
    await send({ method: 'GET', url: v1('/cloudservers/resize_flavors?source_flavor_id=s6.large.2&limit=2') })
  },
  'GET /v1/{project_id}/cloudservers/flavors/{flavor_id}/resources': async (_w, send) => {
    await send({ method: 'GET', url: v1('/cloudservers/flavors/s6.large.2/resources') })
  },
  'POST /v1.1/{project_id}/cloudservers/{server_id}/resize': async (w, send) => {
    const id = await w.server()
    await send({ method: 'POST', url: `/v1.1/${P}/cloudservers/${id}/resize`, body: { resize: { flavorRef: 's6.xlarge.2', mode: 'withStopServer' }, dry_run: true } })
    await send({ method: 'POST', url: `/v1.1/${P}/cloudservers/${id}/resize`, body: { resize: { flavorRef: 's6.xlarge.2', mode: 'withStopServer' } } })
    await waitForIdle(w.database)
  },

  // ---- Huawei ECS: recycle bin --------------------------------------------------------------
  'GET /v1/{project_id}/recycle-bin': async (_w, send) => {
    await send({ method: 'GET', url: v1('/recycle-bin') })
  },
  'PUT /v1/{project_id}/recycle-bin': async (_w, send) => {
    await send({ method: 'PUT', url: v1('/recycle-bin'), body: { recycle_bin: { switch: 'on' } } })
  },
  'PUT /v1/{project_id}/recycle-bin/policy': async (_w, send) => {
    await send({ method: 'PUT', url: v1('/recycle-bin/policy'), body: { policy: { retention_hour: 48, recycle_threshold_day: 3 } } })
  },
  'GET /v1/{project_id}/recycle-bin/cloudservers': async (w, send) => {
    await w.binServer()
    const listed = await send({ method: 'GET', url: v1('/recycle-bin/cloudservers') })
    assert.ok((JSON.parse(listed.body) as { servers: unknown[] }).servers.length > 0, 'the bin holds a server')
    await send({ method: 'GET', url: v1('/recycle-bin/cloudservers?limit=1&offset=1') })
  },
  'POST /v1/{project_id}/recycle-bin/cloudservers/{server_id}/actions/revert': async (w, send) => {
    await send({ method: 'POST', url: v1(`/recycle-bin/cloudservers/${await w.binServer()}/actions/revert`) })
    await waitForIdle(w.database)
  },
  'DELETE /v1/{project_id}/recycle-bin/cloudservers/{server_id}': async (w, send) => {
    await send({ method: 'DELETE', url: v1(`/recycle-bin/cloudservers/${await w.binServer()}`) })
    await waitForIdle(w.database)
  },

  // ---- Huawei ECS: scheduled events ---------------------------------------------------------
  'GET /v3/{project_id}/instance-scheduled-events': async (w, send) => {
    await w.event()
    const listed = await send({ method: 'GET', url: `/v3/${P}/instance-scheduled-events` })
    assert.ok((JSON.parse(listed.body) as { events: unknown[] }).events.length > 0, 'an event is listed')
    await send({ method: 'GET', url: `/v3/${P}/instance-scheduled-events?limit=1&state=inquiring` })
  },
  'PUT /v3/{project_id}/instance-scheduled-events/{id}': async (w, send) => {
    await send({ method: 'PUT', url: `/v3/${P}/instance-scheduled-events/${await w.event()}`, body: { not_before: at(2 * HOUR_MS) } })
  },
  'POST /v3/{project_id}/instance-scheduled-events/{id}/actions/accept': async (w, send) => {
    await send({ method: 'POST', url: `/v3/${P}/instance-scheduled-events/${await w.event()}/actions/accept`, body: { not_before: at(2 * HOUR_MS) } })
  },

  // ---- Operator API -------------------------------------------------------------------------
  'GET /admin/audit': async (_w, send) => {
    await send({ method: 'GET', url: '/admin/audit', as: 'admin' })
  },
  'GET /admin/hosts': async (w, send) => {
    await w.dedicatedHost()
    await send({ method: 'GET', url: '/admin/hosts', as: 'admin' })
  },
  'POST /admin/hosts': async (w, send) => {
    await send({ method: 'POST', url: '/admin/hosts', as: 'admin', body: { host: { name: w.unique('oa-new'), availability_zone: 'az9', vcpus: 8, ram_mb: 16384, fault_domain: 'rack-1', cpu_allocation_ratio: 2 } } })
  },
  'GET /admin/hosts/{host_name}': async (w, send) => {
    const name = String((await showServer(w.app, await w.sharedServer()))['OS-EXT-SRV-ATTR:host'])
    await send({ method: 'GET', url: `/admin/hosts/${name}`, as: 'admin' })
  },
  'PUT /admin/hosts/{host_name}': async (w, send) => {
    const name = await w.emptyHost()
    await send({ method: 'PUT', url: `/admin/hosts/${name}`, as: 'admin', body: { host: { fault_domain: 'rack-2', dedicated_to: P } } })
    await send({ method: 'PUT', url: `/admin/hosts/${name}`, as: 'admin', body: { host: { fault_domain: null, dedicated_to: null } } })
  },
  'DELETE /admin/hosts/{host_name}': async (w, send) => {
    await send({ method: 'DELETE', url: `/admin/hosts/${await w.emptyHost()}`, as: 'admin' })
  },
  'POST /admin/hosts/{host_name}/action': async (w, send) => {
    const name = await w.emptyHost()
    for (const body of [{ disable: { reason: 'checks' } }, { enable: {} }, { maintenance: { not_before: at(HOUR_MS) } }, { drain: {} }, { fail: {} }]) {
      await send({ method: 'POST', url: `/admin/hosts/${name}/action`, as: 'admin', body })
    }
  },
  'POST /admin/servers/{server_id}/migrate': async (w, send) => {
    await send({ method: 'POST', url: `/admin/servers/${await w.server()}/migrate`, as: 'admin', body: { migrate: { live: true } } })
    await waitForIdle(w.database)
  },
  'GET /admin/servers/{server_id}/console': async (w, send) => {
    const id = await w.sharedServer()
    await send({ method: 'GET', url: `/admin/servers/${id}/console`, as: 'admin' })
    await send({ method: 'GET', url: `/admin/servers/${id}/console?offset=3`, as: 'admin' })
    // Streams until the client hangs up (or the application closes, when the test ends).
    const followed = await send({ method: 'GET', url: `/admin/servers/${id}/console?follow=true`, as: 'admin', stream: true })
    assert.match(followed.contentType, /^text\/plain/)
  },
  // Faults go on an empty host of a zone no case creates servers in, so that they hit nothing.
  'GET /admin/faults': async (w, send) => {
    const host = await w.emptyHost()
    await w.ok({ method: 'POST', url: '/admin/faults', as: 'admin', body: { fault: { host, step: 'start', mode: 'fail', probability: 0.5 } } })
    await send({ method: 'GET', url: '/admin/faults', as: 'admin' })
  },
  'POST /admin/faults': async (w, send) => {
    await send({ method: 'POST', url: '/admin/faults', as: 'admin', body: { fault: { host: await w.emptyHost(), step: 'stop', mode: 'fail', reason: 'an injected failure' } } })
  },
  'DELETE /admin/faults/{fault_id}': async (w, send) => {
    const created = await w.ok<{ fault: { id: string } }>({ method: 'POST', url: '/admin/faults', as: 'admin', body: { fault: { host: await w.emptyHost(), step: 'boot', mode: 'stall' } } })
    await send({ method: 'DELETE', url: `/admin/faults/${created.fault.id}`, as: 'admin' })
  },
  'GET /admin/projects': async (_w, send) => {
    await send({ method: 'GET', url: '/admin/projects', as: 'admin' })
  },
  'POST /admin/projects': async (w, send) => {
    await send({ method: 'POST', url: '/admin/projects', as: 'admin', body: { project: { name: w.unique('tenant') } } })
  },
  'GET /admin/projects/{project_id}/credentials': async (w, send) => {
    const revoked = await w.ok<{ credential: { access: string } }>({ method: 'POST', url: `/admin/projects/${P}/credentials`, as: 'admin', body: { credential: {} } })
    await w.ok({ method: 'DELETE', url: `/admin/credentials/${revoked.credential.access}`, as: 'admin' })
    await send({ method: 'GET', url: `/admin/projects/${P}/credentials`, as: 'admin' })
  },
  'POST /admin/projects/{project_id}/credentials': async (_w, send) => {
    await send({ method: 'POST', url: `/admin/projects/${P}/credentials`, as: 'admin', body: { credential: { admin: false, description: 'a script' } } })
  },
  'DELETE /admin/credentials/{access_key}': async (w, send) => {
    const issued = await w.ok<{ credential: { access: string } }>({ method: 'POST', url: `/admin/projects/${P}/credentials`, as: 'admin', body: { credential: {} } })
    await send({ method: 'DELETE', url: `/admin/credentials/${issued.credential.access}`, as: 'admin' })
  },
  'POST /admin/projects/{project_id}/users': async (w, send) => {
    await send({ method: 'POST', url: `/admin/projects/${P}/users`, as: 'admin', body: { user: { name: w.unique('alice'), password: 'correct horse battery' } } })
  },
  'GET /admin/events': async (w, send) => {
    const id = await w.sharedServer()
    await send({ method: 'GET', url: '/admin/events', as: 'admin' })
    await send({ method: 'GET', url: `/admin/events?server_id=${id}&limit=2`, as: 'admin' })
  },
  'GET /admin/fleet': async (w, send) => {
    await w.sharedGroup()
    await send({ method: 'GET', url: '/admin/fleet', as: 'admin' })
  },
  'GET /admin/fleet/servers': async (w, send) => {
    await send({ method: 'GET', url: `/admin/fleet/servers?group_id=${await w.sharedGroup()}`, as: 'admin' })
    await send({ method: 'GET', url: '/admin/fleet/servers?host=az1-host-01&host=az1-host-02', as: 'admin' })
  },

  // ---- Host agents --------------------------------------------------------------------------
  'POST /agent/v1/hosts/{host_name}/heartbeat': async (w, send) => {
    const { name } = await w.agent()
    await send({ method: 'POST', url: `/agent/v1/hosts/${name}/heartbeat`, as: 'agent' })
    await send({ method: 'POST', url: `/agent/v1/hosts/${name}/heartbeat`, as: 'agent', body: { fenced: false } })
  },
  'POST /agent/v1/hosts/{host_name}/register': async (w, send) => {
    const { name } = await w.agent()
    await send({ method: 'POST', url: `/agent/v1/hosts/${name}/register`, as: 'agent', body: { agent: { address: '127.0.0.1:9101', fault_domain: 'rack-a' } } })
  },
  'GET /agent/v1/hosts/{host_name}/tasks': async (w, send) => {
    let tasks = 0
    await w.agentBuild(async (p) => {
      const a = await send(p)
      tasks += (JSON.parse(a.body) as { tasks: unknown[] }).tasks.length
      return a
    }, (p) => w.request(p))
    assert.ok(tasks > 0, 'the agent was given tasks')
  },
  'POST /agent/v1/hosts/{host_name}/tasks/{task_id}': async (w, send) => {
    await w.agentBuild((p) => w.request(p), send)
  },
  'GET /agent/v1/hosts/{host_name}/servers': async (w, send) => {
    const { name } = await w.agent()
    await send({ method: 'GET', url: `/agent/v1/hosts/${name}/servers`, as: 'agent' })
  },

  // ---- Identity, versions, images, metrics ----------------------------------------------------
  'GET /v3/': async (_w, send) => {
    await send({ method: 'GET', url: '/v3/', as: 'anonymous' })
  },
  'POST /v3/auth/tokens': async (_w, send) => {
    const a = await send({
      method: 'POST', url: '/v3/auth/tokens', as: 'anonymous',
      body: { auth: { identity: { methods: ['password'], password: { user: { name: DEMO.adminUserName, domain: { name: 'Default' }, password: DEMO.adminUserPassword } } }, scope: { project: { id: P } } } },
    })
    assert.ok(String(a.headers['x-subject-token']).length > 20)
  },
  'GET /': async (_w, send) => {
    await send({ method: 'GET', url: '/', as: 'anonymous' })
    await send({ method: 'GET', url: '/' })
  },
  'GET /v2.1/': async (_w, send) => {
    await send({ method: 'GET', url: '/v2.1/', as: 'anonymous' })
    await send({ method: 'GET', url: '/v2.1/', as: 'anonymous', version: 'latest' })
  },
  ...computeCases(),
  'GET /image/': async (_w, send) => {
    await send({ method: 'GET', url: '/image/', as: 'anonymous' })
  },
  'GET /image/v2': async (_w, send) => {
    await send({ method: 'GET', url: '/image/v2', as: 'anonymous' })
  },
  'GET /image/v2/images': async (_w, send) => {
    await send({ method: 'GET', url: '/image/v2/images', as: 'user' })
    await send({ method: 'GET', url: `/image/v2/images?name=${IMAGES[1]!.name}&limit=1`, as: 'user' })
  },
  'GET /image/v2/images/{image_id}': async (_w, send) => {
    await send({ method: 'GET', url: `/image/v2/images/${IMAGE}`, as: 'user' })
  },
  'GET /metrics': async (_w, send) => {
    const a = await send({ method: 'GET', url: '/metrics', as: 'anonymous' })
    assert.match(a.body, /# TYPE /)
  },
}

test('every operation of /openapi.json answers as the document says, and every operation has a case', async (t) => {
  const w = await World.start(t)
  const documented = operationsOf(w.doc)
  const missing = documented.filter((op) => !(op in CASES))
  const stale = Object.keys(CASES).filter((op) => !documented.includes(op))
  assert.deepEqual({ missing, stale }, { missing: [], stale: [] }, 'the table of cases lists exactly the operations of the document')

  for (const [operation, run] of Object.entries(CASES)) {
    await t.test(operation, async () => {
      let sent = 0
      await run(w, async (probe) => {
        sent++
        const a = await w.request(probe)
        assert.ok(a.status < 400, `${operation}: the case's request failed: ${probe.method} ${probe.url} → ${a.status} ${a.body}`)
        w.check(operation, probe, a)
        return a
      })
      assert.ok(sent > 0, `${operation}: the case sent no request`)
      await waitForIdle(w.database)
    })
  }
})

test('error answers of every surface match the error schemas the document gives', async (t) => {
  const w = await World.start(t)
  const missing = '00000000-0000-4000-8000-000000000000'
  const { name: agentHost } = await w.agent()
  const refusals: Array<[operation: string, probe: Probe, status: number, shape: RegExp]> = [
    ['GET /v1/{project_id}/cloudservers/{server_id}', { method: 'GET', url: v1(`/cloudservers/${missing}`) }, 404, /"code":"Ecs\.0114"/],
    ['POST /v1/{project_id}/cloudservers/os-server-groups', { method: 'POST', url: v1('/cloudservers/os-server-groups'), body: { server_group: { name: 'g' } } }, 400, /"code":"Ecs\.0005"/],
    ['POST /v1/{project_id}/cloudservers/os-server-groups', { method: 'POST', url: v1('/cloudservers/os-server-groups'), body: {}, as: { ...TENANT, secretKey: 'not-the-secret' } }, 401, /"error_code":"APIGW\.0301"/],
    ['GET /v1/{project_id}/cloudservers/os-server-groups', { method: 'GET', url: v1('/cloudservers/os-server-groups'), as: 'anonymous' }, 401, /"request_id"/],
    ['PUT /v3/{project_id}/instance-scheduled-events/{id}', { method: 'PUT', url: `/v3/${P}/instance-scheduled-events/${missing}`, body: { not_before: at(HOUR_MS) } }, 404, /"code":"Ecs\.0005"/],
    ['GET /v2.1/servers/{server_id}', { method: 'GET', url: `/v2.1/servers/${missing}`, as: 'user' }, 404, /"itemNotFound":\{"code":404/],
    ['GET /v2.1/{project_id}/servers/{server_id}', { method: 'GET', url: `/v2.1/${P}/servers/${missing}`, as: 'user', version: 'latest' }, 404, /"itemNotFound"/],
    ['POST /v2.1/os-server-groups', { method: 'POST', url: '/v2.1/os-server-groups', as: 'user', body: { server_group: { name: 'g', policies: ['nope'] } } }, 400, /"badRequest"/],
    ['GET /v2.1/os-hypervisors', { method: 'GET', url: '/v2.1/os-hypervisors', as: 'user' }, 403, /"forbidden"/],
    ['GET /v2.1/', { method: 'GET', url: '/v2.1/', as: 'anonymous', version: '9.9' }, 406, /"notAcceptable"/],
    ['POST /admin/servers/{server_id}/migrate', { method: 'POST', url: `/admin/servers/${missing}/migrate`, as: 'admin', body: { migrate: {} } }, 404, /"code":"Ecs\.0114"/],
    ['POST /admin/hosts', { method: 'POST', url: '/admin/hosts', as: 'admin', body: { host: { name: 'x' } } }, 400, /"code":"Ecs\.0005"/],
    ['GET /admin/hosts', { method: 'GET', url: '/admin/hosts' }, 403, /"code":"Ecs\.0003"/],
    ['GET /agent/v1/hosts/{host_name}/servers', { method: 'GET', url: '/agent/v1/hosts/az1-host-01/servers', as: 'agent' }, 403, /"code":"Ecs\.0003"/],
    ['POST /agent/v1/hosts/{host_name}/register', { method: 'POST', url: `/agent/v1/hosts/${agentHost}/register`, as: 'agent', body: { agent: { address: 'nowhere' } } }, 400, /"code":"Ecs\.0005"/],
    ['POST /v3/auth/tokens', { method: 'POST', url: '/v3/auth/tokens', as: 'anonymous', body: { auth: { identity: { methods: ['password'], password: { user: { name: DEMO.userName, password: 'wrong' } } } } } }, 401, /"title":"Unauthorized"/],
    ['POST /v3/auth/tokens', { method: 'POST', url: '/v3/auth/tokens', as: 'anonymous', body: { auth: {} } }, 400, /"code":"Ecs\.0005"/],
    ['GET /image/v2/images/{image_id}', { method: 'GET', url: `/image/v2/images/${missing}`, as: 'user' }, 404, /"code":"Ecs\.0005"/],
  ]
  for (const [operation, probe, status, shape] of refusals) {
    const a = await w.request(probe)
    assert.equal(a.status, status, `${operation}: ${probe.method} ${probe.url} → ${a.status} ${a.body}`)
    assert.match(a.body, shape)
    w.check(operation, probe, a)
  }
})

test('hidden routes stay out of the document; the routes with a compiled serializer are documented', async (t) => {
  const w = await World.start(t)
  for (const path of Object.keys(w.doc.paths)) assert.ok(!/^\/(openapi\.json|docs|dashboard)/.test(path), `${path} is hidden`)
  const documented = operationsOf(w.doc)
  for (const route of COMPILED_SERIALIZER_ROUTES) {
    const operation = route.replace(/:(\w+)/g, '{$1}')
    assert.ok(documented.includes(operation), `${route} (compiled serializer) is a route of the document`)
    const [method, path] = operation.split(' ') as [string, string]
    assert.ok(w.doc.paths[path]![method.toLowerCase()]!.responses['200']?.content, `${route} has a 200 schema to compile`)
  }
})

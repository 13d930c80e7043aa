import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { FastifyRequest } from 'fastify'
import type { Services } from '../../services/index.ts'
import type { OsInstall } from '../../services/server-os.ts'
import { DryRunResponse } from '../schemas/huawei-responses.ts'
import { huaweiErrors, JobAccepted, NoContent, PlainText } from '../schemas/responses.ts'
import {
  BatchResetPasswordBody, BatchResetPasswordResponse, ChangeOsV1Body, ChangeOsV2Body, ConsoleTokenParams, CrashDumpAccepted, MonitorParams,
  RegisterMonitorBody, ReinstallV1Body, ReinstallV2Body, RemoteConsoleBody, RemoteConsoleResponse, ResetPasswordBody, ResetPasswordFlagResponse,
  SerialConsoleOptionsBody, SerialConsoleResponse, ServerPasswordResponse,
} from '../schemas/server-os.ts'
import { ProjectParams } from '../schemas/common.ts'
import { ServerParams } from '../schemas/servers.ts'
import { assertNoBody } from './moves.ts'
import { projectOf } from './project.ts'

/** The fields of an `os-reinstall` / `os-change` body, whichever variant. */
interface OsOption {
  adminpass?: string
  keyname?: string
  userid?: string
  mode?: 'withStopServer'
  imageid?: string
  metadata?: { user_data?: string | undefined; [field: string]: unknown }
}

function installOf(option: OsOption): OsInstall {
  return {
    adminPass: option.adminpass, keyName: option.keyname, userId: option.userid, mode: option.mode,
    userData: option.metadata?.user_data, imageId: option.imageid,
  }
}

/** Where this ecsd is reached, as the client reached it: console URLs point back here. */
function baseUrlOf(req: FastifyRequest): string {
  return `${req.protocol}://${req.host}`
}

/** Reinstall and change OS without cloud-init, passwords, consoles and crash dumps (under /v1/{project_id}). */
export const serverOsRoutes: FastifyPluginAsyncTypebox<{ services: Services }> = async (app, { services }) => {
  const { serverOs } = services

  app.post('/cloudservers/:server_id/reinstallos', { schema: { params: ServerParams, body: ReinstallV1Body, response: { 200: JobAccepted, ...huaweiErrors } } }, async (req) => {
    const { jobId } = await serverOs.installOs(projectOf(req), req.params.server_id, 'reinstall', installOf(req.body['os-reinstall']))
    return { job_id: jobId }
  })

  app.post('/cloudservers/:server_id/changeos', { schema: { params: ServerParams, body: ChangeOsV1Body, response: { 200: JobAccepted, ...huaweiErrors } } }, async (req) => {
    const { jobId } = await serverOs.installOs(projectOf(req), req.params.server_id, 'changeOs', installOf(req.body['os-change']))
    return { job_id: jobId }
  })

  app.put('/cloudservers/:server_id/os-reset-password', { schema: { params: ServerParams, body: ResetPasswordBody, response: { 204: NoContent('The password was reset'), ...huaweiErrors } } }, async (req, reply) => {
    const option = req.body['reset-password']
    await serverOs.resetPassword(projectOf(req), req.params.server_id, option.new_password, option.is_check_password !== false)
    return reply.code(204).send()
  })

  app.put('/cloudservers/os-reset-passwords', { schema: { params: ProjectParams, body: BatchResetPasswordBody, response: { 200: BatchResetPasswordResponse, 202: DryRunResponse, ...huaweiErrors } } }, async (req, reply) => {
    const dryRun = req.body.dry_run === true
    const ids = await serverOs.batchResetPassword(projectOf(req), req.body.servers.map((s) => s.id), req.body.new_password, dryRun)
    if (dryRun) return reply.code(202).send({})
    return { response: ids.map((id) => ({ id })) }
  })

  app.get('/cloudservers/:server_id/os-resetpwd-flag', { schema: { params: ServerParams, response: { 200: ResetPasswordFlagResponse, ...huaweiErrors } } }, async (req) => ({
    resetpwd_flag: await serverOs.resetPasswordFlag(projectOf(req), req.params.server_id),
  }))

  app.get('/cloudservers/:server_id/os-server-password', { schema: { params: ServerParams, response: { 200: ServerPasswordResponse, ...huaweiErrors } } }, async (req) => ({
    password: await serverOs.showPassword(projectOf(req), req.params.server_id),
  }))

  app.delete('/cloudservers/:server_id/os-server-password', { schema: { params: ServerParams, response: { 204: NoContent('The encrypted password was deleted'), ...huaweiErrors } } }, async (req, reply) => {
    await serverOs.deletePassword(projectOf(req), req.params.server_id)
    return reply.code(204).send()
  })

  app.post('/cloudservers/:server_id/remote_console', { schema: { params: ServerParams, body: RemoteConsoleBody, response: { 200: RemoteConsoleResponse, ...huaweiErrors } } }, async (req) => {
    const { protocol, type } = req.body.remote_console
    return { remote_console: { protocol, type, url: await serverOs.consoleUrl(projectOf(req), req.params.server_id, 'remote', baseUrlOf(req)) } }
  })

  app.post('/cloudservers/:server_id/actions/serial-console', { schema: { params: ServerParams, response: { 200: SerialConsoleResponse, ...huaweiErrors } } }, async (req) => {
    assertNoBody(req)
    return { serial_console: { url: await serverOs.consoleUrl(projectOf(req), req.params.server_id, 'serial', baseUrlOf(req)) } }
  })

  app.put('/cloudservers/:server_id/serial-console-options', { schema: { params: ServerParams, body: SerialConsoleOptionsBody, response: { 200: NoContent('The serial console options were saved'), ...huaweiErrors } } }, async (req, reply) => {
    await serverOs.setSerialConsole(projectOf(req), req.params.server_id, req.body.serial_console_options?.enabled)
    return reply.code(200).send()
  })

  app.post('/cloudservers/:server_id/actions/trigger-crash-dump', { schema: { params: ServerParams, response: { 202: CrashDumpAccepted, ...huaweiErrors } } }, async (req, reply) => {
    assertNoBody(req)
    await serverOs.crashDump(projectOf(req), req.params.server_id)
    return reply.code(202).send()
  })
}

/** Reinstall and change OS with cloud-init (under /v2/{project_id}). */
export const serverOsV2Routes: FastifyPluginAsyncTypebox<{ services: Services }> = async (app, { services }) => {
  const { serverOs } = services

  app.post('/cloudservers/:server_id/reinstallos', { schema: { params: ServerParams, body: ReinstallV2Body, response: { 200: JobAccepted, ...huaweiErrors } } }, async (req) => {
    const { jobId } = await serverOs.installOs(projectOf(req), req.params.server_id, 'reinstall', installOf(req.body['os-reinstall']))
    return { job_id: jobId }
  })

  app.post('/cloudservers/:server_id/changeos', { schema: { params: ServerParams, body: ChangeOsV2Body, response: { 200: JobAccepted, ...huaweiErrors } } }, async (req) => {
    const { jobId } = await serverOs.installOs(projectOf(req), req.params.server_id, 'changeOs', installOf(req.body['os-change']))
    return { job_id: jobId }
  })
}

/** `registerServerMonitor` (under /v1.0, the one path without a project id: the credential names the project). */
export const serverMonitorRoutes: FastifyPluginAsyncTypebox<{ services: Services }> = async (app, { services }) => {
  app.post('/servers/:server_id/action', { schema: { params: MonitorParams, body: RegisterMonitorBody, response: { 200: NoContent('The server is registered for monitoring'), ...huaweiErrors } } }, async (req, reply) => {
    await services.serverOs.registerMonitor(projectOf(req), req.params.server_id)
    return reply.code(200).send()
  })
}

/**
 * The console page a console URL opens: `GET /console/{token}`, unauthenticated because the
 * token is the credential (as a real console URL's is), valid for a few minutes. It answers the
 * server's serial console as text: a guest's output on an agent's host, a description of the
 * server on a simulated host. ecsd serves no VNC, so a remote-console URL shows the same text.
 */
export const consolePage: FastifyPluginAsyncTypebox<{ services: Services }> = async (app, { services }) => {
  app.get('/console/:token', { schema: { params: ConsoleTokenParams, response: { 200: PlainText('The console\'s text'), ...huaweiErrors } } }, async (req, reply) => {
    const { serverId, kind } = await services.serverOs.openConsole(req.params.token)
    const chunk = await services.consoles.read(serverId, 0)
    const heading = kind === 'remote' ? `ecsd serves no VNC console; the serial console of ECS ${serverId} follows.\n\n` : ''
    // The URL is a credential: it must not be cached or leak to another site as a referrer.
    return reply.header('cache-control', 'no-store').header('referrer-policy', 'no-referrer').type('text/plain; charset=utf-8').send(heading + chunk.data)
  })
}

import { Type } from 'typebox'
import { NoContent, Open } from './responses.ts'
import { ServerRef } from './common.ts'

/**
 * Request and response schemas of reinstall and change OS, passwords, consoles, crash dumps and
 * monitor registration. Every field of the SDK's models is accepted; passwords are only bounded
 * here, so that the password rules answer with their own code (`Ecs.0011`) from the service.
 */

const Password = Type.String({ minLength: 1, maxLength: 256 })
const KeyName = Type.String({ minLength: 1, maxLength: 255 })
const UserId = Type.String({ minLength: 1, maxLength: 64 })
const StopMode = Type.Enum(['withStopServer'])

/** The metadata the real service reads to encrypt the new system disk and to license the image; ecsd accepts and ignores it. */
const OsMetadataFields = {
  __system__encrypted: Type.Optional(Type.Enum(['0', '1'])),
  __system__cmkid: Type.Optional(Type.String({ maxLength: 64 })),
  BYOL: Type.Optional(Type.String({ maxLength: 16 })),
}

/** `user_data` of the cloud-init variants: base64 of at most 32 KB. */
const UserData = Type.String({ maxLength: 44_000, pattern: '^[A-Za-z0-9+/\\r\\n]*={0,2}\\s*$' })

const commonOsFields = {
  adminpass: Type.Optional(Password),
  keyname: Type.Optional(KeyName),
  userid: Type.Optional(UserId),
  mode: Type.Optional(StopMode),
}

/** `POST /v1/{project_id}/cloudservers/{server_id}/reinstallos` (`reinstallServerWithoutCloudInit`). */
export const ReinstallV1Body = Type.Object(
  {
    'os-reinstall': Type.Object(
      { ...commonOsFields, metadata: Type.Optional(Type.Object(OsMetadataFields, { additionalProperties: false })) },
      { additionalProperties: false },
    ),
  },
  { additionalProperties: false },
)

/** `POST /v2/{project_id}/cloudservers/{server_id}/reinstallos` (`reinstallServerWithCloudInit`): adds `metadata.user_data`. */
export const ReinstallV2Body = Type.Object(
  {
    'os-reinstall': Type.Object(
      { ...commonOsFields, metadata: Type.Optional(Type.Object({ ...OsMetadataFields, user_data: Type.Optional(UserData) }, { additionalProperties: false })) },
      { additionalProperties: false },
    ),
  },
  { additionalProperties: false },
)

const changeFields = {
  ...commonOsFields,
  imageid: Type.String({ minLength: 1, maxLength: 255 }),
  isAutoPay: Type.Optional(Type.Enum(['true', 'false'])),
}

/** `POST /v1/{project_id}/cloudservers/{server_id}/changeos` (`changeServerOsWithoutCloudInit`). */
export const ChangeOsV1Body = Type.Object(
  {
    'os-change': Type.Object(
      { ...changeFields, metadata: Type.Optional(Type.Object(OsMetadataFields, { additionalProperties: false })) },
      { additionalProperties: false },
    ),
  },
  { additionalProperties: false },
)

/** `POST /v2/{project_id}/cloudservers/{server_id}/changeos` (`changeServerOsWithCloudInit`): adds `metadata.user_data`. */
export const ChangeOsV2Body = Type.Object(
  {
    'os-change': Type.Object(
      { ...changeFields, metadata: Type.Optional(Type.Object({ ...OsMetadataFields, user_data: Type.Optional(UserData) }, { additionalProperties: false })) },
      { additionalProperties: false },
    ),
  },
  { additionalProperties: false },
)

/** `PUT /v1/{project_id}/cloudservers/{server_id}/os-reset-password`. */
export const ResetPasswordBody = Type.Object(
  {
    'reset-password': Type.Object(
      { new_password: Password, is_check_password: Type.Optional(Type.Boolean()) },
      { additionalProperties: false },
    ),
  },
  { additionalProperties: false },
)

/** `PUT /v1/{project_id}/cloudservers/os-reset-passwords`: `new_password` may be left out of a `dry_run`. */
export const BatchResetPasswordBody = Type.Object(
  {
    new_password: Type.Optional(Password),
    dry_run: Type.Optional(Type.Boolean()),
    servers: Type.Array(ServerRef, { minItems: 1 }),
  },
  { additionalProperties: false },
)

/** `POST /v1/{project_id}/cloudservers/{server_id}/remote_console`: a noVNC console is the only kind there is. */
export const RemoteConsoleBody = Type.Object(
  {
    remote_console: Type.Object(
      { protocol: Type.Enum(['vnc']), type: Type.Enum(['novnc']) },
      { additionalProperties: false },
    ),
  },
  { additionalProperties: false },
)

/** `PUT /v1/{project_id}/cloudservers/{server_id}/serial-console-options`; a body without `enabled` changes nothing. */
export const SerialConsoleOptionsBody = Type.Object(
  {
    serial_console_options: Type.Optional(Type.Object({ enabled: Type.Optional(Type.Boolean()) }, { additionalProperties: false })),
  },
  { additionalProperties: false },
)

/** `POST /v1.0/servers/{server_id}/action`: the API's one allowed value is the empty string. */
export const RegisterMonitorBody = Type.Object(
  { monitorMetrics: Type.Enum(['']) },
  { additionalProperties: false },
)

/** Path parameters of `registerServerMonitor`, which has no project id. */
export const MonitorParams = Type.Object({ server_id: Type.String() }, { additionalProperties: false })

/** Path parameters of a console page. */
export const ConsoleTokenParams = Type.Object({ token: Type.String({ maxLength: 100 }) }, { additionalProperties: false })

/** `{"response": [{"id"}]}`: the servers whose password was reset. */
export const BatchResetPasswordResponse = Open(
  { response: Type.Array(Open({ id: Type.String() })) },
  { description: 'The password of every server listed was reset.' },
)

/** `{"resetpwd_flag": "True"}`. */
export const ResetPasswordFlagResponse = Open(
  { resetpwd_flag: Type.Enum(['True', 'False'], { description: 'Whether the password of this ECS can be reset online; always "True" on ecsd' }) },
  { description: 'Whether the password can be reset.' },
)

/** `{"password": …}`: the encrypted password blob, "" when there is none. */
export const ServerPasswordResponse = Open(
  { password: Type.String({ description: 'base64 of the password RSA-encrypted (PKCS#1 v1.5) with the public key of the server\'s key pair; "" when the server has no RSA key pair, no password, or it was deleted' }) },
  { description: 'The encrypted password.' },
)

/** `{"remote_console": {"protocol", "type", "url"}}`. */
export const RemoteConsoleResponse = Open(
  { remote_console: Open({ protocol: Type.String(), type: Type.String(), url: Type.String({ description: 'A console page of ecsd itself, valid for a few minutes; the URL is the credential' }) }) },
  { description: 'The console URL.' },
)

/** `{"serial_console": {"url"}}`. */
export const SerialConsoleResponse = Open(
  { serial_console: Open({ url: Type.String({ description: 'A console page of ecsd itself, valid for a few minutes; the URL is the credential' }) }) },
  { description: 'The serial console URL.' },
)

/** A crash dump was requested: 202 with no body, as the real service answers. */
export const CrashDumpAccepted = NoContent('The crash dump was requested.')

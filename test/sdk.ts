import { createRequire } from 'node:module'
import type * as EcsSdk from '@huaweicloud/huaweicloud-sdk-ecs'
import type { BasicCredentials as BasicCredentialsType } from '@huaweicloud/huaweicloud-sdk-core'

/** The official SDK's modules, loaded for a test. */
export interface HuaweiSdk {
  ecs: typeof EcsSdk
  BasicCredentials: new () => BasicCredentialsType
  ClientRequestException: new (...args: never[]) => Error
}

/**
 * Loads the official Huawei Cloud SDK (CommonJS) with its side effects contained: it writes
 * ~/.huaweicloud/application_id when a client is built, so HOME must point at `home` (a temp
 * directory) for as long as the test builds clients; and on every non-2xx it logs the whole
 * request, Authorization included, through log4js to stdout, so every category is switched off.
 */
export function loadHuaweiSdk(home: string): HuaweiSdk {
  process.env['HOME'] = home
  const require = createRequire(import.meta.url)
  const ecs = require('@huaweicloud/huaweicloud-sdk-ecs') as typeof EcsSdk
  const core = require('@huaweicloud/huaweicloud-sdk-core') as { BasicCredentials: new () => BasicCredentialsType }
  const { ClientRequestException } = require('@huaweicloud/huaweicloud-sdk-core/exception/ClientRequestException') as {
    ClientRequestException: new (...args: never[]) => Error
  }
  require('@huaweicloud/huaweicloud-sdk-core/logger/log4jLogger')
  const log4js = createRequire(require.resolve('@huaweicloud/huaweicloud-sdk-core'))('log4js') as { configure(c: unknown): unknown }
  log4js.configure({ appenders: { out: { type: 'stdout' } }, categories: { default: { appenders: ['out'], level: 'off' } } })
  return { ecs, BasicCredentials: core.BasicCredentials, ClientRequestException }
}

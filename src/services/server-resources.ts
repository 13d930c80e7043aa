import type { Kysely } from 'kysely'
import type { Schema } from '../store/schema.ts'
import { loadAttributes, saveAttributesAtCreate, type ServerAttributes } from './server-attributes.ts'
import { allocateNicsAtCreate, loadNics, type ServerNic } from './nics.ts'
import { createVolumesAtCreate, loadVolumes, type ServerVolume } from './volumes.ts'
import { saveChargingModeAtCreate } from './charging.ts'
import { savePasswordAtCreate } from './server-os.ts'

/**
 * What a create request asks for beyond placement, as the request gave it (shape already
 * checked by the route's schema): the resources each new server gets in the create's
 * transaction — NICs, volumes, tags, settings, its password's hash.
 */
export interface CreateResources {
  /** `nics`: at least one; each names a subnet, optionally a fixed address. */
  nics: Array<{ subnet_id: string; ip_address?: string; [k: string]: unknown }>
  /** `root_volume` */
  rootVolume: { volumetype: string; size?: number; [k: string]: unknown }
  /** `data_volumes` */
  dataVolumes: Array<Record<string, unknown>>
  /** `server_tags` ({key, value}) and the older `tags` ("key=value" strings), in that order. */
  serverTags: Array<{ key: string; value?: string }>
  legacyTags: string[]
  adminPass: string | undefined
  keyName: string | undefined
  userData: string | undefined
  description: string | undefined
  metadataOptions: { http_endpoint?: string; http_tokens?: string } | undefined
  serialConsoleOptions: { enabled?: boolean } | undefined
  autoTerminateTime: string | undefined
  /** `prePaid` for a yearly/monthly create (`createServers` on /v1.1); absent: pay-per-use. */
  chargingMode?: 'prePaid' | undefined
}

/** Resources of a create that asks for nothing beyond the required fields. */
export const NO_RESOURCES: CreateResources = {
  nics: [], rootVolume: { volumetype: 'SSD' }, dataVolumes: [], serverTags: [], legacyTags: [], adminPass: undefined, keyName: undefined,
  userData: undefined, description: undefined, metadataOptions: undefined, serialConsoleOptions: undefined, autoTerminateTime: undefined,
}

/** A server a create has just inserted, as the resource writers need it. */
export interface CreatedServer {
  id: string
  projectId: string
  name: string
  az: string
  vpcId: string
  flavorId: string
  imageRef: string
  virtualization: string
  vcpus: number
  /** Its position in its create request, from 0. */
  index: number
  createdAt: string
}

/**
 * Gives new servers what their create asked for, in the create's transaction: a refusal here
 * (no address left in the subnet, a bad tag) rolls the whole create back.
 */
export async function createServerResources(db: Kysely<Schema>, servers: CreatedServer[], resources: CreateResources): Promise<void> {
  await saveAttributesAtCreate(db, servers, resources)
  await savePasswordAtCreate(db, servers, resources)
  await allocateNicsAtCreate(db, servers, resources)
  await createVolumesAtCreate(db, servers, resources)
  // After the writers that insert options rows: it upserts into them.
  await saveChargingModeAtCreate(db, servers, resources.chargingMode)
}

/** What a server's API views show beyond its row: tags, settings, NICs, volumes. */
export interface ServerDetails {
  attributes: ServerAttributes
  nics: ServerNic[]
  volumes: ServerVolume[]
}

/** The details of many servers in a few queries (one per kind, whatever the number of servers). */
export async function loadServerDetails(db: Kysely<Schema>, serverIds: string[]): Promise<Map<string, ServerDetails>> {
  const [attributes, nics, volumes] = await Promise.all([loadAttributes(db, serverIds), loadNics(db, serverIds), loadVolumes(db, serverIds)])
  return new Map(serverIds.map((id) => [id, { attributes: attributes.get(id)!, nics: nics.get(id) ?? [], volumes: volumes.get(id) ?? [] }]))
}

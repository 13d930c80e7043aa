/**
 * What the fleet view derives from the fleet: which hosts pass the filters, their sections (zone,
 * then fault domain) with totals, and the member hosts of the selected group. Pure functions over
 * plain data, recomputed only when their inputs change; linear in the number of hosts.
 */
import type { Fleet, Group, Host, Server } from './types.ts'

/** The filters of the toolbar. */
export interface Filters {
  /** Matched against host names, and through `matchedHosts` against servers and groups. */
  text: string
  /** '' for every zone. */
  az: string
  /** '' | 'up' | 'down' | 'disabled' | 'maintenance' | 'attention' (anything not up and enabled). */
  state: string
  /** Only the hosts of the selected group. */
  onlyGroup: boolean
}

/** Totals of a set of hosts. */
export interface Totals {
  hosts: number
  up: number
  down: number
  disabled: number
  servers: number
  vcpus: number
  vcpusUsed: number
  ramMb: number
  ramMbUsed: number
  /** Hosts holding a member of the selected group. */
  lit: number
}

/** One section of the view: a zone, or a fault domain inside it. */
export interface Section {
  key: string
  level: 'az' | 'fd'
  title: string
  totals: Totals
  hosts: Host[]
}

/** Zeroed totals. */
export function emptyTotals(): Totals {
  return { hosts: 0, up: 0, down: 0, disabled: 0, servers: 0, vcpus: 0, vcpusUsed: 0, ramMb: 0, ramMbUsed: 0, lit: 0 }
}

/** Adds a host to totals. */
export function addHost(t: Totals, h: Host, lit: boolean): void {
  t.hosts++
  if (h.state === 'up') t.up++
  else t.down++
  if (h.admin_state !== 'enabled') t.disabled++
  t.servers += h.servers
  t.vcpus += h.vcpus
  t.vcpusUsed += h.vcpus_used
  t.ramMb += h.ram_mb
  t.ramMbUsed += h.ram_mb_used
  if (lit) t.lit++
}

/** Host name → the members of `group` on it. */
export function memberHosts(group: Group | undefined): Map<string, string[]> {
  const out = new Map<string, string[]>()
  for (const m of group?.members ?? []) out.set(m.host, [...(out.get(m.host) ?? []), m.server_id])
  return out
}

/** Whether a host passes the state filter. */
function stateMatches(h: Host, state: string): boolean {
  switch (state) {
    case '':
      return true
    case 'up':
      return h.state === 'up'
    case 'down':
      return h.state !== 'up'
    case 'attention':
      return h.state !== 'up' || h.admin_state !== 'enabled'
    default:
      return h.admin_state === state
  }
}

/**
 * The hosts that pass the filters. With search text, a host passes when its name contains the
 * text, or it holds a server or a group member that the search found (`matchedHosts`).
 */
export function filterHosts(fleet: Fleet, filters: Filters, lit: ReadonlyMap<string, string[]>, matchedHosts: ReadonlySet<string>): Host[] {
  const text = filters.text.trim().toLowerCase()
  return fleet.hosts.filter(
    (h) =>
      (filters.az === '' || h.availability_zone === filters.az) &&
      stateMatches(h, filters.state) &&
      (!filters.onlyGroup || lit.has(h.name)) &&
      (text === '' || h.name.toLowerCase().includes(text) || matchedHosts.has(h.name)),
  )
}

/**
 * Sections in display order: each zone, and inside a zone that has fault domains, each fault
 * domain (hosts without one last). Hosts arrive sorted by zone, fault domain and name.
 */
export function sections(hosts: readonly Host[], lit: ReadonlyMap<string, string[]>): Section[] {
  const out: Section[] = []
  let zone: Section | undefined
  let rack: Section | undefined
  const zonesWithRacks = new Set(hosts.filter((h) => h.fault_domain !== null).map((h) => h.availability_zone))
  for (const h of hosts) {
    if (zone?.title !== h.availability_zone) {
      zone = { key: `az:${h.availability_zone}`, level: 'az', title: h.availability_zone, totals: emptyTotals(), hosts: [] }
      out.push(zone)
      rack = undefined
    }
    const isLit = lit.has(h.name)
    addHost(zone.totals, h, isLit)
    if (!zonesWithRacks.has(h.availability_zone)) {
      zone.hosts.push(h)
      continue
    }
    const title = h.fault_domain ?? 'no fault domain'
    if (rack?.title !== title) {
      rack = { key: `fd:${h.availability_zone}:${title}`, level: 'fd', title, totals: emptyTotals(), hosts: [] }
      out.push(rack)
    }
    addHost(rack.totals, h, isLit)
    rack.hosts.push(h)
  }
  return out
}

/** Groups whose name or id matches the search text. */
export function matchGroups(groups: readonly Group[], text: string): Group[] {
  const t = text.trim().toLowerCase()
  if (t === '') return []
  return groups.filter((g) => g.name.toLowerCase().includes(t) || g.id.startsWith(t))
}

/** The hosts that the search's servers and groups are on. */
export function hostsOf(servers: readonly Server[], groups: readonly Group[]): Set<string> {
  const out = new Set<string>()
  for (const s of servers) {
    out.add(s.host)
    if (s.moving_from !== null) out.add(s.moving_from)
  }
  for (const g of groups) for (const m of g.members) out.add(m.host)
  return out
}

/** `used/total` as a percentage, 0 when there is no total. */
export function percent(used: number, total: number): number {
  return total <= 0 ? 0 : Math.min(100, Math.round((used / total) * 100))
}

/** MiB as GiB for people. */
export function gib(mb: number): string {
  const g = mb / 1024
  return g >= 100 ? `${Math.round(g)}` : `${Math.round(g * 10) / 10}`
}

/**
 * The page: sign-in, then the fleet (filters, sections, host cards) beside a panel for the group,
 * server or host named in the address (`#/group/ID`, `#/server/ID`, `#/host/NAME`). It loads
 * the fleet once, then again whenever the event log says something happened, never more often
 * than a few times what one load costs; server chips are loaded only for the hosts on screen.
 */
import { useCallback, useEffect, useMemo, useRef, useState } from 'preact/hooks'
import { ApiError, clearSession, describeSession, loadSession, request, type Session } from './api.ts'
import { FleetView, TotalsLine } from './fleet.tsx'
import { followEvents, type LiveStatus } from './live.ts'
import { addHost, emptyTotals, filterHosts, hostsOf, matchGroups, memberHosts, sections, type Filters } from './model.ts'
import { GroupPanel, HostPanel, ServerPanel } from './panels.tsx'
import { SignIn } from './signin.tsx'
import type { Fleet, Server, ServerList } from './types.ts'

/** The server chips of at most this many servers are asked for in one request. */
const SERVERS_PER_READ = 4000
/** …and of at most this many hosts (the server's limit is 500). */
const HOSTS_PER_READ = 400
/** Hosts whose chips are kept while off screen; past this, only those on screen are kept. */
const KEEP_HOSTS = 3000
/** The fleet is reloaded at most once per this many times its last load took (and at least 1 s apart). */
const RELOAD_FACTOR = 4

type Route = { kind: 'fleet' } | { kind: 'group'; id: string } | { kind: 'server'; id: string } | { kind: 'host'; name: string }

function parseRoute(hash: string): Route {
  const [, kind, value] = /^#\/(group|server|host)\/(.+)$/.exec(hash) ?? []
  if (value === undefined) return { kind: 'fleet' }
  const v = decodeURIComponent(value)
  return kind === 'group' ? { kind: 'group', id: v } : kind === 'server' ? { kind: 'server', id: v } : { kind: 'host', name: v }
}

function useRoute(): Route {
  const [route, setRoute] = useState(() => parseRoute(location.hash))
  useEffect(() => {
    const changed = () => setRoute(parseRoute(location.hash))
    addEventListener('hashchange', changed)
    return () => removeEventListener('hashchange', changed)
  }, [])
  return route
}

/** The whole page. */
export function App() {
  const [session, setSession] = useState<Session | undefined>(() => loadSession())
  const [notice, setNotice] = useState<string | undefined>(undefined)
  if (!session) {
    return (
      <SignIn
        notice={notice}
        onSignedIn={(s) => {
          setNotice(undefined)
          setSession(s)
        }}
      />
    )
  }
  return (
    <Dashboard
      session={session}
      onSignOut={(why) => {
        clearSession()
        setNotice(why)
        setSession(undefined)
      }}
    />
  )
}

function Dashboard({ session, onSignOut }: { session: Session; onSignOut(why?: string): void }) {
  const route = useRoute()
  const [fleet, setFleet] = useState<Fleet | undefined>(undefined)
  const [fleetError, setFleetError] = useState<string | undefined>(undefined)
  const [version, setVersion] = useState(0)
  const [live, setLive] = useState<{ status: LiveStatus; detail?: string | undefined }>({ status: 'connecting' })
  const [filters, setFilters] = useState<Filters>({ text: '', az: '', state: '', onlyGroup: false })
  const [chosenGroup, setChosenGroup] = useState<string | undefined>(undefined)
  const [found, setFound] = useState<Server[]>([])
  const [servers, setServers] = useState<ReadonlyMap<string, Server[]>>(new Map())

  const unauthorized = useCallback(
    (err: unknown) => {
      if (err instanceof ApiError && err.status === 401) {
        onSignOut(`Signed out: ${err.message}`)
        return true
      }
      return false
    },
    [onSignOut],
  )

  // The fleet: loaded now, and again after each change, throttled by what a load costs.
  const loader = useRef({ busy: false, again: false, lastMs: 0, lastEnd: 0 })
  const loadFleet = useCallback(async () => {
    const l = loader.current
    if (l.busy) {
      l.again = true
      return
    }
    l.busy = true
    const wait = l.lastEnd + Math.max(1000, RELOAD_FACTOR * l.lastMs) - Date.now()
    if (l.lastEnd > 0 && wait > 0) await new Promise((r) => setTimeout(r, wait))
    const started = performance.now()
    try {
      l.again = false
      setFleet(await request<Fleet>(session, 'GET', '/admin/fleet'))
      setFleetError(undefined)
    } catch (err) {
      if (!unauthorized(err)) setFleetError(err instanceof Error ? err.message : String(err))
    } finally {
      l.lastMs = performance.now() - started
      l.lastEnd = Date.now()
      l.busy = false
      if (l.again) void loadFleet()
    }
  }, [session, unauthorized])

  useEffect(() => {
    void loadFleet()
  }, [version, loadFleet])

  useEffect(
    () =>
      followEvents(session, {
        onChange: () => setVersion((v) => v + 1),
        onStatus: (status, detail) => setLive({ status, detail }),
        onUnauthorized: (message) => onSignOut(`Signed out: ${message}`),
      }),
    [session],
  )

  // Server chips of the hosts on screen, reloaded when they are older than the last change.
  const visible = useRef<string[]>([])
  const loadedAt = useRef(new Map<string, number>())
  const versionRef = useRef(version)
  versionRef.current = version
  const fleetRef = useRef(fleet)
  fleetRef.current = fleet
  const chipTimer = useRef<ReturnType<typeof setTimeout> | undefined>(undefined)
  const loadChips = useCallback(() => {
    if (chipTimer.current !== undefined) clearTimeout(chipTimer.current)
    chipTimer.current = setTimeout(() => {
      const at = versionRef.current
      const counts = new Map(fleetRef.current?.hosts.map((h) => [h.name, h.servers]) ?? [])
      const wanted = visible.current.filter((h) => loadedAt.current.get(h) !== at)
      for (const batch of batches(wanted, counts)) {
        for (const h of batch) loadedAt.current.set(h, at)
        const query = batch.map((h) => `host=${encodeURIComponent(h)}`).join('&')
        request<ServerList>(session, 'GET', `/admin/fleet/servers?${query}&limit=5000`).then(
          (list) =>
            setServers((old) => {
              const next = new Map(old)
              if (next.size > KEEP_HOSTS) {
                const onScreen = new Set(visible.current)
                for (const key of next.keys()) {
                  if (onScreen.has(key)) continue
                  next.delete(key)
                  loadedAt.current.delete(key)
                }
              }
              const asked = new Set(batch)
              for (const h of batch) next.set(h, [])
              for (const s of list.servers) {
                if (asked.has(s.host)) next.get(s.host)?.push(s)
                if (s.moving_from !== null && s.moving_from !== s.host && asked.has(s.moving_from)) next.get(s.moving_from)?.push(s)
              }
              return next
            }),
          (err: unknown) => {
            for (const h of batch) loadedAt.current.delete(h)
            unauthorized(err)
          },
        )
      }
    }, 100)
  }, [session, unauthorized])
  const onVisible = useCallback(
    (hosts: string[]) => {
      visible.current = hosts
      loadChips()
    },
    [loadChips],
  )
  useEffect(() => loadChips(), [version, fleet === undefined])
  useEffect(() => () => clearTimeout(chipTimer.current), [])

  // Search: host names here; servers (by id or name) asked of ecsd; groups by name or id.
  useEffect(() => {
    const text = filters.text.trim()
    if (text.length < 2) {
      setFound([])
      return
    }
    let current = true
    const timer = setTimeout(() => {
      request<ServerList>(session, 'GET', `/admin/fleet/servers?q=${encodeURIComponent(text)}&limit=50`).then(
        (list) => current && setFound(list.servers),
        (err: unknown) => current && !unauthorized(err) && setFound([]),
      )
    }, 250)
    return () => {
      current = false
      clearTimeout(timer)
    }
  }, [filters.text, version])

  const groupId = route.kind === 'group' ? route.id : chosenGroup
  useEffect(() => {
    if (route.kind === 'group') setChosenGroup(route.id)
  }, [route])
  const group = fleet?.groups.find((g) => g.id === groupId)
  const lit = useMemo(() => memberHosts(group), [group])
  const foundGroups = useMemo(() => (fleet ? matchGroups(fleet.groups, filters.text) : []), [fleet, filters.text])
  const matchedHosts = useMemo(() => hostsOf(found, foundGroups), [found, foundGroups])
  const shown = useMemo(() => (fleet ? filterHosts(fleet, filters, lit, matchedHosts) : []), [fleet, filters, lit, matchedHosts])
  const parts = useMemo(() => sections(shown, lit), [shown, lit])
  const zones = useMemo(() => [...new Set(fleet?.hosts.map((h) => h.availability_zone))].sort(), [fleet])
  const totals = useMemo(() => {
    const t = emptyTotals()
    for (const h of fleet?.hosts ?? []) addHost(t, h, lit.has(h.name))
    return t
  }, [fleet, lit])

  const set = (change: Partial<Filters>) => setFilters((f) => ({ ...f, ...change }))
  const closePanel = () => {
    location.hash = '#/'
  }

  return (
    <div class="app">
      <header class="top">
        <h1>
          ecsd <span>fleet</span>
        </h1>
        {fleet && <TotalsLine totals={totals} />}
        <span class={`live live-${live.status}`} title={live.detail ?? ''} data-testid="live">
          {live.status}
        </span>
        <span class="who">{describeSession(session)}</span>
        <button class="link" onClick={() => onSignOut()}>
          Sign out
        </button>
      </header>
      <div class="toolbar">
        <input
          type="search"
          placeholder="Search hosts, servers (name or id), groups"
          value={filters.text}
          onInput={(e) => set({ text: e.currentTarget.value })}
          data-testid="search"
        />
        <select value={filters.az} onChange={(e) => set({ az: e.currentTarget.value })} aria-label="Zone" data-testid="zone">
          <option value="">All zones</option>
          {zones.map((z) => (
            <option key={z} value={z}>
              {z}
            </option>
          ))}
        </select>
        <select value={filters.state} onChange={(e) => set({ state: e.currentTarget.value })} aria-label="State">
          <option value="">Any state</option>
          <option value="up">Up</option>
          <option value="down">Down</option>
          <option value="disabled">Disabled</option>
          <option value="maintenance">Maintenance</option>
          <option value="attention">Needs attention</option>
        </select>
        <select
          value={groupId ?? ''}
          onChange={(e) => {
            const id = e.currentTarget.value
            setChosenGroup(id === '' ? undefined : id)
            location.hash = id === '' ? '#/' : `#/group/${id}`
          }}
          aria-label="Group"
          data-testid="group-select"
        >
          <option value="">No group selected</option>
          {fleet?.groups.map((g) => (
            <option key={g.id} value={g.id}>
              {g.name} · {g.policy} · {g.members.length}
            </option>
          ))}
        </select>
        <label class="check">
          <input type="checkbox" checked={filters.onlyGroup} disabled={group === undefined} onChange={(e) => set({ onlyGroup: e.currentTarget.checked })} />
          only its hosts
        </label>
        <span class="muted count" data-testid="shown-count">
          {fleet ? `${shown.length.toLocaleString()} of ${fleet.hosts.length.toLocaleString()} hosts` : ''}
        </span>
      </div>
      {(found.length > 0 || foundGroups.length > 0) && (
        <div class="results" data-testid="results">
          {foundGroups.slice(0, 10).map((g) => (
            <a key={g.id} class="result group" href={`#/group/${g.id}`}>
              group {g.name}
            </a>
          ))}
          {found.slice(0, 20).map((s) => (
            <a key={s.id} class="result server" href={`#/server/${s.id}`} data-server-id={s.id}>
              {s.name} <span class="muted">on {s.host}</span>
            </a>
          ))}
        </div>
      )}
      {fleetError && <p class="error banner">{fleetError}</p>}
      <div class="main">
        {fleet ? (
          <FleetView
            sections={parts}
            lit={lit}
            servers={servers}
            selectedHost={route.kind === 'host' ? route.name : undefined}
            selectedServer={route.kind === 'server' ? route.id : undefined}
            onVisible={onVisible}
          />
        ) : (
          <div class="fleet-scroll">{!fleetError && <p class="muted loading">Loading the fleet…</p>}</div>
        )}
        {fleet && route.kind === 'group' && (group ? <GroupPanel key={group.id} session={session} fleet={fleet} version={version} group={group} onClose={closePanel} /> : <Missing what={`group ${route.id}`} onClose={closePanel} />)}
        {fleet && route.kind === 'server' && <ServerPanel key={route.id} session={session} fleet={fleet} version={version} serverId={route.id} onClose={closePanel} />}
        {fleet && route.kind === 'host' && <HostRoute session={session} fleet={fleet} version={version} name={route.name} onClose={closePanel} />}
      </div>
    </div>
  )
}

function HostRoute(props: { session: Session; fleet: Fleet; version: number; name: string; onClose(): void }) {
  const host = props.fleet.hosts.find((h) => h.name === props.name)
  if (!host) return <Missing what={`host ${props.name}`} onClose={props.onClose} />
  return <HostPanel key={host.name} session={props.session} fleet={props.fleet} version={props.version} host={host} onClose={props.onClose} />
}

function Missing({ what, onClose }: { what: string; onClose(): void }) {
  return (
    <aside class="panel">
      <header>
        <h2>Not found</h2>
        <a class="close" href="#/" onClick={onClose}>
          ×
        </a>
      </header>
      <p class="muted">There is no {what} (any more).</p>
    </aside>
  )
}

/** Hosts split into requests of bounded size: by host count, by their servers, and by address length. */
function batches(hosts: readonly string[], servers: ReadonlyMap<string, number>): string[][] {
  const out: string[][] = []
  let batch: string[] = []
  let count = 0
  let length = 0
  for (const h of hosts) {
    const n = servers.get(h) ?? 0
    const l = h.length + 6
    if (batch.length > 0 && (batch.length >= HOSTS_PER_READ || count + n > SERVERS_PER_READ || length + l > 6000)) {
      out.push(batch)
      batch = []
      count = 0
      length = 0
    }
    batch.push(h)
    count += n
    length += l
  }
  if (batch.length > 0) out.push(batch)
  return out
}

/**
 * The side panel: one group, one server or one host, each with its entries of the event log.
 * Each reloads when the page learns of new events (`version`).
 */
import type { ComponentChildren } from 'preact'
import { useEffect, useState } from 'preact/hooks'
import { ApiError, request, type Session } from './api.ts'
import { gib, percent } from './model.ts'
import { Meter, statusClass } from './fleet.tsx'
import type { EventPage, Fleet, FleetEvent, Group, Host, Server, ServerList } from './types.ts'

/** What a loaded resource is: not yet, loaded, or why not. */
type Loaded<T> = { state: 'loading' } | { state: 'ok'; value: T } | { state: 'error'; message: string; status: number | undefined }

/** Loads `load()` again whenever `deps` change; keeps showing the last value while it reloads. */
function useLoad<T>(load: () => Promise<T>, deps: unknown[]): Loaded<T> {
  const [loaded, setLoaded] = useState<Loaded<T>>({ state: 'loading' })
  useEffect(() => {
    let current = true
    load().then(
      (value) => current && setLoaded({ state: 'ok', value }),
      (err: unknown) => current && setLoaded({ state: 'error', message: err instanceof Error ? err.message : String(err), status: err instanceof ApiError ? err.status : undefined }),
    )
    return () => {
      current = false
    }
  }, deps)
  return loaded
}

interface PanelProps {
  session: Session
  fleet: Fleet
  /** Bumped whenever new events arrived. */
  version: number
  onClose(): void
}

function PanelFrame(props: { title: string; kind: string; onClose(): void; children: ComponentChildren }) {
  return (
    <aside class="panel" data-panel={props.kind}>
      <header>
        <span class="panel-kind">{props.kind}</span>
        <h2>{props.title}</h2>
        <a class="close" href="#/" onClick={props.onClose} title="Close">
          ×
        </a>
      </header>
      <div class="panel-body">{props.children}</div>
    </aside>
  )
}

/** A group: policy, members and their hosts (distinct hosts checked), and its events. */
export function GroupPanel(props: PanelProps & { group: Group }) {
  const { group: g, fleet } = props
  const hosts = new Map(fleet.hosts.map((h) => [h.name, h]))
  const distinct = new Set(g.members.map((m) => m.host)).size
  const hard = g.policy === 'anti-affinity'
  const perHost = g.max_server_per_host ?? 1
  const ok = !hard || g.members.length <= distinct * perHost
  const events = useLoad(() => request<EventPage>(props.session, 'GET', `/admin/events?group_id=${encodeURIComponent(g.id)}&limit=50`), [g.id, props.version])
  return (
    <PanelFrame title={g.name} kind="Group" onClose={props.onClose}>
      <dl class="facts">
        <dt>Policy</dt>
        <dd>
          {g.policy}
          {g.max_server_per_host !== null && ` (max ${g.max_server_per_host} per host)`}
          {g.spread_fault_domains && ', one per fault domain'}
        </dd>
        <dt>Project</dt>
        <dd class="mono">{g.project_id}</dd>
        <dt>Id</dt>
        <dd class="mono">{g.id}</dd>
        <dt>Members</dt>
        <dd>
          <span class={ok ? 'good' : 'bad'} data-testid="distinct-hosts">
            {g.members.length} on {distinct} distinct host{distinct === 1 ? '' : 's'}
          </span>
        </dd>
      </dl>
      <table class="list">
        <thead>
          <tr>
            <th>Server</th>
            <th>Status</th>
            <th>Host</th>
            <th>Zone / FD</th>
          </tr>
        </thead>
        <tbody>
          {g.members.map((m) => {
            const h = hosts.get(m.host)
            return (
              <tr key={m.server_id} data-member={m.server_id}>
                <td>
                  <a href={`#/server/${m.server_id}`}>{m.name || m.server_id}</a>
                </td>
                <td>
                  <span class={`status ${statusClass(m.status, false)}`}>{m.status}</span>
                </td>
                <td>
                  <a href={`#/host/${encodeURIComponent(m.host)}`}>{m.host}</a>
                </td>
                <td>{h ? `${h.availability_zone}${h.fault_domain === null ? '' : ` / ${h.fault_domain}`}` : ''}</td>
              </tr>
            )
          })}
          {g.members.length === 0 && (
            <tr>
              <td colSpan={4} class="muted">
                No members.
              </td>
            </tr>
          )}
        </tbody>
      </table>
      <History events={events} title="Group history" names={new Map([[g.id, g.name], ...g.members.map((m): [string, string] => [m.server_id, m.name])])} />
    </PanelFrame>
  )
}

/** A server: where it is, what it is, its group, and its history from the event log. */
export function ServerPanel(props: PanelProps & { serverId: string }) {
  const { session, serverId, version } = props
  const server = useLoad(
    () => request<ServerList>(session, 'GET', `/admin/fleet/servers?server_id=${encodeURIComponent(serverId)}`).then((l) => l.servers[0]),
    [serverId, version],
  )
  const events = useLoad(() => request<EventPage>(session, 'GET', `/admin/events?server_id=${encodeURIComponent(serverId)}&limit=100`), [serverId, version])
  const s = server.state === 'ok' ? server.value : undefined
  const group = s?.group_id ? props.fleet.groups.find((g) => g.id === s.group_id) : undefined
  return (
    <PanelFrame title={s?.name ?? serverId} kind="Server" onClose={props.onClose}>
      {server.state === 'loading' && <p class="muted">Loading…</p>}
      {server.state === 'error' && <p class="error">{server.message}</p>}
      {server.state === 'ok' && s === undefined && <p class="muted">No server {serverId} (deleted, or in the recycle bin).</p>}
      {s && (
        <dl class="facts" data-server={s.id}>
          <dt>Status</dt>
          <dd>
            <span class={`status ${statusClass(s.status, s.moving_from !== null)}`} data-testid="server-status">
              {s.status}
            </span>
            {s.task_state && <span class="muted"> ({s.task_state})</span>}
          </dd>
          <dt>Host</dt>
          <dd>
            <a href={`#/host/${encodeURIComponent(s.host)}`} data-testid="server-host">
              {s.host}
            </a>
            {s.moving_from !== null && <span class="warn"> moving from {s.moving_from}</span>}
          </dd>
          <dt>Zone</dt>
          <dd>{s.availability_zone}</dd>
          <dt>Flavor</dt>
          <dd>
            {s.flavor} ({s.vcpus} vCPU, {gib(s.ram_mb)} GiB)
          </dd>
          <dt>Group</dt>
          <dd>{s.group_id === null ? <span class="muted">none</span> : <a href={`#/group/${s.group_id}`}>{group?.name ?? s.group_id}</a>}</dd>
          <dt>Project</dt>
          <dd class="mono">{s.project_id}</dd>
          <dt>Id</dt>
          <dd class="mono">{s.id}</dd>
        </dl>
      )}
      <History events={events} title="History" names={new Map(props.fleet.groups.map((x): [string, string] => [x.id, x.name]))} ofServer />
    </PanelFrame>
  )
}

/** A host: state, use, its servers and its events. */
export function HostPanel(props: PanelProps & { host: Host }) {
  const { session, host: h, version } = props
  const servers = useLoad(() => request<ServerList>(session, 'GET', `/admin/fleet/servers?host=${encodeURIComponent(h.name)}`), [h.name, version])
  const events = useLoad(() => request<EventPage>(session, 'GET', `/admin/events?host=${encodeURIComponent(h.name)}&limit=50`), [h.name, version])
  const groups = new Map(props.fleet.groups.map((g) => [g.id, g.name]))
  return (
    <PanelFrame title={h.name} kind="Host" onClose={props.onClose}>
      <dl class="facts">
        <dt>State</dt>
        <dd>
          {h.state}, {h.admin_state}
          {h.admin_reason && <span class="muted"> ({h.admin_reason})</span>}
        </dd>
        <dt>Zone</dt>
        <dd>
          {h.availability_zone}
          {h.fault_domain !== null && ` / fault domain ${h.fault_domain}`}
        </dd>
        {h.dedicated_to !== null && (
          <>
            <dt>Dedicated to</dt>
            <dd class="mono">{h.dedicated_to}</dd>
          </>
        )}
        <dt>Use</dt>
        <dd>
          <Meter label="vCPU" used={h.vcpus_used} total={h.vcpus} text={`${h.vcpus_used}/${h.vcpus} (${percent(h.vcpus_used, h.vcpus)}%)`} />
          <Meter label="RAM" used={h.ram_mb_used} total={h.ram_mb} text={`${gib(h.ram_mb_used)}/${gib(h.ram_mb)} GiB`} />
        </dd>
      </dl>
      {servers.state === 'error' && <p class="error">{servers.message}</p>}
      {servers.state === 'ok' && (
        <table class="list">
          <thead>
            <tr>
              <th>Server</th>
              <th>Status</th>
              <th>Group</th>
              <th>Project</th>
            </tr>
          </thead>
          <tbody>
            {servers.value.servers.map((s) => (
              <tr key={s.id}>
                <td>
                  <a href={`#/server/${s.id}`}>{s.name}</a>
                  {s.moving_from === h.name && <span class="warn"> → {s.host}</span>}
                  {s.moving_from !== null && s.moving_from !== h.name && <span class="warn"> ← {s.moving_from}</span>}
                </td>
                <td>
                  <span class={`status ${statusClass(s.status, s.moving_from !== null)}`}>{s.status}</span>
                </td>
                <td>{s.group_id === null ? '' : <a href={`#/group/${s.group_id}`}>{groups.get(s.group_id) ?? s.group_id.slice(0, 8)}</a>}</td>
                <td class="mono" title={s.project_id}>
                  {s.project_id.slice(0, 8)}
                </td>
              </tr>
            ))}
            {servers.value.servers.length === 0 && (
              <tr>
                <td colSpan={4} class="muted">
                  No servers.
                </td>
              </tr>
            )}
          </tbody>
        </table>
      )}
      <History
        events={events}
        title="Host history"
        names={new Map([...groups, ...(servers.state === 'ok' ? servers.value.servers.map((s): [string, string] => [s.id, s.name]) : [])])}
      />
    </PanelFrame>
  )
}

/**
 * Events, newest first. `names` turns server and group ids into names where the page knows them;
 * `ofServer` is set in a server's own panel, where naming the server on every line is noise.
 */
function History({ events, title, names, ofServer = false }: { events: Loaded<EventPage>; title: string; names: ReadonlyMap<string, string>; ofServer?: boolean }) {
  return (
    <section class="history">
      <h3>{title}</h3>
      {events.state === 'loading' && <p class="muted">Loading…</p>}
      {events.state === 'error' && (
        <p class={events.status === 404 ? 'muted' : 'error'}>{events.status === 404 ? 'This ecsd keeps no event log.' : events.message}</p>
      )}
      {events.state === 'ok' && events.value.events.length === 0 && <p class="muted">No events yet.</p>}
      {events.state === 'ok' && (
        <ol class="events">
          {withoutFinishedStarts(events.value.events).map((e) => (
            <EventItem key={e.id} event={e} names={names} ofServer={ofServer} />
          ))}
        </ol>
      )}
    </section>
  )
}

/** A move's start says nothing its end does not: of a finished move only the end is shown. */
function withoutFinishedStarts(events: readonly FleetEvent[]): FleetEvent[] {
  const key = (e: FleetEvent) => `${e.server_id}|${e.job_id}|${e.from_host}|${e.to_host}`
  const ended = new Set(events.filter((e) => e.kind === 'moved' || e.kind === 'move_failed').map(key))
  return events.filter((e) => e.kind !== 'move_started' || !ended.has(key(e)))
}

/** A short sentence for an event that came without one. */
export function describeEvent(e: FleetEvent): string {
  const reason = e.reason ? ` (${e.reason})` : ''
  switch (e.kind) {
    case 'placed':
      return `placed on ${e.host ?? '?'}${reason}`
    case 'moved':
      return `moved from ${e.from_host ?? '?'} to ${e.to_host ?? '?'}${reason}`
    case 'state_changed':
    case 'host_state_changed':
      return `${e.status_from ?? 'none'} → ${e.status_to ?? 'none'}${reason}`
    default:
      return `${e.kind.replaceAll('_', ' ')}${reason}`
  }
}

function HostLink({ name }: { name: string }) {
  return <a href={`#/host/${encodeURIComponent(name)}`}>{name}</a>
}

function EventItem({ event: e, names, ofServer }: { event: FleetEvent; names: ReadonlyMap<string, string>; ofServer: boolean }) {
  const bad = e.kind === 'move_failed' || e.kind === 'placement_refused'
  const hop = e.from_host !== null && e.to_host !== null && e.from_host !== e.to_host
  // The sentence names groups by id; the page knows their names.
  let message = e.message || describeEvent(e)
  if (e.group_id !== null && names.has(e.group_id)) message = message.replaceAll(e.group_id, names.get(e.group_id)!)
  return (
    <li class={`event ${bad ? 'event-bad' : ''}`} data-kind={e.kind} data-event-id={e.id}>
      <time dateTime={e.at} title={e.at}>
        {new Date(e.at).toLocaleString()}
      </time>
      <span class="event-kind">{e.kind.replaceAll('_', ' ')}</span>
      {!ofServer && e.server_id && (
        <a class="event-server" href={`#/server/${e.server_id}`} title={e.server_id}>
          {names.get(e.server_id) ?? `…${e.server_id.slice(-8)}`}
        </a>
      )}
      {hop && (
        <span class="hop" data-testid="hop">
          <HostLink name={e.from_host!} /> → <HostLink name={e.to_host!} />
          {e.reason && <span class="reason"> {e.reason}</span>}
        </span>
      )}
      {(!hop || bad) && <span class="event-message">{message}</span>}
      {e.diagnosis && <pre class="diagnosis">{e.diagnosis}</pre>}
    </li>
  )
}

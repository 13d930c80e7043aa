/**
 * The fleet view: zones and fault domains as section headers with their totals, and their hosts
 * as cards in a grid. Only the rows in (or near) the viewport are in the DOM, so 10,000 hosts
 * cost what a screenful costs; sections fold to their header.
 */
import { Component } from 'preact'
import { useEffect, useLayoutEffect, useMemo, useRef, useState } from 'preact/hooks'
import { gib, percent, type Section, type Totals } from './model.ts'
import type { Host, Server } from './types.ts'

const CARD_WIDTH = 212
const CARD_HEIGHT = 104
const GAP = 8
const ZONE_HEIGHT = 52
const RACK_HEIGHT = 36
/** Rows drawn above and below the viewport, so a quick scroll does not show blanks. */
const OVERSCAN_PX = 300
/** The scroll position is followed in steps of this much: a smaller scroll redraws nothing. */
const SCROLL_STEP_PX = 48
/** Up to this many servers a card names them; more are drawn as dots. */
const NAMED_CHIPS = 6
/** Dots drawn on a card before "+N". */
const MAX_DOTS = 36

type Row =
  | { kind: 'section'; top: number; height: number; section: Section; folded: boolean }
  | { kind: 'hosts'; top: number; height: number; hosts: Host[] }

/** What the fleet view needs. */
export interface FleetViewProps {
  sections: Section[]
  /** Host name → ids of the selected group's members on it. */
  lit: ReadonlyMap<string, string[]>
  /** Servers of hosts loaded so far (host name → servers on it or moving off it). */
  servers: ReadonlyMap<string, Server[]>
  selectedServer: string | undefined
  selectedHost: string | undefined
  /** The hosts now drawn, so their servers can be loaded. */
  onVisible(hosts: string[]): void
}

/** The fleet, virtualised. */
export function FleetView(props: FleetViewProps) {
  const scroller = useRef<HTMLDivElement>(null)
  const [width, setWidth] = useState(1000)
  const [top, setTop] = useState(0)
  const [height, setHeight] = useState(800)
  const [folded, setFolded] = useState<ReadonlySet<string>>(new Set())

  useLayoutEffect(() => {
    const el = scroller.current
    if (!el) return
    const measure = () => {
      setWidth(el.clientWidth)
      setHeight(el.clientHeight)
      setTop(stepped(el.scrollTop))
    }
    measure()
    const observer = new ResizeObserver(measure)
    observer.observe(el)
    return () => observer.disconnect()
  }, [])

  const columns = Math.max(1, Math.floor((width - 24 + GAP) / (CARD_WIDTH + GAP)))

  const { rows, total } = useMemo(() => {
    const out: Row[] = []
    let top = 0
    let zoneFolded = false
    for (const section of props.sections) {
      const isFolded = folded.has(section.key)
      if (section.level === 'az') zoneFolded = isFolded
      else if (zoneFolded) continue
      const height = section.level === 'az' ? ZONE_HEIGHT : RACK_HEIGHT
      out.push({ kind: 'section', top, height, section, folded: isFolded })
      top += height
      if (isFolded) continue
      for (let i = 0; i < section.hosts.length; i += columns) {
        out.push({ kind: 'hosts', top, height: CARD_HEIGHT + GAP, hosts: section.hosts.slice(i, i + columns) })
        top += CARD_HEIGHT + GAP
      }
    }
    return { rows: out, total: top }
  }, [props.sections, folded, columns])

  const from = top - OVERSCAN_PX
  const to = top + SCROLL_STEP_PX + height + OVERSCAN_PX
  const first = firstRowEndingAfter(rows, from)
  const visible: Row[] = []
  for (let i = first; i < rows.length && rows[i]!.top < to; i++) visible.push(rows[i]!)

  const visibleKey = visible.flatMap((r) => (r.kind === 'hosts' ? r.hosts.map((h) => h.name) : [])).join('\n')
  useEffect(() => {
    props.onVisible(visibleKey === '' ? [] : visibleKey.split('\n'))
  }, [visibleKey])

  const toggle = (key: string) =>
    setFolded((old) => {
      const next = new Set(old)
      if (!next.delete(key)) next.add(key)
      return next
    })

  return (
    <div
      class="fleet-scroll"
      ref={scroller}
      onScroll={(e) => setTop(stepped(e.currentTarget.scrollTop))}
      data-testid="fleet"
    >
      <div class="fleet-canvas" style={{ height: `${total}px` }}>
        {visible.map((row) =>
          row.kind === 'section' ? (
            <SectionHeader key={row.section.key} row={row} onToggle={() => toggle(row.section.key)} />
          ) : (
            <div class="host-row" key={`${row.top}`} style={{ top: `${row.top}px`, height: `${row.height}px` }}>
              {row.hosts.map((h) => (
                <HostCard
                  key={h.name}
                  host={h}
                  members={props.lit.get(h.name)}
                  servers={props.servers.get(h.name)}
                  selected={props.selectedHost === h.name}
                  selectedServer={props.selectedServer}
                />
              ))}
            </div>
          ),
        )}
        {rows.length === 0 && <div class="empty">No host matches the filters.</div>}
      </div>
    </div>
  )
}

function stepped(scrollTop: number): number {
  return Math.floor(scrollTop / SCROLL_STEP_PX) * SCROLL_STEP_PX
}

/** Binary search: the first row whose bottom is below `y`. */
function firstRowEndingAfter(rows: readonly Row[], y: number): number {
  let lo = 0
  let hi = rows.length
  while (lo < hi) {
    const mid = (lo + hi) >> 1
    const r = rows[mid]!
    if (r.top + r.height <= y) lo = mid + 1
    else hi = mid
  }
  return lo
}

function SectionHeader({ row, onToggle }: { row: Extract<Row, { kind: 'section' }>; onToggle(): void }) {
  const { section } = row
  return (
    <div
      class={`section section-${section.level}`}
      style={{ top: `${row.top}px`, height: `${row.height}px` }}
      data-section={section.key}
    >
      <button class="fold" onClick={onToggle} aria-expanded={!row.folded} title={row.folded ? 'Show hosts' : 'Fold'}>
        {row.folded ? '▸' : '▾'}
      </button>
      <span class="section-title">{section.level === 'az' ? `Zone ${section.title}` : `Fault domain ${section.title}`}</span>
      <TotalsLine totals={section.totals} />
    </div>
  )
}

/** A one-line summary of totals: hosts by state, servers, vCPU and RAM use. */
export function TotalsLine({ totals: t }: { totals: Totals }) {
  return (
    <span class="totals">
      <span>{plural(t.hosts, 'host')}</span>
      {t.down > 0 && <span class="bad">{t.down.toLocaleString()} down</span>}
      {t.disabled > 0 && <span class="warn">{t.disabled.toLocaleString()} disabled</span>}
      <span>{plural(t.servers, 'server')}</span>
      <Meter label="vCPU" used={t.vcpusUsed} total={t.vcpus} text={`${percent(t.vcpusUsed, t.vcpus)}%`} />
      <Meter label="RAM" used={t.ramMbUsed} total={t.ramMb} text={`${percent(t.ramMbUsed, t.ramMb)}%`} />
      {t.lit > 0 && <span class="lit-count">{t.lit} with a member</span>}
    </span>
  )
}

function plural(n: number, noun: string): string {
  return `${n.toLocaleString()} ${noun}${n === 1 ? '' : 's'}`
}

/** A labelled use bar. */
export function Meter({ label, used, total, text }: { label: string; used: number; total: number; text: string }) {
  const p = percent(used, total)
  return (
    <span class="meter" title={`${label}: ${used.toLocaleString()} of ${total.toLocaleString()}`}>
      <span class="meter-label">{label}</span>
      <span class="bar">
        <i class={p >= 90 ? 'full' : p >= 70 ? 'high' : ''} style={{ width: `${p}%` }} />
      </span>
      <span class="meter-text">{text}</span>
    </span>
  )
}

/** A server chip's class: its status, and whether it is moving. */
export function statusClass(status: string, moving: boolean): string {
  const base = status === 'ACTIVE' ? 'ok' : status === 'SHUTOFF' ? 'off' : status === 'ERROR' ? 'bad' : 'busy'
  return moving ? `${base} moving` : base
}

function hostState(h: Host): { text: string; cls: string } {
  if (h.state !== 'up') return { text: h.state, cls: 'bad' }
  if (h.admin_state !== 'enabled') return { text: h.admin_state, cls: 'warn' }
  return { text: 'up', cls: 'ok' }
}

interface HostCardProps {
  host: Host
  members: string[] | undefined
  servers: Server[] | undefined
  selected: boolean
  selectedServer: string | undefined
}

/**
 * A host card that redraws only when its own props change: a scroll or a reload of other hosts'
 * servers leaves the cards already on screen alone.
 */
class HostCard extends Component<HostCardProps> {
  override shouldComponentUpdate(next: HostCardProps): boolean {
    const p = this.props
    return p.host !== next.host || p.members !== next.members || p.servers !== next.servers || p.selected !== next.selected || p.selectedServer !== next.selectedServer
  }

  override render() {
    return <HostCardBody {...this.props} />
  }
}

function HostCardBody(props: HostCardProps) {
  const { host: h, members, servers } = props
  const state = hostState(h)
  const list = members ? [...(servers ?? [])].sort((a, b) => Number(members.includes(b.id)) - Number(members.includes(a.id))) : (servers ?? [])
  const dots = list.length > NAMED_CHIPS
  const shown = list.slice(0, dots ? MAX_DOTS : NAMED_CHIPS)
  const more = list.length - shown.length
  const cls = ['host', members ? 'lit' : '', props.selected ? 'selected' : '', state.cls === 'ok' ? '' : `host-${state.cls}`].filter(Boolean).join(' ')
  return (
    <div class={cls} data-host={h.name} data-members={members?.join(' ')}>
      <div class="host-head">
        <a class="host-name" href={`#/host/${encodeURIComponent(h.name)}`} title={h.admin_reason ?? h.name}>
          {h.name}
        </a>
        <span class={`badge ${state.cls}`}>{state.text}</span>
      </div>
      <Meter label="vCPU" used={h.vcpus_used} total={h.vcpus} text={`${h.vcpus_used}/${h.vcpus}`} />
      <Meter label="RAM" used={h.ram_mb_used} total={h.ram_mb} text={`${gib(h.ram_mb_used)}/${gib(h.ram_mb)}G`} />
      <div class={dots ? 'chips dots' : 'chips'}>
        {shown.map((s) => {
          const leaving = s.moving_from === h.name
          return (
            <a
              key={s.id}
              href={`#/server/${s.id}`}
              class={[
                'chip',
                statusClass(s.status, s.moving_from !== null),
                leaving ? 'leaving' : '',
                members?.includes(s.id) ? 'member' : '',
                props.selectedServer === s.id ? 'selected' : '',
              ].filter(Boolean).join(' ')}
              data-server-id={s.id}
              title={`${s.name} · ${s.status}${s.task_state ? ` (${s.task_state})` : ''}${s.moving_from !== null ? ` · moving ${s.moving_from} → ${s.host}` : ''}`}
            >
              {dots ? '' : s.name}
            </a>
          )
        })}
        {more > 0 && <span class="chip more">+{more}</span>}
        {servers === undefined && h.servers > 0 && <span class="chip loading">{h.servers} servers</span>}
      </div>
    </div>
  )
}

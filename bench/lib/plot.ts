/**
 * The scale curve as a PNG: a hand-written SVG (two panels, log-scaled host axis) rendered by
 * resvg with the DejaVu Sans font shipped by the dejavu-fonts-ttf package, so the picture is
 * the same on any machine that ran `npm ci`.
 */
import { writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import path from 'node:path'
import { Resvg } from '@resvg/resvg-js'

/** One measured fleet size. */
export interface ScalePoint {
  hosts: number
  p50Ms: number
  p99Ms: number
  rps: number
  /** In-process placement engine, median µs per place(). */
  engineP50Us: number
}

const W = 1260
const H = 440
const PANEL = { w: 330, h: 290, top: 90 }

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;')
}

function niceMax(v: number): number {
  if (v <= 0) return 1
  const p = 10 ** Math.floor(Math.log10(v))
  for (const m of [1, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10]) if (m * p >= v) return m * p
  return 10 * p
}

function panel(x0: number, title: string, unit: string, points: ScalePoint[], series: Array<{ label: string; color: string; value: (p: ScalePoint) => number }>): string {
  const { w, h, top } = PANEL
  const xs = points.map((p) => Math.log10(p.hosts))
  const [xmin, xmax] = [Math.min(...xs) - 0.15, Math.max(...xs) + 0.15]
  const ymax = niceMax(Math.max(...series.flatMap((s) => points.map(s.value))) * 1.15)
  const X = (hosts: number) => x0 + ((Math.log10(hosts) - xmin) / (xmax - xmin)) * w
  const Y = (v: number) => top + h - (v / ymax) * h
  const out: string[] = []
  out.push(`<text x="${x0 + w / 2}" y="${top - 28}" font-size="16" font-weight="bold" text-anchor="middle">${esc(title)}</text>`)
  out.push(`<rect x="${x0}" y="${top}" width="${w}" height="${h}" fill="none" stroke="#888"/>`)
  for (let i = 0; i <= 5; i++) {
    const v = (ymax / 5) * i
    out.push(`<line x1="${x0}" x2="${x0 + w}" y1="${Y(v)}" y2="${Y(v)}" stroke="#e4e4e4"/>`)
    out.push(`<text x="${x0 - 6}" y="${Y(v) + 4}" font-size="11" text-anchor="end">${Number(v.toPrecision(3)).toLocaleString('en-US')}</text>`)
  }
  for (const p of points) {
    out.push(`<line x1="${X(p.hosts)}" x2="${X(p.hosts)}" y1="${top}" y2="${top + h}" stroke="#eeeeee"/>`)
    out.push(`<text x="${X(p.hosts)}" y="${top + h + 16}" font-size="11" text-anchor="middle">${p.hosts.toLocaleString('en-US')}</text>`)
  }
  out.push(`<text x="${x0 + w / 2}" y="${top + h + 36}" font-size="12" text-anchor="middle">hosts in the fleet (10 servers each, log scale)</text>`)
  out.push(`<text x="${x0 - 48}" y="${top + h / 2}" font-size="12" text-anchor="middle" transform="rotate(-90 ${x0 - 48} ${top + h / 2})">${esc(unit)}</text>`)
  series.forEach((s, i) => {
    const d = points.map((p, k) => `${k === 0 ? 'M' : 'L'}${X(p.hosts).toFixed(1)},${Y(s.value(p)).toFixed(1)}`).join(' ')
    out.push(`<path d="${d}" fill="none" stroke="${s.color}" stroke-width="2.5"/>`)
    for (const p of points) out.push(`<circle cx="${X(p.hosts)}" cy="${Y(s.value(p))}" r="4" fill="${s.color}"/>`)
    out.push(`<rect x="${x0 + 10}" y="${top + 10 + i * 18}" width="14" height="4" fill="${s.color}"/>`)
    out.push(`<text x="${x0 + 30}" y="${top + 16 + i * 18}" font-size="12">${esc(s.label)}</text>`)
  })
  return out.join('\n')
}

/** Writes the SVG and the PNG of the scale curve; returns the PNG's path. */
export function plotScale(points: ScalePoint[], subtitle: string, file: string): string {
  const svg = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="DejaVu Sans">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${W / 2}" y="22" font-size="17" font-weight="bold" text-anchor="middle">ecsd anti-affinity placement (create into group) by fleet size</text>`,
    `<text x="${W / 2}" y="40" font-size="12" text-anchor="middle" fill="#444">${esc(subtitle)}</text>`,
    panel(80, 'create-into-group request latency', 'milliseconds', points, [
      { label: 'HTTP p99', color: '#d62728', value: (p) => p.p99Ms },
      { label: 'HTTP p50', color: '#1f77b4', value: (p) => p.p50Ms },
    ]),
    panel(500, 'placement engine alone (in-process)', 'microseconds per place()', points, [{ label: 'engine p50', color: '#2ca02c', value: (p) => p.engineP50Us }]),
    panel(920, 'throughput', 'placements per second', points, [{ label: 'create-into-group req/s (2xx)', color: '#9467bd', value: (p) => p.rps }]),
    '</svg>',
  ].join('\n')
  writeFileSync(file.replace(/\.png$/, '.svg'), svg)
  const require = createRequire(import.meta.url)
  const fontDir = path.join(path.dirname(require.resolve('dejavu-fonts-ttf/package.json')), 'ttf')
  const png = new Resvg(svg, {
    font: { loadSystemFonts: false, fontFiles: [path.join(fontDir, 'DejaVuSans.ttf'), path.join(fontDir, 'DejaVuSans-Bold.ttf')], defaultFontFamily: 'DejaVu Sans' },
    fitTo: { mode: 'width', value: W },
  }).render().asPng()
  writeFileSync(file, png)
  return file
}
